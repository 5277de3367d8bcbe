package providers

import (
	"cmp"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// callParts collects one tool call that arrives in pieces.
type callParts struct {
	id, name  string
	args      strings.Builder
	signature []byte
}

// call finishes the call. Arguments that are not a JSON object are kept as
// written, with ArgsErr explaining the problem so the model can fix it.
func (c *callParts) call() ToolCall {
	args := strings.TrimSpace(c.args.String())
	if args == "" {
		args = "{}" // a call without arguments; some servers send nothing at all
	}
	tc := ToolCall{ID: cmp.Or(c.id, syntheticID()), Name: c.name, Args: args, Signature: c.signature}
	if c.name == "" {
		tc.ArgsErr = errors.New("the tool call has no tool name; call one of the tools you were given")
	} else {
		tc.ArgsErr = checkArgs(c.name, args)
	}
	return tc
}

// checkArgs explains what is wrong with arguments that are not a JSON object.
func checkArgs(tool, args string) error {
	var obj map[string]json.RawMessage
	err := json.Unmarshal([]byte(args), &obj)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Errorf("the arguments for %s must be a JSON object, not %s; call %s again with an object", tool, typeErr.Value, tool)
	case err != nil:
		return fmt.Errorf("the arguments for %s are not valid JSON (%v); call %s again with complete JSON", tool, err, tool)
	case obj == nil:
		return fmt.Errorf("the arguments for %s must be a JSON object, not null; call %s again with an object", tool, tool)
	}
	return nil
}

// indexedCalls assembles calls streamed as deltas keyed by an index, as the
// OpenAI chat API and Anthropic content blocks do: the first delta of a call
// carries its id and name, later ones pieces of its arguments, and deltas of
// parallel calls may interleave.
type indexedCalls struct {
	calls []*callParts
	at    map[int64]int // stream index → position in calls
	bytes int64         // argument bytes added, for the answer's size cap
}

func (ic *indexedCalls) add(index int64, id, name, argsPiece string) {
	if ic.at == nil {
		ic.at = map[int64]int{}
	}
	pos, ok := ic.at[index]
	// A new id at a known index is a new call from a server that does not
	// number parallel calls.
	if !ok || (id != "" && ic.calls[pos].id != "" && id != ic.calls[pos].id) {
		ic.calls = append(ic.calls, &callParts{})
		pos = len(ic.calls) - 1
		ic.at[index] = pos
	}
	c := ic.calls[pos]
	if id != "" {
		c.id = id
	}
	if name != "" {
		c.name = name
	}
	c.args.WriteString(argsPiece)
	ic.bytes += int64(len(argsPiece))
}

// take removes the call at index and finishes it; ok is false if there is none.
func (ic *indexedCalls) take(index int64) (ToolCall, bool) {
	pos, ok := ic.at[index]
	if !ok || ic.calls[pos] == nil {
		return ToolCall{}, false
	}
	tc := ic.calls[pos].call()
	ic.calls[pos] = nil
	delete(ic.at, index)
	return tc, true
}

// flush finishes every call not yet taken, in the order they started.
func (ic *indexedCalls) flush() []Event {
	var events []Event
	for _, c := range ic.calls {
		if c != nil {
			events = append(events, Event{Kind: EventToolCall, ToolCall: c.call()})
		}
	}
	ic.calls, ic.at = nil, nil
	return events
}

// toolInput is the arguments of a call in the history as a JSON object,
// for APIs that insist on one even when the model once got it wrong.
func toolInput(c ToolCall) json.RawMessage {
	if checkArgs(c.Name, c.Args) != nil {
		return json.RawMessage("{}")
	}
	return json.RawMessage(c.Args)
}

// syntheticPrefix marks ids Studio gives calls that arrived without one.
const syntheticPrefix = "studio_call_"

func syntheticID() string { return syntheticPrefix + strings.ToLower(rand.Text()[:16]) }

func isSyntheticID(id string) bool { return strings.HasPrefix(id, syntheticPrefix) }
