// Package e2e drives the real studio binary with real Chromium.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"

	pt "studio/agents/providers/providertest"
	"studio/internal/testwait"
)

// studio is a running `studio serve` on a fresh data folder.
type studio struct {
	base string // http://studio.localhost:<port>
	port string
	addr string // STUDIO_ADDR
	data string // STUDIO_DATA
	log  string // the file holding what the process printed

	instance string    // STUDIO_INSTANCE, which labels its containers
	cmd      *exec.Cmd // the process
}

func startStudio(t *testing.T, env ...string) *studio {
	t.Helper()
	return startStudioIn(t, "", env...)
}

// startStudioIn is startStudio on a data folder of the caller's (empty:
// a new one).
func startStudioIn(t testing.TB, data string, env ...string) *studio {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("chromium is not installed; scripts/setup installs it")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	bin := filepath.Join(dir, "studio")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	instance := "e2e-" + uuid.NewString()[:8]
	if data == "" {
		data = filepath.Join(dir, "data")
	}
	addr, base := "127.0.0.1:"+port, "http://studio.localhost:"+port
	for _, kv := range env { // the caller's address and public URL, if it chose them
		if v, ok := strings.CutPrefix(kv, "STUDIO_ADDR="); ok {
			addr = v
			_, port, _ = net.SplitHostPort(v)
		}
		if v, ok := strings.CutPrefix(kv, "STUDIO_BASE_URL="); ok {
			base = v
		}
	}
	cmd := exec.Command(bin, "serve")
	// No warm pool unless the test asks for one: its containers would
	// compete with the test's for the machine's two cores.
	cmd.Env = append(os.Environ(), "STUDIO_DATA="+data, "STUDIO_ADDR="+addr, "STUDIO_INSTANCE="+instance, "STUDIO_POOL_SIZE=0")
	cmd.Env = append(cmd.Env, env...)
	logFile, _ := os.Create(filepath.Join(dir, "studio.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		// Remove what this studio created in the engine.
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=studio.instance="+instance).Output()
		for _, id := range strings.Fields(string(out)) {
			exec.Command("docker", "rm", "-f", id).Run()
		}
		nets, _ := exec.Command("docker", "network", "ls", "-q", "--filter", "label=studio.instance="+instance).Output()
		for _, id := range strings.Fields(string(nets)) {
			// A router still attached (Traefik) would keep it.
			attached, _ := exec.Command("docker", "network", "inspect", "-f", `{{range $id, $c := .Containers}}{{$id}} {{end}}`, id).Output()
			for _, c := range strings.Fields(string(attached)) {
				exec.Command("docker", "network", "disconnect", "-f", id, c).Run()
			}
			exec.Command("docker", "network", "rm", id).Run()
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "studio.log"))
			t.Logf("studio log:\n%s", b)
		}
	})
	for i := 0; i < 200; i++ {
		if res, err := http.Get("http://" + addr + "/healthz"); err == nil {
			res.Body.Close()
			return &studio{base: base, port: port, data: data, log: filepath.Join(dir, "studio.log"), addr: addr, instance: instance, cmd: cmd}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("studio did not start")
	return nil
}

// browser starts headless Chromium with a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("chromium"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(alloc)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

// signUp makes an account in the browser and waits for the dashboard.
// It is the first thing done with ctx, so it starts the browser, which
// lives as long as the context it starts in: ctx, never a step's.
func signUp(t *testing.T, ctx context.Context, s *studio, email, password string) {
	t.Helper()
	type css = chromedp.CSS
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/signup"),
		chromedp.WaitVisible(css(`#f-email`)),
		chromedp.SendKeys(css(`#f-email`), email),
		chromedp.SendKeys(css(`#f-password`), password),
		chromedp.Click(css(`[data-testid=signup-form] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid=dashboard]`)),
	)
	if err != nil {
		t.Fatalf("sign up: %v", err)
	}
}

func workspaceURLOf(t *testing.T, ctx context.Context) string {
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// apiToken signs in to the JSON API.
func apiToken(t testing.TB, s *studio, email, password string) string {
	t.Helper()
	res, err := http.Post("http://"+s.addr+"/api/auth/login", "application/json", strings.NewReader(`{"email":"`+email+`","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	return body.AccessToken
}

// writeThroughAPI writes a file through the JSON API, as an agent or
// another client would.
func writeThroughAPI(t *testing.T, s *studio, email, password, projectID, path, content string) {
	t.Helper()
	apiPut(t, s, email, password, "/api/projects/"+projectID+"/files/"+path, "application/octet-stream", content)
}

// apiPut signs in to the JSON API and sends a PUT.
func apiPut(t *testing.T, s *studio, email, password, path, contentType, body string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", "http://"+s.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiToken(t, s, email, password))
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("PUT %s: %v %v", path, err, res)
	}
	res.Body.Close()
}

// step runs actions with a deadline and shows the page when they fail.
func step(t *testing.T, ctx context.Context, name string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		where, _ := chromedp.Run(ctx, chromedp.Location())
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
		screenshot(t, ctx, "failed-"+name)
		t.Fatalf("%s: %v\nat %s:\n%s", name, err, where, text)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	os.MkdirAll("artifacts", 0o755)
	os.WriteFile(filepath.Join("artifacts", name+".png"), png, 0o644)
}

// TestSignUpCreateProjectAndPreview: a new user signs up, creates a
// react-vite project from the dashboard, watches its card turn active
// without reloading, opens the preview and sees the template's heading.
func TestSignUpCreateProjectAndPreview(t *testing.T) {
	// The agent's model is a local server speaking OpenAI's streaming
	// format, which the administrator's settings point OpenAI at.
	fake := pt.New("openai")
	defer fake.Close()
	s := startStudio(t, "STUDIO_OPENAI_BASE_URL="+fake.BaseURL(), "STUDIO_PROVIDER_ALLOW="+strings.TrimPrefix(strings.TrimSuffix(fake.BaseURL(), "/v1"), "http://"))
	ctx := browser(t)
	type css = chromedp.CSS
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/signup"),
		chromedp.WaitVisible(css(`#f-email`)),
		chromedp.SendKeys(css(`#f-email`), "ada@example.com"),
		chromedp.SendKeys(css(`#f-password`), "a long password"),
		chromedp.Click(css(`[data-testid=signup-form] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid=empty-state]`)),
		chromedp.SendKeys(css(`#f-name`), "My App"),
		chromedp.Click(css(`[data-testid=create]`)),
		chromedp.WaitVisible(css(`[data-testid=project-card]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	step(t, ctx, "card turns active", chromedp.WaitVisible(css(`[data-testid=project-card][data-status=active]`)))
	t.Logf("card active %v after the click", time.Since(started).Round(time.Millisecond))
	screenshot(t, ctx, "dashboard")

	href, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`[data-testid=preview-link]`), "href"))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+href.Value)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second) // Vite transforms React on first load; slow while the whole suite runs
	err = chromedp.Do(wctx, chromedp.WaitVisible(css(`h1`)))
	cancel()
	if err != nil {
		where, _ := chromedp.Run(ctx, chromedp.Location())
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		t.Fatalf("the preview at %s shows no heading: %v\n%s", where, err, html)
	}
	heading, _ := chromedp.Run(ctx, chromedp.Text(css(`h1`)))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasPrefix(loc, fmt.Sprintf("http://my-app.studio.localhost:%s/", s.port)) || heading == "" {
		t.Fatalf("preview at %q shows %q", loc, heading)
	}
	screenshot(t, ctx, "preview")

	// The workspace: open src/App.tsx in Monaco, change the heading, save
	// with Ctrl+S; the preview frame shows it through hot reload, without
	// reloading the page (a marker set in the frame survives).
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/")); err != nil {
		t.Fatal(err)
	}
	opened := time.Now()
	// The card is redrawn by the dashboard's event stream as it connects, so
	// the click happens inside the page, on whichever card is there now.
	step(t, ctx, "open the workspace from its card",
		chromedp.WaitVisible(css(`[data-testid=project-card][data-status=active] [data-testid=project-name]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=project-name]').click()`),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-ready]`)),
	)
	t.Logf("workspace painted %v after the click", time.Since(opened).Round(time.Millisecond))
	step(t, ctx, "no file open, no file buttons", chromedp.WaitNotVisible(css(`[data-testid=rename-file]`)), chromedp.WaitNotVisible(css(`[data-testid=delete-file]`)))
	inFrame := previewFrame(t, ctx)
	// A full reload would make a new body without this attribute.
	if err := chromedp.Do(ctx, chromedp.SetAttributeValue(css(`body`), "data-studio-marker", "kept", inFrame)); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "editor",
		chromedp.Click(css(`[data-file="src/App.tsx"]`)),
		chromedp.WaitVisible(css(`.monaco-editor`)),
		chromedp.WaitVisible(css(`[data-tab="src/App.tsx"]`)),
	)
	t.Logf("editor usable with App.tsx %v after the workspace was opened (Monaco loaded on first use)", time.Since(opened).Round(time.Millisecond))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function () {
		var m = window.studioEditor.getModel();
		m.setValue(m.getValue().replace("Hello from React", "Hello from Studio"));
		window.studioEditor.focus();
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	unsaved, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-tab="src/App.tsx"]`)))
	if !strings.HasPrefix(unsaved, "●") {
		t.Fatalf("no unsaved marker on the tab: %q", unsaved)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		h1, _ := chromedp.Run(qctx, chromedp.Text(css(`h1`), inFrame))
		cancel()
		if h1 == "Hello from Studio" {
			break
		}
		if time.Now().After(deadline) {
			status, _ := chromedp.Run(ctx, chromedp.Text(css(`#editor-status`)))
			t.Fatalf("the preview still shows %q (editor: %q)", h1, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	marker, err := chromedp.Run(qctx, chromedp.AttributeValue(css(`body`), "data-studio-marker", inFrame))
	cancel()
	if err != nil || marker.Value != "kept" {
		t.Fatalf("the preview reloaded the whole page instead of hot-reloading: %v %+v", err, marker)
	}
	saved, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-tab="src/App.tsx"]`)))
	if strings.HasPrefix(saved, "●") {
		t.Fatalf("the tab still shows unsaved changes: %q", saved)
	}
	screenshot(t, ctx, "workspace")

	// Someone else changes the file while it has unsaved edits: the edits
	// stay, and saving offers a choice instead of overwriting silently.
	projectID := strings.TrimPrefix(strings.TrimSuffix(workspaceURLOf(t, ctx), "/"), s.base+"/projects/")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function () {
		var m = window.studioEditor.getModel();
		m.setValue(m.getValue() + "\n// my unsaved edit\n");
		return true;
	})()`)); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(s.data, "projects", projectID, "src", "App.tsx")
	disk, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(disk), "Hello from Studio", "Hello from disk", 1)
	// Written through the API as the agent would, so the change is announced.
	writeThroughAPI(t, s, "ada@example.com", "a long password", projectID, "src/App.tsx", changed)
	step(t, ctx, "conflict",
		chromedp.WaitVisible(css(`#editor-status`)),
		chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(css(`[data-testid=conflict]`)),
		chromedp.Click(css(`[data-testid=conflict-reload]`)),
	)
	deadline = time.Now().Add(10 * time.Second)
	for {
		content, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`window.studioEditor.getModel().getValue()`))
		if content == changed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after choosing reload the editor holds %q", content)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Folders fold.
	step(t, ctx, "fold", chromedp.Click(css(`[data-dir="src"]`)), chromedp.WaitNotVisible(css(`[data-file="src/main.tsx"]`)))
	step(t, ctx, "unfold", chromedp.Click(css(`[data-dir="src"]`)), chromedp.WaitVisible(css(`[data-file="src/main.tsx"]`)))

	// Files: create one from the list, rename it, delete it; the list follows.
	step(t, ctx, "new file",
		chromedp.SendKeys(css(`[data-testid=new-path]`), "src/notes.md"),
		chromedp.Click(css(`[data-testid=new-file]`)),
		chromedp.WaitVisible(css(`[data-file="src/notes.md"]`)),
		chromedp.WaitVisible(css(`[data-tab="src/notes.md"]`)),
	)
	// Rename opens a form holding the file's path; the new path replaces it.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.confirm = function () { return true }; true`)); err != nil {
		t.Fatal(err)
	}
	renameTo := func(to string, then ...chromedp.Action[chromedp.Void]) []chromedp.Action[chromedp.Void] {
		return append([]chromedp.Action[chromedp.Void]{
			chromedp.Click(css(`[data-testid=rename-file]`)),
			chromedp.WaitVisible(css(`[data-testid=rename-to]`)),
			chromedp.SetValue(css(`[data-testid=rename-to]`), to),
			chromedp.Click(css(`[data-testid=rename-submit]`)),
		}, then...)
	}
	step(t, ctx, "rename file", renameTo("docs/notes.md",
		chromedp.WaitVisible(css(`[data-file="docs/notes.md"]`)),
		chromedp.WaitNotPresent(css(`[data-file="src/notes.md"]`)),
		chromedp.WaitVisible(css(`[data-tab="docs/notes.md"]`)),
	)...)
	// A rename onto a file that exists is refused, and the person reads why
	// in the form, which keeps what was typed.
	step(t, ctx, "rename onto an existing file", renameTo("src/App.tsx",
		chromedp.WaitVisible(chromedp.Search(`//p[@data-testid="rename-error"][contains(., "already exists")]`)),
	)...)
	typed, err := chromedp.Run(ctx, chromedp.Value(css(`[data-testid=rename-to]`)))
	if err != nil || typed != "src/App.tsx" {
		t.Fatalf("the refused rename form holds %q: %v", typed, err)
	}
	step(t, ctx, "delete file",
		chromedp.Click(css(`[data-testid=delete-file]`)),
		chromedp.WaitNotPresent(css(`[data-file="docs/notes.md"]`)),
	)

	// A folder's rows load when it is first opened: after a reload, src
	// is open and src/parts is closed, with nothing fetched yet.
	step(t, ctx, "file in a new folder",
		chromedp.SendKeys(css(`[data-testid=new-path]`), "src/parts/Hello.tsx"),
		chromedp.Click(css(`[data-testid=new-file]`)),
		chromedp.WaitVisible(css(`[data-file="src/parts/Hello.tsx"]`)),
	)
	step(t, ctx, "lazy folder",
		chromedp.Reload(),
		chromedp.WaitVisible(css(`[data-dir="src/parts"]`)),
		chromedp.WaitNotPresent(css(`[data-file="src/parts/Hello.tsx"]`)),
	)
	// The tree may be drawn again while the page settles (its event
	// stream reconnecting), replacing the folder's node under a click:
	// open it until its rows show.
	testwait.Eventually(t, 30*time.Second, func() bool {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		shown, _ := chromedp.Run(qctx, chromedp.Evaluate[bool](`!!document.querySelector('[data-file="src/parts/Hello.tsx"]')`))
		if !shown {
			_ = chromedp.Do(qctx, chromedp.Click(css(`[data-dir="src/parts"]`)),
				chromedp.WaitVisible(css(`[data-file="src/parts/Hello.tsx"]`)))
		}
		shown, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('[data-file="src/parts/Hello.tsx"]')`))
		return shown
	}, "the lazily loaded folder src/parts opens and shows its file")

	// The splitter after the file list drags it wider; arrow keys move it too.
	paneWidth := func() float64 {
		w, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector("[data-testid=file-tree]").getBoundingClientRect().width`))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	before := paneWidth()
	bar, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(function () { var r = document.querySelector("[data-testid=split-tree]").getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`))
	if err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "drag splitter",
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, bar[0], bar[1], chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, bar[0]+60, bar[1], chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, bar[0]+120, bar[1], chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, bar[0]+120, bar[1], chromedp.ButtonLeft),
	)
	if dragged := paneWidth(); dragged < before+100 || dragged > before+140 {
		t.Fatalf("file list %v px wide after dragging 120 px; it was %v", dragged, before)
	}
	dragged := paneWidth()
	step(t, ctx, "splitter keys", chromedp.Focus(css(`[data-testid=split-tree]`)), chromedp.KeyEvent(kb.ArrowLeft))
	if w := paneWidth(); w > dragged-20 {
		t.Fatalf("file list %v px wide after ArrowLeft; it was %v", w, dragged)
	}

	// On a narrow window the panes stack and the splitters go away.
	step(t, ctx, "narrow window", chromedp.EmulateViewport(600, 900), chromedp.WaitNotVisible(css(`[data-testid=split-tree]`)))
	stacked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function () {
		var tree = document.querySelector("[data-testid=file-tree]").getBoundingClientRect();
		var editor = document.querySelector("[aria-label=Editor]").getBoundingClientRect();
		return editor.top >= tree.bottom && tree.width > 500 && editor.width > 500 && document.documentElement.scrollWidth <= 600;
	})()`))
	if err != nil || !stacked {
		screenshot(t, ctx, "narrow")
		t.Fatalf("panes on a 600 px window are not stacked without sideways scrolling (%v)", err)
	}
	step(t, ctx, "wide window", chromedp.EmulateViewport(1280, 800), chromedp.WaitVisible(css(`[data-testid=split-tree]`)))

	// The chat: the agent (a local server speaking OpenAI's streaming
	// format) rewrites App.tsx, and the preview follows; Undo puts it back.
	apiPut(t, s, "ada@example.com", "a long password", "/api/settings/providers/openai", "application/json", `{"api_key":"sk-e2e-key-0001"}`)
	fake.Push(
		pt.Turn{Text: []string{"Rewriting ", "the heading."}, Calls: []pt.Call{{Name: "write_file", Args: `{"path":"src/App.tsx","content":"export default function App() {\n  return <h1>Hello from the agent</h1>\n}\n"}`}}},
		pt.Say("Changed the **heading**."),
	)
	step(t, ctx, "chat",
		chromedp.Reload(),
		chromedp.WaitVisible(css(`[data-testid=chat-message]`)),
		chromedp.SendKeys(css(`[data-testid=chat-message]`), "Make the heading greet from the agent"),
		chromedp.Click(css(`[data-testid=chat-send]`)),
		chromedp.WaitVisible(css(`[data-testid=chat-run][data-status=succeeded]`)),
	)
	answer, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=chat-run] [data-testid=run-answer]`)))
	if !strings.Contains(answer, "Changed the heading.") {
		t.Fatalf("the answer reads %q", answer)
	}
	waitHeading := func(want string) {
		t.Helper()
		frames, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`iframe#preview`)))
		if err != nil || len(frames) != 1 {
			t.Fatalf("preview frame: %v", err)
		}
		waitFrameHeading(t, ctx, chromedp.FromNode(frames[0]), want)
	}
	waitHeading("Hello from the agent")
	screenshot(t, ctx, "chat")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.confirm = function () { return true }; true`)); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "undo the run",
		chromedp.Click(css(`[data-testid=run-undo]`)),
		chromedp.WaitVisible(css(`[data-testid=run-note]`)),
	)
	waitHeading("Hello from disk")

	// Every header button works, and the header offers only what the
	// project's state allows (see press for why clicks go through the page).
	step(t, ctx, "active offers no start",
		chromedp.WaitVisible(css(`#ws-header[data-status=active] [data-testid=ws-stop]`)),
		chromedp.WaitVisible(css(`#ws-header[data-status=active] [data-testid=ws-restart]`)),
		chromedp.WaitNotPresent(css(`[data-testid=ws-start]`)),
	)
	step(t, ctx, "stop", press("ws-stop"),
		chromedp.WaitVisible(css(`#ws-header[data-status=stopped] [data-testid=ws-start]`)),
		chromedp.WaitNotPresent(css(`[data-testid=ws-stop]`)),
	)
	step(t, ctx, "start", press("ws-start"),
		chromedp.WaitVisible(css(`#ws-header[data-status=active] [data-testid=ws-restart]`)),
		chromedp.WaitNotPresent(css(`[data-testid=ws-start]`)),
	)
	step(t, ctx, "restart", press("ws-restart"),
		chromedp.WaitVisible(css(`#ws-header[data-status=initializing]`)),
		chromedp.WaitVisible(css(`#ws-header[data-status=active] [data-testid=ws-restart]`)),
	)
	workspaceURL, _ := chromedp.Run(ctx, chromedp.Location())

	// A phone-sized window: no page scrolls sideways.
	step(t, ctx, "phone window", chromedp.EmulateViewport(390, 844))
	for _, page := range []string{"/", workspaceURL, "/settings", "/admin"} {
		if !strings.HasPrefix(page, "http") {
			page = s.base + page
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(css(`#main`))); err != nil {
			t.Fatalf("open %s at 390 px: %v", page, err)
		}
		width, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`))
		if err != nil {
			t.Fatal(err)
		}
		if width > 390 {
			screenshot(t, ctx, "phone-"+strings.Trim(strings.ReplaceAll(page[len(s.base):], "/", "-"), "-"))
			t.Errorf("%s is %v px wide in a 390 px window", page, width)
		}
	}
	step(t, ctx, "wide again", chromedp.EmulateViewport(1280, 800), chromedp.Navigate(workspaceURL), chromedp.WaitVisible(css(`#ws-status.badge-active`)))

	// Sign out.
	if err := chromedp.Do(ctx,
		chromedp.Click(css(`header form[action="/logout"] button`)),
		chromedp.WaitVisible(css(`[data-testid=login-form]`)),
	); err != nil {
		t.Fatalf("sign out: %v", err)
	}

	// Another person, in another browser, sees neither the workspace nor the preview.
	other := browser(t)
	if err := chromedp.Do(other,
		chromedp.Navigate(s.base+"/signup"),
		chromedp.SendKeys(css(`#f-email`), "eve@example.com"),
		chromedp.SendKeys(css(`#f-password`), "another long password"),
		chromedp.Click(css(`[data-testid=signup-form] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid=dashboard]`)),
		chromedp.Navigate(workspaceURL),
		chromedp.WaitVisible(css(`[data-testid=error-page]`)),
	); err != nil {
		t.Fatalf("another user opening the workspace: %v", err)
	}
	res, err := chromedp.Run(other, chromedp.NavigateResponse(loc))
	if err != nil || res.Status != 404 {
		t.Fatalf("another user opening the preview: %v %v", err, res)
	}
}

// press clicks a button inside the page. A header redraws itself on every
// status event: clicked this way, once the header drawn for the expected
// state is there, a redraw cannot swallow the click.
func press(button string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=` + button + `]').click()`)
}

// logPreviewState logs what a preview frame that never showed its page
// holds, and what the dev server printed (the workspace's Logs pane), so
// a failure says whether the page, the proxy or the dev server stalled.
func logPreviewState(t *testing.T, ctx context.Context, inFrame chromedp.QueryOption) {
	t.Helper()
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	html, err := chromedp.Run(qctx, chromedp.OuterHTML(chromedp.CSS(`html`), inFrame))
	cancel()
	if len(html) > 2000 {
		html = html[:2000] + "…"
	}
	t.Logf("the preview frame holds (%v):\n%s", err, html)
	chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=logs-tab]')?.click()`))
	time.Sleep(3 * time.Second)
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	logs, err := chromedp.Run(lctx, chromedp.TextContent(chromedp.CSS(`[data-testid=logs]`)))
	cancel()
	if len(logs) > 4000 {
		logs = "…" + logs[len(logs)-4000:]
	}
	t.Logf("the dev server's log (%v):\n%s", err, logs)
}

// waitFrameHeading waits until the preview frame's heading reads want.
func waitFrameHeading(t *testing.T, ctx context.Context, inFrame chromedp.QueryOption, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		h1, _ := chromedp.Run(qctx, chromedp.Text(chromedp.CSS(`h1`), inFrame))
		cancel()
		if h1 == want {
			return
		}
		if time.Now().After(deadline) {
			screenshot(t, ctx, "failed-frame-heading")
			t.Fatalf("the preview frame shows %q, want %q", h1, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// previewFrame waits until the workspace's preview frame shows the app's
// heading and returns the query option that looks inside it. The frame's
// node is looked up again on every try: one taken while the frame was still
// following its signed link to the preview holds the document it left.
func previewFrame(t *testing.T, ctx context.Context) chromedp.QueryOption {
	t.Helper()
	start := time.Now()
	deadline := start.Add(90 * time.Second)
	reloaded := false
	for {
		if !reloaded && time.Since(start) > 45*time.Second {
			// What a person would do with a frame still blank: press
			// reload, once. Logged, so a run that needed it says so.
			t.Logf("the preview frame is still blank after %s; reloading it once", time.Since(start).Round(time.Second))
			chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("preview-reload").click()`))
			reloaded = true
		}
		frames, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSS(`iframe#preview`)))
		if err != nil || len(frames) != 1 {
			t.Fatalf("preview frame: %d frames, %v", len(frames), err)
		}
		inFrame := chromedp.FromNode(frames[0])
		qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = chromedp.Do(qctx, chromedp.WaitVisible(chromedp.CSS(`h1`), inFrame))
		cancel()
		if err == nil {
			return inFrame
		}
		if time.Now().After(deadline) {
			src, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("preview").src`))
			screenshot(t, ctx, "failed-preview-frame")
			logPreviewState(t, ctx, inFrame)
			t.Fatalf("the preview frame (%s) shows no heading: %v", src, err)
		}
	}
}
