package agents

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"studio/agents/providers"
	"studio/gitrepo"
	"studio/projects"
)

// Limits on what tools send back to the model.
const (
	maxReadBack     = 100 << 10 // read_file
	maxListed       = 500       // list_files
	maxMatches      = 200       // search_files
	maxSearchFile   = 1 << 20   // search_files skips bigger files
	maxCommandOut   = 64 << 10  // run_command, get_logs
	defaultCmdTime  = 60 * time.Second
	maxCmdTime      = 5 * time.Minute
	defaultLogLines = 100
	maxLogLines     = 1000
)

// toolResult is the outcome of one call.
type toolResult struct {
	ok       bool
	output   string   // what the model reads
	short    string   // one line for the chat; output's first line otherwise
	changed  []string // files written or removed
	exitCode *int
}

func (t toolResult) summary() string {
	if t.short != "" {
		return t.short
	}
	line, _, _ := strings.Cut(t.output, "\n")
	return clip(line, 200)
}

func failed(format string, a ...any) toolResult {
	return toolResult{output: fmt.Sprintf(format, a...)}
}

var readOnlyTools = map[string]bool{"list_files": true, "read_file": true, "search_files": true, "get_logs": true, "git_status": true, "git_diff": true}

type toolSpec struct {
	desc   string
	schema string
}

var toolSpecs = map[string]toolSpec{
	"list_files": {"List the project's files and folders (node_modules and build output are left out).",
		`{"type":"object","properties":{"path":{"type":"string","description":"folder to list; empty for the whole project"}}}`},
	"read_file": {"Read a file of the project.",
		`{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}`},
	"write_file": {"Create a file or replace its whole content. Send the complete file: placeholders such as \"rest of the code unchanged\" are refused.",
		`{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"]}`},
	"edit_file": {"Replace one exact piece of a file: old_text must appear exactly once, whitespace included.",
		`{"type":"object","properties":{"path":{"type":"string"},"old_text":{"type":"string"},"new_text":{"type":"string"}},"required":["path","old_text","new_text"]}`},
	"delete_file": {"Delete a file or an empty folder.",
		`{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}`},
	"search_files": {"Search the project's files with a regular expression (RE2 syntax); answers path:line: text.",
		`{"type":"object","properties":{"pattern":{"type":"string"},"path":{"type":"string","description":"folder or file to search; empty for all"}},"required":["pattern"]}`},
	"run_command": {"Run a command in the project's container, in /app, without a shell (argv[0] is the program). Output is capped.",
		`{"type":"object","properties":{"argv":{"type":"array","items":{"type":"string"},"minItems":1},"timeout_s":{"type":"integer","minimum":1,"maximum":300}},"required":["argv"]}`},
	"get_logs": {"Read the last lines of the dev server's output (build errors show here).",
		`{"type":"object","properties":{"tail":{"type":"integer","minimum":1,"maximum":1000}}}`},
	"git_status": {"List the files changed since the project's last git commit, and the branch and the last commits. Read-only: committing and pushing are the person's acts.",
		`{"type":"object","properties":{}}`},
	"git_diff": {"Show the unified diff of the project's changes since its last git commit, of one file or of all.",
		`{"type":"object","properties":{"path":{"type":"string","description":"a file; empty for every change"}}}`},
}

// BuiltinTools are every tool studio has, in a stable order: a custom
// agent may use any subset of them and nothing else.
var BuiltinTools = []string{"list_files", "read_file", "search_files", "get_logs", "git_status", "git_diff", "write_file", "edit_file", "delete_file", "run_command"}

// ReadOnlyTool says whether a tool only reads: the only tools a read-only
// agent is offered or may call.
func ReadOnlyTool(name string) bool { return readOnlyTools[name] }

// allowed says whether the run's agent may call the tool: it is in the
// agent's list, and a read-only agent calls only tools that read.
func (r *run) allowed(name string) bool {
	return slices.Contains(r.agent.Tools, name) && (!r.agent.ReadOnly || readOnlyTools[name])
}

// tools are the agent's tools, as the model sees them.
func (r *run) tools() []providers.Tool {
	var out []providers.Tool
	for _, name := range r.agent.Tools {
		if spec, ok := toolSpecs[name]; ok && r.allowed(name) {
			out = append(out, providers.Tool{Name: name, Description: spec.desc, Schema: json.RawMessage(spec.schema)})
		}
	}
	return out
}

// runTool carries out one call whose arguments are a JSON object.
func (r *run) runTool(ctx context.Context, name, args string) toolResult {
	if r.agent.ReadOnly && !readOnlyTools[name] && toolSpecs[name] != (toolSpec{}) {
		return failed("%s is refused: this agent is read-only and may not change files or run commands; suggest the change in your answer instead", name)
	}
	if !r.allowed(name) {
		return failed("there is no tool %q; use one of: %s", name, strings.Join(r.allowedNames(), ", "))
	}
	var a struct {
		Path     string   `json:"path"`
		Content  *string  `json:"content"`
		OldText  *string  `json:"old_text"`
		NewText  *string  `json:"new_text"`
		Pattern  string   `json:"pattern"`
		Argv     []string `json:"argv"`
		TimeoutS int      `json:"timeout_s"`
		Tail     int      `json:"tail"`
	}
	if err := json.Unmarshal([]byte(args), &a); err != nil {
		return failed("the arguments do not match the tool's schema: %v", err)
	}
	a.Path = strings.TrimPrefix(strings.TrimPrefix(a.Path, "/app/"), "./")
	switch name {
	case "list_files":
		return r.listFiles(ctx, a.Path)
	case "read_file":
		return r.readFile(ctx, a.Path)
	case "write_file":
		if a.Content == nil {
			return failed("write_file needs content: the whole file")
		}
		return r.writeFile(ctx, a.Path, *a.Content)
	case "edit_file":
		if a.OldText == nil || a.NewText == nil {
			return failed("edit_file needs old_text and new_text")
		}
		return r.editFile(ctx, a.Path, *a.OldText, *a.NewText)
	case "delete_file":
		if entries, err := r.files.ListDir(ctx, a.Path); err == nil && len(entries) > 0 {
			return failed("%s is a folder with %d entries; delete its files first", a.Path, len(entries))
		}
		if err := r.files.DeleteFile(ctx, a.Path); err != nil {
			return fileFailure(a.Path, err)
		}
		return toolResult{ok: true, output: "deleted " + a.Path, changed: []string{a.Path}}
	case "search_files":
		return r.searchFiles(ctx, a.Pattern, a.Path)
	case "run_command":
		return r.runCommand(ctx, a.Argv, a.TimeoutS)
	case "get_logs":
		return r.getLogs(ctx, a.Tail)
	case "git_status":
		return r.gitStatus(ctx)
	case "git_diff":
		return r.gitDiff(ctx, a.Path)
	}
	return failed("there is no tool %q", name)
}

func (r *run) allowedNames() []string {
	var out []string
	for _, name := range r.agent.Tools {
		if r.allowed(name) {
			out = append(out, name)
		}
	}
	return out
}

func fileFailure(path string, err error) toolResult {
	switch {
	case errors.Is(err, projects.ErrFileNotFound):
		return failed("%s does not exist; list_files shows what does", path)
	case errors.Is(err, projects.ErrBadPath), errors.Is(err, projects.ErrTooLarge), errors.Is(err, projects.ErrIsDir), errors.Is(err, projects.ErrExists):
		return failed("%s: %v", path, err)
	case errors.Is(err, projects.ErrPrecondition):
		return failed("%s changed while you were editing it (the user may be editing it too); read it again and retry", path)
	}
	return failed("%s: %v", path, err)
}

func (r *run) listFiles(ctx context.Context, dir string) toolResult {
	tree, err := r.files.Tree(ctx)
	if err != nil {
		return fileFailure(".", err)
	}
	dir = projectDir(dir)
	var b strings.Builder
	n := 0
	for _, f := range tree {
		if !under(f.Path, dir) {
			continue
		}
		if n++; n > maxListed {
			fmt.Fprintf(&b, "… and more; list a folder to see the rest\n")
			break
		}
		if f.Type == "dir" {
			fmt.Fprintf(&b, "%s/\n", f.Path)
		} else {
			fmt.Fprintf(&b, "%s (%d bytes)\n", f.Path, f.Size)
		}
	}
	if n == 0 {
		return failed("nothing is under %q", dir)
	}
	return toolResult{ok: true, output: b.String(), short: fmt.Sprintf("%d entries", min(n, maxListed))}
}

// projectDir reads a folder argument: "", "." and "/" all mean the project.
func projectDir(dir string) string {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "." {
		return ""
	}
	return dir
}

// under says path is dir or inside it ("" is the whole project).
func under(path, dir string) bool {
	return dir == "" || path == dir || strings.HasPrefix(path, dir+"/")
}

func (r *run) readFile(ctx context.Context, path string) toolResult {
	content, _, err := r.files.ReadFile(ctx, path)
	if err != nil {
		return fileFailure(path, err)
	}
	out := string(content)
	if len(out) > maxReadBack {
		out = clip(out, maxReadBack) + fmt.Sprintf("\n[the file is %d bytes; only the first %d are shown]", len(content), maxReadBack)
	}
	return toolResult{ok: true, output: out, short: fmt.Sprintf("%s (%d bytes)", path, len(content))}
}

func (r *run) writeFile(ctx context.Context, path, content string) toolResult {
	old, _, err := r.files.ReadFile(ctx, path)
	existed := err == nil
	if p := placeholder(content, string(old)); p != "" {
		return failed("%s", refusal(path, p))
	}
	if _, err := r.files.WriteFile(ctx, path, []byte(content), ""); err != nil {
		return fileFailure(path, err)
	}
	verb := "created"
	if existed {
		verb = "wrote"
	}
	return toolResult{ok: true, output: fmt.Sprintf("%s %s (%d bytes)", verb, path, len(content)), changed: []string{path}}
}

func (r *run) editFile(ctx context.Context, path, oldText, newText string) toolResult {
	content, etag, err := r.files.ReadFile(ctx, path)
	if err != nil {
		return fileFailure(path, err)
	}
	if oldText == "" {
		return failed("old_text is empty; copy the exact text to replace from the file")
	}
	text := string(content)
	switch n := strings.Count(text, oldText); {
	case n == 0:
		hint := ""
		if strings.Contains(squash(text), squash(oldText)) {
			hint = " It matches when spaces and line breaks are ignored: copy the text exactly, indentation included."
		}
		return failed("old_text was not found in %s.%s Read the file again and copy the text to replace exactly.", path, hint)
	case n > 1:
		return failed("old_text appears %d times in %s; include more of the surrounding lines so it matches exactly once.", n, path)
	}
	if p := placeholder(newText, oldText); p != "" {
		return failed("%s", refusal(path, p))
	}
	updated := strings.Replace(text, oldText, newText, 1)
	if _, err := r.files.WriteFile(ctx, path, []byte(updated), etag); err != nil {
		return fileFailure(path, err)
	}
	return toolResult{ok: true, output: fmt.Sprintf("edited %s", path), changed: []string{path}}
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func (r *run) searchFiles(ctx context.Context, pattern, dir string) toolResult {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return failed("the pattern is not a valid regular expression: %v", err)
	}
	tree, err := r.files.Tree(ctx)
	if err != nil {
		return fileFailure(".", err)
	}
	dir = projectDir(dir)
	var b strings.Builder
	matches := 0
	for _, f := range tree {
		if f.Type != "file" || f.Size > maxSearchFile || !under(f.Path, dir) {
			continue
		}
		content, _, err := r.files.ReadFile(ctx, f.Path)
		if err != nil || strings.IndexByte(string(content[:min(len(content), 8000)]), 0) >= 0 {
			continue // gone, or binary
		}
		sc := bufio.NewScanner(strings.NewReader(string(content)))
		sc.Buffer(nil, maxSearchFile)
		for line := 1; sc.Scan(); line++ {
			if re.MatchString(sc.Text()) {
				if matches++; matches > maxMatches {
					fmt.Fprintf(&b, "… more than %d matches; narrow the pattern or the path\n", maxMatches)
					return toolResult{ok: true, output: b.String(), short: fmt.Sprintf("over %d matches", maxMatches)}
				}
				fmt.Fprintf(&b, "%s:%d: %s\n", f.Path, line, clip(sc.Text(), 300))
			}
		}
	}
	if matches == 0 {
		return toolResult{ok: true, output: "no matches", short: "no matches"}
	}
	return toolResult{ok: true, output: b.String(), short: fmt.Sprintf("%d matches", matches)}
}

func (r *run) runCommand(ctx context.Context, argv []string, timeoutS int) toolResult {
	if len(argv) == 0 || argv[0] == "" {
		return failed("argv is empty; give the program and its arguments, e.g. [\"npm\", \"run\", \"build\"]")
	}
	if r.commands >= r.s.opts.MaxCommands {
		return failed("this run has used its %d commands; finish without running more", r.s.opts.MaxCommands)
	}
	r.commands++
	timeout := defaultCmdTime
	if timeoutS > 0 {
		timeout = min(time.Duration(timeoutS)*time.Second, maxCmdTime)
	}
	// A paused container refuses exec: thaw it first.
	if err := r.s.projects.Resume(ctx, r.proj.ID); err != nil {
		return failed("the project could not be resumed to run the command: %v", err)
	}
	res, err := r.s.rt.Exec(ctx, r.proj.ID.String(), argv, timeout, maxCommandOut)
	if err != nil {
		return failed("the command could not run: %v (is the project running? the user can start it)", err)
	}
	out := fmt.Sprintf("exit code %d\n%s", res.ExitCode, res.Output)
	if res.Truncated {
		out += fmt.Sprintf("\n[output cut at %d bytes]", maxCommandOut)
	}
	code := res.ExitCode
	return toolResult{ok: res.ExitCode == 0, output: out, exitCode: &code,
		short: fmt.Sprintf("%s → exit %d", clip(strings.Join(argv, " "), 120), res.ExitCode)}
}

func (r *run) getLogs(ctx context.Context, tail int) toolResult {
	if tail <= 0 {
		tail = defaultLogLines
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	logs, err := r.files.RecentLogs(ctx, min(tail, maxLogLines))
	if err != nil {
		return failed("the logs could not be read: %v", err)
	}
	defer logs.Close()
	b, _ := io.ReadAll(io.LimitReader(logs, maxCommandOut))
	if len(b) == 0 {
		return toolResult{ok: true, output: "(no output)", short: "no output"}
	}
	return toolResult{ok: true, output: string(b), short: fmt.Sprintf("%d lines", strings.Count(string(b), "\n"))}
}

// gitStatus tells the model the project's branch, changes and last
// commits.
func (r *run) gitStatus(ctx context.Context) toolResult {
	st, err := r.files.GitState(ctx, 5)
	if err != nil {
		return failed("the git status could not be read: %v", err)
	}
	if !st.Repository {
		return toolResult{ok: true, output: "the project has no git repository yet (the person's first commit makes one)"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "on branch %s", st.Branch)
	if st.Link != nil {
		fmt.Fprintf(&b, ", linked to %s (branch %s)", st.Link.URL, st.Link.Branch)
	}
	if len(st.Status.Changes) == 0 {
		b.WriteString("\nno changes since the last commit")
	} else {
		fmt.Fprintf(&b, "\n%d changed since the last commit:", len(st.Status.Changes))
		for _, ch := range st.Status.Changes {
			fmt.Fprintf(&b, "\n%s %s", ch.Status, ch.Path)
		}
	}
	if len(st.Log) > 0 {
		b.WriteString("\nlast commits:")
		for _, c := range st.Log {
			subject, _, _ := strings.Cut(c.Message, "\n")
			fmt.Fprintf(&b, "\n%s %s (%s)", c.Hash[:7], subject, c.Author)
		}
	}
	return toolResult{ok: true, output: clip(b.String(), maxCommandOut), short: fmt.Sprintf("git status: %d changed", len(st.Status.Changes))}
}

// gitDiff gives the model the diff of one file or of every change.
func (r *run) gitDiff(ctx context.Context, path string) toolResult {
	var paths []string
	if path != "" {
		p, err := projects.CleanPath(path)
		if err != nil {
			return fileFailure(path, err)
		}
		paths = append(paths, p)
	}
	diff, err := r.files.GitDiff(ctx, paths...)
	if errors.Is(err, gitrepo.ErrNoRepository) {
		return toolResult{ok: true, output: "the project has no git repository yet, so there is no diff"}
	}
	if err != nil {
		return failed("the git diff could not be made: %v", err)
	}
	if diff == "" {
		return toolResult{ok: true, output: "no changes since the last commit"}
	}
	return toolResult{ok: true, output: clip(diff, maxReadBack), short: "git diff " + path}
}
