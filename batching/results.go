package batching

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// resultRow is one JSONL line of a batch's results (Anthropic's shape; an
// OpenAI line is read into it by openAIRow).
type resultRow struct {
	CustomID string `json:"custom_id"`
	Result   struct {
		Type    string          `json:"type"` // succeeded, errored, canceled, expired
		Message *rowMessage     `json:"message"`
		Error   json.RawMessage `json:"error"`
	} `json:"result"`
}

type rowMessage struct {
	Model   string        `json:"model"`
	Content []rowBlock    `json:"content"`
	Usage   pricing.Usage `json:"usage"`
}

type rowBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// ErrMissing is the error a call gets when its batch ended without a row
// for it.
var ErrMissing = errors.New("batching: the batch ended without a result for the call")

// results downloads an ended batch's JSONL results and hands each row to its
// item: succeeded → Apply(first text block), anything else → Fail. Unknown
// custom_ids are ignored; items without a row fail. Rows are claimed one by
// one, so a crash midway leaves the rest for the next lease holder.
func (q *Queue) results(ctx context.Context, r Record, cred auth.Credential, obj batchObject, release func()) {
	dctx, cancel := context.WithTimeout(ctx, q.tun.httpTimeout*5)
	defer cancel()
	fresh := r.Left == r.N // nothing of this record was claimed before this run
	matched, lines := 0, 0
	for _, src := range q.resultSources(cred, obj) {
		n, l, ok := q.readResults(ctx, dctx, r, cred, src, release)
		matched, lines = matched+n, lines+l
		if !ok {
			return
		}
	}
	if r.Adopted && fresh && matched == 0 && r.Left > 0 {
		// Reconciliation picked a batch that was not ours: the create never
		// happened, the items were never submitted.
		n, err := q.bq.Requeue(ctx, r.ID, q.owner, q.now(), q.tun.leaseTTL)
		q.log.Warn("batching: an adopted batch holds none of the record's items; requeued them",
			zap.String("batch", r.Batch), zap.Int("items", n), zap.Error(err))
		return
	}
	rest, err := q.bq.Finish(ctx, r.ID, CountFailed)
	if err != nil {
		if ctx.Err() == nil {
			q.log.Warn("batching: cannot finish a batch", zap.String("batch", r.Batch), zap.Error(err))
		}
		return
	}
	for _, it := range rest {
		q.fail(ctx, q.decode(it), ErrMissing)
	}
	q.log.Info("batching: batch done", zap.String("batch", r.Batch), zap.Int("rows", lines),
		zap.Int("applied_or_failed", matched), zap.Int("missing", len(rest)))
	q.deleteFiles(ctx, cred, obj)
}

// readResults reads one results file (Anthropic's results, or an OpenAI
// output or error file) line by line, handing each to resultLine. ok is
// false when the record was left for the next tick (or another instance).
func (q *Queue) readResults(ctx, dctx context.Context, r Record, cred auth.Credential, src *url.URL, release func()) (matched, lines int, ok bool) {
	resp, err := q.request(dctx, http.MethodGet, src, cred, nil)
	if err == nil {
		defer func() { _ = resp.Body.Close() }()
		err = checkStatus(resp, cred)
	}
	if err != nil {
		if ctx.Err() == nil {
			q.log.Warn("batching: cannot fetch batch results; retrying at the next tick", zap.String("batch", r.Batch), zap.Error(err))
			q.leaveFor(r.ID, q.cfg.PollInterval/2, release)
		}
		return matched, lines, false
	}
	rd := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, rerr := rd.ReadBytes('\n')
		if line = bytes.TrimSpace(line); len(line) > 0 {
			lines++
			n, err := q.resultLine(ctx, r, cred, line)
			if err != nil {
				if ctx.Err() == nil {
					q.log.Warn("batching: cannot record a batch result; retrying at the next tick", zap.String("batch", r.Batch), zap.Error(err))
					q.leaveFor(r.ID, q.cfg.PollInterval/2, release)
				}
				return matched, lines, false
			}
			matched += n
		}
		if errors.Is(rerr, io.EOF) {
			return matched, lines, true
		}
		if rerr != nil {
			if ctx.Err() == nil {
				q.log.Warn("batching: batch results cut short; retrying at the next tick", zap.String("batch", r.Batch), zap.Error(rerr))
				q.leaveFor(r.ID, q.cfg.PollInterval/2, release)
			}
			return matched, lines, false
		}
		if q.isStopping() {
			q.leaveFor(r.ID, 0, release) // another instance (or the next start) continues
			return matched, lines, false
		}
	}
}

// resultLine handles one JSONL line; it returns 1 when the line was one of
// the record's items (now claimed and handled), 0 otherwise. An error means
// Redis could not be reached (the row was not claimed).
func (q *Queue) resultLine(ctx context.Context, r Record, cred auth.Credential, line []byte) (int, error) {
	row, ok := parseRow(cred, line)
	if !ok {
		// Not the line itself: it is upstream bytes (model output, or a
		// proxy's page), which never reach a log.
		q.log.Warn("batching: unparsable batch result line", zap.String("batch", r.Batch), zap.Int("bytes", len(line)))
		return 0, nil
	}
	counter := CountFailed
	if row.Result.Type == "succeeded" {
		counter = CountResolved
	}
	got, err := q.bq.Claim(ctx, r.ID, counter, row.CustomID)
	if err != nil {
		return 0, err
	}
	if len(got) == 0 {
		return 0, nil // not ours (unknown custom_id) or already handled
	}
	o := q.decode(got[0])
	if o.err == nil {
		o.err = q.gone(o) // its session's keys have expired: no result, no keys back
	}
	if o.err != nil {
		q.fail(ctx, o, o.err)
		return 1, nil
	}
	switch row.Result.Type {
	case "succeeded":
		m := row.Result.Message
		if m == nil {
			q.fail(ctx, o, errors.New("batching: succeeded row without a message"))
			return 1, nil
		}
		model := m.Model
		if model == "" {
			model = o.call.Model
		}
		if o.call.SessionID != "" {
			if err := q.bq.AddSessionUsage(ctx, o.call.SessionID, model, m.Usage, q.cfg.Retention); err != nil && ctx.Err() == nil {
				q.log.Debug("batching: cannot record batch usage", zap.Error(err))
			}
			if q.cfg.OnUsage != nil {
				q.cfg.OnUsage(ctx, o.call.SessionID, model, m.Usage)
			}
		}
		if text, ok := rowText(row); ok {
			q.apply(ctx, o, text)
			return 1, nil
		}
		q.fail(ctx, o, errors.New("batching: the answer has no text block"))
	case "errored":
		err := rowError(row.Result.Error, cred)
		q.log.Warn("batching: batch item errored", zap.String("custom_id", o.id), zap.Error(err))
		q.fail(ctx, o, err)
	default:
		q.fail(ctx, o, fmt.Errorf("batching: batch item %s", row.Result.Type))
	}
	return 1, nil
}

// rowText returns the first text block of a succeeded row's message.
func rowText(row resultRow) (string, bool) {
	if m := row.Result.Message; m != nil {
		for _, b := range m.Content {
			if b.Type == "text" {
				return b.Text, true
			}
		}
	}
	return "", false
}

// rowError reads an errored row's error: a full error envelope
// {type:"error", error:{type, message}} (the real API), or a bare
// {type, message}. It reaches logs, so its type and message are kept as
// llm.ErrorDetail keeps them: cred redacted, bounded.
func rowError(raw json.RawMessage, cred auth.Credential) error {
	var e struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Error   *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return errors.New("batching: batch item errored")
	}
	if e.Error != nil {
		e.Type, e.Message = e.Error.Type, e.Error.Message
	}
	if e.Type == "" {
		e.Type = "unknown"
	}
	env, _ := json.Marshal(map[string]any{"error": map[string]string{"type": e.Type, "message": e.Message}})
	typ, msg, _ := llm.ErrorDetail(env, cred) // both from the upstream: both redacted
	return fmt.Errorf("batching: batch item errored: %s: %s", typ, msg)
}
