package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"studio/db"
	"studio/internal/testwait"
)

// These tests run the real binary, as a person would.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func studioBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "studio-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "studio")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// dataDir is a fresh STUDIO_DATA the database user can enter.
func dataDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "data")
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type studioProc struct {
	cmd    *exec.Cmd
	addr   string
	output *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startStudio runs `studio serve` and waits until /healthz answers.
func startStudio(t testing.TB, data string, extraEnv ...string) *studioProc {
	t.Helper()
	p := &studioProc{addr: freeAddr(t), output: &syncBuffer{}}
	p.cmd = exec.Command(studioBinary(t), "serve")
	p.cmd.Env = append(os.Environ(), "STUDIO_DATA="+data, "STUDIO_ADDR="+p.addr, "STUDIO_POOL_SIZE=0")
	p.cmd.Env = append(p.cmd.Env, extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
	})
	defer func() { // runs after a failed wait too
		if t.Failed() {
			t.Logf("studio's output:\n%s", p.output.String())
		}
	}()
	testwait.Eventually(t, 60*time.Second, func() bool {
		res, err := http.Get("http://" + p.addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	}, "studio answers /healthz")
	return p
}

func studioCmd(t testing.TB, data string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(studioBinary(t), args...)
	cmd.Env = append(os.Environ(), "STUDIO_DATA="+data)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func embeddedURL(data string) string {
	return "postgres:///studio?host=" + filepath.Join(data, "pg", "run") + "&user=studio"
}

func countUsers(t *testing.T, data string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, embeddedURL(data))
	if err != nil {
		t.Fatalf("connect to the embedded database: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func postgresRunningFor(data string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.HasPrefix(filepath.Base(strings.SplitN(string(b), "\x00", 2)[0]), "postgres") && strings.Contains(string(b), data) {
			return true
		}
	}
	return false
}

func TestServeSurvivesKill9(t *testing.T) {
	t.Parallel()
	data := dataDir(t)
	p := startStudio(t, data)
	if out, err := studioCmd(t, data, "admin", "create-user", "--email", "Ada@Example.com", "--admin", "--password", "correct horse battery"); err != nil {
		t.Fatalf("create-user beside a running studio: %v\n%s", err, out)
	} else if !strings.Contains(out, "created admin ada@example.com") {
		t.Fatalf("create-user said %q", out)
	}
	// A second studio on the same data folder refuses clearly.
	second := exec.Command(studioBinary(t), "serve")
	second.Env = append(os.Environ(), "STUDIO_DATA="+data, "STUDIO_ADDR="+freeAddr(t))
	out, err := second.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another studio") {
		t.Fatalf("second studio on one data folder: err %v, output %q", err, out)
	}

	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	p2 := startStudio(t, data)
	if n := countUsers(t, data); n != 1 {
		t.Fatalf("after kill -9 and restart, %d users; want 1", n)
	}
	res, err := http.Get("http://" + p2.addr + "/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("home after restart: %v %v", res, err)
	}
	res.Body.Close()
}

// TestOnlyItsOwnHosts: the served handler answers the UI's host, loopback
// and preview hosts, and 421 to a name rebound to its address.
func TestOnlyItsOwnHosts(t *testing.T) {
	t.Parallel()
	p := startStudio(t, dataDir(t), "STUDIO_PREVIEW_DOMAIN=preview.localhost")
	_, port, _ := net.SplitHostPort(p.addr)
	cases := []struct {
		host, path string
		want       int
	}{
		{"studio.localhost:" + port, "/login", 200},
		{"127.0.0.1:" + port, "/login", 200},
		{"localhost:" + port, "/api/auth/me", 401},
		{"no-such-project.preview.localhost:" + port, "/", 404},
		{"evil.example", "/", 421},
		{"evil.example", "/login", 421},
		{"evil.example", "/api/auth/me", 421},
		{"attacker.example:8080", "/api/auth/register", 421},
		{"shop.studio.localhost:" + port, "/", 421},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", "http://"+p.addr+tc.path, nil)
		req.Host = tc.host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("Host %q %s: %d, want %d", tc.host, tc.path, res.StatusCode, tc.want)
		}
		if tc.want == 421 && len(res.Cookies()) > 0 {
			t.Errorf("Host %q: a refusal set cookies", tc.host)
		}
	}
}

func TestSIGTERMStopsCleanly(t *testing.T) {
	t.Parallel()
	data := dataDir(t)
	p := startStudio(t, data)
	// A slow client is mid-request when the signal arrives: its handler is
	// reading the body (the server's "100 Continue" says it started to).
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"email":"a@example.com","password":"not a password"}`
	fmt.Fprintf(conn, "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(body))
	reply := bufio.NewReader(conn)
	if line, _ := reply.ReadString('\n'); !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("the handler did not start reading the body: %q", line)
	}
	if _, err := reply.ReadString('\n'); err != nil { // the blank line after 100 Continue
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testwait.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(p.output.String(), "shutting down")
	}, "studio starts shutting down")
	fmt.Fprint(conn, body)
	status, _ := reply.ReadString('\n')
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.output.String())
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("SIGTERM took %v", took)
	}
	if !strings.HasPrefix(status, "HTTP/1.1 401") {
		t.Errorf("in-flight request got %q, want its answer", status)
	}
	if postgresRunningFor(data) {
		t.Fatal("the embedded PostgreSQL still runs after studio stopped")
	}
}

func TestStartFailuresAreClear(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  []string
		want string
	}{
		{"port in use", []string{"STUDIO_ADDR=" + busy.Addr().String()}, "is already in use"},
		{"bad address", []string{"STUDIO_ADDR=8080"}, "STUDIO_ADDR: missing port in address"},
		{"data folder not writable", []string{"STUDIO_DATA=" + file + "/data"}, "set STUDIO_DATA to a folder studio can write"},
		{"unreachable database", []string{"STUDIO_DATABASE_URL=postgres://studio:hunter2hunter2@127.0.0.1:1/studio?connect_timeout=2"}, "cannot reach the database at postgres://studio:xxxxx@127.0.0.1:1/studio"},
		{"no postgres binaries", []string{"STUDIO_PG_BIN=" + t.TempDir()}, "does not hold initdb and postgres"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, studioBinary(t), "serve")
			cmd.Env = append(os.Environ(), "STUDIO_DATA="+dataDir(t), "STUDIO_ADDR="+freeAddr(t))
			cmd.Env = append(cmd.Env, tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("studio started; output %s", out)
			}
			if code := cmd.ProcessState.ExitCode(); code == 0 {
				t.Fatalf("exit code 0")
			}
			if !strings.Contains(string(out), tc.want) {
				t.Fatalf("output %q lacks %q", out, tc.want)
			}
			if strings.Contains(string(out), "hunter2") {
				t.Fatalf("the database password was printed: %q", out)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	out, err := studioCmd(t, t.TempDir(), "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"serve", "migrate", "admin create-user", "version", "STUDIO_DATABASE_URL", "STUDIO_ADDR", "STUDIO_DATA", "STUDIO_DOMAIN", "STUDIO_SECRET_KEY"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if out, err := studioCmd(t, t.TempDir(), "version"); err != nil || !strings.HasPrefix(out, "studio ") {
		t.Errorf("version: %q %v", out, err)
	}
	if _, err := studioCmd(t, t.TempDir(), "frobnicate"); err == nil {
		t.Error("unknown command exited 0")
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	data := dataDir(t)
	migrations, _ := fs.Glob(db.Schema(), "*.sql")
	n := len(migrations)
	newest, _ := strconv.Atoi(migrations[n-1][:4]) // numbers may have gaps
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"migrate", "status"}, "pending"},
		{[]string{"migrate", "up"}, fmt.Sprintf("applied %d migration(s)", n)},
		{[]string{"migrate", "status"}, "applied 20"},
		{[]string{"migrate", "down"}, fmt.Sprintf("rolled back migration %d", newest)},
		{[]string{"migrate", "sideways"}, "unknown direction"},
	}
	for _, s := range steps {
		out, _ := studioCmd(t, data, s.args...)
		if !strings.Contains(out, s.want) {
			t.Fatalf("studio %v: %q lacks %q", s.args, out, s.want)
		}
	}
}

// Two rotations on the generated key file: each finishes, and the file
// keeps every key it ever held.
func TestRotateKeyCommand(t *testing.T) {
	t.Parallel()
	data := dataDir(t)
	for i := range 2 {
		out, err := studioCmd(t, data, "admin", "rotate-key", "--wait", "0s")
		if err != nil || !strings.Contains(out, "re-sealed 0 secret(s)") {
			t.Fatalf("rotation %d: %v\n%s", i+1, err, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(data, "secret.keys"))
	if err != nil {
		t.Fatal(err)
	}
	keys, pending := 0, 0
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "next "):
			pending++
		case line != "" && !strings.HasPrefix(line, "#"):
			keys++
		}
	}
	if keys != 3 || pending != 0 {
		t.Fatalf("key file after two rotations:\n%s", b)
	}
}

// BenchmarkServeToReady measures `studio serve` on an existing data folder
// until /readyz answers 200, and the idle memory of studio and of its
// embedded PostgreSQL.
func BenchmarkServeToReady(b *testing.B) {
	data := dataDir(b)
	warm := startStudio(b, data)
	_ = warm.cmd.Process.Signal(syscall.SIGTERM)
	_ = warm.cmd.Wait()
	var rssStudio, rssPG float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		addr := freeAddr(b)
		cmd := exec.Command(studioBinary(b), "serve")
		cmd.Env = append(os.Environ(), "STUDIO_DATA="+data, "STUDIO_ADDR="+addr, "STUDIO_POOL_SIZE=0")
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		for {
			res, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
			if time.Since(start) > 30*time.Second {
				b.Fatal("not ready after 30s (is the Docker engine running?)")
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.StopTimer()
		time.Sleep(2 * time.Second)
		rssStudio += rssMB(cmd.Process.Pid)
		rssPG += postgresRSSMB(data)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(rssStudio/float64(b.N), "studio-RSS-MB")
	b.ReportMetric(rssPG/float64(b.N), "postgres-RSS-MB")
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// pssMB is a process's proportional share of memory, so the shared
// buffers every PostgreSQL process maps are counted once overall.
func pssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// postgresRSSMB adds up every process of the embedded server (it forks one
// per background worker and connection).
func postgresRSSMB(data string) float64 {
	var total float64
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(b), "postgres") && !strings.Contains(strings.SplitN(string(b), "\x00", 2)[0], "/postgres") {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if strings.Contains(string(b), data) || isChildOfPostgresFor(pid, data) {
			total += pssMB(pid)
		}
	}
	return total
}

func isChildOfPostgresFor(pid int, data string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return false
	}
	cmd, err := os.ReadFile("/proc/" + f[3] + "/cmdline")
	return err == nil && strings.Contains(string(cmd), data)
}
