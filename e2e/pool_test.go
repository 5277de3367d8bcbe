package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	"github.com/jackc/pgx/v5/pgxpool"

	"studio/db"
	"studio/internal/testwait"
)

// poolWarm is how long a slot may take to start and warm (every module of
// the template's first page transformed) on a busy two-core machine.
const poolWarm = 3 * time.Minute

// TestPoolCreateFromDashboardIsActiveAtOnce: with a warm pool of one
// react-vite slot, a user creates a react-vite project from the dashboard;
// the create takes the ready slot, the card arrives active, the preview
// answers at once with the project's own content and follows an edit, the
// pool makes a new slot, and deleting the project leaves no container.
func TestPoolCreateFromDashboardIsActiveAtOnce(t *testing.T) {
	s := startStudio(t, "STUDIO_POOL_SIZE=react-vite=1")
	pg := studioDB(t, s)
	slot := waitReadySlot(t, pg, uuid.Nil)

	ctx := browser(t)
	type css = chromedp.CSS
	// The browser's first actions start it, so they get its own context,
	// not one of step's, which would end it.
	err := chromedp.Do(ctx,
		chromedp.Navigate(s.base+"/signup"),
		chromedp.WaitVisible(css(`#f-email`)),
		chromedp.SendKeys(css(`#f-email`), "pia@example.com"),
		chromedp.SendKeys(css(`#f-password`), "a long password"),
		chromedp.Click(css(`[data-testid=signup-form] button[type=submit]`)),
		chromedp.WaitVisible(css(`[data-testid=empty-state]`)),
		chromedp.SendKeys(css(`#f-name`), "Pooled App"),
		chromedp.Click(css(`[data-testid=template-react-vite]`)),
		chromedp.Click(css(`[data-testid=create]`)),
		chromedp.WaitVisible(css(`[data-testid=project-card]`)),
	)
	if err != nil {
		t.Fatalf("sign up and create: %v", err)
	}
	// The card the create answered with is already active: no progress.
	card, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(function () {
		var c = document.querySelector('[data-testid=project-card]');
		return [c.id, c.dataset.status, c.querySelector('[data-testid=progress]') ? 'progress' : ''];
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	if card[1] != "active" || card[2] != "" {
		t.Fatalf("the created card is %q (%s), want active without progress", card[1], card[2])
	}
	projectID := strings.TrimPrefix(card[0], "card-")
	if projectID != slot.String() {
		t.Fatalf("the project %s did not take the ready slot %s", projectID, slot)
	}
	var hits int64
	if err := pg.QueryRow(context.Background(), `SELECT hits FROM pool_stats WHERE template = 'react-vite'`).Scan(&hits); err != nil || hits != 1 {
		t.Fatalf("pool hits %d (%v), want 1", hits, err)
	}

	// The preview's first answer is the app, not the "Starting…" page.
	href, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`[data-testid=preview-link]`), "href"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Run(ctx, chromedp.NavigateResponse(s.base+href.Value))
	if err != nil || res.Status != 200 {
		t.Fatalf("the preview's first answer: %v %+v", err, res)
	}
	waitPageHeading(t, ctx, "Hello from React")

	// It serves this project's files: an edit through the API shows.
	app := filepath.Join(s.data, "projects", projectID, "src", "App.tsx")
	src, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	writeThroughAPI(t, s, "pia@example.com", "a long password", projectID, "src/App.tsx",
		strings.Replace(string(src), "Hello from React", "Hello from the pool", 1))
	waitPageHeading(t, ctx, "Hello from the pool")

	// The pool makes a new slot in place of the one taken.
	waitReadySlot(t, pg, slot)

	token := apiToken(t, s, "pia@example.com", "a long password")
	if code := apiCall(t, s, token, "DELETE", "/api/projects/"+projectID, "", nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	testwait.Eventually(t, 30*time.Second, func() bool {
		return len(dockerIDs(t, "ps", "-aq", "--filter", "label=studio.project="+projectID)) == 0
	}, "the deleted project's container is gone")
}

// TestPoolKillDuringClaim kills studio (SIGKILL) at several moments during
// and after a create that takes a pool slot, starts it again on the same
// data folder, and checks that no slot went to two projects, that every
// project there is runs and serves its preview, that every container and
// network belongs to a project or a slot, and that the pool is full again.
func TestPoolKillDuringClaim(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(data, 0o755)
	os.Chmod(filepath.Dir(data), 0o755)
	// One instance label for every studio started on this folder, so each
	// finds what the one before made; this test removes what is left.
	instance := "e2e-pool-" + uuid.NewString()[:8]
	t.Cleanup(func() { removeInstance(instance) })
	env := []string{"STUDIO_POOL_SIZE=react-vite=1", "STUDIO_INSTANCE=" + instance}
	const email, password = "kim@example.com", "a long password"

	s := startStudioIn(t, data, env...)
	if code := apiCall(t, s, "", "POST", "/api/auth/register", `{"email":"`+email+`","password":"`+password+`"}`, nil); code != 201 {
		t.Fatalf("register: %d", code)
	}
	pg := studioDB(t, s)
	waitReadySlot(t, pg, uuid.Nil)
	if got := instanceContainers(t, instance); len(got) != 1 {
		t.Fatalf("before any create, containers %v; want the one slot", got)
	}

	for _, delay := range []time.Duration{0, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		t.Logf("kill %v after a create was sent", delay)
		waitReadySlot(t, pg, uuid.Nil)
		pg.Close()
		token := apiToken(t, s, email, password)
		sent := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("POST", "http://"+s.addr+"/api/projects", strings.NewReader(fmt.Sprintf(`{"name":"killed at %v","template":"react-vite"}`, delay)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := (&http.Client{Timeout: time.Minute}).Do(req)
			if err != nil {
				sent <- 0
				return
			}
			res.Body.Close()
			sent <- res.StatusCode
		}()
		time.Sleep(delay)
		if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		s.cmd.Wait()
		t.Logf("the create answered %d before the kill (0: no answer)", <-sent)

		s = startStudioIn(t, data, env...)
		pg = studioDB(t, s)
		token = apiToken(t, s, email, password)
		projects := waitPoolSettled(t, s, pg, token, instance)
		t.Logf("after the restart: %d project(s), the pool full", len(projects))
		for _, p := range projects {
			waitPreviewServes(t, s, token, p)
		}
		// Start the next round with no project, so the running limit and
		// the machine's two cores are not what is tested.
		for _, p := range projects {
			if code := apiCall(t, s, token, "DELETE", "/api/projects/"+p.ID, "", nil); code != http.StatusNoContent {
				t.Fatalf("delete %s: %d", p.ID, code)
			}
		}
		waitPoolSettled(t, s, pg, token, instance)
	}
}

type listedProject struct {
	ID     string `json:"id"`
	Slug   string `json:"slug"`
	Status string `json:"status"`
	URL    string `json:"url"`
}

// waitPoolSettled waits until every project is active, the pool holds
// exactly its one ready slot, and the engine holds a container and a
// network for each of those and nothing else. On every look it checks what
// must never be seen: a slot offered (ready or warming) under a project's
// id, or two projects on one container.
func waitPoolSettled(t *testing.T, s *studio, pg *pgxpool.Pool, token, instance string) []listedProject {
	t.Helper()
	var projects []listedProject
	var last string // what the last look found wrong, shown if the wait fails
	defer func() {
		if t.Failed() {
			t.Log(last)
		}
	}()
	testwait.Eventually(t, poolWarm, func() bool {
		var list struct{ Projects []listedProject }
		if code := apiCall(t, s, token, "GET", "/api/projects", "", &list); code != 200 {
			last = fmt.Sprintf("GET /api/projects: %d", code)
			return false
		}
		projects = list.Projects
		rows, err := pg.Query(context.Background(), `SELECT id::text, container_id FROM projects`)
		if err != nil {
			last = err.Error()
			return false
		}
		owner := map[string]string{} // container id → project
		ids := map[string]bool{}
		for rows.Next() {
			var id, container string
			rows.Scan(&id, &container)
			ids[id] = true
			if container == "" {
				continue
			}
			if other, ok := owner[container]; ok {
				t.Fatalf("projects %s and %s share the container %s", other, id, container)
			}
			owner[container] = id
		}
		rows.Close()
		slots := map[string]string{}
		rows, err = pg.Query(context.Background(), `SELECT id::text, state FROM pool_slots`)
		if err != nil {
			last = err.Error()
			return false
		}
		for rows.Next() {
			var id, state string
			rows.Scan(&id, &state)
			slots[id] = state
			if ids[id] && (state == "ready" || state == "warming") {
				t.Fatalf("the slot %s is %s while the project %s holds it", id, state, id)
			}
		}
		rows.Close()
		want := []string{}
		for _, p := range projects {
			if p.Status != "active" {
				last = fmt.Sprintf("project %s is %s", p.ID, p.Status)
				return false
			}
			want = append(want, p.ID)
		}
		for id, state := range slots {
			if state != "ready" {
				last = fmt.Sprintf("slot %s is %s", id, state)
				return false
			}
			want = append(want, id)
		}
		slices.Sort(want)
		if len(slots) != 1 {
			last = fmt.Sprintf("the pool holds %d slots, want 1 ready", len(slots))
			return false
		}
		got := instanceContainers(t, instance)
		nets := labelsOf(t, "network", "ls", "--filter", "label=studio.instance="+instance, "--format", `{{.Label "studio.project"}}`)
		if !slices.Equal(got, want) || !slices.Equal(nets, want) {
			last = fmt.Sprintf("containers %v and networks %v, want %v (projects and slots)", got, nets, want)
			return false
		}
		return true
	}, "the pool is full and every container belongs to a project or a slot")
	return projects
}

// waitPreviewServes opens the project's preview with a signed link, as the
// owner's browser would, and waits for its entry module to answer 200.
func waitPreviewServes(t *testing.T, s *studio, token string, p listedProject) {
	t.Helper()
	var link struct{ URL string }
	if code := apiCall(t, s, token, "POST", "/api/projects/"+p.ID+"/preview-link?path=/src/main.tsx", "", &link); code != 200 {
		t.Fatalf("preview link for %s: %d", p.ID, code)
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, s.addr)
		},
	}}
	status := func(u string) int {
		res, err := client.Get(u)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if code := status(link.URL); code != 200 {
		t.Logf("the signed link for %s answered %d", p.ID, code)
	}
	testwait.Eventually(t, 90*time.Second, func() bool { return status(p.URL+"/src/main.tsx") == 200 },
		"the preview of "+p.ID+" serves /src/main.tsx")
}

// studioDB connects to the embedded PostgreSQL of a running studio, as its
// data folder places the server's socket.
func studioDB(t *testing.T, s *studio) *pgxpool.Pool {
	t.Helper()
	dir := filepath.Join(s.data, "pg")
	socket := filepath.Join(dir, "run")
	if len(socket)+len("/.s.PGSQL.5432.lock") > 100 {
		sum := sha256.Sum256([]byte(dir))
		socket = filepath.Join(os.TempDir(), "studio-pg-"+hex.EncodeToString(sum[:6]))
	}
	pg, err := db.Open(context.Background(), "postgres:///"+db.EmbeddedName+"?"+url.Values{"host": {socket}, "user": {db.EmbeddedName}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	return pg
}

// waitReadySlot waits for a ready react-vite slot other than not and
// returns its id.
func waitReadySlot(t *testing.T, pg *pgxpool.Pool, not uuid.UUID) uuid.UUID {
	t.Helper()
	var id uuid.UUID
	testwait.Eventually(t, poolWarm, func() bool {
		err := pg.QueryRow(context.Background(),
			`SELECT id FROM pool_slots WHERE template = 'react-vite' AND state = 'ready' AND id <> $1`, not).Scan(&id)
		return err == nil
	}, "a react-vite pool slot is ready")
	return id
}

// waitPageHeading waits until the page's heading reads want.
func waitPageHeading(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	var h1 string
	testwait.Eventually(t, 60*time.Second, func() bool {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		h1, _ = chromedp.Run(qctx, chromedp.Text(chromedp.CSS(`h1`)))
		return h1 == want
	}, fmt.Sprintf("the preview's heading reads %q", want))
}

// instanceContainers lists the project ids of the containers a studio
// instance made, sorted.
func instanceContainers(t *testing.T, instance string) []string {
	return labelsOf(t, "ps", "-a", "--filter", "label=studio.instance="+instance, "--format", `{{.Label "studio.project"}}`)
}

func labelsOf(t *testing.T, args ...string) []string {
	t.Helper()
	out := dockerIDs(t, args...)
	slices.Sort(out)
	return out
}

func dockerIDs(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("docker", args...).Output()
	if err != nil {
		t.Fatalf("docker %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// removeInstance removes every container and network labelled with a
// studio instance.
func removeInstance(instance string) {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=studio.instance="+instance).Output()
	for _, id := range strings.Fields(string(out)) {
		exec.Command("docker", "rm", "-f", id).Run()
	}
	out, _ = exec.Command("docker", "network", "ls", "-q", "--filter", "label=studio.instance="+instance).Output()
	for _, id := range strings.Fields(string(out)) {
		exec.Command("docker", "network", "rm", id).Run()
	}
}
