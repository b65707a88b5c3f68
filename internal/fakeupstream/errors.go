package fakeupstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// apiError is an Anthropic error before it is written.
type apiError struct {
	Status  int
	Type    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

func invalidRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalid_request_error", fmt.Sprintf(format, args...)}
}

// errorTypeFor maps an HTTP status to the Anthropic error.type.
func errorTypeFor(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 409:
		return "conflict_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 504:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// defaultMessageFor is the message of an injected failure without a body.
func defaultMessageFor(status int) string {
	switch status {
	case 400:
		return "Invalid request"
	case 401:
		return "invalid x-api-key"
	case 402:
		return "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."
	case 403:
		return "Your API key does not have permission to use the specified resource."
	case 404:
		return "Not Found"
	case 409:
		return "Conflict"
	case 413:
		return "Request exceeds the maximum allowed number of bytes."
	case 429:
		return "This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits."
	case 504:
		return "Request timed out"
	case 529:
		return "Overloaded"
	}
	return "Internal server error"
}

// errorEnvelope is {"type":"error","error":{"type","message"},"request_id"}.
func errorEnvelope(typ, msg string, requestID any) ordered {
	return obj("type", "error", "error", obj("type", typ, "message", msg), "request_id", requestID)
}

// commonHeaders sets request-id, organization and rate-limit headers and
// returns the request id.
func (s *Server) commonHeaders(w http.ResponseWriter, r *http.Request) string {
	id := fmt.Sprintf("req_011CFake%016d", s.nextID())
	h := w.Header()
	h.Set("request-id", id)
	h.Set("anthropic-organization-id", "00000000-0000-4000-8000-00000000fa4e")
	reset := s.now().Add(time.Minute).UTC().Format(time.RFC3339)
	for _, kind := range []struct {
		name  string
		limit int
	}{{"requests", 4000}, {"tokens", 2000000}, {"input-tokens", 2000000}, {"output-tokens", 400000}} {
		h.Set("anthropic-ratelimit-"+kind.name+"-limit", strconv.Itoa(kind.limit))
		h.Set("anthropic-ratelimit-"+kind.name+"-remaining", strconv.Itoa(kind.limit-1))
		h.Set("anthropic-ratelimit-"+kind.name+"-reset", reset)
	}
	if r != nil && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") && r.Header.Get("x-api-key") == "" {
		h.Set("anthropic-ratelimit-unified-status", "allowed")
		h.Set("anthropic-ratelimit-unified-5h-utilization", "0.01")
		h.Set("anthropic-ratelimit-unified-5h-reset", strconv.FormatInt(s.now().Add(5*time.Hour).Unix(), 10))
		h.Set("anthropic-ratelimit-unified-7d-utilization", "0.01")
		h.Set("anthropic-ratelimit-unified-7d-reset", strconv.FormatInt(s.now().Add(7*24*time.Hour).Unix(), 10))
	}
	return id
}

// writeError writes an Anthropic error envelope with the usual headers.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, typ, msg string) {
	id := s.commonHeaders(w, r)
	if status == http.StatusTooManyRequests {
		w.Header().Set("retry-after", "1")
	}
	writeJSON(w, status, errorEnvelope(typ, msg, id))
}

func (s *Server) writeAPIError(w http.ResponseWriter, r *http.Request, e *apiError) {
	s.writeError(w, r, e.Status, e.Type, e.Message)
}

// writeFailure answers an injected Failure in the shape of the route.
func (s *Server) writeFailure(w http.ResponseWriter, r *http.Request, f Failure) {
	openai := isOpenAIPath(r.URL.Path)
	var body []byte
	if openai {
		w.Header().Set("x-request-id", fmt.Sprintf("req_fake%016d", s.nextID()))
		if f.Body == "" {
			typ, code := openAIErrorTypeFor(f.Status)
			body = openAIErrorBody(openAIDefaultMessage(f.Status), typ, "", code)
		}
	} else {
		id := s.commonHeaders(w, r)
		if f.Body == "" {
			body, _ = marshal(errorEnvelope(errorTypeFor(f.Status), defaultMessageFor(f.Status), id))
		}
	}
	if f.Body != "" {
		body = []byte(f.Body)
	}
	if f.Status == http.StatusTooManyRequests {
		w.Header().Set("retry-after", "1")
	}
	for k, vs := range f.Header {
		w.Header().Del(k)
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write(body)
}

func isOpenAIPath(p string) bool {
	return strings.HasPrefix(p, "/v1/chat/") || strings.HasPrefix(p, "/v1/completions") ||
		strings.HasPrefix(p, "/v1/responses") || strings.HasPrefix(p, "/v1/embeddings")
}

// --- OpenAI error shape ---

func openAIErrorTypeFor(status int) (typ, code string) {
	switch status {
	case 401:
		return "invalid_request_error", "invalid_api_key"
	case 403:
		return "permission_error", ""
	case 404:
		return "invalid_request_error", ""
	case 429:
		return "requests", "rate_limit_exceeded"
	}
	if status >= 500 {
		return "server_error", ""
	}
	return "invalid_request_error", ""
}

func openAIDefaultMessage(status int) string {
	switch status {
	case 401:
		return "Incorrect API key provided."
	case 403:
		return "You are not allowed to perform this request."
	case 404:
		return "The model does not exist or you do not have access to it."
	case 429:
		return "Rate limit reached for requests. Please try again in 1s."
	case 503:
		return "The server is overloaded or not ready yet."
	}
	if status >= 500 {
		return "The server had an error while processing your request. Sorry about that!"
	}
	return "Invalid request"
}

// openAIErrorBody is {"error":{"message","type","param","code"}}; empty
// param/code become null.
func openAIErrorBody(msg, typ, param, code string) []byte {
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	b, _ := marshal(map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nullable(param), "code": nullable(code),
	}})
	return b
}

func (s *Server) writeOpenAIError(w http.ResponseWriter, status int, typ, msg, param, code string) {
	w.Header().Set("x-request-id", fmt.Sprintf("req_fake%016d", s.nextID()))
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests {
		w.Header().Set("retry-after", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write(openAIErrorBody(msg, typ, param, code))
}

// ordered is a JSON object that keeps its key order (the real API sends
// "type" first).
type ordered []any

// obj builds an ordered object from key, value pairs.
func obj(kv ...any) ordered { return ordered(kv) }

// MarshalJSON encodes the pairs in order.
func (o ordered) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i := 0; i+1 < len(o); i += 2 {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := marshal(o[i].(string))
		v, err := marshal(o[i+1])
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping: "<observations>" and
// "tokens > 200000" stay literal, as the real API sends them.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
