package proxy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"studio/auth"
)

// Lifetimes of preview access.
const (
	LinkTTL  = 60 * time.Second // a signed link, spent once
	GrantTTL = 12 * time.Hour   // the cookie it sets, at most: it ends with the session
	// APIGrantTTL bounds the cookie of a link an API client asked for: it
	// has no browser session to end with, so it lives no longer than the
	// access token that asked.
	APIGrantTTL = auth.AccessTTL
)

// Holder is who a preview link is for: the project's owner, and the
// browser session that asked for it (uuid.Nil for an API client). The
// grant the link sets ends when that session ends.
type Holder struct{ User, Session uuid.UUID }

func (h Holder) grantTTL() time.Duration {
	if h.Session == uuid.Nil {
		return APIGrantTTL
	}
	return GrantTTL
}

var errBadSignature = errors.New("invalid or expired preview token")

// Signer signs preview links and cookies with keys from the keyring.
type Signer struct{ Ring *auth.Keyring }

type claims struct {
	Kind    string    `json:"k"` // "link" or "grant"
	Project uuid.UUID `json:"p"`
	User    uuid.UUID `json:"u"`
	Session uuid.UUID `json:"s"` // the browser session behind it; uuid.Nil for an API client
	Expires int64     `json:"e"`
	Nonce   string    `json:"n,omitempty"`
}

// Link makes a signed, single-use URL that signs the holder in to the
// project's preview host and then opens next.
func (s *Signer) Link(previewURL string, h Holder, project uuid.UUID, next string) (string, time.Time, error) {
	exp := time.Now().Add(LinkTTL)
	token, err := s.sign(claims{Kind: "link", Project: project, User: h.User, Session: h.Session, Expires: exp.Unix(), Nonce: strings.ToLower(rand.Text())})
	if err != nil {
		return "", time.Time{}, err
	}
	q := "token=" + token + "&next=" + url.QueryEscape(sameHostPath(next))
	return strings.TrimRight(previewURL, "/") + authPath + "?" + q, exp, nil
}

func (s *Signer) grant(h Holder, project uuid.UUID, exp time.Time) (string, error) {
	return s.sign(claims{Kind: "grant", Project: project, User: h.User, Session: h.Session, Expires: exp.Unix()})
}

func (s *Signer) sign(c claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	k := s.Ring.Current()
	body := k.ID + "." + base64.RawURLEncoding.EncodeToString(payload)
	return body + "." + mac(auth.PreviewKey(k), body), nil
}

func (s *Signer) verify(token, kind string) (claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}, errBadSignature
	}
	k, ok := s.Ring.Find(parts[0])
	if !ok {
		return claims{}, errBadSignature
	}
	body := parts[0] + "." + parts[1]
	if subtle.ConstantTimeCompare([]byte(mac(auth.PreviewKey(k), body)), []byte(parts[2])) != 1 {
		return claims{}, errBadSignature
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return claims{}, errBadSignature
	}
	var c claims
	if json.Unmarshal(payload, &c) != nil || c.Kind != kind || time.Now().Unix() > c.Expires {
		return claims{}, errBadSignature
	}
	return c, nil
}

func (s *Signer) verifyLink(token string) (claims, error) {
	c, err := s.verify(token, "link")
	if err == nil && c.Nonce == "" {
		return claims{}, errBadSignature
	}
	return c, err
}

// verifyGrant also bounds a grant without a browser session to
// APIGrantTTL from now, whatever expiry it carries.
func (s *Signer) verifyGrant(value string) (claims, error) {
	c, err := s.verify(value, "grant")
	if err == nil && c.Session == uuid.Nil && time.Unix(c.Expires, 0).After(time.Now().Add(APIGrantTTL)) {
		return claims{}, errBadSignature
	}
	return c, err
}

func (c claims) holder() Holder { return Holder{User: c.User, Session: c.Session} }

func mac(key []byte, body string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func constantEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
