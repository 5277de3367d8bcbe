package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// CSRF tokens. A signed-in browser's token is an HMAC of its session id, so
// a token taken from one session is worthless in any other and nothing is
// stored. Before sign-in the token is a random nonce signed by studio, kept
// in a cookie and repeated by the form; the signature is checked, so a
// cookie planted by another host (cookie tossing) holds no token studio
// accepts unless studio itself made it.

// SessionCSRF is the CSRF token of one browser session, under the current key.
func (r *Keyring) SessionCSRF(sessionID uuid.UUID) string {
	return csrfMAC(r.Current(), "session\x00"+sessionID.String())
}

// ValidSessionCSRF reports whether token belongs to the session, under any
// key in the ring (pages rendered before a rotation keep working).
func (r *Keyring) ValidSessionCSRF(sessionID uuid.UUID, token string) bool {
	for _, k := range r.All() {
		if hmac.Equal([]byte(token), []byte(csrfMAC(k, "session\x00"+sessionID.String()))) {
			return true
		}
	}
	return false
}

// csrfNonceTTL is how long a sign-in or sign-up form's token holds.
const csrfNonceTTL = 12 * time.Hour

// csrfNow is the CSRF nonces' clock.
var csrfNow = time.Now

// NewCSRFNonce makes a signed random value for a browser that is not
// signed in: "random~unix-time.signature".
func (r *Keyring) NewCSRFNonce() string {
	b := make([]byte, 18)
	rand.Read(b)
	nonce := base64.RawURLEncoding.EncodeToString(b) + "~" + strconv.FormatInt(csrfNow().Unix(), 10)
	return nonce + "." + csrfMAC(r.Current(), "nonce\x00"+nonce)
}

// ValidCSRFNonce reports whether v is a nonce this studio signed within
// csrfNonceTTL.
func (r *Keyring) ValidCSRFNonce(v string) bool {
	nonce, sig, ok := strings.Cut(v, ".")
	if !ok || nonce == "" {
		return false
	}
	_, made, _ := strings.Cut(nonce, "~")
	unix, err := strconv.ParseInt(made, 10, 64)
	if age := csrfNow().Sub(time.Unix(unix, 0)); err != nil || age > csrfNonceTTL || age < -time.Minute {
		return false
	}
	for _, k := range r.All() {
		if hmac.Equal([]byte(sig), []byte(csrfMAC(k, "nonce\x00"+nonce))) {
			return true
		}
	}
	return false
}

func csrfMAC(k Key, message string) string {
	m := hmac.New(sha256.New, k.derive("csrf v1"))
	m.Write([]byte(message))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
