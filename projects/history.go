package projects

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/db"
)

// Current names the project's files as they are now, where a checkpoint
// is expected: Diff(cp, Current) is what changed since cp.
var Current = uuid.Nil

// MaxDiffBytes is the largest file whose content a diff shows; a larger
// one is only named.
const MaxDiffBytes = 1 << 20

// FileChange is one file that differs between two states of a project.
type FileChange struct {
	Path       string `json:"path"`
	Status     string `json:"status"` // "added", "modified", "deleted" or, for one file asked for, "unchanged"
	BeforeSize int64  `json:"before_size"`
	AfterSize  int64  `json:"after_size"`
}

// FileDiff is both sides of one file, as text. A binary file, or one over
// MaxDiffBytes, is named with its sizes and no text.
type FileDiff struct {
	FileChange
	Binary   bool   `json:"binary"`
	TooLarge bool   `json:"too_large"`
	Before   string `json:"before"`
	After    string `json:"after"`
}

// Diff lists the files that differ between two checkpoints of the project
// (either may be Current), by path.
func (h *Handle) Diff(ctx context.Context, from, to uuid.UUID) ([]FileChange, error) {
	a, b, err := h.manifests(ctx, from, to)
	if err != nil {
		return nil, err
	}
	var out []FileChange
	for p, e := range a {
		if f, ok := b[p]; !ok {
			out = append(out, FileChange{Path: p, Status: "deleted", BeforeSize: e.Size})
		} else if f.Hash != e.Hash {
			out = append(out, FileChange{Path: p, Status: "modified", BeforeSize: e.Size, AfterSize: f.Size})
		}
	}
	for p, f := range b {
		if _, ok := a[p]; !ok {
			out = append(out, FileChange{Path: p, Status: "added", AfterSize: f.Size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// DiffFile returns both sides of one file between two checkpoints (either
// may be Current).
func (h *Handle) DiffFile(ctx context.Context, from, to uuid.UUID, p string) (FileDiff, error) {
	p, err := CleanPath(p)
	if err != nil {
		return FileDiff{}, err
	}
	a, b, err := h.manifests(ctx, from, to)
	if err != nil {
		return FileDiff{}, err
	}
	before, inA := a[p]
	after, inB := b[p]
	d := FileDiff{FileChange: FileChange{Path: p, BeforeSize: before.Size, AfterSize: after.Size}}
	switch {
	case !inA && !inB:
		return FileDiff{}, ErrFileNotFound
	case !inA:
		d.Status = "added"
	case !inB:
		d.Status = "deleted"
	case before.Hash != after.Hash:
		d.Status = "modified"
	default:
		d.Status = "unchanged"
	}
	if before.Size > MaxDiffBytes || after.Size > MaxDiffBytes {
		d.TooLarge = true
		return d, nil
	}
	var sides [2][]byte
	for i, side := range []struct {
		in bool
		e  manifestEntry
		cp uuid.UUID
	}{{inA, before, from}, {inB, after, to}} {
		if !side.in {
			continue
		}
		if sides[i], err = h.s.contentOf(h.p.ID, side.cp, p, side.e); err != nil {
			return FileDiff{}, err
		}
	}
	if isBinary(sides[0]) || isBinary(sides[1]) {
		d.Binary = true
		return d, nil
	}
	d.Before, d.After = string(sides[0]), string(sides[1])
	return d, nil
}

// RevertFile puts one file back as it was in the checkpoint: its bytes
// exactly, or, when the checkpoint did not have it, no file. The files it
// replaces are kept as a checkpoint first, which it returns.
func (h *Handle) RevertFile(ctx context.Context, checkpointID uuid.UUID, p string) (Checkpoint, error) {
	p, err := CleanPath(p)
	if err != nil {
		return Checkpoint{}, err
	}
	then, err := h.s.manifestOf(ctx, h.p.ID, checkpointID)
	if err != nil {
		return Checkpoint{}, err
	}
	e, existed := then[p]
	var content []byte
	if existed {
		if content, err = os.ReadFile(h.s.blobPath(h.p.ID, e.Hash)); err != nil {
			return Checkpoint{}, fmt.Errorf("the checkpoint lacks the content of %s; nothing was changed", p)
		}
	}
	undo, err := h.Checkpoint(ctx, "before reverting "+p)
	if err != nil {
		return Checkpoint{}, err
	}
	if !existed {
		if err := h.s.deleteFile(ctx, h.p, p); err != nil && !errors.Is(err, ErrFileNotFound) {
			return undo, err
		}
		return undo, nil
	}
	if _, err := h.s.writeFile(ctx, h.p, p, content, ""); err != nil {
		return undo, err
	}
	if root, err := h.s.openRoot(h.p.ID); err == nil {
		_ = root.Chmod(p, e.Mode)
		root.Close()
	}
	return undo, nil
}

// manifests are those of two checkpoints of the project.
func (h *Handle) manifests(ctx context.Context, from, to uuid.UUID) (a, b map[string]manifestEntry, err error) {
	if a, err = h.s.manifestOf(ctx, h.p.ID, from); err == nil {
		b, err = h.s.manifestOf(ctx, h.p.ID, to)
	}
	return a, b, err
}

// manifestOf is a checkpoint's manifest, or for Current, that of the files
// as they are now (the files a checkpoint would take).
func (s *Service) manifestOf(ctx context.Context, projectID, checkpointID uuid.UUID) (map[string]manifestEntry, error) {
	if checkpointID == Current {
		return s.currentManifest(projectID)
	}
	row, err := s.q.GetCheckpoint(ctx, db.GetCheckpointParams{ID: checkpointID, ProjectID: projectID})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrCheckpointNotFound
	} else if err != nil {
		return nil, err
	}
	var m map[string]manifestEntry
	if err := json.Unmarshal(row.Manifest, &m); err != nil {
		return nil, fmt.Errorf("checkpoint %s is damaged: %w", checkpointID, err)
	}
	return m, nil
}

func (s *Service) currentManifest(id uuid.UUID) (map[string]manifestEntry, error) {
	tree, err := s.tree(id)
	if err != nil {
		return nil, err
	}
	root, err := s.openRoot(id)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	m := map[string]manifestEntry{}
	for _, f := range tree {
		if f.Type != "file" || strings.Contains(path.Base(f.Path), ".studio-tmp-") {
			continue
		}
		b, err := readLimited(root, f.Path, maxSnapshotFile)
		if errors.Is(err, ErrFileNotFound) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Path, err)
		}
		m[f.Path] = manifestEntry{Hash: sha256Hex(b), Size: int64(len(b))}
	}
	return m, nil
}

// contentOf is one file's bytes in a checkpoint, or now for Current.
func (s *Service) contentOf(projectID, checkpointID uuid.UUID, p string, e manifestEntry) ([]byte, error) {
	if checkpointID != Current {
		return os.ReadFile(s.blobPath(projectID, e.Hash))
	}
	root, err := s.openRoot(projectID)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return readLimited(root, p, maxSnapshotFile)
}

// isBinary says a file is not text to show: it has a NUL byte near its
// start, or is not UTF-8.
func isBinary(b []byte) bool {
	head := b[:min(len(b), 8000)]
	return bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(b)
}
