package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/caddy-lore/caddy-lore/auth"
)

// AnthropicVersion is the anthropic-version header of worker calls.
const AnthropicVersion = "2023-06-01"

// maxErrorBody bounds how much of an upstream error body is read.
const maxErrorBody = 64 << 10

// maxResponseBody bounds a successful answer: 8,192 output tokens are well
// under 1 MiB of JSON, so anything bigger is not a Messages answer.
const maxResponseBody = 8 << 20

// ErrNoText is returned when a successful answer holds no text block.
var ErrNoText = errors.New("llm: answer has no text block")

// APIError is a non-2xx answer of the upstream. It carries what helps an
// operator (status, error type and message, request id), never the
// credential: the message is scrubbed of it in case an upstream echoes it.
type APIError struct {
	Status    int
	Type      string // Anthropic error.type, e.g. "authentication_error"; "" if the body was not an error envelope
	Message   string
	RequestID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "llm: upstream answered %d", e.Status)
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request-id " + e.RequestID + ")")
	}
	return b.String()
}

// cacheControl is the worker system block's cache_control: worker prompts
// are fixed texts reused across sessions for long stretches, so the 1-hour
// TTL (docs/context-window.md, Prompt caching: "1h", not "3600") pays off.
type cacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl"`
}

type systemBlock struct {
	Type         string       `json:"type"`
	Text         string       `json:"text"`
	CacheControl cacheControl `json:"cache_control"`
}

type userMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// params is the Messages request body of a worker call, fields in the order
// the API documents them.
type params struct {
	Model     string        `json:"model"`
	MaxTokens int           `json:"max_tokens"`
	System    []systemBlock `json:"system,omitempty"`
	Messages  []userMessage `json:"messages"`
}

// Params returns the Messages request body of c: the call's model (else the
// worker's), max_tokens (default 8,192), the system prompt as one text block
// with cache_control {type: ephemeral, ttl: "1h"} (omitted when empty), and
// one user message. The batch queue sends it as an item's params.
func (w *Worker) Params(c Call) json.RawMessage {
	p := params{Model: c.Model, MaxTokens: c.MaxTokens, Messages: []userMessage{{Role: "user", Content: c.User}}}
	if p.Model == "" {
		p.Model = w.cfg.Model
	}
	if p.MaxTokens <= 0 {
		p.MaxTokens = DefaultMaxTokens
	}
	if c.System != "" {
		p.System = []systemBlock{{Type: "text", Text: c.System, CacheControl: cacheControl{Type: "ephemeral", TTL: "1h"}}}
	}
	b, err := json.Marshal(p)
	if err != nil {
		// Only strings and ints: marshalling cannot fail.
		panic("llm: marshal params: " + err.Error())
	}
	return b
}

// Do makes one synchronous call for c with cred and returns the text of the
// answer: POST {upstream}/v1/messages for an Anthropic credential, POST
// {openai_upstream}/v1/chat/completions for an OpenAI one (ChatParams). The
// credential's provider alone decides, so it only ever goes where it was
// accepted (docs/sessions-and-identity.md, Provider binding).
func (w *Worker) Do(ctx context.Context, c Call, cred auth.Credential) (string, error) {
	if cred.IsZero() {
		return "", ErrNoCredential
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	if cred.Provider == auth.ProviderOpenAI {
		return w.post(ctx, c, cred, w.openAI, w.ChatParams(c), FirstChoiceText)
	}
	return w.post(ctx, c, cred, w.endpoint, w.Params(c), firstText)
}

// post sends body to endpoint with cred in its provider's form and returns
// the text read from a 2xx answer; a non-2xx answer is an *APIError.
func (w *Worker) post(ctx context.Context, c Call, cred auth.Credential, endpoint string, body []byte, text func([]byte) (string, error)) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("llm: building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	cred.SetUpstream(req.Header)
	if cred.Provider != auth.ProviderOpenAI {
		req.Header.Set("Anthropic-Version", AnthropicVersion)
		// Bearer (OAuth subscription) tokens are refused without this beta.
		cred.EnsureOAuthBeta(req.Header)
	}

	resp, err := w.client.Do(req)
	if err != nil {
		// net/http errors name the URL and the cause, never headers.
		return "", fmt.Errorf("llm: %s call: %w", c.Kind, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return "", apiError(resp, body, cred)
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return "", fmt.Errorf("llm: %s call: reading answer: %w", c.Kind, err)
	}
	w.reportUsage(ctx, c, answer) // billed whether or not it holds text
	return text(answer)
}

// apiError decodes an Anthropic error envelope; other bodies (an HTML page
// from a proxy) are summarised by status alone. The request id header is
// the upstream's too, kept as ErrorDetail keeps the envelope's.
func apiError(resp *http.Response, body []byte, cred auth.Credential) *APIError {
	e := &APIError{Status: resp.StatusCode, RequestID: resp.Header.Get("Request-Id")}
	if e.RequestID == "" {
		e.RequestID = resp.Header.Get("X-Request-Id") // OpenAI's
	}
	e.RequestID = safeDetail(e.RequestID, cred, maxErrorField)
	var requestID string
	e.Type, e.Message, requestID = ErrorDetail(body, cred)
	if e.RequestID == "" {
		e.RequestID = requestID
	}
	return e
}

// maxErrorMessage bounds an upstream error message kept for logs, and
// maxErrorField its type and request id (short identifiers in the real APIs).
const (
	maxErrorMessage = 500
	maxErrorField   = 100
)

// ErrorDetail is what of an upstream error body may reach a log or an
// error: the type and message of an error envelope (Anthropic's and OpenAI's
// share error.type and error.message) and its request_id, each with the
// credential's value replaced by "[redacted]" and cut (on a rune boundary)
// to 500 bytes for the message, 100 for the others: the upstream writes all
// three, and an upstream that echoes the request may put the key in any of
// them. Any other body (an HTML page of a proxy that may echo request
// headers, a plain text) gives nothing: the status alone describes it.
func ErrorDetail(body []byte, cred auth.Credential) (typ, message, requestID string) {
	var env struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(body, &env) != nil {
		return "", "", ""
	}
	return safeDetail(env.Error.Type, cred, maxErrorField), safeDetail(env.Error.Message, cred, maxErrorMessage),
		safeDetail(env.RequestID, cred, maxErrorField)
}

// safeDetail returns s with cred's value redacted, cut to max bytes.
func safeDetail(s string, cred auth.Credential, max int) string {
	if cred.Value != "" {
		s = strings.ReplaceAll(s, cred.Value, "[redacted]")
	}
	if len(s) <= max {
		return s
	}
	m := s[:max]
	for !utf8.ValidString(m) { // do not cut a rune in half
		m = m[:len(m)-1]
	}
	return m + "…"
}

// firstText returns the first text block of a Messages answer.
func firstText(body []byte) (string, error) {
	var ans struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return "", fmt.Errorf("llm: answer is not a Messages response: %w", err)
	}
	for _, b := range ans.Content {
		if b.Type == "text" {
			return b.Text, nil
		}
	}
	return "", ErrNoText
}
