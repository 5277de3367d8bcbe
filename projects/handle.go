package projects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/db"
)

// ErrNotAdmin refuses an administrator's opening of a project to someone
// who is not one (any more).
var ErrNotAdmin = errors.New("only an administrator may open someone else's project")

// Handle is a project opened by someone allowed to act on it: its owner,
// or an administrator whose opening is in the audit log. Files,
// checkpoints, events, logs and the preview link are reached only through
// a handle, so no code path acts on a project it could not open.
type Handle struct {
	s     *Service
	p     db.Project
	admin *Admin // nil when the owner opened it
}

// Admin is an administrator acting on someone's project, as the audit log
// records them.
type Admin struct {
	ID uuid.UUID
	IP string
}

// Open is the owner's project; anyone else's is ErrNotFound, exactly as a
// project that does not exist.
func (s *Service) Open(ctx context.Context, owner, id uuid.UUID) (*Handle, error) {
	p, err := s.Get(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	return &Handle{s: s, p: p}, nil
}

// OpenAsAdmin is anyone's project, for an administrator; the opening is
// written to the audit log first, and a failed write refuses it.
func (s *Service) OpenAsAdmin(ctx context.Context, admin Admin, id uuid.UUID) (*Handle, error) {
	u, err := s.q.GetUserByID(ctx, admin.ID)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && (!u.Role.IsAdmin() || u.DisabledAt != nil) {
		return nil, ErrNotAdmin
	} else if err != nil {
		return nil, fmt.Errorf("look up administrator %s: %w", admin.ID, err)
	}
	p, err := s.q.GetProject(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	h := &Handle{s: s, p: p, admin: &admin}
	if err := h.audit(ctx, "project.open", map[string]any{"owner": p.OwnerID}); err != nil {
		return nil, err
	}
	return h, nil
}

// audit records what an administrator did to the project.
func (h *Handle) audit(ctx context.Context, action string, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	b, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	err = h.s.q.AddAudit(ctx, db.AddAuditParams{ActorID: &h.admin.ID, Action: action, Target: h.p.ID.String(), IP: h.admin.IP, Details: b})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// auditDone records an administrator's action that happened: a failed
// write cannot undo it, so it is logged.
func (h *Handle) auditDone(ctx context.Context, action string) {
	if err := h.audit(ctx, action, nil); err != nil {
		h.s.log.Warn("audit log write failed", "action", action, "project", h.p.ID, "err", err)
	}
}

// Project is the project's row as it was when opened.
func (h *Handle) Project() db.Project { return h.p }

// ID is the project's id.
func (h *Handle) ID() uuid.UUID { return h.p.ID }

// Dir is the folder holding the project's files.
func (h *Handle) Dir() string { return h.s.dir(h.p.ID) }

// UseInEditor records that someone works in the project, postponing
// hibernation, and wakes a hibernated project (files work without it).
// The wake counts against the running limit; a refusal leaves the project
// asleep and the editor goes on.
func (h *Handle) UseInEditor(ctx context.Context) {
	h.s.Touch(ctx, h.p.ID)
	if h.p.Status != db.ProjectStatusHibernated {
		return
	}
	if err := h.s.Wake(ctx, h.p.ID); err != nil && !Refused(err) {
		h.s.log.Warn("wake project", "project", h.p.ID, "err", err)
	}
}

// Stop stops the project's container; its files stay. An administrator's
// stop holds: previews and the editor do not wake the project, only its
// owner's Start does.
func (h *Handle) Stop(ctx context.Context) (db.Project, error) {
	if h.admin == nil {
		return h.s.Stop(ctx, h.p.OwnerID, h.p.ID)
	}
	p, err := h.s.stopHeld(ctx, h.p.ID)
	if err != nil {
		return p, err
	}
	h.auditDone(ctx, "project.stop")
	return p, nil
}

// Delete removes the project, its container and its files.
func (h *Handle) Delete(ctx context.Context) error {
	if err := h.s.Delete(ctx, h.p.OwnerID, h.p.ID); err != nil {
		return err
	}
	if h.admin != nil {
		h.auditDone(ctx, "project.delete")
	}
	return nil
}

// Tree lists every file and folder of the project (see Service.tree).
func (h *Handle) Tree(ctx context.Context) ([]FileInfo, error) { return h.s.tree(h.p.ID) }

// ListDir lists one folder of the project ("" is the top).
func (h *Handle) ListDir(ctx context.Context, dir string) ([]FileInfo, error) {
	return h.s.listDir(h.p.ID, dir)
}

// ReadFile returns a file's content and ETag.
func (h *Handle) ReadFile(ctx context.Context, path string) ([]byte, string, error) {
	return h.s.readFile(h.p.ID, path)
}

// WriteFile replaces a file atomically; with ifMatch, only if it is still
// the content of that ETag. It returns the new ETag.
func (h *Handle) WriteFile(ctx context.Context, path string, content []byte, ifMatch string) (string, error) {
	return h.s.writeFile(ctx, h.p, path, content, ifMatch)
}

// CreateFile makes a new, empty file; it never replaces one.
func (h *Handle) CreateFile(ctx context.Context, path string) error {
	return h.s.createFile(ctx, h.p, path)
}

// DeleteFile removes a file or a folder with everything in it.
func (h *Handle) DeleteFile(ctx context.Context, path string) error {
	return h.s.deleteFile(ctx, h.p, path)
}

// MoveFile renames a file or folder; it never overwrites.
func (h *Handle) MoveFile(ctx context.Context, from, to string) error {
	return h.s.moveFile(ctx, h.p, from, to)
}

// Checkpoint snapshots the project's files (the same files Tree lists).
func (h *Handle) Checkpoint(ctx context.Context, label string) (Checkpoint, error) {
	defer lockFile(h.p.ID, "\x00checkpoint")()
	return h.s.checkpoint(ctx, h.p, label)
}

// ListCheckpoints returns the project's checkpoints, newest first.
func (h *Handle) ListCheckpoints(ctx context.Context) ([]Checkpoint, error) {
	return h.s.listCheckpoints(ctx, h.p.ID)
}

// RestoreCheckpoint makes the project's files those of the checkpoint and
// returns the checkpoint of the files it replaced, to undo the restore.
func (h *Handle) RestoreCheckpoint(ctx context.Context, checkpointID uuid.UUID) (Checkpoint, error) {
	return h.s.restoreCheckpoint(ctx, h.p, checkpointID)
}

// EventsAfter returns the project's events with ids above after, oldest first.
func (h *Handle) EventsAfter(ctx context.Context, after int64) ([]db.ProjectEvent, error) {
	return h.s.eventsAfter(ctx, h.p.ID, after)
}

// Logs follows the dev server's output.
func (h *Handle) Logs(ctx context.Context, tail int) (io.ReadCloser, error) {
	return h.s.logs(ctx, h.p.ID, tail)
}

// SetShareToken switches the project's public link on (a new random
// token) or off (empty).
func (h *Handle) SetShareToken(ctx context.Context, on bool) (db.Project, error) {
	return h.s.setShareToken(ctx, h.p.OwnerID, h.p.ID, on)
}
