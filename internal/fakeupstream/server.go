package fakeupstream

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a fake upstream.
type Options struct {
	// APIKeys are the accepted x-api-key values on Anthropic routes; they are
	// also accepted as "Authorization: Bearer" on OpenAI routes.
	APIKeys []string
	// OAuthTokens are the accepted "Authorization: Bearer" tokens on Anthropic
	// routes. They require "oauth-2025-04-20" in anthropic-beta, else 401
	// "OAuth authentication is currently not supported.".
	OAuthTokens []string
	// ContextLimit is the maximum number of input tokens (EstimateTokens);
	// default 200000. Over it: 400 "prompt is too long: N tokens > LIMIT maximum".
	ContextLimit int
	// EventDelay is slept between SSE events (0 = none).
	EventDelay time.Duration
	// BatchDelay is how long a batch stays in_progress after create.
	BatchDelay time.Duration
	// RefuseBatchBearer answers 403 permission_error to bearer (OAuth)
	// credentials on /v1/messages/batches*.
	RefuseBatchBearer bool
	// OpenAINoAuth makes the OpenAI routes answer requests that carry no
	// credential, as a local vLLM or Ollama server does (a credential that
	// is present is still checked).
	OpenAINoAuth bool
}

// Request is one recorded HTTP request. In JSON (GET /_fake/requests) Body
// is a string.
type Request struct {
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	RawQuery string      `json:"raw_query"`
	Header   http.Header `json:"header"`
	Body     []byte      `json:"-"`
	At       time.Time   `json:"at"`
}

type requestJSON struct {
	Method   string      `json:"method"`
	Path     string      `json:"path"`
	RawQuery string      `json:"raw_query"`
	Header   http.Header `json:"header"`
	Body     string      `json:"body"`
	At       time.Time   `json:"at"`
}

// MarshalJSON encodes the body as a string.
func (r Request) MarshalJSON() ([]byte, error) {
	return json.Marshal(requestJSON{r.Method, r.Path, r.RawQuery, r.Header, string(r.Body), r.At})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (r *Request) UnmarshalJSON(b []byte) error {
	var j requestJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Request{j.Method, j.Path, j.RawQuery, j.Header, []byte(j.Body), j.At}
	return nil
}

// Failure makes the next matching request(s) fail. See FailNext.
type Failure struct {
	// Path is matched exactly against the request path; a trailing "*"
	// makes it a prefix; "" matches any path.
	Path string `json:"path"`
	// Status is the HTTP status; 0 means 500.
	Status int `json:"status"`
	// Header is set on the response after the defaults (request-id,
	// rate-limit headers, retry-after "1" on 429).
	Header http.Header `json:"header"`
	// Body is sent verbatim; "" means the route's default error envelope for
	// Status (Anthropic or OpenAI shape).
	Body string `json:"body"`
	// Count is how many requests fail; 0 means 1, negative means forever.
	Count int `json:"count"`
}

// Server is a fake Anthropic/OpenAI upstream.
type Server struct {
	opts   Options
	keys   map[string]bool
	oauth  map[string]bool
	mux    *http.ServeMux
	now    func() time.Time // replaceable in tests
	seq    atomic.Uint64
	urlVal atomic.Value // string

	mu            sync.Mutex
	requests      []Request
	recordedBytes int
	failures      []Failure

	cache   *promptCache
	batches *batchStore
	oai     *oaiStore // OpenAI files and batches
	bills   []Bill
	sigKey  []byte // signs and checks thinking blocks

	httpSrv *http.Server
	ln      net.Listener
	done    chan struct{}
}

// NewHandler builds a fake without listening; its ServeHTTP can be used with
// any listener.
func NewHandler(opts Options) *Server {
	if opts.ContextLimit <= 0 {
		opts.ContextLimit = 200000
	}
	s := &Server{
		opts:    opts,
		keys:    set(opts.APIKeys),
		oauth:   set(opts.OAuthTokens),
		now:     time.Now,
		cache:   newPromptCache(),
		batches: newBatchStore(),
		oai:     newOAIStore(),
		sigKey:  make([]byte, 32),
	}
	_, _ = rand.Read(s.sigKey)
	s.urlVal.Store("")
	s.routes()
	return s
}

// New starts a fake on 127.0.0.1 with a random port.
func New(opts Options) *Server {
	s, err := Start(opts, "127.0.0.1:0")
	if err != nil {
		panic("fakeupstream: " + err.Error())
	}
	return s
}

// Start starts a fake listening on addr (e.g. "127.0.0.1:8080").
func Start(opts Options, addr string) (*Server, error) {
	return NewHandler(opts).listen(addr)
}

// listen serves s on addr.
func (s *Server) listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.ln = ln
	s.urlVal.Store("http://" + ln.Addr().String())
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("fakeupstream: serve:", err)
		}
	}()
	return s, nil
}

// URL is the base URL ("http://127.0.0.1:PORT"), or "" for NewHandler.
func (s *Server) URL() string { return s.urlVal.Load().(string) }

// Close stops the listener and closes all connections.
func (s *Server) Close() {
	if s.httpSrv == nil {
		return
	}
	_ = s.httpSrv.Close()
	<-s.done
}

// Requests returns a copy of every request received (except /_fake/
// control requests), in arrival order (the oldest are dropped beyond 100000
// requests or 512 MiB of bodies).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// Recording limits: beyond them the oldest recordings are dropped, so a
// long benchmark against the binary does not grow without bound. Tests stay
// far below them.
var (
	maxRecorded      = 100000
	maxRecordedBytes = 512 << 20
)

func (s *Server) record(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	s.recordedBytes += len(req.Body)
	drop := 0
	for len(s.requests)-drop > maxRecorded || (s.recordedBytes > maxRecordedBytes && len(s.requests)-drop > 1) {
		s.recordedBytes -= len(s.requests[drop].Body)
		drop++
	}
	if drop > 0 {
		s.requests = append([]Request(nil), s.requests[drop:]...)
	}
}

// Reset clears the recorded requests and bills (not pending failures, cache or batches).
func (s *Server) Reset() {
	s.mu.Lock()
	s.requests = nil
	s.bills = nil
	s.recordedBytes = 0
	s.mu.Unlock()
}

// FailNext queues a failure; queued failures are consumed in order by the
// requests they match.
func (s *Server) FailNext(f Failure) {
	if f.Count == 0 {
		f.Count = 1
	}
	if f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	s.mu.Lock()
	s.failures = append(s.failures, f)
	s.mu.Unlock()
}

func (s *Server) takeFailure(path string) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.failures {
		if !pathMatches(f.Path, path) {
			continue
		}
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.failures = append(s.failures[:i:i], s.failures[i+1:]...)
			} else {
				s.failures[i].Count = f.Count
			}
		}
		return f, true
	}
	return Failure{}, false
}

func pathMatches(pattern, path string) bool {
	if pattern == "" {
		return true
	}
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, p)
	}
	return pattern == path
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		if x != "" {
			m[x] = true
		}
	}
	return m
}

// ServeHTTP records the request, answers control endpoints, applies queued
// failures and dispatches to the fake API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if strings.HasPrefix(r.URL.Path, "/_fake/") {
		s.serveControl(w, r, body)
		return
	}
	s.record(Request{
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Body:     body,
		At:       s.now(),
	})

	if f, ok := s.takeFailure(r.URL.Path); ok {
		s.writeFailure(w, r, f)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/messages", s.handleMessages)
	m.HandleFunc("POST /v1/messages/count_tokens", s.handleCountTokens)
	m.HandleFunc("GET /v1/models", s.handleModels)
	m.HandleFunc("GET /v1/models/{id}", s.handleModel)
	m.HandleFunc("POST /v1/messages/batches", s.handleBatchCreate)
	m.HandleFunc("GET /v1/messages/batches", s.handleBatchList)
	m.HandleFunc("GET /v1/messages/batches/{id}", s.handleBatchGet)
	m.HandleFunc("DELETE /v1/messages/batches/{id}", s.handleBatchDelete)
	m.HandleFunc("POST /v1/messages/batches/{id}/cancel", s.handleBatchCancel)
	m.HandleFunc("GET /v1/messages/batches/{id}/results", s.handleBatchResults)
	m.HandleFunc("POST /v1/chat/completions", s.handleChatCompletions)
	m.HandleFunc("POST /v1/files", s.handleFileUpload)
	m.HandleFunc("GET /v1/files/{id}/content", s.handleFileContent)
	m.HandleFunc("DELETE /v1/files/{id}", s.handleFileDelete)
	m.HandleFunc("POST /v1/batches", s.handleOAIBatchCreate)
	m.HandleFunc("GET /v1/batches", s.handleOAIBatchList)
	m.HandleFunc("GET /v1/batches/{id}", s.handleOAIBatchGet)
	m.HandleFunc("POST /v1/batches/{id}/cancel", s.handleOAIBatchCancel)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if isOpenAIPath(r.URL.Path) {
			s.writeOpenAIError(w, http.StatusNotFound, "invalid_request_error", "Invalid URL ("+r.Method+" "+r.URL.Path+")", "", "")
			return
		}
		s.writeError(w, r, http.StatusNotFound, "not_found_error", "Not Found")
	})
	s.mux = m
}

func (s *Server) serveControl(w http.ResponseWriter, r *http.Request, body []byte) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/_fake/requests":
		writeJSON(w, http.StatusOK, s.Requests())
	case r.Method == http.MethodPost && r.URL.Path == "/_fake/reset":
		s.Reset()
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case r.Method == http.MethodPost && r.URL.Path == "/_fake/fail":
		var f Failure
		if err := json.Unmarshal(body, &f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.FailNext(f)
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control endpoint " + r.Method + " " + r.URL.Path})
	}
}

// baseURL is URL(), or derived from the request's Host for NewHandler.
func (s *Server) baseURL(r *http.Request) string {
	if u := s.URL(); u != "" {
		return u
	}
	return "http://" + r.Host
}

func (s *Server) nextID() uint64 { return s.seq.Add(1) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
