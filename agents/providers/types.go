package providers

import "encoding/json"

// Request is one turn of a conversation sent to a model.
type Request struct {
	Model       string // the provider's own model name, without the "provider/" prefix
	System      string
	Messages    []Message
	Tools       []Tool
	MaxTokens   int      // output budget; 0 lets the provider decide (Anthropic gets defaultMaxTokens)
	Temperature *float64 // nil keeps the model's default
	// MaxBytes caps the answer: once its text and tool arguments would pass
	// this many bytes, the stream stops reading and fails with ErrTooLong.
	// The response on the wire is capped too (wireFactor times as much), so
	// a server that sends bytes no event comes from cannot grow memory
	// either. 0 means no cap.
	MaxBytes int64
}

// Role says who wrote a message.
type Role string

const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool" // the result of one tool call, sent back to the model
)

// Message is one entry of the conversation history.
type Message struct {
	Role       Role
	Text       string     // user and assistant text; for RoleTool, the tool's output
	ToolCalls  []ToolCall // RoleAssistant: the calls the model made in this turn
	ToolCallID string     // RoleTool: the call this result answers
	IsError    bool       // RoleTool: the call failed and Text says why
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	Schema      json.RawMessage // JSON Schema of the arguments object; empty means no arguments
}

// ToolCall is a complete call the model made, assembled from however many
// pieces the provider streamed it in.
type ToolCall struct {
	ID   string
	Name string
	// Args is the arguments object as JSON text, exactly as the model wrote
	// it. When it is not a JSON object, ArgsErr says what is wrong: the agent
	// loop sends that back to the model as the call's result instead of
	// running the tool.
	Args    string
	ArgsErr error
	// Signature is opaque provider state that must go back with the call in
	// the history (Gemini's thought signature); nil for most providers.
	Signature []byte
}

// Usage counts the tokens a turn consumed. Input includes cached prompt
// tokens.
type Usage struct {
	InputTokens  int64
	OutputTokens int64
}

// FinishReason says why the model stopped.
type FinishReason string

const (
	FinishStop      FinishReason = "stop"           // the model finished its answer
	FinishToolCalls FinishReason = "tool_calls"     // the model waits for tool results
	FinishLength    FinishReason = "length"         // MaxTokens or the context window ran out
	FinishFiltered  FinishReason = "content_filter" // the provider refused or cut the answer
	FinishOther     FinishReason = "other"
)

// EventKind tells which field of an Event is set.
type EventKind int

const (
	EventText     EventKind = iota + 1 // Text holds the next piece of the answer
	EventToolCall                      // ToolCall holds one complete call
	EventUsage                         // Usage holds the turn's token counts; absent if the server reports none
	EventFinish                        // Finish holds the reason; always the last event
)

// Event is one thing a Stream delivers.
type Event struct {
	Kind     EventKind
	Text     string
	ToolCall ToolCall
	Usage    Usage
	Finish   FinishReason
}
