package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestSessionCSRFIsBoundToTheSession(t *testing.T) {
	ring, err := LoadKeyring(strings.Repeat("a", 32), "", "")
	if err != nil {
		t.Fatal(err)
	}
	one, two := uuid.New(), uuid.New()
	token := ring.SessionCSRF(one)
	if !ring.ValidSessionCSRF(one, token) {
		t.Fatal("a session's own token is refused")
	}
	if ring.ValidSessionCSRF(two, token) {
		t.Fatal("a token from another session is accepted")
	}
	if ring.ValidSessionCSRF(one, "") {
		t.Fatal("an empty token is accepted")
	}
	// After a rotation the old key still verifies what it made.
	rotated, _ := LoadKeyring(strings.Repeat("b", 32), strings.Repeat("a", 32), "")
	if !rotated.ValidSessionCSRF(one, token) {
		t.Fatal("a token made before the rotation is refused")
	}
	other, _ := LoadKeyring(strings.Repeat("c", 32), "", "")
	if other.ValidSessionCSRF(one, token) {
		t.Fatal("a token made under another key is accepted")
	}
}

func TestCSRFNonceMustBeSignedByStudio(t *testing.T) {
	ring, _ := LoadKeyring(strings.Repeat("a", 32), "", "")
	n := ring.NewCSRFNonce()
	if !ring.ValidCSRFNonce(n) {
		t.Fatalf("studio's own nonce %q is refused", n)
	}
	if n == ring.NewCSRFNonce() {
		t.Fatal("two nonces are equal")
	}
	nonce, _, _ := strings.Cut(n, ".")
	for _, forged := range []string{"", ".", "attacker-chosen-value-0123456789abcdef", nonce, nonce + ".", nonce + ".x", "other" + n[5:]} {
		if ring.ValidCSRFNonce(forged) {
			t.Errorf("forged nonce %q is accepted", forged)
		}
	}
}

// A sign-in form's token expires: an old one is refused.
func TestCSRFNonceExpires(t *testing.T) {
	ring, _ := LoadKeyring(strings.Repeat("a", 32), "", "")
	n := ring.NewCSRFNonce()
	defer func(now func() time.Time) { csrfNow = now }(csrfNow)
	csrfNow = func() time.Time { return time.Now().Add(csrfNonceTTL - time.Minute) }
	if !ring.ValidCSRFNonce(n) {
		t.Fatal("a nonce within its time is refused")
	}
	csrfNow = func() time.Time { return time.Now().Add(csrfNonceTTL + time.Minute) }
	if ring.ValidCSRFNonce(n) {
		t.Fatal("an expired nonce is accepted")
	}
}
