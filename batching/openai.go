package batching

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/llm"
)

// The queue speaks two batch APIs, one per provider; a record's credential
// decides which (a credential goes only to the provider that accepted it:
// docs/sessions-and-identity.md, Provider binding). Anthropic:
// POST /v1/messages/batches with the requests inline, poll, JSONL results.
// OpenAI: the requests as a JSONL file (POST /v1/files, purpose "batch"),
// POST /v1/batches for /v1/chat/completions with the record id in its
// metadata, poll, then the output file (and the error file). The functions
// here hide the difference from flush, poll, results and reconcile, which work
// on batchObject.

// openAIBatch is the part of an OpenAI batch object the queue reads.
type openAIBatch struct {
	ID            string            `json:"id"`
	InputFileID   string            `json:"input_file_id"`
	Status        string            `json:"status"` // validating, failed, in_progress, finalizing, completed, expired, cancelling, cancelled
	OutputFileID  *string           `json:"output_file_id"`
	ErrorFileID   *string           `json:"error_file_id"`
	CreatedAt     int64             `json:"created_at"` // unix seconds
	Metadata      map[string]string `json:"metadata"`
	RequestCounts struct {
		Total int `json:"total"`
	} `json:"request_counts"`
}

// metaRecord is the metadata key naming the record a batch was created for,
// so reconciliation finds its batch exactly.
const metaRecord = "lore_record"

// common is b as the queue reads Anthropic's batches: ended once OpenAI's
// status is final, the files to read the results from.
func (b openAIBatch) common() batchObject {
	o := batchObject{ID: b.ID, record: b.Metadata[metaRecord]}
	if b.CreatedAt > 0 {
		o.CreatedAt = time.Unix(b.CreatedAt, 0).UTC().Format(time.RFC3339Nano)
	}
	o.RequestCounts.Processing = b.RequestCounts.Total
	o.ProcessingStatus = "in_progress"
	switch b.Status {
	case "completed", "failed", "expired", "cancelled":
		o.ProcessingStatus = "ended"
	}
	for _, f := range []*string{b.OutputFileID, b.ErrorFileID} {
		if f != nil && *f != "" {
			o.files = append(o.files, *f)
		}
	}
	o.input = b.InputFileID
	return o
}

// deleteFiles removes an OpenAI batch's input, output and error files once
// its results are applied: they hold conversations, and OpenAI keeps files
// until they are deleted (Anthropic's batch results expire on their own).
// Best effort: a failure is logged and left.
func (q *Queue) deleteFiles(ctx context.Context, cred auth.Credential, obj batchObject) {
	if cred.Provider != auth.ProviderOpenAI {
		return
	}
	for _, f := range append([]string{obj.input}, obj.files...) {
		if f == "" {
			continue
		}
		if err := q.callJSON(ctx, http.MethodDelete, q.openAIEndpoint("files", f), cred, nil, nil); err != nil && ctx.Err() == nil {
			q.log.Info("batching: could not delete a batch file", zap.String("batch", obj.ID), zap.String("file", f), zap.Error(err))
		}
	}
}

func (q *Queue) openAIEndpoint(parts ...string) *url.URL {
	return q.cfg.OpenAIUpstream.JoinPath(append([]string{"v1"}, parts...)...)
}

// batchable reports whether cred's provider has a batch API configured.
func (q *Queue) batchable(cred auth.Credential) bool {
	return cred.Provider == auth.ProviderAnthropic || q.cfg.OpenAIUpstream != nil
}

// create submits a record's requests as one batch.
func (q *Queue) create(ctx context.Context, rec string, cred auth.Credential, reqs []batchRequest) (batchObject, error) {
	var obj batchObject
	if cred.Provider != auth.ProviderOpenAI {
		err := q.callJSON(ctx, http.MethodPost, q.endpoint(), cred, requestBody(reqs), &obj)
		return obj, err
	}
	var jl bytes.Buffer
	for _, r := range reqs {
		jl.WriteString(`{"custom_id":"` + r.id + `","method":"POST","url":"/v1/chat/completions","body":`)
		jl.Write(r.params)
		jl.WriteString("}\n")
	}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("purpose", "batch")
	fw, err := mw.CreateFormFile("file", "lore-"+rec+".jsonl")
	if err == nil {
		_, err = fw.Write(jl.Bytes())
	}
	if err == nil {
		err = mw.Close()
	}
	if err != nil {
		return obj, err
	}
	var file struct {
		ID string `json:"id"`
	}
	if err := q.callType(ctx, http.MethodPost, q.openAIEndpoint("files"), cred, mw.FormDataContentType(), form.Bytes(), &file); err != nil {
		return obj, err
	}
	if file.ID == "" {
		return obj, errors.New("batching: the file upload answered without an id")
	}
	body, _ := json.Marshal(map[string]any{"input_file_id": file.ID, "endpoint": "/v1/chat/completions",
		"completion_window": "24h", "metadata": map[string]string{metaRecord: rec}})
	var b openAIBatch
	err = q.callJSON(ctx, http.MethodPost, q.openAIEndpoint("batches"), cred, body, &b)
	return b.common(), err
}

// getBatch retrieves one batch.
func (q *Queue) getBatch(ctx context.Context, cred auth.Credential, id string) (batchObject, error) {
	if cred.Provider != auth.ProviderOpenAI {
		var obj batchObject
		err := q.callJSON(ctx, http.MethodGet, q.endpoint(id), cred, nil, &obj)
		return obj, err
	}
	var b openAIBatch
	err := q.callJSON(ctx, http.MethodGet, q.openAIEndpoint("batches", id), cred, nil, &b)
	return b.common(), err
}

// cancelBatch asks the upstream to cancel a batch.
func (q *Queue) cancelBatch(ctx context.Context, cred auth.Credential, id string) error {
	u := q.endpoint(id, "cancel")
	if cred.Provider == auth.ProviderOpenAI {
		u = q.openAIEndpoint("batches", id, "cancel")
	}
	return q.callJSON(ctx, http.MethodPost, u, cred, nil, nil)
}

// listBatches reads one page of the credential's batches, newest first,
// after the batch id after ("" for the first page).
func (q *Queue) listBatches(ctx context.Context, cred auth.Credential, after string) (page []batchObject, more bool, last string, err error) {
	openAI := cred.Provider == auth.ProviderOpenAI
	u, afterKey := q.endpoint(), "after_id"
	if openAI {
		u, afterKey = q.openAIEndpoint("batches"), "after"
	}
	v := url.Values{"limit": {"100"}}
	if after != "" {
		v.Set(afterKey, after)
	}
	u.RawQuery = v.Encode()
	var list struct {
		Data    []json.RawMessage `json:"data"`
		HasMore bool              `json:"has_more"`
		LastID  string            `json:"last_id"`
	}
	if err := q.callJSON(ctx, http.MethodGet, u, cred, nil, &list); err != nil {
		return nil, false, "", err
	}
	for _, raw := range list.Data {
		var b batchObject
		if openAI {
			var o openAIBatch
			err = json.Unmarshal(raw, &o)
			b = o.common()
		} else {
			err = json.Unmarshal(raw, &b)
		}
		if err != nil {
			return nil, false, "", err
		}
		page = append(page, b)
	}
	return page, list.HasMore, list.LastID, nil
}

// resultSources are the URLs an ended batch's result lines are read from.
func (q *Queue) resultSources(cred auth.Credential, obj batchObject) []*url.URL {
	if cred.Provider != auth.ProviderOpenAI {
		return []*url.URL{q.resultsURL(obj)}
	}
	out := make([]*url.URL, len(obj.files))
	for i, f := range obj.files {
		out[i] = q.openAIEndpoint("files", f, "content")
	}
	return out
}

// parseRow reads one result line of cred's provider as Anthropic's row.
func parseRow(cred auth.Credential, line []byte) (resultRow, bool) {
	if cred.Provider == auth.ProviderOpenAI {
		return openAIRow(line)
	}
	var row resultRow
	if err := json.Unmarshal(line, &row); err != nil || row.CustomID == "" {
		return row, false
	}
	return row, true
}

// openAIRow reads a line of an OpenAI batch's output or error file: a 200
// response with a chat completion succeeded (its first choice's text, its
// usage); anything else errored.
func openAIRow(line []byte) (resultRow, bool) {
	var in struct {
		CustomID string `json:"custom_id"`
		Response *struct {
			StatusCode int             `json:"status_code"`
			Body       json.RawMessage `json:"body"`
		} `json:"response"`
		Error json.RawMessage `json:"error"`
	}
	var row resultRow
	if err := json.Unmarshal(line, &in); err != nil || in.CustomID == "" {
		return row, false
	}
	row.CustomID = in.CustomID
	errored := func(typ, msg string) (resultRow, bool) {
		row.Result.Type = "errored"
		row.Result.Error, _ = json.Marshal(map[string]string{"type": typ, "message": msg})
		return row, true
	}
	if in.Response == nil || in.Response.StatusCode != http.StatusOK {
		var e struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(in.Error, &e)
		if e.Code == "" && in.Response != nil {
			var env struct {
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			_ = json.Unmarshal(in.Response.Body, &env)
			e.Code, e.Message = env.Error.Type, env.Error.Message
		}
		if e.Code == "" {
			e.Code = "unknown"
		}
		return errored(e.Code, e.Message)
	}
	text, err := llm.FirstChoiceText(in.Response.Body)
	if err != nil {
		return errored("api_error", "the completion has no text")
	}
	model, usage, _ := llm.AnswerUsage(in.Response.Body)
	row.Result.Type = "succeeded"
	row.Result.Message = &rowMessage{Model: model, Content: []rowBlock{{Type: "text", Text: text}}, Usage: usage}
	return row, true
}
