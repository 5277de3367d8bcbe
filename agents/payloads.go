package agents

import (
	"encoding/json"

	"studio/db"
)

// The data of each event kind of a run's stream (API.md, "GET
// /api/runs/{id}/stream"). The run emits these structs and the chat pages
// decode them, so the schema has one home.

// TokenEvent is a piece of the model's answer (KindToken).
type TokenEvent struct {
	Text string `json:"text"`
}

// ToolCallEvent is a tool call the model asked for (KindToolCall). ID is the
// provider's call id; code-block runs have none.
type ToolCallEvent struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// ToolResultEvent is how a tool call ended (KindToolResult).
type ToolResultEvent struct {
	ID      string          `json:"id,omitempty"`
	Name    string          `json:"name"`
	OK      bool            `json:"ok"`
	Summary string          `json:"summary"`
	Args    json.RawMessage `json:"args"`
}

// FileChangedEvent names a project file the run wrote or deleted
// (KindFileChanged).
type FileChangedEvent struct {
	Path string `json:"path"`
}

// StatusEvent is the run's status as it changes (KindStatus).
type StatusEvent struct {
	Status db.RunStatus `json:"status"`
}

// DoneEvent ends the stream (KindDone): how the run ended and what it used.
type DoneEvent struct {
	Status db.RunStatus `json:"status"`
	Usage  Usage        `json:"usage"`
	Error  string       `json:"error,omitempty"`
}

// Usage is what a run consumed.
type Usage struct {
	Steps        int32   `json:"steps"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
}

func doneEvent(row db.AgentRun) DoneEvent {
	return DoneEvent{Status: row.Status, Error: row.Error, Usage: Usage{
		Steps: row.Steps, InputTokens: row.InputTokens, OutputTokens: row.OutputTokens, CostUSD: row.CostUsd,
	}}
}

// rawArgs keeps a call's arguments as JSON when they are, and as a JSON
// string of what the model sent when they are not.
func rawArgs(s string) json.RawMessage {
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	quoted, _ := json.Marshal(s)
	return quoted
}
