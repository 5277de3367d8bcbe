package agents

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"studio/agents/providers"
	"studio/auth"
	"studio/db"
	"studio/projects"
)

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
	agent, err := s.q.GetRunnableAgentVersion(ctx, db.GetRunnableAgentVersionParams{ID: cmpOr(req.AgentID, "builder"), UserID: user, Shared: s.shared()})
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
		row, err = q.CreateRun(ctx, db.CreateRunParams{ProjectID: proj.ID, UserID: user, AgentID: agent.AgentID, AgentVersion: agent.Version, AgentName: agent.Name, Model: model, Instance: s.process})
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

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
