package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"studio/db"
)

// ErrRoleInvalid refuses a role other than admin or user.
var ErrRoleInvalid = errors.New("the role must be admin or user")

// NewAccount is an account an operator or administrator creates for
// someone, outside sign-up.
type NewAccount struct {
	Email    string
	Name     string
	Password string
	Role     db.UserRole
}

// CreateUser makes an account whatever the sign-up setting, with the same
// checks as sign-up, and records who made it (actor nil: the operator, on
// the command line).
func (s *Service) CreateUser(ctx context.Context, actor *uuid.UUID, a NewAccount, meta Meta) (db.User, error) {
	addr, err := NormalizeEmail(a.Email)
	if err != nil {
		return db.User{}, err
	}
	if !a.Role.Valid() {
		return db.User{}, ErrRoleInvalid
	}
	if err := CheckPassword(a.Password); err != nil {
		return db.User{}, err
	}
	hash, err := s.hash(a.Password)
	if err != nil {
		return db.User{}, err
	}
	var user db.User
	err = db.InTx(ctx, s.pool, func(q *db.Queries) error {
		user, err = q.CreateUser(ctx, db.CreateUserParams{Email: addr, Name: a.Name, PasswordHash: hash, Role: a.Role})
		if isUniqueViolation(err) {
			return ErrEmailTaken
		} else if err != nil {
			return fmt.Errorf("create user %s: %w", addr, err)
		}
		return addAudit(ctx, q, actor, "user.create", user.Email, meta, map[string]any{"role": user.Role})
	})
	return user, err
}
