package gitrepo

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/utils/diff"
	"github.com/sergi/go-diff/diffmatchpatch"
)

// line is one line of a diff: ' ' kept, '-' removed, '+' added.
type line struct {
	op   byte
	text string // with its newline, when it has one
}

// unified is the unified diff of two texts with context lines of context
// around each change, hunks only (no file header).
func unified(before, after string, context int) string {
	var lines []line
	for _, d := range diff.Do(before, after) {
		op := map[diffmatchpatch.Operation]byte{diffmatchpatch.DiffEqual: ' ', diffmatchpatch.DiffDelete: '-', diffmatchpatch.DiffInsert: '+'}[d.Type]
		for _, l := range strings.SplitAfter(d.Text, "\n") {
			if l != "" {
				lines = append(lines, line{op, l})
			}
		}
	}
	var b strings.Builder
	for start := 0; start < len(lines); {
		// The next change, and the hunk around it: changes closer than
		// twice the context join one hunk.
		first := start
		for first < len(lines) && lines[first].op == ' ' {
			first++
		}
		if first == len(lines) {
			break
		}
		end := first
		for i := first; i < len(lines); i++ {
			if lines[i].op != ' ' {
				end = i + 1
			} else if i-end >= 2*context {
				break
			}
		}
		from, to := max(first-context, start), min(end+context, len(lines))
		writeHunk(&b, lines, from, to)
		start = to
	}
	return b.String()
}

func writeHunk(b *strings.Builder, lines []line, from, to int) {
	oldStart, newStart := 1, 1
	for _, l := range lines[:from] {
		if l.op != '+' {
			oldStart++
		}
		if l.op != '-' {
			newStart++
		}
	}
	var oldN, newN int
	for _, l := range lines[from:to] {
		if l.op != '+' {
			oldN++
		}
		if l.op != '-' {
			newN++
		}
	}
	// An empty side starts at the line before it, as git writes it.
	if oldN == 0 {
		oldStart--
	}
	if newN == 0 {
		newStart--
	}
	fmt.Fprintf(b, "@@ -%d,%d +%d,%d @@\n", oldStart, oldN, newStart, newN)
	for _, l := range lines[from:to] {
		b.WriteByte(l.op)
		b.WriteString(l.text)
		if !strings.HasSuffix(l.text, "\n") {
			b.WriteString("\n\\ No newline at end of file\n")
		}
	}
}
