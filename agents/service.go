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
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// Agents lists the agents a user may run.
func (s *Service) Agents(ctx context.Context, user uuid.UUID) ([]db.Agent, error) {
	return s.q.ListAgentsForUser(ctx, &user)
}

// ChatRequest is a user's message to an agent.
type ChatRequest struct {
	Message string
	AgentID string // "" = builder
	Model   string // provider/model; "" = the agent's, then the default
	Open    []string
}

// Start records the user's message and starts a run that goes on in the
// background; it fails with ErrRunActive while another run works on the
// project.
func (s *Service) Start(ctx context.Context, user, projectID uuid.UUID, req ChatRequest) (db.AgentRun, error) {
	req.Message = strings.TrimSpace(req.Message)
	switch {
	case req.Message == "":
		return db.AgentRun{}, ErrEmptyMessage
	case len(req.Message) > maxMessage:
		return db.AgentRun{}, ErrLongMessage
	case !utf8.ValidString(req.Message):
		return db.AgentRun{}, errors.New("the message is not valid UTF-8")
	}
	files, err := s.projects.Open(ctx, user, projectID)
	if err != nil {
		return db.AgentRun{}, err
	}
	proj := files.Project()
	if proj.Status == db.ProjectStatusDeleting {
		return db.AgentRun{}, projects.ErrNotFound
	}
	agent, err := s.q.GetAgentForUser(ctx, db.GetAgentForUserParams{ID: cmpOr(req.AgentID, "builder"), UserID: &user})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.AgentRun{}, ErrUnknownAgent
	} else if err != nil {
		return db.AgentRun{}, err
	}
	model, err := s.chooseModel(ctx, user, cmpOr(req.Model, agent.Model))
	if err != nil {
		return db.AgentRun{}, err
	}
	client, err := s.client(ctx, user, model)
	if err != nil {
		return db.AgentRun{}, err
	}

	var row db.AgentRun
	var history []db.ChatMessage
	err = db.InTx(ctx, s.pool, func(q *db.Queries) error {
		var err error
		row, err = q.CreateRun(ctx, db.CreateRunParams{ProjectID: proj.ID, UserID: user, AgentID: agent.ID, Model: model, Instance: s.process})
		if err != nil {
			return err
		}
		if history, err = q.ListRecentChatMessages(ctx, db.ListRecentChatMessagesParams{ProjectID: proj.ID, MaxRows: 40}); err != nil {
			return err
		}
		_, err = q.CreateChatMessage(ctx, db.CreateChatMessageParams{ProjectID: proj.ID, Role: "user", Content: cleanText(req.Message), RunID: &row.ID})
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.ConstraintName == "agent_runs_one_active" {
		return db.AgentRun{}, ErrRunActive
	}
	if err != nil {
		return db.AgentRun{}, err
	}

	r := &run{s: s, row: row, agent: agent, proj: proj, files: files, client: client, message: req.Message, open: req.Open, history: history, log: newRunLog(s, row.ID)}
	r.ctx, r.cancelFn = context.WithCancelCause(s.bg)
	r.log.emit(KindStatus, StatusEvent{Status: db.RunStatusRunning})
	s.mu.Lock()
	s.runs[row.ID] = r
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		r.execute()
	}()
	s.bus.Publish(ctx, projects.ProjectTopic(proj.ID))
	return row, nil
}

// chooseModel picks the run's model: the one asked for, the instance's
// default, or the default model of the first provider the user set up.
func (s *Service) chooseModel(ctx context.Context, user uuid.UUID, model string) (string, error) {
	if model == "" {
		model = s.opts.DefaultModel
	}
	if model == "" {
		configured, err := s.auth.ListProviders(ctx, user)
		if err != nil {
			return "", err
		}
		for _, p := range configured {
			if p.Configured && DefaultModels[p.Provider] != "" {
				return p.Provider + "/" + DefaultModels[p.Provider], nil
			}
		}
		for _, name := range providers.Names() {
			if _, ok := s.opts.Defaults[name]; ok && DefaultModels[name] != "" {
				return name + "/" + DefaultModels[name], nil
			}
		}
		return "", &NoProviderError{}
	}
	if _, _, err := providers.ParseModel(model); err != nil {
		return "", &modelError{err}
	}
	return model, nil
}

// client makes the provider client of a model with the user's key, or the
// instance's.
func (s *Service) client(ctx context.Context, user uuid.UUID, model string) (*providers.Provider, error) {
	provider, _, err := providers.ParseModel(model)
	if err != nil {
		return nil, err
	}
	key, baseURL, err := s.auth.ProviderKey(ctx, user, provider)
	if errors.Is(err, auth.ErrNotFound) {
		d, ok := s.opts.Defaults[provider]
		if !ok && provider != providers.Ollama {
			return nil, &NoProviderError{Provider: provider}
		}
		key, baseURL = d.APIKey, cmpOr(d.BaseURL, baseURL)
	} else if err != nil {
		return nil, err
	}
	p, err := s.newProvider(provider, key, baseURL)
	if err != nil {
		return nil, &NoProviderError{Provider: provider}
	}
	return p, nil
}

// newProvider makes a provider client; openai, anthropic and gemini go to
// the administrator's endpoint or the official one, whatever baseURL says.
func (s *Service) newProvider(provider, key, baseURL string) (*providers.Provider, error) {
	switch provider {
	case providers.OpenAI, providers.Anthropic, providers.Gemini:
		baseURL = ""
		if s.opts.BaseURLFor != nil {
			baseURL = s.opts.BaseURLFor(provider)
		}
	}
	return providers.New(provider, key, baseURL, s.opts.ProviderOptions...)
}

// CheckProvider tries a user's own provider setting ("Test connection") and
// says in a few words how it went; auth.ErrNotFound when there is none.
func (s *Service) CheckProvider(ctx context.Context, user uuid.UUID, provider string) (string, error) {
	key, baseURL, err := s.auth.ProviderKey(ctx, user, provider)
	if err != nil {
		return "", err
	}
	p, err := s.newProvider(provider, key, baseURL)
	if err != nil {
		return "not configured: " + err.Error(), nil
	}
	return p.CheckConnection(ctx), nil
}

// Get returns one of the user's runs.
func (s *Service) Get(ctx context.Context, user, id uuid.UUID) (db.AgentRun, error) {
	row, err := s.q.GetRunForUser(ctx, db.GetRunForUserParams{ID: id, UserID: user})
	if errors.Is(err, pgx.ErrNoRows) {
		return db.AgentRun{}, ErrNotFound
	}
	return row, err
}

// Active returns the project's running run, if any.
func (s *Service) Active(ctx context.Context, projectID uuid.UUID) (db.AgentRun, bool, error) {
	row, err := s.q.GetActiveRunForProject(ctx, projectID)
	if errors.Is(err, pgx.ErrNoRows) {
		return db.AgentRun{}, false, nil
	}
	return row, err == nil, err
}

// Cancel stops a running run, on whichever replica runs it.
func (s *Service) Cancel(ctx context.Context, user, id uuid.UUID) (db.AgentRun, error) {
	row, err := s.Get(ctx, user, id)
	if err != nil {
		return row, err
	}
	if row.Status.Done() {
		return row, ErrRunEnded
	}
	// The request is stored, so a replica that misses the notification
	// still sees it at its next heartbeat.
	if row, err = s.q.RequestCancel(ctx, id); errors.Is(err, pgx.ErrNoRows) {
		return row, ErrRunEnded
	} else if err != nil {
		return row, err
	}
	if r := s.live(id); r != nil {
		r.cancel(errCancelled)
	} else {
		s.bus.Publish(ctx, cancelTopic(id))
	}
	return row, nil
}

// Undo puts the project's files back as they were before the run. The
// state it replaces is itself kept as a checkpoint.
func (s *Service) Undo(ctx context.Context, user, id uuid.UUID) (db.AgentRun, projects.Checkpoint, error) {
	row, err := s.Get(ctx, user, id)
	if err != nil {
		return row, projects.Checkpoint{}, err
	}
	if !row.Status.Done() {
		return row, projects.Checkpoint{}, ErrStillRunning
	}
	if _, active, err := s.Active(ctx, row.ProjectID); err != nil {
		return row, projects.Checkpoint{}, err
	} else if active {
		return row, projects.Checkpoint{}, ErrRunActive // its edits would land on the restored files
	}
	if row.CheckpointID == nil {
		return row, projects.Checkpoint{}, ErrNoCheckpoint
	}
	proj, err := s.projects.Open(ctx, user, row.ProjectID)
	if err != nil {
		return row, projects.Checkpoint{}, err
	}
	cp, err := proj.RestoreCheckpoint(ctx, *row.CheckpointID)
	if errors.Is(err, projects.ErrCheckpointNotFound) {
		err = ErrNoCheckpoint
	}
	return row, cp, err
}

// Messages lists a project's chat, oldest first.
func (s *Service) Messages(ctx context.Context, user, projectID uuid.UUID) ([]db.ChatMessage, error) {
	if _, err := s.projects.Get(ctx, user, projectID); err != nil {
		return nil, err
	}
	return s.q.ListRecentChatMessages(ctx, db.ListRecentChatMessagesParams{ProjectID: projectID, MaxRows: 500})
}

// Runs lists the newest runs of one of the user's projects.
func (s *Service) Runs(ctx context.Context, user, projectID uuid.UUID, limit int32) ([]db.AgentRun, error) {
	if _, err := s.projects.Get(ctx, user, projectID); err != nil {
		return nil, err
	}
	return s.listRuns(ctx, projectID, limit)
}

// listRuns lists a project's newest runs, for callers that checked who asks.
func (s *Service) listRuns(ctx context.Context, projectID uuid.UUID, limit int32) ([]db.AgentRun, error) {
	return s.q.ListRunsForProject(ctx, db.ListRunsForProjectParams{ProjectID: projectID, MaxRows: limit})
}

// Commands lists the tool calls of a run.
func (s *Service) Commands(ctx context.Context, user, id uuid.UUID) ([]db.AgentCommandLog, error) {
	if _, err := s.Get(ctx, user, id); err != nil {
		return nil, err
	}
	return s.q.ListCommandLogs(ctx, id)
}

func (s *Service) live(id uuid.UUID) *run {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs[id]
}

func (s *Service) liveIDs() []uuid.UUID {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]uuid.UUID, 0, len(s.runs))
	for id := range s.runs {
		ids = append(ids, id)
	}
	return ids
}

// heartbeatEvery is how often this process says its runs are alive; a run
// silent for staleAfter is ended by any replica.
const (
	heartbeatEvery = 10 * time.Second
	staleAfter     = 45 * time.Second
)

// Run beats the heartbeat of this process's runs and ends runs whose
// process is gone, until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		s.ReapStale(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.heartbeat(ctx)
	}
}

// heartbeat says this process's runs are alive, and stops those that were
// asked to stop or were ended by another replica meanwhile.
func (s *Service) heartbeat(ctx context.Context) {
	ids := s.liveIDs()
	if len(ids) == 0 {
		return
	}
	rows, err := s.q.HeartbeatRuns(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("run heartbeat", "err", err)
		}
		return
	}
	running := map[uuid.UUID]bool{}
	for _, row := range rows {
		running[row.ID] = true
		if r := s.live(row.ID); r != nil && row.CancelRequested {
			r.cancel(errCancelled)
		}
	}
	for _, id := range ids {
		if r := s.live(id); r != nil && !running[id] {
			r.cancel(errEndedElsewhere)
		}
	}
}

// ReapStale ends runs nobody runs any more, with a done event so their
// followers stop waiting. Run calls it every few seconds.
func (s *Service) ReapStale(ctx context.Context) {
	stale, err := s.q.ListStaleRuns(ctx, db.ListStaleRunsParams{
		StaleBefore: time.Now().Add(-staleAfter), Sole: s.opts.SoleInstance, Started: s.started, Live: s.liveIDs(),
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("list stale runs", "err", err)
		}
		return
	}
	for _, row := range stale {
		if s.live(row.ID) != nil {
			continue
		}
		ended, err := s.q.AbandonRun(ctx, db.AbandonRunParams{ID: row.ID, Error: errRunnerStopped.Error()})
		if err != nil {
			continue // ended meanwhile
		}
		if _, err := s.q.GetRunDoneSeq(ctx, row.ID); err == nil {
			continue // its done event is stored; only the row had not been ended
		}
		last, err := s.q.LastRunEventSeq(ctx, row.ID)
		if err != nil {
			continue
		}
		l := newRunLogAfter(s, row.ID, last)
		l.emit(KindStatus, StatusEvent{Status: db.RunStatusFailed})
		l.emit(KindDone, doneEvent(ended))
		s.store(ctx, l)
		s.log.Info("ended an abandoned run", "run", row.ID)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Exchange is one message of the user with the run it started, the run's
// answer and its tool calls.
type Exchange struct {
	Message db.ChatMessage
	Run     *db.AgentRun
	Answer  string
	Steps   []db.AgentCommandLog
}

// History is a project's chat as exchanges, oldest first.
func (s *Service) History(ctx context.Context, user, projectID uuid.UUID) ([]Exchange, error) {
	msgs, err := s.Messages(ctx, user, projectID)
	if err != nil {
		return nil, err
	}
	runs, err := s.listRuns(ctx, projectID, 200) // Messages checked the owner
	if err != nil {
		return nil, err
	}
	byID := map[uuid.UUID]*db.AgentRun{}
	ids := make([]uuid.UUID, 0, len(runs))
	for i := range runs {
		byID[runs[i].ID] = &runs[i]
		ids = append(ids, runs[i].ID)
	}
	logs, err := s.q.ListCommandLogsForRuns(ctx, ids)
	if err != nil {
		return nil, err
	}
	steps := map[uuid.UUID][]db.AgentCommandLog{}
	for _, l := range logs {
		steps[l.RunID] = append(steps[l.RunID], l)
	}
	answers := map[uuid.UUID]string{}
	for _, m := range msgs {
		if m.Role == "assistant" && m.RunID != nil {
			answers[*m.RunID] = m.Content
		}
	}
	var out []Exchange
	for _, m := range msgs {
		if m.Role != "user" {
			continue
		}
		ex := Exchange{Message: m}
		if m.RunID != nil {
			ex.Run = byID[*m.RunID]
			ex.Answer = answers[*m.RunID]
			ex.Steps = steps[*m.RunID]
		}
		out = append(out, ex)
	}
	return out, nil
}

// Answer is what a run's agent wrote, and its tool calls.
func (s *Service) Answer(ctx context.Context, user, id uuid.UUID) (db.AgentRun, string, []db.AgentCommandLog, error) {
	row, err := s.Get(ctx, user, id)
	if err != nil {
		return row, "", nil, err
	}
	answer, err := s.q.GetRunAnswer(ctx, &id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return row, "", nil, err
	}
	steps, err := s.q.ListCommandLogsForRuns(ctx, []uuid.UUID{id})
	return row, answer, steps, err
}

// Models suggests a model of each provider the user can call; ready says
// some provider is set up at all.
func (s *Service) Models(ctx context.Context, user uuid.UUID) (models []string, ready bool, err error) {
	configured, err := s.auth.ListProviders(ctx, user)
	if err != nil {
		return nil, false, err
	}
	seen := map[string]bool{}
	var out []string
	add := func(provider string) {
		if m := DefaultModels[provider]; m != "" && !seen[provider] {
			seen[provider] = true
			out = append(out, provider+"/"+m)
		}
	}
	if s.opts.DefaultModel != "" {
		out = append(out, s.opts.DefaultModel)
	}
	ready = s.opts.DefaultModel != "" || len(s.opts.Defaults) > 0
	for _, p := range configured {
		if p.Configured {
			ready = true
			add(p.Provider)
		}
	}
	for _, name := range providers.Names() {
		if _, ok := s.opts.Defaults[name]; ok {
			add(name)
		}
	}
	return out, ready, nil
}
