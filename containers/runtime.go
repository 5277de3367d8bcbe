package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Runtime runs one dev-server container per project, keyed by project id.
// The Docker engine implements it (Docker) and so does Kubernetes
// (package containers/kube).
type Runtime interface {
	// Ensure creates the project's network and container if they are
	// missing, and replaces a container whose configuration is out of date
	// (a new runtime image, a moved project directory). It does not start it.
	Ensure(ctx context.Context, spec Spec) (Status, error)
	// Start starts the project's container; starting a running one is a no-op.
	Start(ctx context.Context, projectID string) error
	// Stop stops the container and keeps it, its network and the files, so
	// Start can wake the project later; stopping a missing or stopped
	// container is a no-op.
	Stop(ctx context.Context, projectID string) error
	// Remove deletes the container and its network (never the project's
	// files); removing what is not there is a no-op.
	Remove(ctx context.Context, projectID string) error
	// Status reports the container's state; a project without a container is
	// StateMissing, not an error.
	Status(ctx context.Context, projectID string) (Status, error)
	// Endpoint is the address (host:port) of the running dev server: a
	// port on 127.0.0.1 for Docker, the pod's address on Kubernetes. It
	// changes each time the container starts.
	Endpoint(ctx context.Context, projectID string) (string, error)
	// WaitReady polls path on the dev server until it answers 200 and
	// returns the endpoint it reached. It fails early when the container
	// exits. progress, which may be nil, receives short status lines.
	WaitReady(ctx context.Context, projectID, path string, progress func(string)) (string, error)
	// Logs streams what the dev server printed (stdout and stderr merged):
	// the last tail lines (all when tail <= 0), then new lines as they come
	// when follow is set, until ctx ends or the reader is closed.
	Logs(ctx context.Context, projectID string, tail int, follow bool) (io.ReadCloser, error)
	// Exec runs argv (no shell) in the running container as the project
	// user in /app, stops it after timeout (no limit when <= 0), and keeps
	// the first outputCap bytes of its combined output (DefaultOutputCap when
	// <= 0). A command that fails or times out is a result, not an error.
	Exec(ctx context.Context, projectID string, argv []string, timeout time.Duration, outputCap int) (ExecResult, error)
	// Terminal starts a login shell on a TTY (size, when not zero) in the
	// running container as the project user in /app, for a person to type
	// in. ctx bounds the shell's life; Close hangs it up.
	Terminal(ctx context.Context, projectID string, size TermSize) (Terminal, error)
	// Watch calls report for every managed container that exits without
	// having been asked to (a crash, out of memory), until ctx ends.
	Watch(ctx context.Context, report func(Exit)) error
	// ListManaged lists every project this studio instance has a container
	// or a network for, so studio can reconcile them with its database.
	ListManaged(ctx context.Context) ([]Status, error)
}

// Streamer is a Runtime that can also hand a command's output over as it
// comes (a build's live output); both engines implement it.
type Streamer interface {
	// ExecStream is Exec writing the combined output to out as it is
	// written instead of keeping it (ExecResult.Output stays empty).
	ExecStream(ctx context.Context, projectID string, argv []string, timeout time.Duration, out io.Writer) (ExecResult, error)
}

// Engine is a Runtime studio serves with: it also answers a readiness
// check, reports a container's use of memory and CPU for the
// administrator, and is closed at shutdown.
type Engine interface {
	Runtime
	Ping(ctx context.Context) error
	Usage(ctx context.Context, projectID string) (Usage, error)
	Close() error
}

// ErrUsageUnavailable: the engine cannot measure what a container uses.
var ErrUsageUnavailable = errors.New("usage is not available from this engine")

// Spec describes a project's container.
type Spec struct {
	ProjectID string // a UUID
	Dir       string // absolute path of the project's files, mounted at /app
	Slug      string // the project's preview host label, for a router that routes by it
	// Env is the project's own variables, NAME=value, sorted: the dev
	// server and every command run in the container see them. Changing
	// them changes the container's configuration, so Ensure replaces it.
	Env []string
}

// State is a container's life-cycle state.
type State string

const (
	StateMissing State = "missing" // no container
	StateCreated State = "created" // created, never started
	StateRunning State = "running"
	StateStopped State = "stopped" // exited, by request or not
)

// Status is what the runtime knows about a project's container.
type Status struct {
	ProjectID   string
	ContainerID string
	State       State
	// Paused: the container is frozen (Pauser); State stays StateRunning,
	// since its processes and memory are all there.
	Paused     bool
	Endpoint   string // host:port while running
	ExitCode   int    // of the last run, once stopped
	OOMKilled  bool
	StartedAt  time.Time
	FinishedAt time.Time
}

// DefaultOutputCap bounds Exec output when the caller gives no cap.
const DefaultOutputCap = 1 << 20

// ExecResult is the outcome of a command run in a project container.
type ExecResult struct {
	ExitCode  int
	Output    string // stdout and stderr, interleaved as written
	Truncated bool   // the output went past the cap; the rest was discarded
	TimedOut  bool   // the command was stopped at its timeout
	Duration  time.Duration
}

// Exit describes a container that stopped without being asked to.
type Exit struct {
	ProjectID   string
	ContainerID string
	ExitCode    int
	OOMKilled   bool
	// Message, when set, is why the dev server could not run at all (an
	// image that cannot be pulled, no node with room for it), in words a
	// person understands; it replaces the exit code in Reason.
	Message string
	At      time.Time
	LogTail []string // the last lines the dev server printed
}

// Reason says in a few words why the container stopped.
func (e Exit) Reason() string {
	switch {
	case e.Message != "":
		return e.Message
	case e.OOMKilled:
		return "ran out of memory"
	case e.ExitCode > 128 && e.ExitCode < 160:
		return fmt.Sprintf("killed by signal %d", e.ExitCode-128)
	default:
		return fmt.Sprintf("exited with code %d", e.ExitCode)
	}
}

func (e Exit) String() string {
	what := "dev server " + e.Reason()
	if e.Message != "" {
		what = "The dev server cannot run: " + e.Message
	}
	if len(e.LogTail) == 0 {
		return what
	}
	return what + ":\n" + strings.Join(e.LogTail, "\n")
}

var (
	// ErrEngineUnavailable: the container engine does not answer.
	ErrEngineUnavailable = errors.New("container engine is not reachable")
	// ErrImageMissing: the runtime image has not been built on this engine.
	ErrImageMissing = errors.New("runtime image is missing")
	// ErrNotFound: the project has no container (call Ensure).
	ErrNotFound = errors.New("project has no container")
	// ErrNotRunning: the project's container is not running (call Start).
	ErrNotRunning = errors.New("project container is not running")
)

// imageMissingError tells the operator how to fix a missing image.
type imageMissingError struct{ image string }

func (e imageMissingError) Error() string {
	return fmt.Sprintf("runtime image %s is missing; build it with `go tool task image`", e.image)
}

func (e imageMissingError) Is(target error) bool { return target == ErrImageMissing }

// ExitError is returned by WaitReady when the dev server stops before it
// answers; it carries the exit code and the last lines it printed.
type ExitError struct{ Exit Exit }

func (e *ExitError) Error() string { return e.Exit.String() }
