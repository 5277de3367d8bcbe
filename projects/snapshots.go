package projects

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"studio/db"
)

// ErrCheckpointNotFound means the project has no such checkpoint.
var ErrCheckpointNotFound = errors.New("there is no such checkpoint")

// Checkpoint is a snapshot of a project's files. The files live outside the
// project, as content-addressed blobs under the checkpoints folder, so the
// user's own .git is never touched and equal files are stored once.
type Checkpoint struct {
	ID         uuid.UUID `json:"id"`
	Label      string    `json:"label"`
	FileCount  int       `json:"file_count"`
	TotalBytes int64     `json:"total_bytes"`
	CreatedAt  time.Time `json:"created_at"`
}

type manifestEntry struct {
	Hash string      `json:"hash"`
	Size int64       `json:"size"`
	Mode fs.FileMode `json:"mode"`
}

// maxSnapshotFile bounds one file in a checkpoint (images, fonts …).
const maxSnapshotFile = 64 << 20

func (s *Service) checkpoint(ctx context.Context, proj db.Project, label string) (Checkpoint, error) {
	tree, err := s.tree(proj.ID)
	if err != nil {
		return Checkpoint{}, err
	}
	root, err := s.openRoot(proj.ID)
	if err != nil {
		return Checkpoint{}, err
	}
	defer root.Close()
	manifest := map[string]manifestEntry{}
	var total int64
	for _, f := range tree {
		if f.Type != "file" || strings.Contains(path.Base(f.Path), ".studio-tmp-") {
			continue
		}
		b, err := readLimited(root, f.Path, maxSnapshotFile)
		if errors.Is(err, ErrFileNotFound) {
			continue // removed since the tree was read
		}
		if err != nil {
			return Checkpoint{}, fmt.Errorf("checkpoint %s: %w", f.Path, err)
		}
		fi, err := root.Stat(f.Path)
		if err != nil {
			continue
		}
		hash, err := s.storeBlob(proj.ID, b)
		if err != nil {
			return Checkpoint{}, err
		}
		manifest[f.Path] = manifestEntry{Hash: hash, Size: int64(len(b)), Mode: fi.Mode().Perm()}
		total += int64(len(b))
	}
	mb, _ := json.Marshal(manifest)
	row, err := s.q.CreateCheckpoint(ctx, db.CreateCheckpointParams{
		ProjectID: proj.ID, Label: label, Manifest: mb, FileCount: int32(len(manifest)), TotalBytes: total,
	})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("save checkpoint: %w", err)
	}
	if err := s.keepCheckpointsWithinQuota(ctx, proj.ID); err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{ID: row.ID, Label: row.Label, FileCount: int(row.FileCount), TotalBytes: row.TotalBytes, CreatedAt: row.CreatedAt}, nil
}

// keepCheckpointsWithinQuota deletes a project's oldest checkpoints, and the
// blobs no other checkpoint uses, until its checkpoints take no more than
// the disk quota: checkpoints live outside the project's folder, and must
// not be a way around STUDIO_PROJECT_DISK. The newest checkpoint is kept.
func (s *Service) keepCheckpointsWithinQuota(ctx context.Context, id uuid.UUID) error {
	if s.opts.ProjectDisk <= 0 {
		return nil
	}
	for {
		used, err := measureDir(s.checkpointDir(id))
		if err != nil || used <= s.opts.ProjectDisk {
			return err
		}
		rows, err := s.q.ListProjectCheckpointManifests(ctx, id)
		if err != nil {
			return fmt.Errorf("list checkpoints: %w", err)
		}
		if len(rows) < 2 {
			return nil
		}
		if err := s.q.DeleteCheckpoint(ctx, db.DeleteCheckpointParams{ID: rows[0].ID, ProjectID: id}); err != nil {
			return fmt.Errorf("delete the oldest checkpoint: %w", err)
		}
		kept := map[string]bool{}
		for _, r := range rows[1:] {
			var m map[string]manifestEntry
			if err := json.Unmarshal(r.Manifest, &m); err != nil {
				return fmt.Errorf("read checkpoint %s: %w", r.ID, err)
			}
			for _, e := range m {
				kept[e.Hash] = true
			}
		}
		if err := s.removeBlobsExcept(id, kept); err != nil {
			return err
		}
	}
}

// removeBlobsExcept deletes the project's checkpoint blobs not in keep.
func (s *Service) removeBlobsExcept(id uuid.UUID, keep map[string]bool) error {
	objects := filepath.Join(s.checkpointDir(id), "objects")
	return filepath.WalkDir(objects, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || keep[d.Name()] || strings.Contains(d.Name(), ".tmp-") {
			return nil // a blob being written is not ours to judge
		}
		return os.Remove(p)
	})
}

// storeBlob writes content under its hash, once.
func (s *Service) storeBlob(id uuid.UUID, content []byte) (string, error) {
	sum := sha256.Sum256(content)
	hash := hex.EncodeToString(sum[:])
	p := s.blobPath(id, hash)
	if _, err := os.Stat(p); err == nil {
		return hash, nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	tmp := p + ".tmp-" + uuid.NewString()[:8]
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return hash, nil
}

func (s *Service) blobPath(id uuid.UUID, hash string) string {
	return filepath.Join(s.checkpointDir(id), "objects", hash[:2], hash)
}

// listCheckpoints returns a project's checkpoints, newest first.
func (s *Service) listCheckpoints(ctx context.Context, id uuid.UUID) ([]Checkpoint, error) {
	rows, err := s.q.ListCheckpoints(ctx, db.ListCheckpointsParams{ProjectID: id, MaxRows: 100})
	if err != nil {
		return nil, err
	}
	out := make([]Checkpoint, 0, len(rows))
	for _, r := range rows {
		out = append(out, Checkpoint{ID: r.ID, Label: r.Label, FileCount: int(r.FileCount), TotalBytes: r.TotalBytes, CreatedAt: r.CreatedAt})
	}
	return out, nil
}

// restoreCheckpoint makes the project's files exactly those of the
// checkpoint. It first checkpoints the current files and returns that
// checkpoint, so a restore can itself be undone.
func (s *Service) restoreCheckpoint(ctx context.Context, proj db.Project, checkpointID uuid.UUID) (Checkpoint, error) {
	defer lockFile(proj.ID, "\x00checkpoint")()
	defer s.forgetUsage(proj.ID) // a restore changes sizes studio did not count
	row, err := s.q.GetCheckpoint(ctx, db.GetCheckpointParams{ID: checkpointID, ProjectID: proj.ID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{}, ErrCheckpointNotFound
	} else if err != nil {
		return Checkpoint{}, err
	}
	var manifest map[string]manifestEntry
	if err := json.Unmarshal(row.Manifest, &manifest); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint %s is damaged: %w", checkpointID, err)
	}
	// Every blob must be there before anything is changed.
	for p, e := range manifest {
		if _, err := os.Stat(s.blobPath(proj.ID, e.Hash)); err != nil {
			return Checkpoint{}, fmt.Errorf("checkpoint %s lacks the content of %s; nothing was changed", checkpointID, p)
		}
	}
	undo, err := s.checkpoint(ctx, proj, "before restoring "+labelOr(row.Label, row.CreatedAt))
	if err != nil {
		return Checkpoint{}, err
	}
	root, err := s.openRoot(proj.ID)
	if err != nil {
		return Checkpoint{}, err
	}
	defer root.Close()
	current, err := s.tree(proj.ID)
	if err != nil {
		return Checkpoint{}, err
	}
	// Files that did not exist then go; folders go once empty, deepest first.
	sort.Slice(current, func(i, j int) bool { return current[i].Path > current[j].Path })
	for _, f := range current {
		if _, keep := manifest[f.Path]; keep {
			continue
		}
		if f.Type == "dir" {
			if !dirNeeded(manifest, f.Path) {
				_ = root.Remove(f.Path) // fails, harmlessly, while not empty
			}
			continue
		}
		if err := root.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return undo, fmt.Errorf("restore: remove %s: %w", f.Path, err)
		}
	}
	for p, e := range manifest {
		if cur, err := readLimited(root, p, maxSnapshotFile); err == nil && sha256Hex(cur) == e.Hash {
			continue
		}
		content, err := os.ReadFile(s.blobPath(proj.ID, e.Hash))
		if err != nil {
			return undo, err
		}
		if err := mkdirAll(root, path.Dir(p)); err != nil {
			return undo, err
		}
		if err := writeAtomic(root, p, content); err != nil {
			return undo, fmt.Errorf("restore %s: %w", p, err)
		}
		_ = root.Chmod(p, e.Mode)
	}
	s.record(ctx, proj, "files_restored", map[string]any{"checkpoint": checkpointID, "undo": undo.ID})
	return undo, nil
}

func dirNeeded(manifest map[string]manifestEntry, dir string) bool {
	for p := range manifest {
		if strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	return false
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func labelOr(label string, at time.Time) string {
	if label != "" {
		return label
	}
	return "the checkpoint of " + at.Format("2006-01-02 15:04:05")
}
