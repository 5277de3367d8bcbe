package proxy_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/containers"
	"studio/containers/image"
	"studio/db"
	"studio/internal/testwait"
	"studio/projects"
)

// BenchmarkProxyLatency compares fetching a dev server's entry module
// through the preview proxy with fetching it from the container's port.
func BenchmarkProxyLatency(b *testing.B) {
	e := newEnv(b)
	p := e.activeProject("react-vite")
	owner := e.browser()
	e.signIn(owner, p, "/")
	direct := &http.Client{}
	ep := "http://127.0.0.1:" + strconv.Itoa(int(p.HostPort)) + "/src/App.tsx"
	proxied := e.host(p.Slug) + "/src/App.tsx"
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
	for range 50 { // warm both paths (Vite's transform cache, connections)
		fetch(direct, ep)
		fetch(owner, proxied)
	}
	var d, px []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d = append(d, fetch(direct, ep))
		px = append(px, fetch(owner, proxied))
	}
	b.StopTimer()
	b.ReportMetric(ms(pct(d, 50)), "direct-p50-ms")
	b.ReportMetric(ms(pct(d, 99)), "direct-p99-ms")
	b.ReportMetric(ms(pct(px, 50)), "proxy-p50-ms")
	b.ReportMetric(ms(pct(px, 99)), "proxy-p99-ms")
	b.ReportMetric(float64(pct(px, 50))/float64(pct(d, 50)), "p50-ratio")
	b.ReportMetric(throughput(b, direct, ep), "direct-req/s")
	b.ReportMetric(throughput(b, owner, proxied), "proxy-req/s")
}

// throughput is requests per second from 8 concurrent clients over 2 s.
func throughput(b *testing.B, c *http.Client, u string) float64 {
	var n atomic.Int64
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				res, err := c.Get(u)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / 2
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkCreateToPreview is what a user waits for: create a react-vite
// project until its entry module answers 200 through the preview proxy.
func BenchmarkCreateToPreview(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	owner := e.browser()
	var ds []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p, err := e.svc.Create(ctx, e.owner, "bench", "react-vite")
		if err != nil {
			b.Fatal(err)
		}
		e.signIn(owner, p, "/favicon-none")
		for {
			res, err := owner.Get(e.host(p.Slug) + "/src/main.tsx")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("no preview after a minute: last answer %d", res.StatusCode)
			}
			time.Sleep(20 * time.Millisecond)
		}
		ds = append(ds, time.Since(start))
		b.StopTimer()
		e.svc.Delete(ctx, e.owner, p.ID)
		b.StartTimer()
	}
	b.ReportMetric(ms(pct(ds, 50)), "p50-ms")
	b.ReportMetric(ms(pct(ds, 99)), "p99-ms")
}

// BenchmarkWarmPool is what the warm pool buys a user creating a
// react-vite project, against what it costs:
//   - hit: a create that takes a ready slot → the project is active, and
//     → the first 200 of /src/main.tsx through the preview proxy;
//   - miss: the same with no slot to take (a service without a pool, which
//     is the path a create takes when the pool is empty: the cold start);
//   - floor: a bare hardened `docker run` of the runtime image on a fresh
//     copy of the template → the first 200 of /src/main.tsx on its port;
//   - start: a stopped project → Start → the first 200 through the proxy;
//   - the memory one idle ready slot holds (cgroup usage less page cache).
//
// Every loop waits for the pool to be full again, untimed, before its
// create. With -benchtime 20x, p99 is the slowest of the 20.
func BenchmarkWarmPool(b *testing.B) {
	ctx := context.Background()
	pooled := newEnvWith(b, func(o *projects.Options) {
		o.Pool = projects.PoolOptions{Sizes: map[string]int{"react-vite": 1}, Version: "bench"}
		o.MaxProjects, o.MaxRunning = 100, 10
	})
	runCtx, cancel := context.WithCancel(ctx)
	b.Cleanup(cancel) // before the env's clean-up closes the service
	go pooled.svc.Run(runCtx)
	cold := newEnv(b)

	var hitActive, hitServed, missActive, missServed, floor, start []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Nothing else starts or warms while a measurement runs: the pool
		// is full and idle first, and the hit comes last.
		b.StopTimer()
		pooled.waitPoolReady("react-vite")
		b.StartTimer()
		began := time.Now()
		p, err := cold.svc.Create(ctx, cold.owner, "miss", "react-vite")
		if err != nil {
			b.Fatal(err)
		}
		missActive = append(missActive, cold.untilActive(p.ID, began))
		missServed = append(missServed, cold.untilServed(p, began))

		b.StopTimer()
		if _, err := cold.svc.Stop(ctx, cold.owner, p.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		began = time.Now()
		if _, err := cold.svc.Start(ctx, cold.owner, p.ID); err != nil {
			b.Fatal(err)
		}
		start = append(start, cold.untilServed(p, began))
		b.StopTimer()
		if err := cold.svc.Delete(ctx, cold.owner, p.ID); err != nil {
			b.Fatal(err)
		}

		floor = append(floor, bareDockerRun(b))

		b.StartTimer()
		began = time.Now()
		p, err = pooled.svc.Create(ctx, pooled.owner, "hit", "react-vite")
		if err != nil {
			b.Fatal(err)
		}
		if p.Status != db.ProjectStatusActive {
			b.Fatalf("a create with a ready slot answered %s, not active", p.Status)
		}
		hitActive = append(hitActive, time.Since(began))
		hitServed = append(hitServed, pooled.untilServed(p, began))
		b.StopTimer()
		if err := pooled.svc.Delete(ctx, pooled.owner, p.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	pooled.waitPoolReady("react-vite")
	memory := pooled.idleSlotMemory()

	report := func(name string, ds []time.Duration) {
		b.ReportMetric(ms(pct(ds, 50)), name+"-p50-ms")
		b.ReportMetric(ms(pct(ds, 99)), name+"-p99-ms")
	}
	report("hit-active", hitActive)
	report("hit-200", hitServed)
	report("miss-active", missActive)
	report("miss-200", missServed)
	report("floor-200", floor)
	report("start-200", start)
	b.ReportMetric(float64(memory)/(1<<20), "idle-slot-MiB")
}

// waitPoolReady waits until template's pool is full, no slot warming.
func (e *env) waitPoolReady(template string) {
	e.t.Helper()
	testwait.Eventually(e.t, 3*time.Minute, func() bool {
		var ready, other int
		err := e.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE state = 'ready'), count(*) FILTER (WHERE state <> 'ready')
			FROM pool_slots WHERE template = $1`, template).Scan(&ready, &other)
		return err == nil && ready == 1 && other == 0
	}, "the "+template+" pool is full")
}

// idleSlotMemory is what the pool's ready slots hold, as /admin shows it,
// once they have been idle for a few seconds.
func (e *env) idleSlotMemory() uint64 {
	e.t.Helper()
	time.Sleep(5 * time.Second) // idle: the warm-up's garbage collected
	status, err := e.svc.PoolStatus(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, pt := range status {
		if pt.Ready > 0 {
			return pt.IdleMemory / uint64(pt.Ready)
		}
	}
	e.t.Fatal("no ready slot to measure")
	return 0
}

// untilActive polls the project every 5 ms until it is active and returns
// the time since began.
func (e *env) untilActive(id uuid.UUID, began time.Time) time.Duration {
	e.t.Helper()
	for {
		p, err := e.svc.Get(context.Background(), e.owner, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if p.Status == db.ProjectStatusActive {
			return time.Since(began)
		}
		if p.Status == db.ProjectStatusError || time.Since(began) > 2*time.Minute {
			e.t.Fatalf("project %s is %s: %s", id, p.Status, p.StatusReason)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// untilServed signs a new browser in to the project's preview and polls
// its entry module through the proxy until it answers 200; it returns the
// time since began.
func (e *env) untilServed(p db.Project, began time.Time) time.Duration {
	e.t.Helper()
	c := e.browser()
	e.signIn(c, p, "/favicon-none")
	return pollOK(e.t, c, e.host(p.Slug)+"/src/main.tsx", began)
}

// pollOK requests u every 5 ms until it answers 200 and returns the time
// since began.
func pollOK(t testing.TB, c *http.Client, u string, began time.Time) time.Duration {
	t.Helper()
	for {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Accept", "*/*")
		res, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				return time.Since(began)
			}
		}
		if time.Since(began) > 2*time.Minute {
			t.Fatalf("%s: no 200 after two minutes (%v)", u, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bareDockerRun is the floor: the runtime image run by the docker CLI on
// a fresh copy of the template, with a project's hardening but no network
// of its own, no labels studio reads and no warm-up, until the dev server
// answers /src/main.tsx with 200.
func bareDockerRun(b *testing.B) time.Duration {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "app")
	if err := image.CopyTemplate("react-vite", dir); err != nil {
		b.Fatal(err)
	}
	os.Chmod(filepath.Dir(dir), 0o755)
	uid, gid := containers.FolderOwner(dir)
	name := "studio-bench-floor-" + uuid.NewString()[:8]
	b.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	args := append(strings.Fields("run -d --init --cap-drop ALL --security-opt no-new-privileges --read-only --memory 1g --cpus 1 --pids-limit 512 -p 127.0.0.1::5173 -w /app -e HOME=/home/studio"),
		"--name", name, "--user", uid+":"+gid,
		"--tmpfs", "/tmp:rw,exec,nosuid,nodev,size=512m,mode=1777",
		"--tmpfs", "/home/studio:rw,exec,nosuid,nodev,size=256m,mode=0700,uid="+uid+",gid="+gid,
		"--mount", "type=bind,source="+dir+",target=/app",
		image.Reference())
	began := time.Now()
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		b.Fatalf("docker run: %v: %s", err, out)
	}
	out, err := exec.Command("docker", "port", name, "5173/tcp").Output()
	if err != nil {
		b.Fatalf("docker port: %v", err)
	}
	addr := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	d := pollOK(b, &http.Client{}, "http://"+addr+"/src/main.tsx", began)
	exec.Command("docker", "rm", "-f", name).Run()
	return d
}
