package fakeupstream

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"
)

const batchTime = "2006-01-02T15:04:05.000000Z"

type batchItem struct {
	CustomID string
	Params   json.RawMessage
}

type requestCounts struct {
	Processing int `json:"processing"`
	Succeeded  int `json:"succeeded"`
	Errored    int `json:"errored"`
	Canceled   int `json:"canceled"`
	Expired    int `json:"expired"`
}

type batch struct {
	id       string
	cred     credential
	created  time.Time
	endsAt   time.Time
	status   string // in_progress, canceling, ended
	cancelAt time.Time
	endedAt  time.Time
	items    []batchItem
	counts   requestCounts
	results  []byte // JSONL, set when ended
	deleted  bool
}

type batchStore struct {
	mu    sync.Mutex
	byID  map[string]*batch
	order []*batch // creation order
}

func newBatchStore() *batchStore { return &batchStore{byID: make(map[string]*batch)} }

type batchJSON struct {
	ID                string        `json:"id"`
	Type              string        `json:"type"`
	ProcessingStatus  string        `json:"processing_status"`
	RequestCounts     requestCounts `json:"request_counts"`
	EndedAt           *string       `json:"ended_at"`
	CreatedAt         string        `json:"created_at"`
	ExpiresAt         string        `json:"expires_at"`
	ArchivedAt        *string       `json:"archived_at"`
	CancelInitiatedAt *string       `json:"cancel_initiated_at"`
	ResultsURL        *string       `json:"results_url"`
}

func timePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(batchTime)
	return &s
}

func (s *Server) batchObject(r *http.Request, b *batch) batchJSON {
	j := batchJSON{
		ID: b.id, Type: "message_batch", ProcessingStatus: b.status, RequestCounts: b.counts,
		EndedAt:           timePtr(b.endedAt),
		CreatedAt:         b.created.UTC().Format(batchTime),
		ExpiresAt:         b.created.Add(24 * time.Hour).UTC().Format(batchTime),
		CancelInitiatedAt: timePtr(b.cancelAt),
	}
	if b.status == "ended" {
		u := s.baseURL(r) + "/v1/messages/batches/" + b.id + "/results"
		j.ResultsURL = &u
	}
	return j
}

// authBatch authenticates a batch route; RefuseBatchBearer refuses bearer
// credentials with 403 permission_error.
func (s *Server) authBatch(w http.ResponseWriter, r *http.Request) (credential, bool) {
	cred, aerr := s.authAnthropic(r)
	if aerr == nil && cred.Bearer && s.opts.RefuseBatchBearer {
		aerr = &apiError{http.StatusForbidden, "permission_error", "OAuth authentication is not supported for the Message Batches API. Use an API key."}
	}
	if aerr != nil {
		s.writeAPIError(w, r, aerr)
		return credential{}, false
	}
	return cred, true
}

func (s *Server) handleBatchCreate(w http.ResponseWriter, r *http.Request) {
	cred, ok := s.authBatch(w, r)
	if !ok {
		return
	}
	body, _ := io.ReadAll(r.Body)
	items, aerr := parseBatchCreate(body)
	if aerr != nil {
		s.writeAPIError(w, r, aerr)
		return
	}
	now := s.now()
	b := &batch{
		id:      fmt.Sprintf("msgbatch_01Fake%016d", s.nextID()),
		cred:    cred,
		created: now,
		endsAt:  now.Add(s.opts.BatchDelay),
		status:  "in_progress",
		items:   items,
		counts:  requestCounts{Processing: len(items)},
	}
	st := s.batches
	st.mu.Lock()
	st.byID[b.id] = b
	st.order = append(st.order, b)
	obj := s.batchObject(r, b)
	st.mu.Unlock()
	s.commonHeaders(w, r)
	writeJSON(w, http.StatusOK, obj)
}

// lookup finds a live batch of cred and advances it; callers hold st.mu.
func (s *Server) lookup(cred credential, id string) *batch {
	b := s.batches.byID[id]
	if b == nil || b.deleted || b.cred.ID != cred.ID {
		return nil
	}
	s.advance(b)
	return b
}

// advance ends a batch whose time has come (or that is canceling).
func (s *Server) advance(b *batch) {
	now := s.now()
	switch {
	case b.status == "in_progress" && !now.Before(b.endsAt):
		s.runBatch(b, false)
		b.endedAt = b.endsAt
	case b.status == "canceling":
		s.runBatch(b, true)
		b.endedAt = now
	}
}

var batchMagic = regexp.MustCompile(`\[\[batch:(errored|expired|canceled)(?::([a-z_]+))?\]\]`)

// runBatch computes every row, with the same logic as /v1/messages.
func (s *Server) runBatch(b *batch, canceled bool) {
	type row struct {
		key  string
		line []byte
	}
	rows := make([]row, 0, len(b.items))
	c := requestCounts{}
	for _, it := range b.items {
		typ, result := s.batchResult(b.cred, it, canceled)
		switch typ {
		case "succeeded":
			c.Succeeded++
		case "errored":
			c.Errored++
		case "canceled":
			c.Canceled++
		case "expired":
			c.Expired++
		}
		line, _ := marshal(obj("custom_id", it.CustomID, "result", result))
		k := sha256.Sum256([]byte(it.CustomID))
		rows = append(rows, row{hex.EncodeToString(k[:]), line})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].key < rows[j].key })
	var out []byte
	for _, r := range rows {
		out = append(append(out, r.line...), '\n')
	}
	b.results, b.counts, b.status = out, c, "ended"
}

// batchResult computes one row's result object and its type.
func (s *Server) batchResult(cred credential, it batchItem, canceled bool) (string, ordered) {
	if canceled {
		return "canceled", obj("type", "canceled")
	}
	errored := func(e *apiError) (string, ordered) {
		return "errored", obj("type", "errored", "error", errorEnvelope(e.Type, e.Message, nil))
	}
	p, aerr := parseMessages(it.Params, false)
	if aerr != nil {
		return errored(aerr)
	}
	if p.Stream {
		return errored(invalidRequest(`"stream=True" is not supported in the Message Batches API`))
	}
	if p.MaxTokens < 1 {
		return errored(invalidRequest("max_tokens: Input should be greater than or equal to 1"))
	}
	for _, m := range p.Messages {
		if m.Role != "user" {
			continue
		}
		if mm := batchMagic.FindStringSubmatch(m.Text); mm != nil {
			if mm[1] != "errored" {
				return mm[1], obj("type", mm[1])
			}
			typ := mm[2]
			if typ == "" {
				typ = "invalid_request_error"
			}
			return errored(&apiError{http.StatusBadRequest, typ, "fake upstream: request marked [[batch:errored]]"})
		}
	}
	rep, usage, aerr := s.process(cred, p)
	s.bill(p, true, rep, usage, aerr)
	if aerr != nil {
		return errored(aerr)
	}
	msgID := fmt.Sprintf("msg_01Fake%016d", s.nextID())
	return "succeeded", obj("type", "succeeded", "message", completeMessage(msgID, p.Model, rep, usage, "batch"))
}

func (s *Server) notFoundBatch(w http.ResponseWriter, r *http.Request, id string) {
	s.writeError(w, r, http.StatusNotFound, "not_found_error", "Message Batch "+id+" not found.")
}

func (s *Server) handleBatchGet(w http.ResponseWriter, r *http.Request) {
	s.withBatch(w, r, func(b *batch) {
		s.commonHeaders(w, r)
		writeJSON(w, http.StatusOK, s.batchObject(r, b))
	})
}

// withBatch authenticates, finds the caller's batch {id} and runs f with the
// store locked.
func (s *Server) withBatch(w http.ResponseWriter, r *http.Request, f func(*batch)) {
	cred, ok := s.authBatch(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	st := s.batches
	st.mu.Lock()
	defer st.mu.Unlock()
	b := s.lookup(cred, id)
	if b == nil {
		s.notFoundBatch(w, r, id)
		return
	}
	f(b)
}

func (s *Server) handleBatchResults(w http.ResponseWriter, r *http.Request) {
	s.withBatch(w, r, func(b *batch) {
		if b.status != "ended" {
			s.writeError(w, r, http.StatusNotFound, "not_found_error", "Message Batch "+b.id+" has no available results.")
			return
		}
		s.commonHeaders(w, r)
		w.Header().Set("Content-Type", "application/x-jsonl")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b.results)
	})
}

func (s *Server) handleBatchCancel(w http.ResponseWriter, r *http.Request) {
	s.withBatch(w, r, func(b *batch) {
		if b.status == "in_progress" {
			b.status, b.cancelAt = "canceling", s.now()
		}
		s.commonHeaders(w, r)
		writeJSON(w, http.StatusOK, s.batchObject(r, b))
	})
}

func (s *Server) handleBatchDelete(w http.ResponseWriter, r *http.Request) {
	s.withBatch(w, r, func(b *batch) {
		if b.status != "ended" {
			s.writeError(w, r, http.StatusBadRequest, "invalid_request_error", "In progress batches cannot be deleted. Consider canceling the batch instead.")
			return
		}
		b.deleted = true
		s.commonHeaders(w, r)
		writeJSON(w, http.StatusOK, map[string]string{"id": b.id, "type": "message_batch_deleted"})
	})
}

// handleBatchList lists the caller's batches, newest first, with limit
// (default 20, 1..1000), after_id (older) and before_id (newer).
func (s *Server) handleBatchList(w http.ResponseWriter, r *http.Request) {
	cred, ok := s.authBatch(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.writeError(w, r, http.StatusBadRequest, "invalid_request_error", "limit: Input should be between 1 and 1000")
			return
		}
		limit = n
	}
	st := s.batches
	st.mu.Lock()
	var list []batchJSON
	for i := len(st.order) - 1; i >= 0; i-- {
		if b := s.lookup(cred, st.order[i].id); b != nil {
			list = append(list, s.batchObject(r, b))
		}
	}
	st.mu.Unlock()
	index := func(id string) int {
		for i, b := range list {
			if b.ID == id {
				return i
			}
		}
		return -1
	}
	var lo, hi int
	if a := q.Get("after_id"); a != "" {
		lo = index(a) + 1
		hi = min(lo+limit, len(list))
	} else if b := q.Get("before_id"); b != "" {
		if hi = index(b); hi < 0 {
			hi = 0
		}
		lo = max(0, hi-limit)
	} else {
		hi = min(limit, len(list))
	}
	page := list[lo:hi]
	hasMore := hi < len(list)
	if q.Get("before_id") != "" {
		hasMore = lo > 0
	}
	resp := map[string]any{"data": page, "has_more": hasMore, "first_id": nil, "last_id": nil}
	if len(page) > 0 {
		resp["first_id"], resp["last_id"] = page[0].ID, page[len(page)-1].ID
	} else {
		resp["data"] = []batchJSON{}
	}
	s.commonHeaders(w, r)
	writeJSON(w, http.StatusOK, resp)
}
