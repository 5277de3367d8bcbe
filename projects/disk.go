package projects

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"studio/db"
	"studio/internal/text"
)

// ErrDiskQuota: a project's files would pass STUDIO_PROJECT_DISK.
var ErrDiskQuota = errors.New("the project's files would pass the disk quota")

// QuotaError gives the figures of a refusal for the disk quota.
type QuotaError struct {
	Used  int64 // what the project uses, or would use after the write
	Limit int64
	Write bool // refused a write (would use), not a start (uses)
}

func (e *QuotaError) Error() string {
	if e.Write {
		return fmt.Sprintf("the project would use %s, more than the %s allowed", HumanBytes(e.Used), HumanBytes(e.Limit))
	}
	return fmt.Sprintf("the project's files use %s, more than the %s allowed; remove files to start it again",
		HumanBytes(e.Used), HumanBytes(e.Limit))
}

func (e *QuotaError) Is(target error) bool { return target == ErrDiskQuota }

// HumanBytes writes a size the way people read it: 2 GiB, 2.1 GiB, 512 KiB.
func HumanBytes(n int64) string { return text.Bytes(n) }

// usageTTL is how long a measured size is trusted, adjusted by studio's
// own writes, before the folder is walked again: the container may write
// too.
const usageTTL = 30 * time.Second

// diskUsage keeps each project's size, measured by a walk and adjusted by
// the writes studio makes itself, so a write does not walk the folder.
type diskUsage struct {
	mu    sync.Mutex
	sizes map[uuid.UUID]measuredSize
}

type measuredSize struct {
	bytes int64
	at    time.Time
}

// footprint is what an entry takes on the disk: its blocks, or its length
// when that is more (a sparse file still counts whole), so neither many
// tiny files nor one sparse one slips past the quota.
func footprint(fi fs.FileInfo) int64 {
	size := fi.Size()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blocks*512 > size {
		return st.Blocks * 512
	}
	return size
}

// blockRounded estimates the footprint of content about to be written.
func blockRounded(n int64) int64 { return (n + 4095) &^ 4095 }

// measureDir walks a project's folder without following links: the
// template's node_modules is a link into the runtime image and is not the
// project's to pay for; a folder the container writes in its place is.
func measureDir(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			// Not created yet, removed while walking, or a folder the
			// container made unreadable: count what can be seen rather
			// than fail every write.
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		total += footprint(fi)
		return nil
	})
	return total, err
}

// usedDisk is what the project's folder takes, from the cache while it
// is fresh.
func (s *Service) usedDisk(id uuid.UUID) (int64, error) {
	s.disk.mu.Lock()
	m, ok := s.disk.sizes[id]
	s.disk.mu.Unlock()
	if ok && time.Since(m.at) < usageTTL {
		return m.bytes, nil
	}
	return s.measure(id)
}

// measure walks the folder and caches the answer.
func (s *Service) measure(id uuid.UUID) (int64, error) {
	n, err := measureDir(s.dir(id))
	if err != nil {
		return 0, fmt.Errorf("measure the files of %s: %w", id, err)
	}
	s.disk.mu.Lock()
	s.disk.sizes[id] = measuredSize{bytes: n, at: time.Now()}
	s.disk.mu.Unlock()
	return n, nil
}

// forgetUsage drops the cached size after a change studio did not count
// (a deletion, a restore); the next question walks again.
func (s *Service) forgetUsage(id uuid.UUID) {
	s.disk.mu.Lock()
	delete(s.disk.sizes, id)
	s.disk.mu.Unlock()
}

// reserveDisk counts a write of newSize bytes over a file taking oldSize
// before it happens: refused with the figures when it would take the
// project past the quota, otherwise added to the running size. A write
// that shrinks the project always passes. The returned func takes the
// reservation back if the write then fails.
func (s *Service) reserveDisk(id uuid.UUID, oldSize, newSize int64) (undo func(), err error) {
	limit := s.opts.ProjectDisk
	delta := blockRounded(newSize) - oldSize
	if limit <= 0 {
		return func() {}, nil
	}
	for {
		if _, err := s.usedDisk(id); err != nil {
			return nil, err
		}
		s.disk.mu.Lock()
		if _, ok := s.disk.sizes[id]; ok {
			break // still held: the check and the count below are one step
		}
		s.disk.mu.Unlock() // forgotten meanwhile: measure again
	}
	defer s.disk.mu.Unlock()
	m := s.disk.sizes[id]
	if delta > 0 && m.bytes+delta > limit {
		return nil, &QuotaError{Used: m.bytes + delta, Limit: limit, Write: true}
	}
	m.bytes += delta
	s.disk.sizes[id] = m
	return func() { s.forgetUsage(id) }, nil
}

// checkDiskBeforeStart refuses to start a project whose files are over the
// quota.
func (s *Service) checkDiskBeforeStart(id uuid.UUID) error {
	limit := s.opts.ProjectDisk
	if limit <= 0 {
		return nil
	}
	used, err := s.usedDisk(id)
	if err != nil {
		return err
	}
	if used > limit {
		return &QuotaError{Used: used, Limit: limit}
	}
	return nil
}

// EnforceDiskQuota measures every running project and stops, with an
// error that gives the figures, each whose files grew past the quota from
// inside its container. Start refuses it until files are removed.
func (s *Service) EnforceDiskQuota(ctx context.Context) error {
	if s.opts.ProjectDisk <= 0 {
		return nil
	}
	live, err := s.q.ListProjectsByStatus(ctx, statusNames(db.ProjectStatusActive, db.ProjectStatusInitializing))
	if err != nil {
		return err
	}
	for _, p := range live {
		used, err := s.measure(p.ID)
		if err != nil {
			s.log.Warn("measure project files", "project", p.ID, "err", err)
			continue
		}
		if used <= s.opts.ProjectDisk {
			continue
		}
		reason := (&QuotaError{Used: used, Limit: s.opts.ProjectDisk}).Error()
		if _, err := s.stopTo(ctx, p.ID, db.ProjectStatusError, reason, db.ProjectStatusActive, db.ProjectStatusInitializing); err != nil {
			continue // stopped or deleted meanwhile
		}
		s.log.Warn("stopped a project over its disk quota", "project", p.ID, "used", used, "limit", s.opts.ProjectDisk)
	}
	return nil
}
