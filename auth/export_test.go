package auth

import (
	"sync"
	"time"
)

// SetClock makes the service's sign-in throttle read time from now, so
// tests step past delays instead of sleeping through them.
func SetClock(s *Service, now func() time.Time) { s.now = now }

// CountHashes wraps the service's password hasher and returns the number
// of hashes made so far.
func CountHashes(s *Service) func() int {
	var mu sync.Mutex
	n, hash := 0, s.hash
	s.hash = func(pw string) (string, error) {
		mu.Lock()
		n++
		mu.Unlock()
		return hash(pw)
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}
