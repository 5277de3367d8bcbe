package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"studio/internal/testwait"
)

// TestEnvBuildPublish: a person sets a secret and a public VITE_ value in
// the workspace, restarts, and the dev server sees both, while the secret
// shows nowhere — not in the dialog, the Logs pane's stream, studio's log
// or the project's files. The Build button streams the build's output and
// offers its zip; the published site is served with the dev server
// stopped, to its owner only while private and to anyone once public.
func TestEnvBuildPublish(t *testing.T) {
	s := startStudio(t)
	const email, password = "vera@example.com", "a build password"
	const secret, greeting = "s3cret-value-9f2c", "hello-from-vite-env"
	ctx := browser(t)
	type css = chromedp.CSS
	// The first action starts the browser, which lives as long as its
	// context: ctx, not a step's.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/signup"),
		chromedp.WaitVisible(css(`#f-email`)),
		chromedp.SendKeys(css(`#f-email`), email),
		chromedp.SendKeys(css(`#f-password`), password),
		chromedp.Click(css(`[data-testid=signup-form] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid=empty-state]`)),
	); err != nil {
		t.Fatalf("sign up: %v", err)
	}
	step(t, ctx, "create a project",
		chromedp.SendKeys(css(`#f-name`), "Vera site"),
		chromedp.Click(css(`label:has(> [data-testid=template-vanilla-vite])`)),
		chromedp.Click(css(`[data-testid=create]`)),
		chromedp.WaitVisible(css(`[data-testid=project-card][data-status=active] [data-testid=project-name]`)),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid=project-name]').click()`),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-ready]`)),
	)
	project := strings.TrimPrefix(workspaceURLOf(t, ctx), s.base+"/projects/")
	token := apiToken(t, s, email, password)
	// The config prints the secret as it loads (into the dev server's
	// log); the page shows the public value.
	writeThroughAPI(t, s, email, password, project, "vite.config.js", `import { defineConfig } from 'vite'
console.log('config sees ' + process.env.SECRET_TOKEN)
export default defineConfig({ cacheDir: '.studio/node_modules/.vite', server: { host: '0.0.0.0', port: 5173, strictPort: true, allowedHosts: true } })
`)
	writeThroughAPI(t, s, email, password, project, "src/main.js", "document.querySelector('#app').innerHTML = '<h1>' + import.meta.env.VITE_GREETING + '</h1>'\n")

	step(t, ctx, "set the variables",
		press("envbuild-open"),
		chromedp.WaitVisible(css(`[data-testid=env-form]`)),
		chromedp.SendKeys(css(`[data-testid=env-name]`), "SECRET_TOKEN"),
		chromedp.SendKeys(css(`[data-testid=env-value]`), secret),
		chromedp.Click(css(`[data-testid=env-save]`)),
		chromedp.WaitVisible(css(`[data-testid=env-row]`)),
		chromedp.SendKeys(css(`[data-testid=env-name]`), "VITE_GREETING"),
		chromedp.SendKeys(css(`[data-testid=env-value]`), greeting),
		chromedp.Click(css(`[data-testid=env-save]`)),
		chromedp.WaitVisible(css(`[data-testid=env-row]:nth-child(2)`)),
		chromedp.SendKeys(css(`[data-testid=env-name]`), "HOME"),
		chromedp.SendKeys(css(`[data-testid=env-value]`), "x"),
		chromedp.Click(css(`[data-testid=env-save]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid=env-status]').textContent.includes('set by studio')`),
	)
	dialog, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=envbuild]`)))
	if !strings.Contains(dialog, "SECRET_TOKEN") || !strings.Contains(dialog, "project restarts") || strings.Contains(dialog, secret) {
		t.Fatalf("the dialog shows:\n%s", dialog)
	}
	screenshot(t, ctx, "env-vars")

	if code := apiCall(t, s, token, "POST", "/api/projects/"+project+"/restart", "", nil); code != http.StatusAccepted {
		t.Fatalf("restart: %d", code)
	}
	waitProjectStatus(t, s, token, project, "active")
	if got := execInProject(t, s, project, "node", "-e", "process.stdout.write(process.env.SECRET_TOKEN || 'unset')"); got != secret {
		t.Fatalf("the dev server's container sees SECRET_TOKEN=%q", got)
	}
	if line := firstLogLine(t, s, token, project, "config sees"); !strings.Contains(line, "config sees ••••") {
		t.Fatalf("the log line is %q", line)
	}

	step(t, ctx, "build",
		chromedp.Click(css(`[data-testid=build-run]`)),
		chromedp.WaitVisible(css(`[data-testid=build-output]`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('[data-testid=build-output]').textContent.includes('vite build')`),
		chromedp.WaitVisible(css(`[data-testid=build-download]`)),
	)
	screenshot(t, ctx, "build")
	zipped := apiGet(t, s, token, "/api/projects/"+project+"/build.zip")
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		t.Fatalf("the build zip: %v", err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "index.html") {
		t.Fatalf("the build zip holds %v", names)
	}

	step(t, ctx, "publish privately",
		chromedp.Click(css(`[data-testid=publish-run]`)),
		chromedp.WaitVisible(css(`[data-testid=site-link]`)),
	)
	siteURL, _ := chromedp.Run(ctx, chromedp.Text(css(`[data-testid=site-link]`)))
	if code := apiCall(t, s, token, "POST", "/api/projects/"+project+"/stop", "", nil); code != http.StatusAccepted {
		t.Fatalf("stop: %d", code)
	}
	waitProjectStatus(t, s, token, project, "stopped")

	stranger := siteClient(s)
	if res := siteGet(t, stranger, siteURL); res.code != http.StatusNotFound {
		t.Fatalf("a stranger reading the private site: %d %s", res.code, res.body)
	}
	var link struct {
		URL string `json:"url"`
	}
	if code := apiCall(t, s, token, "POST", "/api/projects/"+project+"/site/link", "", &link); code != http.StatusOK {
		t.Fatalf("site link: %d", code)
	}
	owner := siteClient(s)
	page := siteGet(t, owner, link.URL)
	if page.code != http.StatusOK || !strings.Contains(page.body, `<div id="app">`) {
		t.Fatalf("the owner reading the private site: %d %s", page.code, page.body)
	}
	script := siteGet(t, owner, strings.TrimRight(siteURL, "/")+assetOf(page.body))
	if script.code != http.StatusOK || !strings.Contains(script.body, greeting) || strings.Contains(script.body, secret) {
		t.Fatalf("the site's script: %d %.300s", script.code, script.body)
	}

	if code := apiCall(t, s, token, "PATCH", "/api/projects/"+project+"/site", `{"public":true}`, nil); code != http.StatusOK {
		t.Fatalf("make the site public: %d", code)
	}
	if res := siteGet(t, stranger, siteURL); res.code != http.StatusOK || !strings.Contains(res.body, `<div id="app">`) {
		t.Fatalf("a stranger reading the public site: %d %s", res.code, res.body)
	}

	// The secret is nowhere studio writes: its log and the project's files.
	log, _ := os.ReadFile(filepath.Join(filepath.Dir(s.data), "studio.log"))
	if bytes.Contains(log, []byte(secret)) {
		t.Fatal("studio's log holds the secret")
	}
	filepath.WalkDir(filepath.Join(s.data, "projects"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret", p)
		}
		return nil
	})
}

func waitProjectStatus(t *testing.T, s *studio, token, project, want string) {
	t.Helper()
	testwait.Eventually(t, 90*time.Second, func() bool {
		var body struct {
			Project listedProject `json:"project"`
		}
		apiCall(t, s, token, "GET", "/api/projects/"+project, "", &body)
		return body.Project.Status == want
	}, "the project is "+want)
}

// execInProject runs a command in the project's container.
func execInProject(t *testing.T, s *studio, project string, argv ...string) string {
	t.Helper()
	ids := dockerIDs(t, "ps", "-q", "--filter", "label=studio.project="+project, "--filter", "label=studio.instance="+s.instance)
	if len(ids) != 1 {
		t.Fatalf("containers of the project: %v", ids)
	}
	out, err := exec.Command("docker", append([]string{"exec", ids[0]}, argv...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker exec: %v\n%s", err, out)
	}
	return string(out)
}

func apiGet(t *testing.T, s *studio, token, path string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
	}
	return b
}

// siteClient reaches every host name at studio's address, with its own
// cookies.
func siteClient(s *studio) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, s.addr)
		},
	}}
}

type siteAnswer struct {
	code int
	body string
}

func siteGet(t *testing.T, c *http.Client, u string) siteAnswer {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return siteAnswer{res.StatusCode, string(b)}
}

// assetOf is the path of the first script a built page loads.
func assetOf(page string) string {
	_, rest, _ := strings.Cut(page, `src="`)
	path, _, _ := strings.Cut(rest, `"`)
	return path
}
