package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"studio/db"
)

// Errors of moderation; each message says what happened or what to do.
var (
	ErrBuiltInItem     = errors.New("built-in items ship with studio and cannot be hidden, unpublished or reported")
	ErrItemHidden      = errors.New("an administrator hid this item: it cannot be installed or forked")
	ErrNotHidden       = errors.New("this item is not hidden")
	ErrNotPublished    = errors.New("this item is already private")
	ErrAlreadyReported = errors.New("you have already reported this item; an administrator will look at it")
	ErrReportOwn       = errors.New("you cannot report your own item")
	ErrReportNotFound  = errors.New("there is no such open report")
)

// MaxReason bounds a report's or a hide's reason.
const MaxReason = 1000

// Moderator is the administrator a moderation action is recorded against.
type Moderator struct {
	ID uuid.UUID
	IP string
}

// cleanReason trims a reason and checks it is text of 1 to MaxReason characters.
func cleanReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case !plainText(reason):
		return "", &FieldError{Field: "reason", Message: "is not valid text"}
	case reason == "":
		return "", &FieldError{Field: "reason", Message: "say what is wrong with the item"}
	case utf8.RuneCountInString(reason) > MaxReason:
		return "", &FieldError{Field: "reason", Message: fmt.Sprintf("is longer than %d characters", MaxReason)}
	}
	return reason, nil
}

// Report records a user's report of an item they can see, for the
// administrators; a user has at most one open report per item.
func (s *Service) Report(ctx context.Context, user uuid.UUID, id, reason string) (db.MarketplaceReport, error) {
	it, err := s.Item(ctx, user, id)
	if err != nil {
		return db.MarketplaceReport{}, err
	}
	switch {
	case it.BuiltIn():
		return db.MarketplaceReport{}, ErrBuiltInItem
	case it.Mine(user):
		return db.MarketplaceReport{}, ErrReportOwn
	}
	if reason, err = cleanReason(reason); err != nil {
		return db.MarketplaceReport{}, err
	}
	r, err := s.q.CreateReport(ctx, db.CreateReportParams{ItemID: id, ReporterID: user, Reason: reason})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return db.MarketplaceReport{}, ErrAlreadyReported
	}
	return r, err
}

// OpenReports are the reports no administrator has acted on, oldest first.
func (s *Service) OpenReports(ctx context.Context, limit int) ([]db.ListOpenReportsRow, error) {
	return s.q.ListOpenReports(ctx, int32(limit))
}

// HiddenItems are the items administrators hid, most recent first.
func (s *Service) HiddenItems(ctx context.Context, limit int) ([]db.ListHiddenItemsRow, error) {
	return s.q.ListHiddenItems(ctx, int32(limit))
}

// Hide takes a user's item out of the catalogue: only its owner and
// administrators see it, nobody can install or fork it, and those who had
// installed it keep their version. Its open reports are resolved.
func (s *Service) Hide(ctx context.Context, m Moderator, id, reason string) error {
	reason, err := cleanReason(reason)
	if err != nil {
		return err
	}
	return s.moderate(ctx, m, id, "marketplace.hide", func(q *db.Queries, it db.GetItemForModerationRow) (map[string]any, error) {
		if _, err := q.HideItem(ctx, db.HideItemParams{ID: id, HiddenReason: reason}); err != nil {
			return nil, err
		}
		n, err := q.ResolveItemReports(ctx, db.ResolveItemReportsParams{ItemID: id, ResolvedBy: &m.ID, Resolution: text("hidden")})
		return map[string]any{"reason": reason, "reports_resolved": n}, err
	})
}

// Unhide puts a hidden item back where its visibility says.
func (s *Service) Unhide(ctx context.Context, m Moderator, id string) error {
	return s.moderate(ctx, m, id, "marketplace.unhide", func(q *db.Queries, it db.GetItemForModerationRow) (map[string]any, error) {
		n, err := q.UnhideItem(ctx, id)
		if err == nil && n == 0 {
			err = ErrNotHidden
		}
		return map[string]any{"reason": it.HiddenReason}, err
	})
}

// Unpublish makes a user's published item private again, so only its
// owner sees it. Its open reports are resolved.
func (s *Service) Unpublish(ctx context.Context, m Moderator, id string) error {
	return s.moderate(ctx, m, id, "marketplace.unpublish", func(q *db.Queries, it db.GetItemForModerationRow) (map[string]any, error) {
		n, err := q.UnpublishItem(ctx, id)
		if err == nil && n == 0 {
			err = ErrNotPublished
		}
		if err != nil {
			return nil, err
		}
		n, err = q.ResolveItemReports(ctx, db.ResolveItemReportsParams{ItemID: id, ResolvedBy: &m.ID, Resolution: text("unpublished")})
		return map[string]any{"reports_resolved": n}, err
	})
}

// moderate runs one administrator's action on a user's item and records it
// in the audit log, in one transaction.
func (s *Service) moderate(ctx context.Context, m Moderator, id, action string,
	do func(q *db.Queries, it db.GetItemForModerationRow) (map[string]any, error)) error {
	if !plainText(id) {
		return ErrItemNotFound
	}
	return db.InTx(ctx, s.pool, func(q *db.Queries) error {
		it, err := q.GetItemForModeration(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrItemNotFound
		} else if err != nil {
			return err
		}
		if it.OwnerID == nil {
			return ErrBuiltInItem
		}
		details, err := do(q, it)
		if err != nil {
			return err
		}
		details["owner"], details["name"] = it.OwnerID, it.Name
		return audit(ctx, q, m, action, id, details)
	})
}

// DismissReport closes a report without acting on its item.
func (s *Service) DismissReport(ctx context.Context, m Moderator, reportID int64) error {
	return db.InTx(ctx, s.pool, func(q *db.Queries) error {
		r, err := q.DismissReport(ctx, db.DismissReportParams{ID: reportID, ResolvedBy: &m.ID})
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrReportNotFound
		} else if err != nil {
			return err
		}
		return audit(ctx, q, m, "marketplace.dismiss_report", r.ItemID,
			map[string]any{"report": r.ID, "reporter": r.ReporterID, "reason": r.Reason})
	})
}

func audit(ctx context.Context, q *db.Queries, m Moderator, action, target string, details map[string]any) error {
	b, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	if err := q.AddAudit(ctx, db.AddAuditParams{ActorID: &m.ID, Action: action, Target: target, IP: m.IP, Details: b}); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

func text(s string) pgtype.Text { return pgtype.Text{String: s, Valid: true} }
