package auth

import "time"

// SetClock makes the service's sign-in throttle read time from now, so
// tests step past delays instead of sleeping through them.
func SetClock(s *Service, now func() time.Time) { s.now = now }
