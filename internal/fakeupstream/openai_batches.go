package fakeupstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// The OpenAI Batch API: POST /v1/files (multipart, purpose "batch", JSONL
// of {custom_id, method, url, body}), POST /v1/batches {input_file_id,
// endpoint "/v1/chat/completions", completion_window "24h", metadata},
// GET /v1/batches/{id} (status validating → in_progress → completed, or
// cancelled), GET /v1/batches (list, newest first, after=), POST
// /v1/batches/{id}/cancel, GET /v1/files/{id}/content (the output file:
// {id, custom_id, response: {status_code, request_id, body}, error: null};
// the error file: {id, custom_id, response: null, error: {code, message}}).
// DELETE /v1/files/{id} removes a file. Files and batches belong to the key
// that made them.

type oaiFile struct {
	id, owner, purpose string
	data               []byte
	created            time.Time
}

type oaiBatch struct {
	id, owner, input, endpoint string
	metadata                   map[string]string
	created, endsAt            time.Time
	status                     string // in_progress, completed, cancelled
	output, errors             string // file ids, set when ended
	total, completed, failed   int
}

type oaiStore struct {
	mu      sync.Mutex
	files   map[string]*oaiFile
	batches map[string]*oaiBatch
	order   []*oaiBatch
}

func newOAIStore() *oaiStore {
	return &oaiStore{files: map[string]*oaiFile{}, batches: map[string]*oaiBatch{}}
}

func (s *Server) handleFileUpload(w http.ResponseWriter, r *http.Request) {
	cred, ok := s.authOpenAI(w, r)
	if !ok {
		return
	}
	if err := r.ParseMultipartForm(64 << 20); err != nil {
		s.writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "the body must be multipart/form-data", "", "")
		return
	}
	f, hdr, err := r.FormFile("file")
	if err != nil || r.FormValue("purpose") != "batch" {
		s.writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "'file' and purpose 'batch' are required", "", "")
		return
	}
	data, _ := io.ReadAll(f)
	file := &oaiFile{id: fmt.Sprintf("file-fake%016d", s.nextID()), owner: cred.ID, purpose: "batch", data: data, created: s.now()}
	s.oai.mu.Lock()
	s.oai.files[file.id] = file
	s.oai.mu.Unlock()
	writeJSON(w, http.StatusOK, obj("id", file.id, "object", "file", "bytes", len(data), "created_at", file.created.Unix(),
		"filename", hdr.Filename, "purpose", "batch"))
}

// handleFileDelete answers DELETE /v1/files/{id}.
func (s *Server) handleFileDelete(w http.ResponseWriter, r *http.Request) {
	cred, ok := s.authOpenAI(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	s.oai.mu.Lock()
	f := s.oai.files[id]
	if f != nil && f.owner == cred.ID {
		delete(s.oai.files, id)
	}
	s.oai.mu.Unlock()
	if f == nil || f.owner != cred.ID {
		s.writeOpenAIError(w, http.StatusNotFound, "invalid_request_error", "No such File object: "+id, "id", "")
		return
	}
	writeJSON(w, http.StatusOK, obj("id", id, "object", "file", "deleted", true))
}

// Files reports how many OpenAI files the fake holds (uploaded inputs and
// batch outputs not deleted yet).
func (s *Server) Files() int {
	s.oai.mu.Lock()
	defer s.oai.mu.Unlock()
	return len(s.oai.files)
}

func (s *Server) handleFileContent(w http.ResponseWriter, r *http.Request) {
	cred, ok := s.authOpenAI(w, r)
	if !ok {
		return
	}
	s.oai.mu.Lock()
	f := s.oai.files[r.PathValue("id")]
	s.oai.mu.Unlock()
	if f == nil || f.owner != cred.ID {
		s.writeOpenAIError(w, http.StatusNotFound, "invalid_request_error", "No such File object: "+r.PathValue("id"), "id", "")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(f.data)
}

func (s *Server) handleOAIBatchCreate(w http.ResponseWriter, r *http.Request) {
	cred, ok := s.authOpenAI(w, r)
	if !ok {
		return
	}
	var in struct {
		InputFileID      string            `json:"input_file_id"`
		Endpoint         string            `json:"endpoint"`
		CompletionWindow string            `json:"completion_window"`
		Metadata         map[string]string `json:"metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Endpoint != "/v1/chat/completions" || in.CompletionWindow != "24h" {
		s.writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "input_file_id, endpoint /v1/chat/completions and completion_window 24h are required", "", "")
		return
	}
	s.oai.mu.Lock()
	defer s.oai.mu.Unlock()
	f := s.oai.files[in.InputFileID]
	if f == nil || f.owner != cred.ID {
		s.writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "No such File object: "+in.InputFileID, "input_file_id", "")
		return
	}
	now := s.now()
	b := &oaiBatch{id: fmt.Sprintf("batch_fake%016d", s.nextID()), owner: cred.ID, input: f.id, endpoint: in.Endpoint,
		metadata: in.Metadata, created: now, endsAt: now.Add(s.opts.BatchDelay), status: "in_progress",
		total: bytes.Count(bytes.TrimSpace(f.data), []byte("\n")) + 1}
	s.oai.batches[b.id] = b
	s.oai.order = append(s.oai.order, b)
	writeJSON(w, http.StatusOK, s.oaiBatchObject(b))
}

// oaiAdvance ends a batch whose time has come; the caller holds the lock.
func (s *Server) oaiAdvance(b *oaiBatch) {
	if b.status != "in_progress" || s.now().Before(b.endsAt) {
		return
	}
	var out, errs bytes.Buffer
	var input []byte
	if f := s.oai.files[b.input]; f != nil { // deleted early: no rows
		input = f.data
	}
	sc := bufio.NewScanner(bytes.NewReader(input))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var it struct {
			CustomID string          `json:"custom_id"`
			Method   string          `json:"method"`
			URL      string          `json:"url"`
			Body     json.RawMessage `json:"body"`
		}
		rowID := fmt.Sprintf("batch_req_fake%016d", s.nextID())
		fail := func(code, msg string) {
			b.failed++
			row, _ := marshal(obj("id", rowID, "custom_id", it.CustomID, "response", nil, "error", obj("code", code, "message", msg)))
			errs.Write(append(row, '\n'))
		}
		if json.Unmarshal(line, &it) != nil || it.Method != "POST" || it.URL != b.endpoint {
			fail("invalid_request", "each line needs custom_id, method POST and url "+b.endpoint)
			continue
		}
		c, e := parseChat(it.Body)
		if e != nil {
			fail("invalid_request", e.msg)
			continue
		}
		b.completed++
		row, _ := marshal(obj("id", rowID, "custom_id", it.CustomID, "response",
			obj("status_code", 200, "request_id", fmt.Sprintf("req_fake%016d", s.nextID()), "body", s.completionObject(c, EstimateTokens(it.Body))),
			"error", nil))
		out.Write(append(row, '\n'))
	}
	b.status = "completed"
	b.output = s.oaiNewFile(b.owner, "batch_output", out.Bytes())
	if errs.Len() > 0 {
		b.errors = s.oaiNewFile(b.owner, "batch_output", errs.Bytes())
	}
}

func (s *Server) oaiNewFile(owner, purpose string, data []byte) string {
	f := &oaiFile{id: fmt.Sprintf("file-fake%016d", s.nextID()), owner: owner, purpose: purpose, data: data, created: s.now()}
	s.oai.files[f.id] = f
	return f.id
}

func (s *Server) oaiBatchObject(b *oaiBatch) ordered {
	str := func(id string) any {
		if id == "" {
			return nil
		}
		return id
	}
	return obj("id", b.id, "object", "batch", "endpoint", b.endpoint, "errors", nil, "input_file_id", b.input,
		"completion_window", "24h", "status", b.status, "output_file_id", str(b.output), "error_file_id", str(b.errors),
		"created_at", b.created.Unix(), "request_counts", obj("total", b.total, "completed", b.completed, "failed", b.failed),
		"metadata", b.metadata)
}

// withOAIBatch finds the caller's batch, advanced to now.
func (s *Server) withOAIBatch(w http.ResponseWriter, r *http.Request, f func(*oaiBatch)) {
	cred, ok := s.authOpenAI(w, r)
	if !ok {
		return
	}
	s.oai.mu.Lock()
	defer s.oai.mu.Unlock()
	b := s.oai.batches[r.PathValue("id")]
	if b == nil || b.owner != cred.ID {
		s.writeOpenAIError(w, http.StatusNotFound, "invalid_request_error", "No batch found with id '"+r.PathValue("id")+"'.", "", "")
		return
	}
	s.oaiAdvance(b)
	f(b)
}

func (s *Server) handleOAIBatchGet(w http.ResponseWriter, r *http.Request) {
	s.withOAIBatch(w, r, func(b *oaiBatch) { writeJSON(w, http.StatusOK, s.oaiBatchObject(b)) })
}

func (s *Server) handleOAIBatchCancel(w http.ResponseWriter, r *http.Request) {
	s.withOAIBatch(w, r, func(b *oaiBatch) {
		if b.status == "in_progress" {
			b.status = "cancelled"
		}
		writeJSON(w, http.StatusOK, s.oaiBatchObject(b))
	})
}

// handleOAIBatchList lists the caller's batches, newest first, after= a
// batch id, limit (default 20).
func (s *Server) handleOAIBatchList(w http.ResponseWriter, r *http.Request) {
	cred, ok := s.authOpenAI(w, r)
	if !ok {
		return
	}
	limit := 20
	if _, err := fmt.Sscan(r.URL.Query().Get("limit"), &limit); err != nil || limit < 1 || limit > 100 {
		limit = 20
	}
	after := r.URL.Query().Get("after")
	s.oai.mu.Lock()
	defer s.oai.mu.Unlock()
	var data []any
	skipping := after != ""
	more := false
	for i := len(s.oai.order) - 1; i >= 0; i-- {
		b := s.oai.order[i]
		if b.owner != cred.ID {
			continue
		}
		if skipping {
			skipping = b.id != after
			continue
		}
		if len(data) == limit {
			more = true
			break
		}
		s.oaiAdvance(b)
		data = append(data, s.oaiBatchObject(b))
	}
	first, last := any(nil), any(nil)
	if len(data) > 0 {
		first, last = data[0].(ordered)[1], data[len(data)-1].(ordered)[1]
	}
	writeJSON(w, http.StatusOK, obj("object", "list", "data", data, "first_id", first, "last_id", last, "has_more", more))
}
