package db

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// EmbeddedName is the database studio keeps its state in on the embedded server.
const EmbeddedName = "studio"

// ErrDataDirBusy means another studio process already uses the folder.
var ErrDataDirBusy = errors.New("data folder in use")

// Embedded is a private PostgreSQL server that studio runs from the system's
// PostgreSQL binaries, listening only on a unix socket inside Dir.
type Embedded struct {
	Dir    string       // holds data/, the socket and the lock file
	BinDir string       // initdb and postgres; empty = search the usual places
	User   string       // system user that runs the server when studio is root
	Logger *slog.Logger // receives the server's own output

	lock      *os.File
	socketDir string
	cmd       *exec.Cmd
	exited    chan struct{}
	mu        sync.Mutex
	tail      []string // last lines the server printed, for error messages
	waitErr   error
}

// Start takes the folder's lock, initialises the cluster on first use,
// clears what a killed predecessor left behind, starts the server and waits
// until it accepts connections.
func (e *Embedded) Start(ctx context.Context) error {
	if e.Logger == nil {
		e.Logger = slog.Default()
	}
	dir, err := filepath.Abs(e.Dir)
	if err != nil {
		return err
	}
	e.Dir = dir
	bin, err := findPostgres(e.BinDir)
	if err != nil {
		return err
	}
	cred, err := e.credential()
	if err != nil {
		return err
	}
	if err := e.prepareDirs(cred); err != nil {
		return err
	}
	if err := e.takeLock(); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			e.releaseLock()
		}
	}()
	dataDir := filepath.Join(e.Dir, "data")
	if err := e.initdb(ctx, bin, dataDir, cred); err != nil {
		return err
	}
	clearStalePid(filepath.Join(dataDir, "postmaster.pid"), dataDir, e.Logger)
	clearStalePid(filepath.Join(e.socketDir, ".s.PGSQL.5432.lock"), dataDir, e.Logger)
	if err := e.launch(bin, dataDir, cred); err != nil {
		return err
	}
	if err := e.waitReady(ctx); err != nil {
		_ = e.Stop(context.Background())
		return err
	}
	if err := e.ensureDatabase(ctx); err != nil {
		_ = e.Stop(context.Background())
		return err
	}
	ok = true
	return nil
}

// URL is the connection string for studio's database on this server.
func (e *Embedded) URL() string { return e.urlFor(EmbeddedName) }

// MaintenanceURL points at the server's "postgres" database, from which
// other databases are created and dropped.
func (e *Embedded) MaintenanceURL() string { return e.urlFor("postgres") }

func (e *Embedded) urlFor(database string) string {
	q := url.Values{"host": {e.socketDir}, "user": {EmbeddedName}}
	return "postgres:///" + database + "?" + q.Encode()
}

// Exited is closed when the server process ends, expectedly or not.
func (e *Embedded) Exited() <-chan struct{} { return e.exited }

// Err says why the server ended, with its last output lines.
func (e *Embedded) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.waitErr == nil {
		return nil
	}
	return fmt.Errorf("embedded PostgreSQL exited: %w; last output: %s", e.waitErr, strings.Join(e.tail, " | "))
}

// Stop asks the server for a fast shutdown (clients are disconnected, data
// is flushed), escalating to an immediate one when ctx ends first, and then
// releases the folder's lock.
func (e *Embedded) Stop(ctx context.Context) error {
	defer e.releaseLock()
	if e.cmd == nil || e.cmd.Process == nil {
		return nil
	}
	select {
	case <-e.exited:
		return nil
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-e.exited:
		return nil
	case <-ctx.Done():
		_ = e.cmd.Process.Signal(syscall.SIGQUIT)
		<-e.exited
		return fmt.Errorf("embedded PostgreSQL did not stop in time; it was stopped immediately")
	}
}

// kill ends the server at once, as a crash would.
func (e *Embedded) kill() {
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
}

// findPostgres returns the folder holding initdb and postgres.
func findPostgres(binDir string) (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if binDir != "" {
		if has(binDir) {
			return binDir, nil
		}
		return "", fmt.Errorf("STUDIO_PG_BIN %s does not hold initdb and postgres; point it at a PostgreSQL server's bin folder", binDir)
	}
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(candidates, func(a, b string) int { return pgMajor(b) - pgMajor(a) })
	for _, dir := range candidates {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) were not found in /usr/lib/postgresql/*/bin or PATH; install them (apt-get install postgresql, or run scripts/setup), set STUDIO_PG_BIN, or use an external server with STUDIO_DATABASE_URL")
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// credential is the identity the server runs as: PostgreSQL refuses root,
// so a root studio hands it to an unprivileged system user.
func (e *Embedded) credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	name := e.User
	if name == "" {
		name = "postgres"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("studio runs as root, so the embedded PostgreSQL runs as the system user %q, which does not exist; install postgresql (it creates that user) or set STUDIO_PG_USER", name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func (e *Embedded) prepareDirs(cred *syscall.Credential) error {
	if err := os.MkdirAll(e.Dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s: %w; make STUDIO_DATA a folder studio can write", e.Dir, err)
	}
	probe := filepath.Join(e.Dir, ".write-test")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return fmt.Errorf("cannot write in %s: %w; make STUDIO_DATA a folder studio can write", e.Dir, err)
	}
	_ = os.Remove(probe)
	e.socketDir = filepath.Join(e.Dir, "run")
	// A unix socket path must fit in 107 bytes; deep data folders use /tmp.
	if len(e.socketDir)+len("/.s.PGSQL.5432.lock") > 100 {
		sum := sha256.Sum256([]byte(e.Dir))
		e.socketDir = filepath.Join(os.TempDir(), "studio-pg-"+hex.EncodeToString(sum[:6]))
	}
	if err := os.MkdirAll(e.socketDir, 0o700); err != nil {
		return fmt.Errorf("cannot create the database socket folder %s: %w", e.socketDir, err)
	}
	if cred == nil {
		return nil
	}
	for _, d := range []string{e.Dir, e.socketDir} {
		if err := os.Chown(d, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("cannot hand %s to the database user: %w", d, err)
		}
	}
	return reachable(e.Dir, cred)
}

// reachable checks that the database user can walk down to dir.
func reachable(dir string, cred *syscall.Credential) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		ok := mode&0o001 != 0 ||
			st.Uid == cred.Uid && mode&0o100 != 0 ||
			st.Gid == cred.Gid && mode&0o010 != 0
		if !ok {
			return fmt.Errorf("the database user cannot enter %s (mode %o); run `chmod o+x %s` or choose a STUDIO_DATA outside it", d, mode, d)
		}
		if d == "/" {
			return nil
		}
	}
}

func (e *Embedded) takeLock() error {
	f, err := os.OpenFile(filepath.Join(e.Dir, "studio.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("cannot open the data folder's lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(f)
		f.Close()
		pid := strings.TrimSpace(string(holder))
		if pid == "" {
			pid = "unknown"
		}
		return fmt.Errorf("%w: another studio (pid %s) is using %s; stop it first or choose another STUDIO_DATA", ErrDataDirBusy, pid, filepath.Dir(e.Dir))
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	e.lock = f
	return nil
}

func (e *Embedded) releaseLock() {
	if e.lock != nil {
		_ = syscall.Flock(int(e.lock.Fd()), syscall.LOCK_UN)
		e.lock.Close()
		e.lock = nil
	}
}

// initdb creates the cluster once, in a side folder renamed into place, so
// an interrupted first start never leaves a half-made cluster behind.
func (e *Embedded) initdb(ctx context.Context, bin, dataDir string, cred *syscall.Credential) error {
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	tmp := dataDir + ".init"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	e.Logger.Info("creating the embedded database", "dir", dataDir)
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", tmp, "-U", EmbeddedName, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = e.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb failed: %w: %s", err, lastLines(out, 5))
	}
	if err := os.Rename(tmp, dataDir); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	return nil
}

// clearStalePid removes a lock file whose process is gone. A server still
// running on this folder is an orphan of a studio that was killed (this
// process holds the folder's lock), so it is shut down first.
func clearStalePid(path, dataDir string, log *slog.Logger) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		pid = -pid // socket lock files may store the pid negated
	}
	if pid > 0 && isPostgresFor(pid, dataDir) {
		log.Warn("stopping an orphaned embedded PostgreSQL left by an earlier studio", "pid", pid)
		_ = syscall.Kill(pid, syscall.SIGINT)
		for i := 0; i < 200 && isPostgresFor(pid, dataDir); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if isPostgresFor(pid, dataDir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			time.Sleep(200 * time.Millisecond)
		}
	}
	if pid > 0 && syscall.Kill(pid, 0) == nil && isPostgresFor(pid, dataDir) {
		return
	}
	log.Info("removing a stale database lock file", "file", path)
	_ = os.Remove(path)
}

func isPostgresFor(pid int, dataDir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(cmdline), "\x00")
	return len(args) > 0 && filepath.Base(args[0]) == "postgres" && slices.Contains(args, dataDir)
}

func (e *Embedded) launch(bin, dataDir string, cred *syscall.Credential) error {
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", dataDir,
		"-k", e.socketDir,
		"-c", "listen_addresses=",
		"-c", "unix_socket_permissions=0700",
		"-c", "shared_buffers=32MB",
		"-c", "max_connections=200",
		"-c", "log_checkpoints=off",
		"-c", "log_line_prefix=",
	)
	cmd.Dir = e.Dir
	// Own process group: a Ctrl+C in the terminal reaches studio, which
	// stops the server after in-flight requests finish. Pdeathsig stops the
	// server if studio itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGINT}
	out, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start embedded PostgreSQL: %w", err)
	}
	e.cmd = cmd
	e.exited = make(chan struct{})
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		e.logOutput(out)
	}()
	go func() {
		<-logged
		err := cmd.Wait()
		e.mu.Lock()
		e.waitErr = err
		if err == nil {
			e.waitErr = errors.New("exit status 0")
		}
		e.mu.Unlock()
		close(e.exited)
	}()
	return nil
}

func (e *Embedded) logOutput(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		e.mu.Lock()
		e.tail = append(e.tail, line)
		if len(e.tail) > 10 {
			e.tail = e.tail[1:]
		}
		e.mu.Unlock()
		level := slog.LevelDebug
		switch {
		case strings.Contains(line, "the database system is starting up"):
			// studio's own readiness probe, while the server starts
		case strings.HasPrefix(line, "ERROR"), strings.HasPrefix(line, "FATAL"), strings.HasPrefix(line, "PANIC"):
			level = slog.LevelError
		case strings.HasPrefix(line, "WARNING"):
			level = slog.LevelWarn
		}
		e.Logger.Log(context.Background(), level, line, "component", "postgres")
	}
}

func (e *Embedded) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, e.MaintenanceURL())
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-e.exited:
			return e.Err()
		case <-ctx.Done():
			return fmt.Errorf("embedded PostgreSQL did not become ready: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (e *Embedded) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, e.MaintenanceURL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", EmbeddedName).Scan(&exists); err != nil {
		return fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{EmbeddedName}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", EmbeddedName, err)
	}
	return nil
}

func lastLines(out []byte, n int) string {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte(" | ")))
}
