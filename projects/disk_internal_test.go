package projects

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkMeasureDir walks a folder shaped like an installed node_modules
// (20,000 files of 2 KiB in 2,000 folders): the cost of one uncached
// measurement, which the minute loop pays per running project.
func BenchmarkMeasureDir(b *testing.B) {
	dir := b.TempDir()
	content := make([]byte, 2048)
	for d := range 2000 {
		sub := filepath.Join(dir, "node_modules", fmt.Sprintf("pkg-%d", d), "lib")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 10 {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d.js", f)), content, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for b.Loop() {
		n, err := measureDir(dir)
		if err != nil || n < 20000*2048 {
			b.Fatalf("measured %d, %v", n, err)
		}
	}
}
