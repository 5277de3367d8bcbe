package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"studio/db"
)

// SignInHolds reports whether the sign-in behind a preview grant still
// stands: the browser session that asked for it is live (not signed out,
// expired, idle, or ended by a password change) and its user is not
// disabled. An API client has no browser session (uuid.Nil): then only
// the user is checked.
func (s *Service) SignInHolds(ctx context.Context, userID, sessionID uuid.UUID) (bool, error) {
	if sessionID == uuid.Nil {
		ok, err := s.q.UserEnabled(ctx, userID)
		if err != nil {
			return false, fmt.Errorf("check user %s: %w", userID, err)
		}
		return ok, nil
	}
	ok, err := s.q.PreviewSessionHolds(ctx, db.PreviewSessionHoldsParams{ID: sessionID, UserID: userID, IdleLimit: interval(SessionIdleTTL)})
	if err != nil {
		return false, fmt.Errorf("check session %s: %w", sessionID, err)
	}
	return ok, nil
}
