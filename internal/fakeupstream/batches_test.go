package fakeupstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

func batchReq(id string, p anthropic.MessageNewParams) anthropic.MessageBatchNewParamsRequest {
	return anthropic.MessageBatchNewParamsRequest{CustomID: id, Params: anthropic.MessageBatchNewParamsRequestParams{
		Model: p.Model, MaxTokens: p.MaxTokens, Messages: p.Messages, System: p.System,
	}}
}

func TestSDKBatchLifecycle(t *testing.T) {
	s, clk := newServer(t, Options{BatchDelay: time.Minute})
	c := client(s)
	ctx := context.Background()
	obs := params(userText("[user] a\n[assistant] b"))
	obs.System = []anthropic.TextBlockParam{{Text: "Write an <observations> block."}}
	b, err := c.Messages.Batches.New(ctx, anthropic.MessageBatchNewParams{Requests: []anthropic.MessageBatchNewParamsRequest{
		batchReq("ok-1", params(userText("hello"))),
		batchReq("bad", params(userText("please fail [[batch:errored]]"))),
		batchReq("obs", obs),
		batchReq("exp", params(userText("[[batch:expired]]"))),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.ID, "msgbatch_") || b.ProcessingStatus != "in_progress" || b.RequestCounts.Processing != 4 ||
		b.RequestCounts.Succeeded != 0 || b.ResultsURL != "" ||
		!b.CreatedAt.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) || !b.ExpiresAt.Equal(b.CreatedAt.Add(24*time.Hour)) {
		t.Fatalf("created: %s", b.RawJSON())
	}
	if !strings.Contains(b.RawJSON(), `"results_url":null`) || !strings.Contains(b.RawJSON(), `"created_at":"2026-03-01T12:00:00.000000Z"`) {
		t.Fatalf("created: %s", b.RawJSON())
	}
	// Still in progress: results are 404.
	got, err := c.Messages.Batches.Get(ctx, b.ID, anthropic.MessageBatchGetParams{})
	if err != nil || got.ProcessingStatus != "in_progress" {
		t.Fatalf("get: %v %v", got, err)
	}
	rs := c.Messages.Batches.ResultsStreaming(ctx, b.ID, anthropic.MessageBatchResultsParams{})
	var ae *anthropic.Error
	if rs.Next() || !errors.As(rs.Err(), &ae) || ae.StatusCode != 404 || !jsonHas(ae.RawJSON(), "Message Batch "+b.ID+" has no available results.") {
		t.Fatalf("early results: %v", rs.Err())
	}
	// Another credential cannot see it.
	_, err = client(s).Messages.Batches.Get(ctx, b.ID, anthropic.MessageBatchGetParams{}, optKey(keyB))
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.Type() != "not_found_error" || !jsonHas(ae.RawJSON(), "Message Batch "+b.ID+" not found.") {
		t.Fatalf("key B: %v", err)
	}

	clk.advance(time.Minute)
	got, err = c.Messages.Batches.Get(ctx, b.ID, anthropic.MessageBatchGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	rc := got.RequestCounts
	if got.ProcessingStatus != "ended" || got.ResultsURL != s.URL()+"/v1/messages/batches/"+b.ID+"/results" ||
		rc.Succeeded != 2 || rc.Errored != 1 || rc.Expired != 1 || rc.Processing != 0 || rc.Canceled != 0 ||
		!got.EndedAt.Equal(b.CreatedAt.Add(time.Minute)) {
		t.Fatalf("ended: %s", got.RawJSON())
	}
	rs = c.Messages.Batches.ResultsStreaming(ctx, b.ID, anthropic.MessageBatchResultsParams{})
	rows := map[string]anthropic.MessageBatchIndividualResponse{}
	var order []string
	for rs.Next() {
		row := rs.Current()
		rows[row.CustomID] = row
		order = append(order, row.CustomID)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") == "ok-1,bad,obs,exp" || len(rows) != 4 {
		t.Fatalf("rows in request order or missing: %v", order)
	}
	ok := rows["ok-1"].Result
	if ok.Type != "succeeded" || ok.Message.Content[0].Text != "ok (turn 1)" || ok.Message.Usage.ServiceTier != "batch" || ok.Message.Usage.InputTokens != 2 {
		t.Fatalf("ok-1: %s", ok.RawJSON())
	}
	if o := rows["obs"].Result; o.Message.Content[0].Text != "<observations>\n- distilled 2 messages\n</observations>" {
		t.Fatalf("obs: %s", o.RawJSON())
	}
	bad := rows["bad"].Result
	if bad.Type != "errored" || bad.Error.Type != "error" || bad.Error.Error.Type != "invalid_request_error" ||
		bad.Error.Error.Message != "fake upstream: request marked [[batch:errored]]" || !strings.Contains(bad.RawJSON(), `"request_id":null`) {
		t.Fatalf("bad: %s", bad.RawJSON())
	}
	if rows["exp"].Result.Type != "expired" {
		t.Fatalf("exp: %s", rows["exp"].Result.RawJSON())
	}
	// Delete once ended; then it is gone.
	del, err := c.Messages.Batches.Delete(ctx, b.ID, anthropic.MessageBatchDeleteParams{})
	if err != nil || del.ID != b.ID || del.Type != "message_batch_deleted" {
		t.Fatalf("delete: %v %v", del, err)
	}
	if _, err := c.Messages.Batches.Get(ctx, b.ID, anthropic.MessageBatchGetParams{}); !errors.As(err, &ae) || ae.StatusCode != 404 {
		t.Fatalf("after delete: %v", err)
	}
}

func TestBatchDeferredParamErrorsAndCache(t *testing.T) {
	s, _ := newServer(t, Options{})
	body := `{"requests":[
		{"custom_id":"no_max","params":{"model":"m","messages":[{"role":"user","content":"x"}]}},
		{"custom_id":"stream","params":{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"x"}]}},
		{"custom_id":"zero","params":{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}},
		{"custom_id":"api","params":{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"[[batch:errored:api_error]]"}]}},
		{"custom_id":"cached","params":{"model":"m","max_tokens":5,"system":[{"type":"text","text":"` + strings.Repeat("s", 400) + `","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"x"}]}}]}`
	r := post(t, s, "/v1/messages/batches", body)
	id, _ := r.json(t)["id"].(string)
	if r.Status != 200 || id == "" {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	r = do(t, http.MethodGet, s.URL()+"/v1/messages/batches/"+id+"/results", "", "x-api-key: "+keyA, "anthropic-version: 2023-06-01")
	if r.Header.Get("Content-Type") != "application/x-jsonl" || !strings.HasSuffix(r.Body, "}\n") || strings.Contains(r.Body, "\n\n") {
		t.Fatalf("results: %v %q", r.Header, r.Body)
	}
	for _, want := range []string{
		`{"custom_id":"no_max","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":null}}}`,
		`{"custom_id":"stream","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"\"stream=True\" is not supported in the Message Batches API"},"request_id":null}}}`,
		`{"custom_id":"zero","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Input should be greater than or equal to 1"},"request_id":null}}}`,
		`{"custom_id":"api","result":{"type":"errored","error":{"type":"error","error":{"type":"api_error","message":"fake upstream: request marked [[batch:errored]]"},"request_id":null}}}`,
		`"usage":{"input_tokens":1,"cache_creation_input_tokens":100,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":100,"ephemeral_1h_input_tokens":0},"output_tokens":3,"service_tier":"batch"}`,
	} {
		if !strings.Contains(r.Body, want) {
			t.Fatalf("missing %s in\n%s", want, r.Body)
		}
	}
	// The batch wrote the cache of its creator: a sync request reads it.
	u := cacheUsageOf(t, post(t, s, "/v1/messages", `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"`+strings.Repeat("s", 400)+`","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"y"}]}`))
	if u.read != 100 {
		t.Fatalf("%+v", u)
	}
}

func TestBatchCreateValidation(t *testing.T) {
	s, _ := newServer(t, Options{})
	p := `"params":{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`
	for body, msg := range map[string]string{
		`{"requests":[]}`: "requests: List should have at least 1 item after validation, not 0",
		`{}`:              "requests: Field required",
		`{"requests":[{"custom_id":"ok",` + p + `},{"custom_id":"has space",` + p + `}]}`:           "requests.1.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
		`{"requests":[{"custom_id":"",` + p + `}]}`:                                                 "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'",
		`{"requests":[{"custom_id":"` + strings.Repeat("x", 65) + `",` + p + `}]}`:                  "requests.0.custom_id: String should have at most 64 characters",
		`{"requests":[{"custom_id":"dup",` + p + `},{"custom_id":"dup",` + p + `}]}`:                "requests: custom_id's must be unique within a batch. Duplicate custom_id found: dup",
		`{"requests":[{"custom_id":"a"}]}`:                                                          "requests.0.params: Field required",
		`{"requests":[{` + p + `}]}`:                                                                "requests.0.custom_id: Field required",
		`{"requests":[{"custom_id":"` + strings.Repeat("x", 64) + `",` + p + `}],"x":` + `"` + `"}`: "",
	} {
		r := post(t, s, "/v1/messages/batches", body)
		if msg == "" {
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			continue
		}
		wantError(t, r, 400, "invalid_request_error", msg)
	}
}

func TestBatchBearer(t *testing.T) {
	body := `{"requests":[{"custom_id":"a","params":{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}]}}]}`
	oauth := []string{"Authorization: Bearer " + oauthT, "anthropic-beta: oauth-2025-04-20"}
	s, _ := newServer(t, Options{RefuseBatchBearer: true})
	r := post(t, s, "/v1/messages/batches", body, oauth...)
	wantError(t, r, 403, "permission_error", "OAuth authentication is not supported for the Message Batches API. Use an API key.")
	if r := post(t, s, "/v1/messages", hiBody, oauth...); r.Status != 200 {
		t.Fatalf("messages with OAuth: %d", r.Status)
	}
	s2, _ := newServer(t, Options{})
	if r := post(t, s2, "/v1/messages/batches", body, oauth...); r.Status != 200 {
		t.Fatalf("without RefuseBatchBearer: %d %s", r.Status, r.Body)
	}
}

func TestBatchCancelListAndHostURL(t *testing.T) {
	h := NewHandler(Options{APIKeys: []string{keyA}, BatchDelay: time.Hour})
	hs := httptest.NewServer(h)
	defer hs.Close()
	c := anthropic.NewClient(optBase(hs.URL), optKey(keyA))
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		b, err := c.Messages.Batches.New(ctx, anthropic.MessageBatchNewParams{Requests: []anthropic.MessageBatchNewParamsRequest{
			batchReq("a", params(userText("x"))), batchReq("b", params(userText("y"))),
		}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
	}
	var ae *anthropic.Error
	if _, err := c.Messages.Batches.Delete(ctx, ids[0], anthropic.MessageBatchDeleteParams{}); !errors.As(err, &ae) || ae.StatusCode != 400 ||
		!jsonHas(ae.RawJSON(), "In progress batches cannot be deleted. Consider canceling the batch instead.") {
		t.Fatalf("delete in progress: %v", err)
	}
	cb, err := c.Messages.Batches.Cancel(ctx, ids[0], anthropic.MessageBatchCancelParams{})
	if err != nil || cb.ProcessingStatus != "canceling" || cb.CancelInitiatedAt.IsZero() {
		t.Fatalf("cancel: %v %v", cb, err)
	}
	got, err := c.Messages.Batches.Get(ctx, ids[0], anthropic.MessageBatchGetParams{})
	if err != nil || got.ProcessingStatus != "ended" || got.RequestCounts.Canceled != 2 ||
		got.ResultsURL != hs.URL+"/v1/messages/batches/"+ids[0]+"/results" {
		t.Fatalf("after cancel: %s", got.RawJSON())
	}
	page, err := c.Messages.Batches.List(ctx, anthropic.MessageBatchListParams{Limit: anthropic.Int(2)})
	if err != nil || len(page.Data) != 2 || page.Data[0].ID != ids[2] || page.Data[1].ID != ids[1] || !page.HasMore || page.LastID != ids[1] {
		t.Fatalf("list: %v %s", err, page.RawJSON())
	}
	page, err = c.Messages.Batches.List(ctx, anthropic.MessageBatchListParams{AfterID: anthropic.String(ids[1])})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != ids[0] || page.HasMore {
		t.Fatalf("list after: %v %s", err, page.RawJSON())
	}
}
