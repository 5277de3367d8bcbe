package handlers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"studio/agents"
	pt "studio/agents/providers/providertest"
	"studio/db"
)

// BenchmarkAgentTokenLatency streams one run of 10,000 text tokens from
// the fake provider (OpenAI format) and times each token from the moment
// the fake provider writes its frame to the moment the client reads
// its token event from GET /api/runs/{id}/stream: the provider client, the
// run loop, the event log and the SSE writer, over real HTTP on loopback
// both ways. "burst" sends the frames as fast as it can, so the tokens
// queue up behind each other and the times measure throughput; "paced-1ms"
// sends one frame a millisecond (faster than any model streams), so each
// token finds the pipeline idle and the times are what a token adds;
// "paced-20ms" (500 tokens) is the pace of a real model, where the
// machine idles between tokens.
func BenchmarkAgentTokenLatency(b *testing.B) {
	b.Run("burst", func(b *testing.B) { benchTokenLatency(b, 10_000, 0) })
	b.Run("paced-1ms", func(b *testing.B) { benchTokenLatency(b, 10_000, time.Millisecond) })
	b.Run("paced-20ms", func(b *testing.B) { benchTokenLatency(b, 500, 20*time.Millisecond) })
}

func benchTokenLatency(b *testing.B, tokens int, delay time.Duration) {
	env := benchEnv(b)
	fake := pt.New("openai")
	b.Cleanup(fake.Close)
	token, user := env.benchUser("latency@example.com", fake)
	projects := env.benchProjects(user, b.N)
	pieces := make([]string, tokens)
	for i := range pieces {
		pieces[i] = strconv.Itoa(i) + " "
	}
	client := &http.Client{Transport: &http.Transport{}}
	b.Cleanup(client.CloseIdleConnections)

	base := time.Now()
	sent := make([]atomic.Int64, tokens) // when each frame was written, since base
	var lat []time.Duration
	var streaming time.Duration
	b.ResetTimer()
	for n := range b.N {
		ready := make(chan struct{})
		fake.Respond(func(pt.Request, int) pt.Turn {
			<-ready // the client follows the run before the first token
			return pt.Turn{Text: pieces, Delay: delay, OnFrame: func(i int) { sent[i].Store(int64(time.Since(base))) }}
		})
		run := env.chat(token, projects[n].String(), map[string]any{"message": "Stream", "model": "openai/gpt-4o-mini"})
		got, last := 0, time.Duration(0)
		var status db.RunStatus
		joined := false
		err := followRun(context.Background(), client, env.http.URL, token, run, func(kind string, data []byte) {
			now := time.Since(base)
			switch kind {
			case agents.KindStatus:
				if !joined {
					joined = true
					close(ready)
				}
			case agents.KindToken:
				i, _ := pieceNumbers(data)
				if i < 0 || i >= tokens {
					b.Errorf("token event %s", data)
					return
				}
				lat = append(lat, now-time.Duration(sent[i].Load()))
				got++
				last = now
			case agents.KindDone:
				status = doneStatus(data)
			}
		})
		if err != nil || status != db.RunStatusSucceeded || got != tokens {
			b.Fatalf("run %d: %v, ended %q after %d tokens", n, err, status, got)
		}
		streaming += last - time.Duration(sent[0].Load())
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[(len(lat)-1)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(float64(len(lat))/streaming.Seconds(), "tokens/s")
}

// BenchmarkAgentConcurrentRuns runs 500 agent runs at once, each on its own
// project and followed by its own SSE client, each streaming 200 tokens
// 20 ms apart (a model's pace). The projects are made straight in the
// database, with a folder holding one file, so that no container is
// started; the fake provider holds every answer back until all 500 runs
// have asked and all 500 clients follow, then they all stream together.
// Each token is timed as in BenchmarkAgentTokenLatency, and an ordinary
// API request is timed every 50 ms meanwhile. The server, the fake
// provider and the clients share this process: RSS and CPU time are theirs
// together; PostgreSQL's CPU time is reported apart.
func BenchmarkAgentConcurrentRuns(b *testing.B) {
	const (
		runs   = 500
		tokens = 200
		delay  = 20 * time.Millisecond // between frames: 50 tokens/s a run
	)
	env := benchEnv(b)
	fake := pt.New("openai")
	b.Cleanup(fake.Close)
	token, user := env.benchUser("many-runs@example.com", fake)
	projects := env.benchProjects(user, runs*b.N)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.Cleanup(client.CloseIdleConnections)

	// Run k streams the pieces "k.0 ", "k.1 ", …; its message names k.
	pieces := make([][]string, runs)
	sent := make([][]atomic.Int64, runs) // when each frame went out, since base
	for k := range pieces {
		pieces[k] = make([]string, tokens)
		for i := range pieces[k] {
			pieces[k][i] = strconv.Itoa(k) + "." + strconv.Itoa(i) + " "
		}
		sent[k] = make([]atomic.Int64, tokens)
	}
	base := time.Now()

	var wall, start, stream, cpu, pgCPU time.Duration
	var events, rssGrowth int64
	var lat, api []time.Duration
	failed := 0
	pool0 := env.pool.Stat()
	b.ResetTimer()
	for n := range b.N {
		var asked, following sync.WaitGroup
		asked.Add(runs)
		following.Add(runs)
		release := make(chan struct{})
		fake.Respond(func(r pt.Request, _ int) pt.Turn {
			asked.Done()
			k := runNumber(r)
			<-release
			if k < 0 {
				return pt.Say("no run number")
			}
			return pt.Turn{Text: pieces[k], Delay: delay, OnFrame: func(i int) { sent[k][i].Store(int64(time.Since(base))) }}
		})

		b.StopTimer()
		runtime.GC()
		rss0 := procStatus("VmRSS")
		resetPeakRSS()
		cpu0, pg0 := cpuTime(), postgresCPU()
		b.StartTimer()
		t0 := time.Now()

		type outcome struct {
			status db.RunStatus
			err    string
			tokens int
			events int64
			lat    []time.Duration
		}
		outcomes := make([]outcome, runs)
		var clients, starters sync.WaitGroup
		next := make(chan int)
		for range 16 {
			starters.Go(func() {
				for k := range next {
					run, err := benchChat(client, env.http.URL, token, projects[n*runs+k], "Run #"+strconv.Itoa(k))
					if err != nil {
						outcomes[k].err = err.Error()
						asked.Done()
						following.Done()
						continue
					}
					clients.Go(func() {
						o := &outcomes[k]
						o.lat = make([]time.Duration, 0, tokens)
						joined := false
						err := followRun(context.Background(), client, env.http.URL, token, run, func(kind string, data []byte) {
							now := time.Since(base)
							o.events++
							if !joined {
								joined = true
								following.Done()
							}
							switch kind {
							case agents.KindToken:
								if r, i := pieceNumbers(data); r == k && i >= 0 && i < tokens {
									o.lat = append(o.lat, now-time.Duration(sent[k][i].Load()))
								}
								o.tokens++
							case agents.KindDone:
								var d agents.DoneEvent
								json.Unmarshal(data, &d)
								o.status, o.err = d.Status, d.Error
							}
						})
						if !joined {
							following.Done()
						}
						if err != nil {
							o.err = err.Error()
						}
					})
				}
			})
		}
		for k := range runs {
			next <- k
		}
		close(next)
		starters.Wait()
		if !waitGroup(&asked, 2*time.Minute) || !waitGroup(&following, 2*time.Minute) {
			b.Errorf("not every run reached the provider with a client following it")
		}
		t1 := time.Now()
		close(release)
		// Meanwhile another request of the same user: how long does an
		// ordinary API call (token, user, one project query) take?
		probeDone := make(chan struct{})
		var probes sync.WaitGroup
		probes.Go(func() {
			for {
				select {
				case <-probeDone:
					return
				case <-time.After(50 * time.Millisecond):
				}
				req, _ := http.NewRequest("GET", env.http.URL+"/api/projects/"+projects[n*runs].String(), nil)
				req.Header.Set("Authorization", "Bearer "+token)
				at := time.Now()
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					api = append(api, time.Since(at))
				}
			}
		})
		clients.Wait()
		t2 := time.Now()
		close(probeDone)
		probes.Wait()
		b.StopTimer()

		cpu += cpuTime() - cpu0
		pgCPU += postgresCPU() - pg0
		rssGrowth = max(rssGrowth, procStatus("VmHWM")-rss0)
		wall += t2.Sub(t0)
		start += t1.Sub(t0)
		stream += t2.Sub(t1)
		reasons := map[string]int{}
		for _, o := range outcomes {
			events += o.events
			lat = append(lat, o.lat...)
			if o.status != db.RunStatusSucceeded || o.tokens != tokens || len(o.lat) != tokens {
				reasons[fmt.Sprintf("%s after %d tokens: %s", o.status, o.tokens, o.err)]++
			}
		}
		if len(reasons) > 0 {
			bad := 0
			for _, c := range reasons {
				bad += c
			}
			failed += bad
			b.Errorf("iteration %d: %d of %d runs did not succeed with %d tokens: %v", n, bad, runs, tokens, reasons)
		}
		b.StartTimer()
	}
	b.StopTimer()
	pool1 := env.pool.Stat()
	iters := float64(b.N)
	b.ReportMetric(float64(runs*b.N-failed)/iters, "runs-succeeded")
	b.ReportMetric(wall.Seconds()/iters, "wall-s")
	b.ReportMetric(start.Seconds()/iters, "start-all-s")
	b.ReportMetric(stream.Seconds()/iters, "stream-s")
	b.ReportMetric(cpu.Seconds()/iters, "cpu-s")
	b.ReportMetric(pgCPU.Seconds()/iters, "postgres-cpu-s")
	b.ReportMetric(float64(rssGrowth)/(1<<20), "peak-rss-growth-MiB")
	b.ReportMetric(float64(events)/stream.Seconds(), "events/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(ms(lat[len(lat)/2]), "token-p50-ms")
		b.ReportMetric(ms(lat[(len(lat)-1)*99/100]), "token-p99-ms")
	}
	if len(api) > 0 {
		slices.Sort(api)
		b.ReportMetric(ms(api[len(api)/2]), "api-p50-ms")
		b.ReportMetric(ms(api[(len(api)-1)*99/100]), "api-p99-ms")
	}
	acquires := pool1.AcquireCount() - pool0.AcquireCount()
	b.ReportMetric(float64(pool1.MaxConns()), "db-pool-conns")
	b.ReportMetric(float64(acquires)/wall.Seconds(), "db-acquires/s")
	b.ReportMetric(float64(pool1.EmptyAcquireCount()-pool0.EmptyAcquireCount())/float64(acquires)*100, "db-acquires-waited-%")
	b.ReportMetric(ms((pool1.AcquireDuration()-pool0.AcquireDuration())/time.Duration(acquires)), "db-acquire-avg-ms")
}

// runNumber is k in the "Run #k" a chat request's last message ends with.
func runNumber(r pt.Request) int {
	raw, _ := json.Marshal(r.Body["messages"])
	i := bytes.LastIndex(raw, []byte("Run #"))
	if i < 0 {
		return -1
	}
	k, digits := 0, 0
	for _, c := range raw[i+5:] {
		if c < '0' || c > '9' {
			break
		}
		k, digits = k*10+int(c-'0'), digits+1
	}
	if digits == 0 {
		return -1
	}
	return k
}

// benchEnv is a test server whose database pool is the one studio serve
// opens (db.Open: 20 connections), as every test server's is.
func benchEnv(b *testing.B) *testEnv {
	b.Helper()
	return newEnvWith(b, envOptions{})
}

// benchUser signs up and points OpenAI at the fake provider; it returns
// the token and the user's id.
func (e *testEnv) benchUser(email string, fake *pt.Server) (string, uuid.UUID) {
	e.t.Helper()
	token := e.register(email)
	e.fakeProviderFor(token, "openai", fake)
	var id uuid.UUID
	if err := e.pool.QueryRow(context.Background(), "SELECT id FROM users WHERE email = $1", email).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return token, id
}

// benchProjects makes n active projects of the user straight in the
// database, each with a folder holding index.html, without containers.
func (e *testEnv) benchProjects(owner uuid.UUID, n int) []uuid.UUID {
	e.t.Helper()
	ctx := context.Background()
	q := db.New(e.pool)
	ids := make([]uuid.UUID, n)
	prefix := uuid.NewString()[:8]
	for i := range ids {
		p, err := q.CreateProject(ctx, db.CreateProjectParams{OwnerID: owner, Name: fmt.Sprintf("Bench %d", i), Slug: fmt.Sprintf("bench-%s-%d", prefix, i), Template: "static"})
		if err != nil {
			e.t.Fatal(err)
		}
		dir := e.projectDir(p.ID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>\n<h1>Hello</h1>\n"), 0o644); err != nil {
			e.t.Fatal(err)
		}
		ids[i] = p.ID
	}
	if _, err := e.pool.Exec(ctx, "UPDATE projects SET status = 'active' WHERE owner_id = $1", owner); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// benchChat starts a run from any goroutine.
func benchChat(c *http.Client, base, token string, project uuid.UUID, message string) (string, error) {
	b, _ := json.Marshal(map[string]string{"message": message, "model": "openai/gpt-4o-mini"})
	body := bytes.NewReader(b)
	req, _ := http.NewRequest("POST", base+"/api/projects/"+project.String()+"/chat", body)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		RunID string `json:"run_id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("chat: %d %v", res.StatusCode, err)
	}
	return out.RunID, nil
}

// followRun reads a run's SSE stream until its done event, calling on
// for every event as soon as its blank line has been read.
func followRun(ctx context.Context, c *http.Client, base, token, run string, on func(kind string, data []byte)) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/runs/"+run+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("stream: %d", res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 4<<10), 1<<20)
	var kind string
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("event: ")):
			kind = string(line[7:])
		case bytes.HasPrefix(line, []byte("data: ")):
			data = append(data[:0], line[6:]...)
		case len(line) == 0 && kind != "":
			on(kind, data)
			if kind == agents.KindDone {
				return nil
			}
			kind = ""
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the stream ended before the done event")
}

// pieceNumbers reads the numbers a timed piece starts with:
// {"text":"123 "} is (123, -1), {"text":"4.56 "} is (4, 56); -1 when
// there is none.
func pieceNumbers(data []byte) (int, int) {
	_, rest, ok := bytes.Cut(data, []byte(`"text":"`))
	if !ok {
		return -1, -1
	}
	nums := [2]int{-1, -1}
	for j := range nums {
		n, digits := 0, 0
		for _, c := range rest {
			if c < '0' || c > '9' {
				break
			}
			n, digits = n*10+int(c-'0'), digits+1
		}
		if digits == 0 {
			break
		}
		nums[j] = n
		if len(rest) == digits || rest[digits] != '.' {
			break
		}
		rest = rest[digits+1:]
	}
	return nums[0], nums[1]
}

func doneStatus(data []byte) db.RunStatus {
	var d agents.DoneEvent
	json.Unmarshal(data, &d)
	return d.Status
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// waitGroup waits for wg at most d.
func waitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// procStatus reads a size in bytes from /proc/self/status ("VmRSS", "VmHWM").
func procStatus(field string) int64 {
	raw, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS makes VmHWM start again from the current RSS.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// postgresCPU is the CPU time of the embedded PostgreSQL server this
// process started: its postmaster, the backends that ended (reaped by the
// postmaster) and the live ones. It is 0 when the tests use another server.
func postgresCPU() time.Duration {
	type proc struct {
		ppid       int
		comm       string
		own, child int64 // clock ticks
	}
	procs := map[int]proc{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		lp, rp := bytes.IndexByte(raw, '('), bytes.LastIndexByte(raw, ')')
		if err != nil || lp < 0 || rp < lp {
			continue
		}
		f := strings.Fields(string(raw[rp+1:]))
		if len(f) < 15 {
			continue
		}
		num := func(i int) int64 { n, _ := strconv.ParseInt(f[i], 10, 64); return n }
		procs[pid] = proc{ppid: int(num(1)), comm: string(raw[lp+1 : rp]), own: num(11) + num(12), child: num(13) + num(14)}
	}
	var ticks int64
	self := os.Getpid()
	for pid, p := range procs {
		if p.ppid != self || p.comm != "postgres" {
			continue
		}
		ticks += p.own + p.child
		for _, c := range procs {
			if c.ppid == pid {
				ticks += c.own
			}
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// cpuTime is the user and system time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
