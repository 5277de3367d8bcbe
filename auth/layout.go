package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/db"
)

// Layout is how a person arranged the workspace: the widths of the file
// tree and of the editor in CSS pixels (0: the default) and which panes
// are collapsed. It follows them from browser to browser.
type Layout struct {
	Tree          int  `json:"tree"`
	Editor        int  `json:"editor"`
	TreeCollapsed bool `json:"tree_collapsed"`
	ChatCollapsed bool `json:"chat_collapsed"`
}

// Pane widths a layout may hold; 0 means the page's default.
const (
	MinPaneWidth = 120
	MaxPaneWidth = 4000
)

// ErrLayoutInvalid is a layout with a width no screen could show.
var ErrLayoutInvalid = fmt.Errorf("pane widths must be 0 (the default) or between %d and %d pixels", MinPaneWidth, MaxPaneWidth)

func (l Layout) valid() bool {
	for _, w := range []int{l.Tree, l.Editor} {
		if w != 0 && (w < MinPaneWidth || w > MaxPaneWidth) {
			return false
		}
	}
	return true
}

// WorkspaceLayout is the user's layout; the default when none was saved.
func (s *Service) WorkspaceLayout(ctx context.Context, userID uuid.UUID) (Layout, error) {
	var l Layout
	raw, err := s.q.GetWorkspaceLayout(ctx, userID)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("read workspace layout: %w", err)
	}
	// A layout saved by an older studio may lack fields or hold others.
	_ = json.Unmarshal(raw, &l)
	return l, nil
}

// SetWorkspaceLayout saves the user's layout.
func (s *Service) SetWorkspaceLayout(ctx context.Context, userID uuid.UUID, l Layout) error {
	if !l.valid() {
		return ErrLayoutInvalid
	}
	raw, err := json.Marshal(l)
	if err != nil {
		return err
	}
	if err := s.q.SetWorkspaceLayout(ctx, db.SetWorkspaceLayoutParams{UserID: userID, Layout: raw}); err != nil {
		return fmt.Errorf("save workspace layout: %w", err)
	}
	return nil
}
