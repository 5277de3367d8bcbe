// Package auth owns who a person is: passwords, browser sessions, access
// and refresh tokens, CSRF, throttling and the sealing of stored secrets.
package auth

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// DefaultPasswordCost is bcrypt's work factor for every stored password.
const DefaultPasswordCost = 12

// Password rules, shown to people as they are.
var (
	ErrPasswordShort = errors.New("the password must be at least 10 characters")
	ErrPasswordLong  = errors.New("the password must be at most 72 bytes (bcrypt ignores anything longer)")
	ErrEmailInvalid  = errors.New("that does not look like an email address")
)

// CheckPassword says whether a new password is acceptable.
func CheckPassword(pw string) error {
	switch {
	case len([]rune(pw)) < 10:
		return ErrPasswordShort
	case len(pw) > 72:
		return ErrPasswordLong
	}
	return nil
}

// HashPassword checks and hashes a new password.
func HashPassword(pw string) (string, error) { return hashPassword(pw, DefaultPasswordCost) }

func hashPassword(pw string, cost int) (string, error) {
	if err := CheckPassword(pw); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// NormalizeEmail trims and lower-cases an address and checks its form.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || !strings.Contains(e[strings.LastIndex(e, "@")+1:], ".") && !strings.HasSuffix(e, "@localhost") {
		return "", ErrEmailInvalid
	}
	return e, nil
}
