// Package agents runs AI agents on projects: a run sends the chat to a
// model, carries out the tools it calls against the project's files and
// container, and records every step as an event that browsers follow over
// SSE, on any replica.
package agents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"studio/agents/providers"
	"studio/auth"
	"studio/containers"
	"studio/db"
	"studio/events"
	"studio/projects"
)

// Errors a caller can act on; each message says what to do.
var (
	ErrNotFound       = errors.New("there is no such run")
	ErrRunActive      = errors.New("an agent is already working on this project; wait for it to finish or cancel it")
	ErrRunEnded       = errors.New("the run has already ended")
	ErrStillRunning   = errors.New("the run is still going; cancel it before undoing it")
	ErrNoCheckpoint   = errors.New("this run has no checkpoint to go back to")
	ErrUnknownAgent   = errors.New("there is no such agent")
	ErrEmptyMessage   = errors.New("write a message for the agent")
	ErrBadModel       = errors.New("bad model id")
	ErrLongMessage    = fmt.Errorf("the message is longer than %d KiB", maxMessage>>10)
	errCancelled      = errors.New("cancelled")
	errWallTime       = errors.New("wall time")
	errShuttingDown   = errors.New("studio is shutting down")
	errRunnerStopped  = errors.New("studio stopped while the run was going")
	errEndedElsewhere = errors.New("the run was ended by another studio replica (this one had lost the database)")
)

const maxMessage = 32 << 10

// modelError is a model id that cannot be used, with the reason.
type modelError struct{ err error }

func (e *modelError) Error() string        { return e.err.Error() }
func (e *modelError) Is(target error) bool { return target == ErrBadModel }

// NoProviderError says the run has no model it may call.
type NoProviderError struct{ Provider string }

func (e *NoProviderError) Error() string {
	if e.Provider == "" {
		return "no AI provider is configured: add a key in Settings"
	}
	return "there is no key for " + e.Provider + ": add one in Settings"
}

// Budgets bound one run.
type Budgets struct {
	MaxSteps  int           // model turns
	MaxTokens int64         // input + output tokens
	MaxTime   time.Duration // wall time
	MaxCost   float64       // USD, from Prices
	// MaxTurnBytes and MaxRunBytes cap the text and tool arguments a model
	// streams, counted by studio as they arrive, in one turn and in a run.
	MaxTurnBytes int64
	MaxRunBytes  int64
}

// Options configure the service.
type Options struct {
	Budgets
	Prices       providers.Prices
	DefaultModel string // provider/model when a run and its agent name none
	// Defaults are instance-wide provider settings for users without their own.
	Defaults map[string]ProviderDefault
	// BaseURLFor is the administrator's endpoint for openai, anthropic or
	// gemini, "" for the official one; nil means official everywhere. A
	// person's own settings never name these providers' endpoints.
	BaseURLFor func(provider string) string
	// ProviderOptions tune every provider client (tests shorten timeouts).
	ProviderOptions []providers.Option
	// SoleInstance says no other studio shares the database: at start every
	// run left "running" is over.
	SoleInstance bool
	// MaxCommands bounds run_command calls per run.
	MaxCommands int
	// Marketplace is STUDIO_MARKETPLACE: off, private or instance ("" is
	// instance).
	Marketplace string
	// TemplateMaxBytes bounds a template's files, uncompressed, and its
	// bundle (STUDIO_TEMPLATE_MAX_SIZE; 0 = templates.DefaultLimits).
	TemplateMaxBytes int64
}

// ProviderDefault is an instance-wide provider key or address.
type ProviderDefault struct{ APIKey, BaseURL string }

// DefaultModels are the models a provider's runs use when nothing names one.
var DefaultModels = map[string]string{
	providers.OpenAI:    "gpt-4.1-mini",
	providers.Anthropic: "claude-sonnet-4-5",
	providers.Gemini:    "gemini-2.5-flash",
	providers.Ollama:    "qwen2.5-coder",
}

// Service starts, follows, cancels and undoes agent runs.
type Service struct {
	pool     *pgxpool.Pool
	q        *db.Queries
	auth     *auth.Service
	projects *projects.Service
	rt       containers.Runtime
	bus      *events.Bus
	log      *slog.Logger
	opts     Options
	process  string    // this process, in agent_runs.instance
	started  time.Time // runs that beat after this belong to this process's life

	bg   context.Context // runs outlive the request that started them
	stop context.CancelCauseFunc
	wg   sync.WaitGroup

	mu   sync.Mutex
	runs map[uuid.UUID]*run
}

// New makes the service; Run must be running for heartbeats and for runs
// abandoned by stopped replicas to be ended.
func New(pool *pgxpool.Pool, a *auth.Service, p *projects.Service, rt containers.Runtime, bus *events.Bus, log *slog.Logger, opts Options) *Service {
	if opts.MaxSteps <= 0 {
		opts.MaxSteps = 25
	}
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = 2_000_000
	}
	if opts.MaxTurnBytes <= 0 {
		opts.MaxTurnBytes = 1 << 20
	}
	if opts.MaxRunBytes <= 0 {
		opts.MaxRunBytes = 8 << 20
	}
	if opts.MaxTime <= 0 {
		opts.MaxTime = 15 * time.Minute
	}
	if opts.Prices == nil {
		opts.Prices = providers.DefaultPrices()
	}
	if opts.MaxCommands <= 0 {
		opts.MaxCommands = 30
	}
	bg, stop := context.WithCancelCause(context.Background())
	s := &Service{
		pool: pool, q: db.New(pool), auth: a, projects: p, rt: rt, bus: bus, log: log, opts: opts,
		process: uuid.NewString(), started: time.Now(), bg: bg, stop: stop, runs: map[uuid.UUID]*run{},
	}
	s.wg.Add(1)
	go s.flushLoop()
	return s
}

// Close cancels the runs of this process and waits for them to store
// their end.
func (s *Service) Close() {
	s.stop(errShuttingDown)
	s.wg.Wait()
}

// Agents lists the agents a user may run: the built-ins, their own and
// the ones they installed, each at the version a run uses.
func (s *Service) Agents(ctx context.Context, user uuid.UUID) ([]db.AgentVersion, error) {
	return s.q.ListPickerAgents(ctx, db.ListPickerAgentsParams{UserID: user, Shared: s.shared()})
}
