package e2e

// End-to-end tests of the OpenAI chat-completions front door (docs/architecture.md, Routes) with
// the official openai-go client through the built gateway: Claude models go
// to the fake's Anthropic route (translated both ways), other models to the
// fake's OpenAI route (forwarded, data:-only SSE streamed through), errors
// in OpenAI's shape, a long OpenAI-format session kept inside the window,
// and the translation overhead per request against /v1/messages.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// newOpenAIEnv is NewEnv with openai_upstream pointing at the fake too (its
// URL is only known once the fake runs, so Caddy is reloaded with it).
func newOpenAIEnv(t *testing.T, opts EnvOptions) *Env {
	t.Helper()
	e := NewEnv(t, opts)
	e.Opts.LoreExtra = strings.TrimSpace(opts.LoreExtra + "\nopenai_upstream " + e.Fake.URL())
	e.Caddy.Reload(t, e.Caddyfile(e.Opts.LoreExtra))
	return e
}

// oaiClient is an openai-go client on the gateway (base URL ends in /v1/),
// never retrying.
func oaiClient(base, key string, opts ...option.RequestOption) openai.Client {
	all := []option.RequestOption{
		option.WithBaseURL(base + "/v1/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(60 * time.Second),
	}
	return openai.NewClient(append(all, opts...)...)
}

var bashTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name:        "Bash",
	Description: openai.String("Run a shell command in the repository and return its output."),
	Parameters: openai.FunctionParameters{
		"type":       "object",
		"properties": map[string]any{"command": map[string]any{"type": "string"}},
		"required":   []string{"command"},
	},
})

// oaiResult is one chat completion as the client saw it (JSON or
// accumulated from the stream).
type oaiResult struct {
	ID       string
	Finish   string
	Message  openai.ChatCompletionMessage
	Usage    openai.CompletionUsage
	ChunkIDs []string // stream only
	Elapsed  time.Duration
}

// oaiTurn sends params, streaming or not, and fails the test on an error.
func oaiTurn(t *testing.T, c openai.Client, params openai.ChatCompletionNewParams, stream bool) oaiResult {
	t.Helper()
	r, err := oaiTurnErr(c, params, stream)
	if err != nil {
		t.Fatalf("chat completion (stream=%v): %v", stream, err)
	}
	return r
}

func oaiTurnErr(c openai.Client, params openai.ChatCompletionNewParams, stream bool) (oaiResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	if !stream {
		cc, err := c.Chat.Completions.New(ctx, params)
		if err != nil {
			return oaiResult{}, err
		}
		if len(cc.Choices) != 1 {
			return oaiResult{}, fmt.Errorf("%d choices", len(cc.Choices))
		}
		return oaiResult{ID: cc.ID, Finish: cc.Choices[0].FinishReason, Message: cc.Choices[0].Message, Usage: cc.Usage, Elapsed: time.Since(start)}, nil
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	s := c.Chat.Completions.NewStreaming(ctx, params)
	defer func() { _ = s.Close() }()
	var acc openai.ChatCompletionAccumulator
	var ids []string
	for s.Next() {
		ch := s.Current()
		ids = append(ids, ch.ID)
		if !acc.AddChunk(ch) {
			return oaiResult{}, fmt.Errorf("chunk %d could not be accumulated", len(ids))
		}
	}
	if err := s.Err(); err != nil {
		return oaiResult{}, err
	}
	if len(acc.Choices) != 1 {
		return oaiResult{}, fmt.Errorf("stream accumulated %d choices", len(acc.Choices))
	}
	return oaiResult{ID: acc.ID, Finish: acc.Choices[0].FinishReason, Message: acc.Choices[0].Message, Usage: acc.Usage,
		ChunkIDs: ids, Elapsed: time.Since(start)}, nil
}

// checkToolCallResult: the first turn of the tool round trip.
func checkToolCallResult(t *testing.T, r oaiResult, stream bool) {
	t.Helper()
	if !strings.HasPrefix(r.ID, "chatcmpl-") {
		t.Errorf("completion id %q does not start with chatcmpl-", r.ID)
	}
	for _, id := range r.ChunkIDs {
		if id != r.ID {
			t.Errorf("stream chunk id %q differs from %q", id, r.ID)
			break
		}
	}
	if r.Finish != "tool_calls" {
		t.Errorf("finish_reason %q, want tool_calls", r.Finish)
	}
	if len(r.Message.ToolCalls) != 1 {
		t.Fatalf("%d tool calls, want 1: %+v", len(r.Message.ToolCalls), r.Message)
	}
	tc := r.Message.ToolCalls[0]
	if tc.ID == "" || tc.Function.Name != "Bash" || tc.Function.Arguments != `{"command":"echo hi"}` {
		t.Errorf("tool call id %q name %q arguments %q; want an id, Bash, {\"command\":\"echo hi\"}", tc.ID, tc.Function.Name, tc.Function.Arguments)
	}
	checkUsage(t, r, stream)
}

func checkUsage(t *testing.T, r oaiResult, stream bool) {
	t.Helper()
	u := r.Usage
	if u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage (stream=%v) prompt %d completion %d total %d: want positive figures and total = prompt + completion",
			stream, u.PromptTokens, u.CompletionTokens, u.TotalTokens)
	}
}

// lastRecorded returns the last request the fake received on path and how
// many it received there since before.
func lastRecorded(t *testing.T, e *Env, path string, before int) fakeupstream.Request {
	t.Helper()
	recs := e.Requests(path)
	if len(recs) != before+1 {
		t.Fatalf("fake received %d requests on %s, want 1", len(recs)-before, path)
	}
	return recs[len(recs)-1]
}

// A Claude model through /v1/chat/completions: the fake's Anthropic route
// gets a Messages request with the caller's sk-ant-api key as x-api-key
// (sent by openai-go as a Bearer), tools translated, and the tool result of
// the round trip as a tool_result; the client gets OpenAI's shapes back.
func TestOpenAIClaudeRoute(t *testing.T) {
	e := newOpenAIEnv(t, EnvOptions{})
	key := e.Creds.Alice
	c := oaiClient(e.URL, key)
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			marker := "oai-claude-" + randHex(6)
			msgs := []openai.ChatCompletionMessageParamUnion{
				openai.SystemMessage(longSystem),
				openai.UserMessage(fmt.Sprintf("List the repository (%s). [[tool:Bash]]", marker)),
			}
			params := openai.ChatCompletionNewParams{Model: testModel, Messages: msgs, Tools: []openai.ChatCompletionToolUnionParam{bashTool},
				MaxCompletionTokens: openai.Int(1024)}

			before := len(e.Requests("/v1/messages"))
			r1 := oaiTurn(t, c, params, stream)
			checkToolCallResult(t, r1, stream)
			rec := lastRecorded(t, e, "/v1/messages", before)
			checkAPIKeyOnly(t, rec.Header, key)
			body := bodyJSON(t, rec.Body)
			if gotStream, _ := body["stream"].(bool); body["model"] != testModel || body["max_tokens"] != float64(1024) || gotStream != stream {
				t.Errorf("upstream model %v max_tokens %v stream %v", body["model"], body["max_tokens"], body["stream"])
			}
			tools, _ := body["tools"].([]any)
			if len(tools) != 1 || tools[0].(map[string]any)["name"] != "Bash" || tools[0].(map[string]any)["input_schema"] == nil {
				t.Errorf("upstream tools not translated to Anthropic's shape: %v", body["tools"])
			}
			if !strings.Contains(string(rec.Body), "careful coding agent") || !strings.Contains(string(rec.Body), marker) {
				t.Errorf("upstream body lacks the system prompt or the user text")
			}

			// Round trip: the assistant's tool call and its result.
			tc := r1.Message.ToolCalls[0]
			output := "README.md\ngo.mod\nmain.go\n" + marker + "-output"
			params.Messages = append(params.Messages, r1.Message.ToParam(), openai.ToolMessage(output, tc.ID))
			before = len(e.Requests("/v1/messages"))
			r2 := oaiTurn(t, c, params, stream)
			if r2.Finish != "stop" || r2.Message.Content != "ok (turn 2)" || len(r2.Message.ToolCalls) != 0 {
				t.Errorf("second turn: finish %q content %q, %d tool calls; want stop, \"ok (turn 2)\", none", r2.Finish, r2.Message.Content, len(r2.Message.ToolCalls))
			}
			if !strings.HasPrefix(r2.ID, "chatcmpl-") {
				t.Errorf("completion id %q", r2.ID)
			}
			checkUsage(t, r2, stream)
			rec = lastRecorded(t, e, "/v1/messages", before)
			checkAPIKeyOnly(t, rec.Header, key)
			var up struct {
				Messages []struct {
					Role    string          `json:"role"`
					Content json.RawMessage `json:"content"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(rec.Body, &up); err != nil || len(up.Messages) != 3 {
				t.Fatalf("second upstream request: %d messages (err %v), want user, assistant, user: %s", len(up.Messages), err, truncate(rec.Body, 800))
			}
			type blk struct {
				Type      string          `json:"type"`
				ID        string          `json:"id"`
				Name      string          `json:"name"`
				ToolUseID string          `json:"tool_use_id"`
				Content   json.RawMessage `json:"content"`
			}
			var asst, user []blk
			_ = json.Unmarshal(up.Messages[1].Content, &asst)
			_ = json.Unmarshal(up.Messages[2].Content, &user)
			var sawUse, sawResult bool
			for _, b := range asst {
				sawUse = sawUse || (b.Type == "tool_use" && b.ID == tc.ID && b.Name == "Bash")
			}
			for _, b := range user {
				sawResult = sawResult || (b.Type == "tool_result" && b.ToolUseID == tc.ID && bytes.Contains(b.Content, []byte(marker+"-output")))
			}
			if up.Messages[1].Role != "assistant" || !sawUse || up.Messages[2].Role != "user" || !sawResult {
				t.Errorf("upstream lacks the tool_use / tool_result pair (use %v, result %v): %s", sawUse, sawResult, truncate(rec.Body, 1200))
			}
			checkStored(t, e, []string{marker, marker + "-output"})
			checkAnswersStored(t, e, marker, tc.ID)
		})
	}
}

// Another model: forwarded to openai_upstream in OpenAI format with
// Authorization: Bearer, answers (JSON and data:-only SSE) passed through
// unchanged and stored for the session.
func TestOpenAIOtherModel(t *testing.T) {
	e := newOpenAIEnv(t, EnvOptions{})
	key := e.Creds.Bob // an OpenAI-route key of the fake
	c := oaiClient(e.URL, key)
	const model = "gpt-5"
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			marker := "oai-gpt-" + randHex(6)
			params := openai.ChatCompletionNewParams{Model: model, Tools: []openai.ChatCompletionToolUnionParam{bashTool},
				Messages: []openai.ChatCompletionMessageParamUnion{
					openai.SystemMessage(longSystem),
					openai.UserMessage(fmt.Sprintf("Check the build (%s). [[tool:Bash]]", marker)),
				}}
			before := len(e.Requests("/v1/chat/completions"))
			r1 := oaiTurn(t, c, params, stream)
			checkToolCallResult(t, r1, stream)
			if !strings.HasPrefix(r1.ID, "chatcmpl-fake") {
				t.Errorf("completion id %q is not the upstream's own (passed through)", r1.ID)
			}
			rec := lastRecorded(t, e, "/v1/chat/completions", before)
			if got := rec.Header.Values("Authorization"); len(got) != 1 || got[0] != "Bearer "+key || rec.Header.Get("X-Api-Key") != "" {
				t.Errorf("OpenAI upstream did not get exactly Authorization: Bearer <caller's key> (%d values, x-api-key %v)", len(got), rec.Header.Get("X-Api-Key") != "")
			}
			body := bodyJSON(t, rec.Body)
			if body["model"] != model || !strings.Contains(string(rec.Body), marker) {
				t.Errorf("OpenAI upstream got model %v / body without the user text", body["model"])
			}
			if len(e.Requests("/v1/messages")) != 0 {
				t.Errorf("a %s request reached the Anthropic route", model)
			}

			tc := r1.Message.ToolCalls[0]
			params.Messages = append(params.Messages, r1.Message.ToParam(), openai.ToolMessage(marker+"-output: build ok", tc.ID))
			before = len(e.Requests("/v1/chat/completions"))
			r2 := oaiTurn(t, c, params, stream)
			if r2.Finish != "stop" || r2.Message.Content != "ok (turn 2)" {
				t.Errorf("second turn: finish %q content %q", r2.Finish, r2.Message.Content)
			}
			checkUsage(t, r2, stream)
			rec = lastRecorded(t, e, "/v1/chat/completions", before)
			var up struct {
				Messages []struct {
					Role       string `json:"role"`
					ToolCallID string `json:"tool_call_id"`
					Content    any    `json:"content"`
				} `json:"messages"`
			}
			_ = json.Unmarshal(rec.Body, &up)
			n := len(up.Messages)
			if n < 2 || up.Messages[n-1].Role != "tool" || up.Messages[n-1].ToolCallID != tc.ID ||
				!strings.Contains(fmt.Sprint(up.Messages[n-1].Content), marker+"-output") {
				t.Errorf("OpenAI upstream lacks the tool message of the round trip: %s", truncate(rec.Body, 1200))
			}
			checkStored(t, e, []string{marker, marker + "-output"})
			checkAnswersStored(t, e, marker, tc.ID)
		})
	}

	// The stream as bytes: data:-only SSE, the upstream's own chunks, [DONE].
	t.Run("sse-bytes", func(t *testing.T) {
		body := fmt.Sprintf(`{"model":%q,"stream":true,"messages":[{"role":"system","content":%q},{"role":"user","content":"raw stream %s"}]}`,
			model, longSystem, randHex(4))
		r := rawPost(t, e.URL+"/v1/chat/completions", http.Header{"Authorization": {"Bearer " + key}}, []byte(body))
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("status %d content-type %q: %s", r.Status, r.Header.Get("Content-Type"), truncate(r.Body, 300))
		}
		lines, data := sseLines(r.Body)
		for _, l := range lines {
			if !strings.HasPrefix(l, "data: ") {
				t.Errorf("non-data SSE line from an OpenAI upstream: %q", l)
			}
		}
		if len(data) < 3 || data[len(data)-1] != "[DONE]" || !strings.Contains(data[0], `"chatcmpl-fake`) {
			t.Errorf("stream is not the upstream's chunks ending in [DONE]: %q", data)
		}
	})
}

// rawPost POSTs body and returns the answer unparsed (Status, Header, Body).
func rawPost(t testing.TB, url string, hdr http.Header, body []byte) turnResult {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = hdr.Clone()
	req.Header.Set("Content-Type", "application/json")
	if req.Header.Get("X-Api-Key") != "" {
		req.Header.Set("Anthropic-Version", "2023-06-01")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatalf("POST %s: reading body: %v", url, err)
	}
	return turnResult{Status: resp.StatusCode, Header: resp.Header, Body: buf.Bytes()}
}

// checkAnswersStored: the session's message list (the Redis key holding the
// user text marker) also holds both assistant answers — the tool call of
// turn 1 (by its id) and the text of turn 2.
func checkAnswersStored(t *testing.T, e *Env, marker, toolCallID string) {
	t.Helper()
	var list string
	ok := waitFor(5*time.Second, func() bool {
		dump, err := e.Redis.Dump(context.Background())
		if err != nil {
			return false
		}
		for _, k := range KeysContaining(dump, marker) {
			if strings.HasSuffix(k, ":msgs") {
				list = dump[k]
			}
		}
		return strings.Contains(list, toolCallID) && strings.Contains(list, "ok (turn 2)")
	})
	if !ok {
		t.Errorf("the session's stored messages lack the assistant answers (tool call %v, final text %v)",
			strings.Contains(list, toolCallID), strings.Contains(list, "ok (turn 2)"))
	}
}

// sseLines returns the non-empty lines of an SSE body and the data payloads.
func sseLines(body []byte) (lines, data []string) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" {
			continue
		}
		lines = append(lines, l)
		if d, ok := strings.CutPrefix(l, "data: "); ok {
			data = append(data, d)
		}
	}
	return lines, data
}

// openAIErrorBody checks OpenAI's error shape and returns error.type/message.
func openAIErrorBody(t *testing.T, body []byte) (typ, msg string) {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || e.Error.Message == "" || e.Error.Type == "" || e.Type != "" {
		t.Errorf("error body not in OpenAI's shape {\"error\":{\"message\",\"type\",...}}: %s", truncate(body, 400))
		return "", ""
	}
	return e.Error.Type, e.Error.Message
}

// Errors on the OpenAI route come in OpenAI's shape: an Anthropic 401
// translated, an OpenAI upstream's 401 passed through, the gateway's own 400
// for malformed JSON.
func TestOpenAIErrors(t *testing.T) {
	e := newOpenAIEnv(t, EnvOptions{})
	bad := "sk-ant-api03-e2eUnknown" + randHex(20)
	e.Secret(bad)
	msgs := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(longSystem), openai.UserMessage("hello " + randHex(4))}

	for _, tc := range []struct {
		name, model, path string
		stream            bool
	}{
		{"claude-401-json", testModel, "/v1/messages", false},
		{"claude-401-stream", testModel, "/v1/messages", true},
		{"openai-401-json", "gpt-5", "/v1/chat/completions", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.Requests(tc.path))
			_, err := oaiTurnErr(oaiClient(e.URL, bad), openai.ChatCompletionNewParams{Model: tc.model, Messages: msgs}, tc.stream)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
				t.Fatalf("want an openai.Error with status 401, got %v", err)
			}
			if apiErr.Message == "" || apiErr.Type == "" {
				t.Errorf("openai-go could not read the error: type %q message %q", apiErr.Type, apiErr.Message)
			}
			if len(e.Requests(tc.path)) != before+1 {
				t.Errorf("the fake's %s did not see the request", tc.path)
			}
			// The raw body, for the exact shape.
			body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"system","content":%q},{"role":"user","content":"hi %s"}]}`, tc.model, longSystem, randHex(4))
			r := rawPost(t, e.URL+"/v1/chat/completions", http.Header{"Authorization": {"Bearer " + bad}}, []byte(body))
			if r.Status != 401 {
				t.Fatalf("raw status %d", r.Status)
			}
			typ, _ := openAIErrorBody(t, r.Body)
			if tc.model == testModel && typ != "authentication_error" {
				t.Errorf("translated error type %q, want authentication_error", typ)
			}
		})
	}
	t.Run("malformed-json-400", func(t *testing.T) {
		before := len(e.Fake.Requests())
		r := rawPost(t, e.URL+"/v1/chat/completions", http.Header{"Authorization": {"Bearer " + e.Creds.Alice}}, []byte(`{"model":"claude-sonnet-4-5","messages":[`))
		if r.Status != 400 {
			t.Fatalf("status %d, want 400: %s", r.Status, truncate(r.Body, 300))
		}
		openAIErrorBody(t, r.Body)
		if len(e.Fake.Requests()) != before {
			t.Errorf("malformed JSON was forwarded upstream")
		}
	})
	t.Run("no-messages-400", func(t *testing.T) {
		r := rawPost(t, e.URL+"/v1/chat/completions", http.Header{"Authorization": {"Bearer " + e.Creds.Alice}}, []byte(`{"model":"claude-sonnet-4-5"}`))
		if r.Status != 400 {
			t.Fatalf("status %d, want 400: %s", r.Status, truncate(r.Body, 300))
		}
		openAIErrorBody(t, r.Body)
	})
}

// A long OpenAI-format session with a Claude model, kept inside the window
// exactly like the Anthropic one: the same workload through openai-go.
func TestOpenAILongSession(t *testing.T) {
	const turns = 160
	e := newOpenAIEnv(t, EnvOptions{LoreExtra: "batching off", Fake: fakeupstream.Options{ContextLimit: contextLimit}})
	key := e.Creds.Alice
	c := oaiClient(e.URL, key)
	rc := e.Redis.Client()
	gen := newOutputGen(99)
	plan := newChainPlan(8, []int{70, 120}, []int{30, 20})
	rng := rand.New(rand.NewSource(13))
	var tools []openai.ChatCompletionToolUnionParam
	for _, tl := range ccTools() {
		tools = append(tools, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: tl["name"].(string), Description: openai.String(tl["description"].(string)),
			Parameters: openai.FunctionParameters(tl["input_schema"].(map[string]any)),
		}))
	}
	history := []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(ccSystemText())}
	var pending []openai.ChatCompletionMessageToolCallUnion
	stepsLeft, promptN := 0, 0
	var wall []float64
	layers := map[int]int{}
	sid := ""
	for k := 1; k <= turns; k++ {
		if len(pending) == 0 {
			promptN++
			stepsLeft = plan.next(k)
			history = append(history, openai.UserMessage(fmt.Sprintf("%s (request %d) [[tool:%s]]",
				userPrompts[rng.Intn(len(userPrompts))], promptN, chainTools[rng.Intn(len(chainTools))])))
		} else {
			for _, tc := range pending {
				history = append(history, openai.ToolMessage(gen.Output(tc.Function.Name), tc.ID))
			}
			stepsLeft--
			if stepsLeft > 0 {
				m := "[[tool:" + chainTools[rng.Intn(len(chainTools))] + "]]"
				if rng.Intn(7) == 0 {
					m += " [[tool:" + chainTools[rng.Intn(len(chainTools))] + "]]"
				}
				history = append(history, openai.UserMessage(fmt.Sprintf("Step %d: continue. %s", k, m)))
			}
		}
		params := openai.ChatCompletionNewParams{Model: testModel, Messages: history, Tools: tools, MaxCompletionTokens: openai.Int(32000)}
		r, err := oaiTurnErr(c, params, k%3 != 0)
		if err != nil {
			t.Fatalf("turn %d (%d messages): %v", k, len(history), err)
		}
		wall = append(wall, ms(r.Elapsed))
		if r.Finish == "tool_calls" && len(r.Message.ToolCalls) == 0 {
			t.Fatalf("turn %d: finish_reason tool_calls without tool calls", k)
		}
		pending = r.Message.ToolCalls
		history = append(history, r.Message.ToParam())
		if sid == "" {
			waitFor(5*time.Second, func() bool { return len(findSessions(t, rc)) == 1 })
			ids := findSessions(t, rc)
			if len(ids) != 1 {
				t.Fatalf("want one session in Redis, found %v", ids)
			}
			sid = ids[0]
		}
		layers[waitTurns(t, rc, sid, k).Layer]++
	}
	lastBody, _ := json.Marshal(openai.ChatCompletionNewParams{Model: testModel, Messages: history, Tools: tools})
	clientTokens := fakeupstream.EstimateTokens(lastBody)

	var upTokens []float64
	distills := 0
	for _, r := range e.Requests("/v1/messages") {
		_, kind := classifyUpstream(r.Body, testModel)
		switch kind {
		case "turn":
			n := fakeupstream.EstimateTokens(r.Body)
			upTokens = append(upTokens, float64(n))
			if n > contextLimit {
				t.Errorf("conversation request %d: %d tokens > the %d window", len(upTokens), n, contextLimit)
			}
		case "distill", "meta":
			distills++
		}
	}
	if len(upTokens) != turns {
		t.Errorf("fake received %d conversation requests for %d turns", len(upTokens), turns)
	}
	if clientTokens < 2*contextLimit {
		t.Errorf("client history only reached %d tokens; the scenario should go far past the window", clientTokens)
	}
	if distills == 0 || layers[0] == turns {
		t.Errorf("the session never left layer 0 or never distilled (layers %v, %d worker calls)", layers, distills)
	}
	var ls []string
	for l := 0; l <= 4; l++ {
		if layers[l] > 0 {
			ls = append(ls, fmt.Sprintf("%d (%d)", l, layers[l]))
		}
	}
	last := upTokens[len(upTokens)-1]
	report(t, fmt.Sprintf("### Long OpenAI-format session (%d turns via openai-go, %s, batching off)\n\n"+
		"| measure | value |\n|---|---|\n"+
		"| upstream input tokens per turn: max / p50 / p90 | %.0f / %.0f / %.0f |\n"+
		"| client history at the end | %d tokens (%d messages) |\n"+
		"| compression ratio (client history / upstream, last turn) | %.2f× |\n"+
		"| distillation + meta calls | %d |\n"+
		"| layers seen (turns) | %s |\n"+
		"| wall time per turn (client, incl. openai-go) p50 / p90 | %.1f / %.1f ms |",
		turns, testModel, maxOf(upTokens), percentile(upTokens, 0.5), percentile(upTokens, 0.9),
		clientTokens, len(history), float64(clientTokens)/last, distills, strings.Join(ls, ", "),
		percentile(wall, 0.5), percentile(wall, 0.9)))
}

// The translation overhead: the same small conversation (a new session per
// request, so neither route distils) sent N times to /v1/messages and to
// /v1/chat/completions with a Claude model, alternating, JSON and SSE.
// Report only: no timing assertions.
func TestOpenAITranslationOverhead(t *testing.T) {
	const n = 200
	e := newOpenAIEnv(t, EnvOptions{})
	hdr := http.Header{"X-Api-Key": {e.Creds.Alice}}
	oaiHdr := http.Header{"Authorization": {"Bearer " + e.Creds.Alice}}
	anth := func(i int, stream bool) []byte {
		b, _ := json.Marshal(map[string]any{"model": testModel, "max_tokens": 256, "stream": stream, "system": longSystem,
			"messages": []any{
				map[string]any{"role": "user", "content": fmt.Sprintf("Summarise the repository layout (bench %d).", i)},
				map[string]any{"role": "assistant", "content": "It has handler/, gradient/, distill/ and store/."},
				map[string]any{"role": "user", "content": "Which of them talks to Redis?"},
			}})
		return b
	}
	chat := func(i int, stream bool) []byte {
		b, _ := json.Marshal(map[string]any{"model": testModel, "max_tokens": 256, "stream": stream,
			"messages": []any{
				map[string]any{"role": "system", "content": longSystem},
				map[string]any{"role": "user", "content": fmt.Sprintf("Summarise the repository layout (bench %d).", i)},
				map[string]any{"role": "assistant", "content": "It has handler/, gradient/, distill/ and store/."},
				map[string]any{"role": "user", "content": "Which of them talks to Redis?"},
			}})
		return b
	}
	type series struct{ anth, chat []float64 }
	res := map[bool]*series{false: {}, true: {}}
	for i := -10; i < n; i++ { // 10 warm-up rounds
		for _, stream := range []bool{false, true} {
			for _, route := range []string{"anth", "chat"} {
				var r turnResult
				start := time.Now()
				if route == "anth" {
					r = rawPost(t, e.URL+"/v1/messages", hdr, anth(i+1000*boolInt(stream), stream))
				} else {
					r = rawPost(t, e.URL+"/v1/chat/completions", oaiHdr, chat(i+1000*boolInt(stream), stream))
				}
				d := ms(time.Since(start))
				if r.Status != 200 {
					t.Fatalf("%s stream=%v: status %d: %s", route, stream, r.Status, truncate(r.Body, 300))
				}
				if i < 0 {
					continue
				}
				if route == "anth" {
					res[stream].anth = append(res[stream].anth, d)
				} else {
					res[stream].chat = append(res[stream].chat, d)
				}
			}
		}
	}
	var md strings.Builder
	fmt.Fprintf(&md, "### Translation overhead: /v1/chat/completions vs /v1/messages (Claude model, N=%d sequential each, alternating)\n\n", n)
	md.WriteString("| mode | /v1/messages p50 | /v1/chat/completions p50 | ratio | /v1/messages p90 | /v1/chat/completions p90 |\n|---|---|---|---|---|---|\n")
	for _, stream := range []bool{false, true} {
		s := res[stream]
		a, c := percentile(s.anth, 0.5), percentile(s.chat, 0.5)
		fmt.Fprintf(&md, "| %s | %.2f ms | %.2f ms | %.2f× | %.2f ms | %.2f ms |\n", map[bool]string{false: "JSON", true: "SSE"}[stream],
			a, c, c/a, percentile(s.anth, 0.9), percentile(s.chat, 0.9))
	}
	report(t, md.String())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
