package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsFresh fails when the committed sqlc or templ output
// differs from what `go tool task generate` would write.
func TestGeneratedCodeIsFresh(t *testing.T) {
	t.Parallel()
	t.Run("sqlc", func(t *testing.T) {
		t.Parallel()
		out, err := exec.Command("go", "tool", "sqlc", "diff").CombinedOutput()
		if err != nil {
			t.Fatalf("db/*.sql.go is stale; run `go tool task generate`:\n%s", out)
		}
	})
	t.Run("templ", func(t *testing.T) {
		t.Parallel()
		sources, _ := filepath.Glob("views/*.templ")
		if len(sources) == 0 {
			t.Fatal("no templ sources found")
		}
		// Error positions in the output name files relative to the
		// generation root, so generate a copy of views/ under its own root.
		root := t.TempDir()
		tmp := filepath.Join(root, "views")
		if err := os.Mkdir(tmp, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, src := range sources {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tmp, filepath.Base(src)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := exec.Command("go", "tool", "templ", "generate", "-path", root).CombinedOutput(); err != nil {
			t.Fatalf("templ generate: %v\n%s", err, out)
		}
		for _, src := range sources {
			name := strings.TrimSuffix(filepath.Base(src), ".templ") + "_templ.go"
			want, _ := os.ReadFile(filepath.Join(tmp, name))
			got, err := os.ReadFile(filepath.Join("views", name))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("views/%s is stale; run `go tool task generate`", name)
			}
		}
		committed, _ := filepath.Glob("views/*_templ.go")
		if len(committed) != len(sources) {
			t.Errorf("%d generated files for %d templ sources: remove the generated file of a deleted component", len(committed), len(sources))
		}
	})
}
