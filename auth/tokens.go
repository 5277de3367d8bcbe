package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Access tokens are short-lived JWTs; the user row is still loaded on every
// request, so a disabled user is refused at once, not when the token ends.
const (
	AccessTTL     = 15 * time.Minute
	tokenIssuer   = "studio"
	tokenAudience = "studio-api"
)

// ErrTokenInvalid covers every token that must not be accepted: forged,
// expired, signed with another key or algorithm, or malformed.
var ErrTokenInvalid = errors.New("the access token is invalid or has expired")

// Tokens issues and verifies access tokens with the keyring's keys.
type Tokens struct {
	ring   *Keyring
	parser *jwt.Parser
	now    func() time.Time
}

// NewTokens makes a token signer over ring.
func NewTokens(ring *Keyring) *Tokens {
	t := &Tokens{ring: ring, now: time.Now}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return t.now() }),
	)
	return t
}

// Issue signs an access token for the user.
func (t *Tokens) Issue(userID uuid.UUID) (token string, expiresAt time.Time, err error) {
	now := t.now()
	expiresAt = now.Add(AccessTTL)
	k := t.ring.Current()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer:    tokenIssuer,
		Audience:  jwt.ClaimStrings{tokenAudience},
		Subject:   userID.String(),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(expiresAt),
	})
	tok.Header["kid"] = k.ID
	token, err = tok.SignedString(k.derive("jwt v1"))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return token, expiresAt, nil
}

// Verify checks a token's signature, algorithm, issuer, audience and
// expiry and returns the user it was issued to.
func (t *Tokens) Verify(token string) (uuid.UUID, error) {
	var claims jwt.RegisteredClaims
	_, err := t.parser.ParseWithClaims(token, &claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		k, ok := t.ring.Find(kid)
		if !ok {
			return nil, errors.New("unknown key id")
		}
		return k.derive("jwt v1"), nil
	})
	if err != nil {
		return uuid.Nil, ErrTokenInvalid
	}
	id, err := uuid.Parse(claims.Subject)
	if err != nil {
		return uuid.Nil, ErrTokenInvalid
	}
	return id, nil
}

// RandomToken returns a 256-bit random token for a cookie or link, and the
// SHA-256 hash that is all the database keeps of it.
func RandomToken() (token string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the stored form of a random token.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}
