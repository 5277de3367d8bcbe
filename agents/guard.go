package agents

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// placeholderRE finds the comments models write instead of code they mean
// to keep: "// rest of the code remains the same", "/* ... existing code
// ... */", "{/* other components unchanged */}", "# ... rest unchanged".
// Only whole-line comments count. Comments that merely describe code
// ("// Other functions", "// skip if the value is the same", "// return
// the input unchanged") are not placeholders: "other" needs an ellipsis or
// a word such as "unchanged" or "here", "is the same" needs a subject such
// as "the rest" or "imports", and "unchanged" alone must be the whole
// comment or follow such a subject.
var placeholderRE = regexp.MustCompile(`(?im)^[ \t]*(?://|#|/\*|<!--|\{/\*|\*|--)[ \t]*(?:` +
	phDots + `|\[\.\.\.\]|` + // a bare ellipsis comment
	phDots + `?[ \t]*(?:the )?(?:rest|remainder) of (?:the )?(?:code|file|component|implementation|content|functions?|methods?|styles?)\b.*|` +
	phDots + `?[ \t]*(?:keep |all )?(?:the )?(?:existing|previous|remaining|original|unchanged) ` + phParts + `\b.*|` +
	phDots + `[ \t]*(?:keep |all )?(?:the )?other ` + phParts + `\b.*|` +
	`(?:keep |all )?(?:the )?other ` + phParts + `\b.*(?:\b(?:unchanged|here|omitted|as (?:is|before)|the same)\b|` + phDots + `).*|` +
	phDots + `?[ \t]*(?:the )?(?:rest|remainder|everything(?: else)?|all else|(?:existing|previous|other|remaining|original) \w+)\b.*\b` + phKept + `.*|` +
	phDots + `?[ \t]*(?:all |the )?(?:\w+ )?` + phParts + ` ` + phKept + `.*|` +
	phDots + `?[ \t]*[(\[]?[ \t]*(?:(?:the )?(?:rest|remainder)\b.*|everything else|(?:all |the )?(?:\w+ )?` + phParts + `)?[ \t]*(?:unchanged|same as before)[ \t]*[)\]]?[ \t]*` + phDots + `?` +
	`)[ \t]*(?:\*/|-->|\*/\})?[ \t]*$`)

const (
	phDots  = `(?:\.{2,}|…)`
	phParts = `(?:code|content|functions?|methods?|components?|imports?|styles?|lines?|logic|implementation)`
	phKept  = `(?:remains?|stays?|is|are|kept) (?:the same|unchanged|as (?:is|before))\b`
)

// placeholder returns the first placeholder comment of content that old
// does not have already ("" when there is none).
func placeholder(content, old string) string {
	for _, m := range placeholderRE.FindAllString(content, -1) {
		m = strings.TrimSpace(m)
		if !strings.Contains(old, m) {
			return m
		}
	}
	return ""
}

func refusal(path, found string) string {
	return fmt.Sprintf("Refused: the new content of %s has a placeholder instead of code (%q). Writing it would delete the code it stands for. Send the complete file with write_file, or change only the part that changes with edit_file.", path, clip(found, 120))
}

// block is a fenced code block that names a file: ```tsx src/App.tsx
type block struct {
	path, content string
}

// blockParser finds complete file blocks in text that arrives in pieces.
type blockParser struct {
	line  strings.Builder // the line being received
	path  string          // inside a block: its file
	fence string          // inside a block: the fence that closes it
	body  strings.Builder
	in    bool
}

var fenceRE = regexp.MustCompile("^[ \t]*(`{3,}|~{3,})[ \t]*([^\\s`]*)[ \t]*(.*?)[ \t]*$")

// feed takes the next piece of text and returns the blocks it completed.
func (p *blockParser) feed(text string) []block {
	var out []block
	for text != "" {
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			p.line.WriteString(text)
			return out
		}
		p.line.WriteString(text[:i])
		text = text[i+1:]
		if b, ok := p.endLine(p.line.String()); ok {
			out = append(out, b)
		}
		p.line.Reset()
	}
	return out
}

// end takes the end of the text and returns the block it completed: the
// closing fence may be the last line, without a line break after it.
func (p *blockParser) end() []block {
	if p.line.Len() == 0 {
		return nil
	}
	return p.feed("\n")
}

func (p *blockParser) endLine(line string) (block, bool) {
	m := fenceRE.FindStringSubmatch(line)
	if !p.in {
		if m != nil {
			p.in, p.fence, p.path = true, m[1], blockPath(m[2], m[3])
			p.body.Reset()
		}
		return block{}, false
	}
	if m != nil && strings.HasPrefix(m[1], p.fence[:1]) && len(m[1]) >= len(p.fence) && m[2] == "" && m[3] == "" {
		p.in = false
		if p.path == "" {
			return block{}, false // an example, not a file
		}
		return block{path: p.path, content: p.body.String()}, true
	}
	p.body.WriteString(line)
	p.body.WriteByte('\n')
	return block{}, false
}

// blockPath reads the file a fence's info string names: "tsx src/App.tsx",
// "src/App.tsx", "tsx title=src/App.tsx", "tsx path=src/App.tsx" or
// "tsx:src/App.tsx".
func blockPath(lang, rest string) string {
	for _, f := range append([]string{lang}, strings.Fields(rest)...) {
		f = strings.Trim(f, `"'`)
		if l, p, ok := strings.Cut(f, ":"); ok && l != "" && p != "" && !strings.ContainsAny(l, "/.=") {
			f = p // a language before the path
		}
		for _, prefix := range []string{"path=", "file=", "title=", "filename="} {
			f = strings.TrimPrefix(f, prefix)
		}
		f = strings.Trim(f, `"'`)
		if strings.Contains(f, "/") || (strings.Contains(f, ".") && !strings.HasPrefix(f, ".")) {
			return strings.TrimPrefix(strings.TrimPrefix(f, "/app/"), "./")
		}
	}
	return ""
}

// saveBlock writes a file block as a tool call would; it returns why it
// was refused, or "".
func (r *run) saveBlock(ctx context.Context, b block) string {
	args := fmt.Sprintf(`{"path":%q,"content_bytes":%d}`, b.path, len(b.content))
	r.log.emit(KindToolCall, ToolCallEvent{Name: "write_file", Args: rawArgs(args)})
	start := time.Now()
	res := failed("%s was not saved: this agent is read-only and may not change files", b.path)
	if !r.agent.ReadOnly {
		res = r.writeFile(ctx, b.path, b.content)
	}
	r.log.emit(KindToolResult, ToolResultEvent{Name: "write_file", OK: res.ok, Summary: res.summary(), Args: rawArgs(args)})
	for _, p := range res.changed {
		r.log.emit(KindFileChanged, FileChangedEvent{Path: p})
	}
	r.logCommand(ctx, "write_file", []byte(args), res, start)
	if res.ok {
		return ""
	}
	return res.output
}

// projectContext tells the model what the project looks like now: its
// files, what the user changed or has open, and recent dev-server errors.
func (r *run) projectContext(ctx context.Context) string {
	var b strings.Builder
	tree, err := r.files.Tree(ctx)
	if err == nil {
		b.WriteString("Project files:\n")
		for i, f := range tree {
			if i == 300 {
				b.WriteString("… (more; use list_files)\n")
				break
			}
			if f.Type == "dir" {
				continue
			}
			b.WriteString(f.Path + "\n")
		}
	}
	// Files the user has open, or changed since the last run ended.
	since := r.lastRunEnd(ctx)
	seen := map[string]bool{}
	var shown int
	show := func(path, why string) {
		if seen[path] || shown >= 5 {
			return
		}
		seen[path] = true
		content, _, err := r.files.ReadFile(ctx, path)
		if err != nil || len(content) > 20<<10 {
			return
		}
		shown++
		fmt.Fprintf(&b, "\n%s (%s):\n```\n%s\n```\n", path, why, content)
	}
	for _, p := range r.open {
		show(p, "open in the user's editor")
	}
	if !since.IsZero() {
		for _, f := range tree {
			if f.Type == "file" && f.ModifiedAt.After(since) {
				show(f.Path, "changed by the user since your last answer")
			}
		}
	}
	if errs := r.devServerErrors(ctx); errs != "" {
		fmt.Fprintf(&b, "\nRecent errors from the dev server:\n%s\n", errs)
	}
	return strings.TrimSpace(b.String())
}

func (r *run) lastRunEnd(ctx context.Context) time.Time {
	runs, err := r.s.listRuns(ctx, r.proj.ID, 2)
	if err != nil {
		return time.Time{}
	}
	for _, row := range runs {
		if row.ID != r.row.ID && row.FinishedAt != nil {
			return *row.FinishedAt
		}
	}
	return time.Time{}
}

// devServerErrors are the last lines of the dev server's output that
// mention an error.
func (r *run) devServerErrors(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	logs, err := r.files.RecentLogs(ctx, 200)
	if err != nil {
		return ""
	}
	defer logs.Close()
	raw, _ := io.ReadAll(io.LimitReader(logs, 256<<10))
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		if low := strings.ToLower(l); strings.Contains(low, "error") || strings.Contains(low, "failed") {
			lines = append(lines, clip(strings.TrimSpace(l), 300))
		}
	}
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}
