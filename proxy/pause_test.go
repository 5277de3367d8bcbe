package proxy_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/db"
	"studio/projects"
)

// newPausingEnv is an env whose project service pauses every active
// project at its next PauseIdle: its clock runs an hour ahead of the
// projects' last use.
func newPausingEnv(t testing.TB) *env {
	return newEnvWith(t, func(o *projects.Options) {
		o.PauseAfter = 5 * time.Minute
		o.Now = func() time.Time { return time.Now().Add(time.Hour) }
	})
}

// pause pauses the project through the service and checks that it is.
func (e *env) pause(id uuid.UUID) {
	e.t.Helper()
	ctx := context.Background()
	if err := e.svc.PauseIdle(ctx); err != nil {
		e.t.Fatal(err)
	}
	if row, c := e.paused(id); !row || !c {
		e.t.Fatalf("after PauseIdle: row paused %v, container paused %v", row, c)
	}
}

func (e *env) paused(id uuid.UUID) (row, container bool) {
	e.t.Helper()
	ctx := context.Background()
	p, err := db.New(e.pool).GetProject(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := e.rt.Status(ctx, id.String())
	if err != nil {
		e.t.Fatal(err)
	}
	return p.PausedAt != nil, st.Paused
}

func TestPreviewOfAPausedProjectResumesItFirst(t *testing.T) {
	t.Parallel()
	e := newPausingEnv(t)
	p := e.activeProject("static")
	e.pause(p.ID)

	owner := e.browser()
	if code, body := e.signIn(owner, p, "/"); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Fatalf("first preview of a paused project: %d %q", code, body)
	}
	if row, c := e.paused(p.ID); row || c {
		t.Fatalf("after the preview: row paused %v, container paused %v", row, c)
	}

	// What an open page asks for in the background resumes it too.
	e.pause(p.ID)
	client := &http.Client{Jar: owner.Jar, Transport: owner.Transport, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", e.host(p.Slug)+"/index.html", nil)
	req.Header.Set("Sec-Fetch-Mode", "cors")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("a fetch from the page of a paused project: %d", res.StatusCode)
	}
	if row, c := e.paused(p.ID); row || c {
		t.Fatalf("after the fetch: row paused %v, container paused %v", row, c)
	}
}

// BenchmarkResumeFromPause is what someone coming back to an idle preview
// waits for: a paused react-vite project until its entry module answers
// 200 through the preview proxy (thaw included). It also reports the
// memory the container holds running and paused.
func BenchmarkResumeFromPause(b *testing.B) {
	e := newPausingEnv(b)
	ctx := context.Background()
	p := e.activeProject("react-vite")
	owner := e.browser()
	e.signIn(owner, p, "/favicon-none")
	entry := e.host(p.Slug) + "/src/main.tsx"
	fetch := func() int {
		res, err := owner.Get(entry)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	for range 20 { // Vite's transform cache, the proxy's connections
		if code := fetch(); code != 200 {
			b.Fatalf("warming: %d", code)
		}
	}
	running, err := e.rt.Usage(ctx, p.ID.String())
	if err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	var paused uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// The proxy's lookup cache lives a second; a real pause comes
		// minutes after the last request, never within it.
		time.Sleep(1100 * time.Millisecond)
		e.pause(p.ID)
		if i == 0 {
			u, err := e.rt.Usage(ctx, p.ID.String())
			if err != nil {
				b.Fatal(err)
			}
			paused = u.MemoryBytes
		}
		b.StartTimer()
		start := time.Now()
		if code := fetch(); code != 200 {
			b.Fatalf("first answer after the pause: %d", code)
		}
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(ms(pct(ds, 50)), "p50-ms")
	b.ReportMetric(ms(pct(ds, 99)), "p99-ms")
	b.ReportMetric(float64(running.MemoryBytes)/(1<<20), "running-MiB")
	b.ReportMetric(float64(paused)/(1<<20), "paused-MiB")
}
