// Package demo drives a scripted agent session through a running caddy-lore
// gateway in front of the fake upstream (cmd/fakeupstream), so a newcomer can
// watch the gateway work without an API key: the session reads files in a
// tool loop (the fake's "[[loop:N]]" script) whose outputs add up to more
// than the model's 200K-token window, the gateway distils the old rounds
// through the Message Batches API and keeps each request inside the window,
// and the admin status page (/lore/) shows the layers, distillations,
// batches and savings. cmd/demo is its command line; a test runs it against
// examples/demo.Caddyfile.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// APIKey is the key that `fakeupstream -demo` accepts and the demo sends.
const APIKey = "sk-ant-demo-key"

// Options says where the gateway is and how long a session to run.
type Options struct {
	Gateway string // base URL of the lore site, e.g. http://127.0.0.1:8080
	Admin   string // Caddy's admin endpoint, e.g. http://127.0.0.1:2019
	APIKey  string // a key the fake upstream accepts; default APIKey
	Model   string // default claude-sonnet-4-5 (a 200K window)
	// Rounds of the tool loop, default 60; each reads one file of FileBytes
	// (default 16 KB), so the defaults send about 320K tokens of tool output.
	Rounds    int
	FileBytes int
	// Pause between turns, default 100ms: an agent's turn takes seconds, and
	// the pause lets the demo's 1 s batch flush keep up as it would then.
	Pause time.Duration
	// Settle bounds the wait for the batch queue to drain at the end
	// (default 2 minutes).
	Settle time.Duration
	Log    io.Writer // progress lines; nil for none
	Client *http.Client
}

// Summary is what the demo saw, read back from the admin API at the end.
type Summary struct {
	SessionID       string
	Answer          string // the text of the last answer ("LOOP DONE: read N files" from the fake)
	Turns           int
	Layers          map[int]int // turns by the layer the gateway chose (admin API)
	MaxLayer        int
	ClientTokens    int // estimated tokens of the whole history the client sent last
	UpstreamInput   int // input tokens the upstream counted for the last turn
	Distilled       int // stored messages covered by distillations
	Distillations   int // live distillation rows
	BatchesResolved int64
	Cost, Saved     float64 // dollars, from the admin API
	// WorkerCalls counts the gateway's own LLM calls by "kind/route"
	// (distill/batch, distill/urgent, curate/batch, ...), from /metrics.
	WorkerCalls map[string]int
}

// systemPrompt is long enough that the gateway treats the session as a
// conversation (not a title call), as Claude Code's is.
var systemPrompt = "You are a coding agent running in a terminal. " + strings.Repeat(
	"Use the Bash tool to read files when the user asks; answer briefly. ", 12)

var catRE = regexp.MustCompile(`cat f_(\d+)\.txt`)

// Run drives one session to the end of its loop and waits for the gateway's
// background work to settle, then reads the admin API.
func Run(ctx context.Context, o Options) (*Summary, error) {
	o.defaults()
	say := func(format string, args ...any) {
		if o.Log != nil {
			_, _ = fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	prompt := fmt.Sprintf("Read the files f_001.txt to f_%03d.txt in order with cat, one per step. [[loop:%d]]", o.Rounds, o.Rounds)
	msgs := []any{map[string]any{"role": "user", "content": prompt}}
	sum := &Summary{Layers: map[int]int{}}
	say("demo: a %d-round tool loop, %d KB per file, through %s", o.Rounds, o.FileBytes>>10, o.Gateway)
	for turn := 1; ; turn++ {
		resp, layer, err := o.turn(ctx, msgs, turn)
		if err != nil {
			return nil, fmt.Errorf("turn %d: %w", turn, err)
		}
		sum.Turns = turn
		sum.Layers[layer]++
		sum.MaxLayer = max(sum.MaxLayer, layer)
		sum.UpstreamInput = resp.Usage.InputTokens + resp.Usage.CacheReadInputTokens + resp.Usage.CacheCreationInputTokens
		sum.ClientTokens = estimate(msgs)
		if turn%10 == 0 || resp.StopReason != "tool_use" {
			say("turn %3d: client history ~%6d tokens, upstream read %6d (layer %d)", turn, sum.ClientTokens, sum.UpstreamInput, layer)
		}
		msgs = append(msgs, map[string]any{"role": "assistant", "content": resp.Content})
		if resp.StopReason != "tool_use" {
			sum.Answer = text(resp.Content)
			say("answer: %s", sum.Answer)
			break
		}
		results, err := o.toolResults(resp.Content)
		if err != nil {
			return nil, fmt.Errorf("turn %d: %w", turn, err)
		}
		msgs = append(msgs, map[string]any{"role": "user", "content": results})
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(o.Pause):
		}
		if turn > o.Rounds+5 {
			return nil, errors.New("the loop did not end: is the upstream the fake (cmd/fakeupstream)?")
		}
	}
	say("demo: loop done; waiting for the batch queue to drain")
	if err := o.settle(ctx, sum); err != nil {
		return nil, err
	}
	sum.WorkerCalls = o.workerCalls(ctx)
	say("demo: %d turns, by layer %v", sum.Turns, sum.Layers)
	say("demo: %d distillations cover %d of the session's messages; %d batch rows resolved", sum.Distillations, sum.Distilled, sum.BatchesResolved)
	say("demo: the gateway's own calls by kind/route: %v", sum.WorkerCalls)
	say("demo: cost $%.4f, saved $%.4f against the same session without the gateway (list prices)", sum.Cost, sum.Saved)
	return sum, nil
}

func (o *Options) defaults() {
	if o.APIKey == "" {
		o.APIKey = APIKey
	}
	if o.Model == "" {
		o.Model = "claude-sonnet-4-5"
	}
	if o.Rounds <= 0 {
		o.Rounds = 60
	}
	if o.FileBytes <= 0 {
		o.FileBytes = 16 << 10
	}
	if o.Pause == 0 {
		o.Pause = 100 * time.Millisecond
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Minute
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: time.Minute}
	}
	o.Gateway = strings.TrimRight(o.Gateway, "/")
	o.Admin = strings.TrimRight(o.Admin, "/")
}

type block struct {
	Type  string          `json:"type"`
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	Text  string          `json:"text,omitempty"`
}

type message struct {
	Content    []json.RawMessage `json:"content"`
	StopReason string            `json:"stop_reason"`
	Usage      struct {
		InputTokens              int `json:"input_tokens"`
		CacheReadInputTokens     int `json:"cache_read_input_tokens"`
		CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	} `json:"usage"`
}

// turn sends the conversation and returns the answer and the gateway's
// layer for it (from the session's admin view).
func (o *Options) turn(ctx context.Context, msgs []any, n int) (*message, int, error) {
	body, err := json.Marshal(map[string]any{
		"model": o.Model, "max_tokens": 1024, "system": systemPrompt, "messages": msgs,
		"tools": []any{
			tool("Bash", "Run a shell command."), tool("Read", "Read a file."), tool("Edit", "Edit a file."),
		},
	})
	if err != nil {
		return nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.Gateway+"/v1/messages", bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("content-type", "application/json")
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("x-api-key", o.APIKey)
	req.Header.Set("x-lore-session-id", "demo-session")
	resp, err := o.Client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %d: %.300s", resp.StatusCode, raw)
	}
	var m message
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, 0, err
	}
	layer, err := o.lastLayer(ctx, n)
	return &m, layer, err
}

func tool(name, desc string) map[string]any {
	return map[string]any{"name": name, "description": desc, "input_schema": map[string]any{
		"type": "object", "properties": map[string]any{"command": map[string]any{"type": "string"}},
	}}
}

// toolResults answers each tool_use with the file it asks for: a "LOOP i of
// N" line (the fake's progress marker) and FileBytes of text.
func (o *Options) toolResults(content []json.RawMessage) ([]any, error) {
	var out []any
	for _, raw := range content {
		var b block
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		if b.Type != "tool_use" {
			continue
		}
		m := catRE.FindSubmatch(b.Input)
		if m == nil {
			return nil, fmt.Errorf("unexpected tool call %s", b.Input)
		}
		i, _ := strconv.Atoi(string(m[1]))
		out = append(out, map[string]any{"type": "tool_result", "tool_use_id": b.ID, "content": o.file(i)})
	}
	if len(out) == 0 {
		return nil, errors.New("stop_reason tool_use without a tool_use block")
	}
	return out, nil
}

func (o *Options) file(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "LOOP %d of %d\n", i, o.Rounds)
	for line := 0; b.Len() < o.FileBytes; line++ {
		fmt.Fprintf(&b, "f_%03d.txt line %4d: the quick brown fox jumps over the lazy dog, again and again.\n", i, line)
	}
	return b.String()
}

// text joins an answer's text blocks.
func text(content []json.RawMessage) string {
	var parts []string
	for _, raw := range content {
		var b block
		if json.Unmarshal(raw, &b) == nil && b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// estimate is the gateway's rough token count of a history: bytes / 3.
func estimate(msgs []any) int {
	raw, _ := json.Marshal(msgs)
	return len(raw) / 3
}
