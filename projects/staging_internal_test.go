package projects

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestClearStagingRemovesOnlyAbandonedImports(t *testing.T) {
	root := t.TempDir()
	s := &Service{opts: Options{Root: root}, log: slog.New(slog.DiscardHandler)}
	old, fresh := filepath.Join(root, ".staging", "old"), filepath.Join(root, ".staging", "fresh")
	for _, d := range []string{old, fresh} {
		if err := os.MkdirAll(filepath.Join(d, ".git"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * stagingMaxAge)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	s.clearStaging()
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("an abandoned import is still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("an import under way was removed: %v", err)
	}
}
