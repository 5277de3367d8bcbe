package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"studio/db/dbtest"
	"studio/internal/testwait"
	"studio/internal/traefiktest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// traefikStudio runs a real Traefik v3 and a studio with STUDIO_ROUTER=
// traefik behind it, as deploy/docker-compose.yml does: Traefik on an edge
// network of its own, studio on that network's host address (where Traefik
// reaches it), routed to by a file-provider router for the UI host and a
// catch-all router for preview hosts. The browser talks only to Traefik's
// port on loopback.
func traefikStudio(t testing.TB) (*studio, *traefiktest.Traefik) {
	t.Helper()
	edge := traefiktest.Network(t, "e2e-edge-")
	ln := traefiktest.Listen(t, edge)
	studioAddr := ln.Addr().String()
	ln.Close()
	tr := traefiktest.Start(t, traefiktest.Options{Network: edge, Dynamic: `
http:
  routers:
    studio:
      rule: 'Host(` + "`studio.localhost`" + `) || Host(` + "`127.0.0.1`" + `)'
      entryPoints: [web]
      service: studio
    studio-previews:
      rule: 'HostRegexp(` + "`^[a-z0-9-]+\\.studio\\.localhost$`" + `)'
      priority: 1
      entryPoints: [web]
      service: studio
  services:
    studio:
      loadBalancer:
        servers:
          - url: "http://` + studioAddr + `"
        healthCheck:
          path: /readyz
          interval: 2s
          timeout: 1s
`})
	traefikIP, err := tr.IP(context.Background(), edge)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(tr.Addr)
	s := startStudioIn(t, "",
		"STUDIO_ADDR="+studioAddr,
		"STUDIO_BASE_URL=http://studio.localhost:"+port,
		"STUDIO_ROUTER=traefik",
		"STUDIO_TRAEFIK_AUTH_URL=http://"+studioAddr+"/__studio/forward-auth",
		"STUDIO_TRAEFIK_SERVICE=studio@file",
		"STUDIO_TRAEFIK_CONTAINER="+tr.Name,
		"STUDIO_TRUSTED_PROXIES="+traefikIP,
	)
	s.addr = tr.Addr // API calls go through Traefik too
	// Traefik routes to studio once its health check has passed.
	testwait.Eventually(t, 30*time.Second, func() bool {
		res, err := http.Get("http://" + tr.Addr + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, "Traefik routes to studio")
	return s, tr
}

// TestTraefikRoutesUIAndPrivatePreviews: behind a real Traefik, a new user
// signs up, creates a project, sees its preview through the project's own
// router (ForwardAuth signs the frame in), edits with hot reload over
// Traefik's websocket; strangers and other projects are refused; a
// stopped project and a container removed behind studio's back get
// studio's pages through the catch-all router and come back, never a bare
// 502/504.
func TestTraefikRoutesUIAndPrivatePreviews(t *testing.T) {
	s, tr := traefikStudio(t)
	ctx := browser(t)
	type css = chromedp.CSS
	if err := chromedp.Do(ctx, chromedp.Navigate(s.base+"/signup")); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "sign up and create through Traefik",
		chromedp.WaitVisible(css(`#f-email`)),
		chromedp.SendKeys(css(`#f-email`), "tess@example.com"),
		chromedp.SendKeys(css(`#f-password`), "a long password"),
		chromedp.Click(css(`[data-testid=signup-form] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid=empty-state]`)),
		chromedp.SendKeys(css(`#f-name`), "Routed App"),
		chromedp.Click(css(`[data-testid=create]`)),
		chromedp.WaitVisible(css(`[data-testid=project-card]`)),
	)
	step(t, ctx, "card turns active", chromedp.WaitVisible(css(`[data-testid=project-card][data-status=active]`)))
	out, err := exec.Command("docker", "ps", "--filter", "label=traefik.enable=true", "--filter", "label=studio.instance="+s.instance,
		"--format", `{{.Label "studio.project"}}`).Output()
	ids := strings.Fields(string(out))
	if err != nil || len(ids) != 1 {
		t.Fatalf("routed project containers: %v %q", err, out)
	}
	projectID := ids[0]
	tr.WaitRouter(t, "studio-"+projectID+"@docker", 30*time.Second)
	if _, err := tr.IP(context.Background(), "studio-"+projectID); err != nil {
		t.Fatalf("studio did not attach Traefik to the project's network: %v", err)
	}

	step(t, ctx, "open the workspace",
		chromedp.Navigate(s.base+"/projects/"+projectID),
		chromedp.WaitVisible(css(`[data-testid=workspace][data-ready]`)),
	)
	inFrame := previewFrame(t, ctx)
	if err := chromedp.Do(ctx, chromedp.SetAttributeValue(css(`body`), "data-studio-marker", "kept", inFrame)); err != nil {
		t.Fatal(err)
	}
	writeThroughAPI(t, s, "tess@example.com", "a long password", projectID, "src/App.tsx",
		`export default function App() { return <h1>Hello through Traefik</h1> }`+"\n")
	waitFrameHeading(t, ctx, inFrame, "Hello through Traefik")
	marker, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`body`), "data-studio-marker", inFrame))
	if err != nil || marker.Value != "kept" {
		t.Fatalf("the preview reloaded the page instead of hot-reloading: %v %+v", err, marker)
	}
	src, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("preview").src`))
	_, port, _ := net.SplitHostPort(tr.Addr)
	previewHost := strings.SplitN(strings.TrimPrefix(src, "http://"), "/", 2)[0]
	if !strings.HasSuffix(previewHost, ".studio.localhost:"+port) {
		t.Fatalf("the preview is not served through Traefik's port: %s", src)
	}
	slugHost := strings.TrimSuffix(previewHost, ":"+port)

	// A stranger through Traefik: refused by ForwardAuth, nothing reaches
	// the dev server.
	stranger := func(host string) int {
		req, _ := http.NewRequest("GET", "http://"+tr.Addr+"/", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := stranger(slugHost); code != 404 {
		t.Fatalf("a stranger through Traefik: %d", code)
	}

	// Another project cannot reach this one, neither directly nor through
	// Traefik's address on its own network (ForwardAuth refuses it as a
	// stranger).
	token := apiToken(t, s, "tess@example.com", "a long password")
	type projectOut struct{ Project struct{ ID, Status string } }
	var created projectOut
	if code := apiCall(t, s, token, "POST", "/api/projects", `{"name":"Other App","template":"static"}`, &created); code != 202 {
		t.Fatalf("create another project: %d", code)
	}
	other := created.Project
	testwait.Eventually(t, 90*time.Second, func() bool {
		var p projectOut
		apiCall(t, s, token, "GET", "/api/projects/"+other.ID, "", &p)
		return p.Project.Status == "active"
	}, "the other project is active")
	// viaOther runs a request from inside the other project's container;
	// it gives up after 3 s (a connection nobody answers never ends).
	viaOther := func(request string) string {
		js := `setTimeout(() => { console.log("timeout"); process.exit(0) }, 3000); ` + request +
			`.on("response", r => { console.log(r.statusCode); process.exit(0) }).on("error", e => { console.log("error", e.code); process.exit(0) })`
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, _ := exec.CommandContext(ctx, "docker", "exec", "studio-"+other.ID, "node", "-e", js).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	routerOnOther, err := tr.IP(context.Background(), "studio-"+other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := viaOther(`require("http").get({host: "` + routerOnOther + `", port: 80, path: "/", headers: {Host: "` + slugHost + `"}})`); got != "404" {
		t.Fatalf("another project asking Traefik for this one's preview got %q, want 404", got)
	}
	projectIP := containerIP(t, "studio-"+projectID, "studio-"+projectID)
	if got := viaOther(`require("http").get({host: "` + projectIP + `", port: 5173, path: "/"})`); got != "timeout" && !strings.HasPrefix(got, "error") {
		t.Fatalf("another project reached this one's dev server directly: %q", got)
	}

	// Stopped: its router is gone; opening the preview reaches studio by
	// the catch-all router, which wakes it.
	step(t, ctx, "stop", press("ws-stop"),
		chromedp.WaitVisible(css(`#ws-header[data-status=stopped] [data-testid=ws-start]`)))
	openPreviewUntil(t, ctx, s, projectID, "Hello through Traefik")

	// The container removed behind studio's back: studio's page, then the
	// project again; never Traefik's own 502 or 504.
	if out, err := exec.Command("docker", "rm", "-f", "studio-"+projectID).CombinedOutput(); err != nil {
		t.Fatalf("docker rm: %v %s", err, out)
	}
	step(t, ctx, "reload after the container went", chromedp.Reload())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if strings.Contains(body, "Bad Gateway") || strings.Contains(body, "Gateway Timeout") {
		t.Fatalf("Traefik's own error page: %q", body)
	}
	openPreviewUntil(t, ctx, s, projectID, "Hello through Traefik")
}

// containerIP is a container's address on a network.
func containerIP(t *testing.T, name, network string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", `{{(index .NetworkSettings.Networks "`+network+`").IPAddress}}`, name).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// TestTraefikFailsOverBetweenReplicas: two studio replicas on one
// database behind a real Traefik that health-checks /readyz; one is killed
// with SIGKILL and Traefik sends everything to the other, where the
// signed-in user's token still holds.
func TestTraefikFailsOverBetweenReplicas(t *testing.T) {
	_, dbURL := dbtest.NewWithURL(t)
	edge := traefiktest.Network(t, "e2e-edge-")
	addrs := make([]string, 2)
	for i := range addrs {
		ln := traefiktest.Listen(t, edge)
		addrs[i] = ln.Addr().String()
		ln.Close()
	}
	tr := traefiktest.Start(t, traefiktest.Options{Network: edge, Dynamic: `
http:
  routers:
    studio:
      rule: 'Host(` + "`127.0.0.1`" + `)'
      entryPoints: [web]
      service: studio
  services:
    studio:
      loadBalancer:
        servers:
          - url: "http://` + addrs[0] + `"
          - url: "http://` + addrs[1] + `"
        healthCheck:
          path: /readyz
          interval: 1s
          timeout: 1s
`})
	traefikIP, err := tr.IP(context.Background(), edge)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "data") // one folder of project files, as on a shared volume
	os.MkdirAll(data, 0o755)
	os.Chmod(filepath.Dir(data), 0o755)
	common := []string{
		"STUDIO_DATABASE_URL=" + dbURL,
		"STUDIO_SECRET_KEY=" + strings.Repeat("k", 40),
		"STUDIO_INSTANCE=e2e-ha-" + uuid.NewString()[:8],
		"STUDIO_TRUSTED_PROXIES=" + traefikIP,
	}
	replicas := make([]*studio, 2)
	for i, addr := range addrs {
		replicas[i] = startStudioIn(t, data, append([]string{"STUDIO_ADDR=" + addr}, common...)...)
		replicas[i].addr = tr.Addr
	}
	s := replicas[0]
	tr.WaitHost(t, "127.0.0.1", 30*time.Second)
	if code := apiCall(t, s, "", "POST", "/api/auth/register", `{"email":"hana@example.com","password":"a long password"}`, nil); code != 201 {
		t.Fatalf("register through Traefik: %d", code)
	}
	token := apiToken(t, s, "hana@example.com", "a long password")
	// Traefik's health check sees both replicas up.
	servers := func() map[string]string {
		res, err := http.Get("http://" + tr.APIAddr + "/api/http/services/studio@file")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var svc struct{ ServerStatus map[string]string }
		json.NewDecoder(res.Body).Decode(&svc)
		return svc.ServerStatus
	}
	up := func(addr string) bool { return servers()["http://"+addr] == "UP" }
	testwait.Eventually(t, 30*time.Second, func() bool { return up(addrs[0]) && up(addrs[1]) }, "both replicas are up in Traefik")
	var me struct{ User struct{ Email string } }
	if code := apiCall(t, s, token, "GET", "/api/auth/me", "", &me); code != 200 || me.User.Email != "hana@example.com" {
		t.Fatalf("GET /api/auth/me through Traefik: %d %+v", code, me)
	}

	if err := replicas[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	replicas[0].cmd.Wait()
	testwait.Eventually(t, 30*time.Second, func() bool { return !up(addrs[0]) }, "Traefik's health check takes the killed replica out")
	// Once Traefik's health check has seen it go, every request is served,
	// by the survivor, with the same token.
	ok := 0
	testwait.Eventually(t, 30*time.Second, func() bool {
		if code := apiCall(t, s, token, "GET", "/api/projects", "", nil); code == 200 {
			ok++
		} else {
			ok = 0
		}
		return ok == 20
	}, "twenty requests in a row succeed after a replica was killed")
}

// BenchmarkTraefikPreviewLatency compares fetching a dev server's entry
// module through Traefik (a ForwardAuth round trip to studio, then the
// project's own router) with fetching it from the container's port.
func BenchmarkTraefikPreviewLatency(b *testing.B) {
	s, tr := traefikStudio(b)
	if code := apiCall(b, s, "", "POST", "/api/auth/register", `{"email":"ben@example.com","password":"a long password"}`, nil); code != 201 {
		b.Fatalf("register: %d", code)
	}
	token := apiToken(b, s, "ben@example.com", "a long password")
	var created struct{ Project struct{ ID, Status string } }
	if code := apiCall(b, s, token, "POST", "/api/projects", `{"name":"Bench App","template":"react-vite"}`, &created); code != 202 {
		b.Fatalf("create: %d", code)
	}
	id := created.Project.ID
	testwait.Eventually(b, 90*time.Second, func() bool {
		var p struct{ Project struct{ Status string } }
		apiCall(b, s, token, "GET", "/api/projects/"+id, "", &p)
		return p.Project.Status == "active"
	}, "the project is active")
	var link struct{ URL string }
	if code := apiCall(b, s, token, "POST", "/api/projects/"+id+"/preview-link", "", &link); code != 200 {
		b.Fatalf("preview link: %d", code)
	}
	// A browser: every name goes to Traefik's port, cookies kept.
	jar, _ := cookiejar.New(nil)
	viaTraefik := &http.Client{Jar: jar, Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, tr.Addr)
	}}}
	if res, err := viaTraefik.Get(link.URL); err != nil || res.StatusCode != 200 {
		b.Fatalf("sign in to the preview: %v %v", err, res)
	}
	port, err := exec.Command("docker", "port", "studio-"+id, "5173/tcp").Output()
	if err != nil {
		b.Fatal(err)
	}
	direct := "http://" + strings.TrimSpace(strings.Split(string(port), "\n")[0]) + "/src/App.tsx"
	u, _ := url.Parse(link.URL)
	routed := "http://" + u.Host + "/src/App.tsx"
	fetch := func(c *http.Client, u string) time.Duration {
		start := time.Now()
		res, err := c.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("%s: %d", u, res.StatusCode)
		}
		return time.Since(start)
	}
	for range 50 { // warm both paths
		fetch(http.DefaultClient, direct)
		fetch(viaTraefik, routed)
	}
	var d, r []time.Duration
	b.ResetTimer()
	for range b.N {
		d = append(d, fetch(http.DefaultClient, direct))
		r = append(r, fetch(viaTraefik, routed))
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p int) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[(len(s)-1)*p/100].Microseconds()) / 1000
	}
	b.ReportMetric(pct(d, 50), "direct-p50-ms")
	b.ReportMetric(pct(d, 99), "direct-p99-ms")
	b.ReportMetric(pct(r, 50), "traefik-p50-ms")
	b.ReportMetric(pct(r, 99), "traefik-p99-ms")
	b.ReportMetric(pct(r, 50)/pct(d, 50), "p50-ratio")
}
