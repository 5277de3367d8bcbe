package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"studio/agents/providers"
	"studio/db"
	"studio/projects"
)

// run is one agent run in this process.
type run struct {
	s       *Service
	row     db.AgentRun
	agent   db.AgentVersion // the version the run uses
	proj    db.Project
	files   *projects.Handle // the project as its owner opened it
	client  *providers.Provider
	message string
	open    []string
	history []db.ChatMessage
	log     *runLog

	ctx      context.Context // made in Start, so a cancel is never lost
	cancelFn context.CancelCauseFunc

	// Counters, touched only by the run's goroutine.
	steps    int
	usage    providers.Usage // tokens counted: the provider's figures, or studio's estimate where higher
	reported providers.Usage // tokens the provider reported
	streamed int64           // bytes of text and tool arguments the model streamed
	cost     float64
	answer   strings.Builder
	repeats  map[string]int
	commands int
	before   *uuid.UUID // the checkpoint taken before the run
}

func (r *run) cancel(cause error) { r.cancelFn(cause) }

// budgetError ends a run with budget_exceeded.
type budgetError struct{ msg string }

func (e *budgetError) Error() string { return e.msg }

// execute runs the agent to its end and stores how it ended.
func (r *run) execute() {
	ctx, stopClock := context.WithTimeoutCause(r.ctx, r.s.opts.MaxTime, errWallTime)
	defer stopClock()
	defer r.cancelFn(nil)

	// A cancel sent to another replica arrives here; the flag in the row
	// says it is one (the bus also wakes everyone after a reconnect).
	wake, unsubscribe := r.s.bus.Subscribe(cancelTopic(r.row.ID))
	defer unsubscribe()
	go func() {
		for {
			select {
			case <-wake:
				if row, err := r.s.q.GetRun(ctx, r.row.ID); err == nil && row.CancelRequested {
					r.cancel(errCancelled)
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()

	go r.keepProjectAwake(ctx)

	err := r.safeLoop(ctx)
	status, msg := r.outcome(ctx, err)
	r.checkpointAfter()

	// The run's row ends before the done event goes out, so a client that
	// sees done finds the run ended and may start the next one.
	r.log.emit(KindStatus, StatusEvent{Status: status})
	end := db.FinishRunParams{ID: r.row.ID, Status: status, Error: msg, Steps: int32(r.steps),
		InputTokens: r.usage.InputTokens, OutputTokens: r.usage.OutputTokens, CostUsd: r.cost}
	store := context.WithoutCancel(r.ctx)
	row, err := r.s.q.FinishRun(store, end)
	for i := 0; i < 20 && err != nil && !errors.Is(err, pgx.ErrNoRows); i++ {
		time.Sleep(500 * time.Millisecond) // the database is briefly away
		row, err = r.s.q.FinishRun(store, end)
	}
	if err != nil {
		r.s.log.Error("store the end of a run", "run", r.row.ID, "err", err)
		row = r.row
		row.Status, row.Error, row.Steps, row.InputTokens, row.OutputTokens, row.CostUsd = end.Status, end.Error, end.Steps, end.InputTokens, end.OutputTokens, end.CostUsd
	}
	if text := strings.TrimSpace(r.answer.String()); text != "" || msg != "" {
		if _, err := r.s.q.CreateChatMessage(store, db.CreateChatMessageParams{ProjectID: r.proj.ID, Role: "assistant", Content: cleanText(text), RunID: &r.row.ID}); err != nil {
			r.s.log.Warn("store the agent's answer", "run", r.row.ID, "err", err)
		}
	}
	r.log.emit(KindDone, doneEvent(row))
	r.s.storeAll(r.log)

	r.s.mu.Lock()
	delete(r.s.runs, r.row.ID)
	r.s.mu.Unlock()
	r.s.bus.Publish(store, RunTopic(r.row.ID), projects.ProjectTopic(r.proj.ID))
	r.s.log.Info("agent run ended", "run", r.row.ID, "project", r.proj.ID, "status", status, "steps", r.steps,
		"input_tokens", r.usage.InputTokens, "output_tokens", r.usage.OutputTokens)
}

// touchEvery is how often a run records use of its project.
const touchEvery = 10 * time.Second

// keepProjectAwake records use of the project now and every touchEvery
// until the run ends: an agent at work is someone using it, so it is
// neither paused nor hibernated mid-run (and a paused one is thawed).
func (r *run) keepProjectAwake(ctx context.Context) {
	t := time.NewTicker(touchEvery)
	defer t.Stop()
	for {
		r.s.projects.Touch(ctx, r.proj.ID)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// safeLoop runs the loop; a panic ends the run as failed instead of the
// whole process.
func (r *run) safeLoop(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.s.log.Error("agent run panicked", "run", r.row.ID, "panic", p, "stack", string(debug.Stack()))
			err = errors.New("studio hit an internal error during the run; it has been logged")
		}
	}()
	return r.loop(ctx)
}

// outcome maps how the loop ended to a run status and a message.
func (r *run) outcome(ctx context.Context, err error) (db.RunStatus, string) {
	var budget *budgetError
	switch {
	case err == nil:
		return db.RunStatusSucceeded, ""
	case errors.As(err, &budget):
		return db.RunStatusBudgetExceeded, budget.msg
	case context.Cause(ctx) == errCancelled:
		return db.RunStatusCancelled, "cancelled by the user"
	case context.Cause(ctx) == errWallTime:
		return db.RunStatusBudgetExceeded, fmt.Sprintf("the run reached its time limit of %s", r.s.opts.MaxTime)
	case context.Cause(ctx) == errShuttingDown:
		return db.RunStatusFailed, errShuttingDown.Error()
	case context.Cause(ctx) == errEndedElsewhere:
		return db.RunStatusFailed, errEndedElsewhere.Error()
	}
	return db.RunStatusFailed, err.Error()
}

// loop talks to the model until it stops calling tools.
func (r *run) loop(ctx context.Context) error {
	cp, err := r.files.Checkpoint(ctx, "before agent run "+r.row.ID.String()[:8])
	if err != nil && !errors.Is(err, projects.ErrFileNotFound) {
		return fmt.Errorf("could not take a checkpoint of the project's files: %w", err)
	}
	if err == nil {
		if err := r.s.q.SetRunCheckpoint(ctx, db.SetRunCheckpointParams{ID: r.row.ID, CheckpointID: &cp.ID}); err != nil {
			return err
		}
		r.before = &cp.ID
	}
	_, model, _ := providers.ParseModel(r.row.Model)
	tools := r.tools()
	msgs := r.conversation(ctx)
	codeBlocks := r.agent.Mode == "code_blocks"
	for {
		if r.steps >= r.s.opts.MaxSteps {
			return &budgetError{fmt.Sprintf("the run reached its limit of %d steps", r.s.opts.MaxSteps)}
		}
		r.steps++
		req := providers.Request{Model: model, System: r.agent.SystemPrompt, Messages: msgs}
		if r.agent.Temperature.Valid {
			req.Temperature = &r.agent.Temperature.Float64
		}
		if !codeBlocks {
			req.Tools = tools
		}
		limit, overLimit := r.streamCap(req)
		req.MaxBytes = limit
		turn, err := r.turn(ctx, req, codeBlocks)
		r.streamed += turn.size
		if errors.Is(err, providers.ErrTooLong) {
			// The tokens of the cut-off answer count; when the token budget
			// set the cap, its message is the one to show.
			if err := r.account(ctx, req, turn); err != nil {
				return err
			}
			return &budgetError{overLimit}
		}
		if err != nil {
			return err
		}
		if err := r.account(ctx, req, turn); err != nil {
			return err
		}
		msgs = append(msgs, providers.Message{Role: providers.RoleAssistant, Text: turn.text, ToolCalls: turn.calls})
		if codeBlocks {
			if len(turn.refusals) == 0 {
				return nil
			}
			msgs = append(msgs, providers.Message{Role: providers.RoleUser, Text: strings.Join(turn.refusals, "\n\n")})
			continue
		}
		if len(turn.calls) == 0 {
			return nil
		}
		results, err := r.callTools(ctx, turn.calls)
		if err != nil {
			return err
		}
		msgs = append(msgs, results...)
	}
}

type turnResult struct {
	text     string
	calls    []providers.ToolCall
	usage    providers.Usage
	reported bool     // the provider sent usage
	size     int64    // bytes of text and tool arguments streamed
	refusals []string // code-block mode: files that were not written, and why
}

// bytesPerToken is studio's own rough token count: a token of English or
// code is some four bytes.
const bytesPerToken = 4

func tokensFor(bytes int64) int64 { return (bytes + bytesPerToken - 1) / bytesPerToken }

// streamCap is how much the next turn may stream, and what to tell the
// user when the turn passes it: the turn's cap, what is left of the run's,
// or what is left of the token budget, whichever is least.
func (r *run) streamCap(req providers.Request) (int64, string) {
	o := r.s.opts
	limit := o.MaxTurnBytes
	why := fmt.Sprintf("the model's answer passed %s in one turn", projects.HumanBytes(o.MaxTurnBytes))
	if left := o.MaxRunBytes - r.streamed; left < limit {
		limit, why = left, fmt.Sprintf("the model's answers passed %s in this run", projects.HumanBytes(o.MaxRunBytes))
	}
	// account usually words this one itself, with the count, as it sees
	// the turn pass the budget.
	if left := (o.MaxTokens - r.usage.InputTokens - r.usage.OutputTokens - tokensFor(requestBytes(req))) * bytesPerToken; left < limit {
		limit, why = left, fmt.Sprintf("the run reached its limit of %d tokens", o.MaxTokens)
	}
	return max(limit, 1), why
}

// requestBytes is the size of what a turn sends: the prompt, the history
// and the tools.
func requestBytes(req providers.Request) int64 {
	n := len(req.System)
	for _, m := range req.Messages {
		n += len(m.Text)
		for _, c := range m.ToolCalls {
			n += len(c.Name) + len(c.Args)
		}
	}
	for _, t := range req.Tools {
		n += len(t.Name) + len(t.Description) + len(t.Schema)
	}
	return int64(n)
}

// turn streams one model answer, sending its text as token events.
func (r *run) turn(ctx context.Context, req providers.Request, codeBlocks bool) (turnResult, error) {
	var out turnResult
	stream, err := r.client.Stream(ctx, req)
	if errors.Is(err, providers.ErrTooLong) {
		out.size = req.MaxBytes + 1 // it passed the cap before its first event
	}
	if err != nil {
		return out, err
	}
	defer stream.Close()
	var text strings.Builder
	var blocks *blockParser
	if codeBlocks {
		blocks = &blockParser{}
	}
	save := func(done []block) {
		for _, b := range done {
			if refusal := r.saveBlock(ctx, b); refusal != "" {
				out.refusals = append(out.refusals, refusal)
			}
		}
	}
	for stream.Next() {
		ev := stream.Event()
		switch ev.Kind {
		case providers.EventText:
			text.WriteString(ev.Text)
			r.answer.WriteString(ev.Text)
			r.log.emit(KindToken, TokenEvent{Text: ev.Text})
			if blocks != nil {
				save(blocks.feed(ev.Text))
			}
		case providers.EventToolCall:
			out.calls = append(out.calls, ev.ToolCall)
		case providers.EventUsage:
			out.usage, out.reported = ev.Usage, true
		}
	}
	out.size = stream.Size()
	if err := stream.Err(); err != nil {
		return out, err
	}
	if blocks != nil {
		save(blocks.end()) // the answer may end with the closing fence, without a line break
	}
	if r.answer.Len() > 0 && !strings.HasSuffix(r.answer.String(), "\n") {
		r.answer.WriteString("\n\n")
	}
	out.text = text.String()
	return out, nil
}

// account adds a turn's tokens and checks the token and cost budgets. The
// token budget does not take the provider's word alone: output counts at
// least studio's estimate of what streamed, and input, when the provider
// reported no usage, studio's estimate of what was sent. The cost is the
// provider's bill, so it comes from the provider's figures.
func (r *run) account(ctx context.Context, req providers.Request, t turnResult) error {
	u := t.usage
	counted := providers.Usage{InputTokens: u.InputTokens, OutputTokens: max(u.OutputTokens, tokensFor(t.size))}
	if !t.reported {
		counted.InputTokens = tokensFor(requestBytes(req))
	}
	r.reported.InputTokens += u.InputTokens
	r.reported.OutputTokens += u.OutputTokens
	r.usage.InputTokens += counted.InputTokens
	r.usage.OutputTokens += counted.OutputTokens
	r.cost += r.s.opts.Prices.Cost(r.row.Model, u)
	if err := r.s.q.UpdateRunUsage(ctx, db.UpdateRunUsageParams{ID: r.row.ID, Steps: int32(r.steps),
		InputTokens: r.usage.InputTokens, OutputTokens: r.usage.OutputTokens, CostUsd: r.cost}); err != nil && ctx.Err() == nil {
		r.s.log.Warn("store run usage", "run", r.row.ID, "err", err)
	}
	if total := r.usage.InputTokens + r.usage.OutputTokens; total > r.s.opts.MaxTokens {
		if total > r.reported.InputTokens+r.reported.OutputTokens {
			return &budgetError{fmt.Sprintf("the run used about %d tokens by studio's count, over its limit of %d", total, r.s.opts.MaxTokens)}
		}
		return &budgetError{fmt.Sprintf("the run used %d tokens, over its limit of %d", total, r.s.opts.MaxTokens)}
	}
	if r.s.opts.MaxCost > 0 && r.cost > r.s.opts.MaxCost {
		return &budgetError{fmt.Sprintf("the run cost $%.2f, over its limit of $%.2f", r.cost, r.s.opts.MaxCost)}
	}
	return nil
}

// callTools carries out one turn's calls: read-only ones at once when the
// turn only reads, otherwise one after another. Results come back in the
// order of the calls.
func (r *run) callTools(ctx context.Context, calls []providers.ToolCall) ([]providers.Message, error) {
	for _, c := range calls {
		key := c.Name + "\x00" + compactJSON(c.Args)
		if r.repeats == nil {
			r.repeats = map[string]int{}
		}
		r.repeats[key]++
		if r.repeats[key] >= 3 {
			return nil, &budgetError{fmt.Sprintf("the agent made the same call (%s %s) 3 times", c.Name, clip(compactJSON(c.Args), 200))}
		}
	}
	results := make([]providers.Message, len(calls))
	readOnly := true
	for _, c := range calls {
		readOnly = readOnly && readOnlyTools[c.Name]
	}
	for _, c := range calls {
		r.log.emit(KindToolCall, ToolCallEvent{ID: c.ID, Name: c.Name, Args: rawArgs(c.Args)})
	}
	do := func(i int) {
		defer func() {
			if p := recover(); p != nil {
				r.s.log.Error("agent tool panicked", "run", r.row.ID, "tool", calls[i].Name, "panic", p, "stack", string(debug.Stack()))
				results[i] = providers.Message{Role: providers.RoleTool, ToolCallID: calls[i].ID, Text: "the tool failed with an internal error", IsError: true}
			}
		}()
		results[i] = r.callTool(ctx, calls[i])
	}
	if readOnly && len(calls) > 1 {
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() { do(i) })
		}
		wg.Wait()
	} else {
		for i := range calls {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			do(i)
		}
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	return results, nil
}

// callTool runs one call, logs it and turns its outcome into the message
// the model gets back.
func (r *run) callTool(ctx context.Context, c providers.ToolCall) providers.Message {
	start := time.Now()
	var res toolResult
	if c.ArgsErr != nil {
		res = failed("the arguments are not valid JSON (%v); send a JSON object matching the tool's schema", c.ArgsErr)
	} else {
		res = r.runTool(ctx, c.Name, c.Args)
	}
	r.log.emit(KindToolResult, ToolResultEvent{ID: c.ID, Name: c.Name, OK: res.ok, Summary: res.summary(), Args: rawArgs(c.Args)})
	for _, p := range res.changed {
		r.log.emit(KindFileChanged, FileChangedEvent{Path: p})
	}
	if len(res.changed) > 0 {
		r.repeats = nil // after a change, reading again is no loop (only writes change files, and they run alone)
	}
	args := []byte(compactJSON(c.Args))
	if !json.Valid(args) {
		args, _ = json.Marshal(map[string]string{"raw": clip(c.Args, 4096)})
	}
	r.logCommand(ctx, c.Name, args, res, start)
	return providers.Message{Role: providers.RoleTool, ToolCallID: c.ID, Text: res.output, IsError: !res.ok}
}

// logCommand stores a tool call in agent_command_logs.
func (r *run) logCommand(ctx context.Context, tool string, args []byte, res toolResult, start time.Time) {
	exit := pgtype.Int4{}
	if res.exitCode != nil {
		exit = pgtype.Int4{Int32: int32(*res.exitCode), Valid: true}
	}
	if err := r.s.q.InsertCommandLog(context.WithoutCancel(ctx), db.InsertCommandLogParams{
		RunID: r.row.ID, Tool: tool, Args: cleanJSON(args), Ok: res.ok, Result: cleanText(clip(res.summary(), 500)),
		OutputBytes: int32(len(res.output)), ExitCode: exit, DurationMs: int32(time.Since(start).Milliseconds()),
	}); err != nil {
		r.s.log.Warn("log a tool call", "run", r.row.ID, "err", err)
	}
}

// conversation is the history the model sees: earlier messages of the
// chat, then what the project looks like now, then the user's message.
func (r *run) conversation(ctx context.Context) []providers.Message {
	var msgs []providers.Message
	for _, m := range r.history {
		if m.Content == "" {
			continue
		}
		role := providers.RoleUser
		if m.Role == "assistant" {
			role = providers.RoleAssistant
		}
		msgs = append(msgs, providers.Message{Role: role, Text: earlierMessage(m.Content)})
	}
	msgs = append(msgs, providers.Message{Role: providers.RoleUser, Text: r.projectContext(ctx) + "\n\n" + r.message})
	return mergeRoles(msgs)
}

// historyMessageCap bounds what one earlier message adds to a run's
// request: an answer cut off at the byte cap can be megabytes long, and
// the files themselves reach the model through its tools.
const historyMessageCap = 32 << 10

// earlierMessage is an earlier chat message as the model sees it again.
func earlierMessage(text string) string {
	if len(text) <= historyMessageCap {
		return text
	}
	return strings.ToValidUTF8(text[:historyMessageCap], "") + "\n\n[the rest of this earlier message is left out]"
}

// mergeRoles joins neighbouring messages of the same role: providers want
// user and assistant turns to alternate.
func mergeRoles(msgs []providers.Message) []providers.Message {
	var out []providers.Message
	for _, m := range msgs {
		if n := len(out); n > 0 && out[n-1].Role == m.Role {
			out[n-1].Text += "\n\n" + m.Text
			continue
		}
		out = append(out, m)
	}
	for len(out) > 0 && out[0].Role != providers.RoleUser {
		out = out[1:]
	}
	return out
}

func compactJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// rawArgs is a call's arguments for an event: the object, or the text
// when it is not JSON.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utfStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utfStart(b byte) bool { return b&0xC0 != 0x80 }

// checkpointAfter keeps the files as the run left them, so what it changed
// can be shown even after later edits.
func (r *run) checkpointAfter() {
	if r.before == nil {
		return
	}
	ctx := context.WithoutCancel(r.ctx)
	cp, err := r.files.Checkpoint(ctx, "after agent run "+r.row.ID.String()[:8])
	if err == nil {
		err = r.s.q.SetRunAfterCheckpoint(ctx, db.SetRunAfterCheckpointParams{ID: r.row.ID, AfterCheckpointID: &cp.ID})
	}
	if err != nil {
		r.s.log.Warn("checkpoint the files after a run", "run", r.row.ID, "err", err)
	}
}
