package lore

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/batching"
	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/store"
)

func adminDo(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://localhost:2999"+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestIntegrationAdminAPI(t *testing.T) {
	e := newITEnv(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(e.caddyfile(""), "caddyfile")
	c := sdkClient(t)
	const secretText = "admin-secret-message-text"
	usageTurn(t, c, secretText)
	time.Sleep(50 * time.Millisecond)
	usageTurn(t, c, secretText, "ok (turn 1)", "second admin turn")

	// The session list (its commit lands just after the answer).
	var page SessionsPage
	var view *SessionView
	var body string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && view == nil; time.Sleep(20 * time.Millisecond) {
		code, b := adminDo(t, "GET", "/lore/sessions?limit=500")
		if code != 200 {
			t.Fatalf("/lore/sessions: %d %s", code, b)
		}
		page = SessionsPage{}
		if err := json.Unmarshal([]byte(b), &page); err != nil {
			t.Fatal(err)
		}
		for i := range page.Sessions {
			if s := &page.Sessions[i]; s.Turns == 2 && s.Messages == 3 {
				view, body = s, b
			}
		}
	}
	if view == nil {
		t.Fatalf("session not listed: %+v", page)
	}
	if view.Credential == "" || view.Model != "claude-sonnet-4-5" || view.Tokens.Output == 0 || view.LastRequest.IsZero() ||
		view.Costs.TurnsMicroUSD <= 0 || view.Costs.TurnsWithoutMicroUSD <= 0 || view.Cost != float64(view.Costs.TurnsMicroUSD+view.Costs.BatchedMicroUSD)/1e6 {
		t.Fatalf("session view %+v", view)
	}
	var shape []map[string]any
	var raw struct {
		Sessions json.RawMessage `json:"sessions"`
	}
	_ = json.Unmarshal([]byte(body), &raw)
	_ = json.Unmarshal(raw.Sessions, &shape)
	for _, k := range []string{"id", "credential", "model", "messages", "turns", "last_layer", "post_idle_compact", "tokens", "last_request", "cost", "saved", "costs"} {
		if _, ok := shape[0][k]; !ok {
			t.Errorf("session JSON lacks %q: %v", k, shape[0])
		}
	}

	// A distillation row of the first two messages, written as the distiller would.
	st, err := store.Open(store.Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	const obs = "observation text that must not be shown"
	if out, _, err := distill.StoreRow(context.Background(), st, view.ID, distill.Row{
		ID: "row-1", Observations: obs, First: 0, Last: 1, FirstPos: 0, LastPos: 1, CreatedAt: time.Now().UnixMilli(),
	}); err != nil || out == distill.RowRejected || out == distill.RowNoSession {
		t.Fatalf("StoreRow: %v %v", out, err)
	}

	// A knowledge entry of the session's person and project.
	const fact = "knowledge content that must not be shown"
	sess, err := st.LoadSession(context.Background(), view.ID)
	if err != nil || sess == nil {
		t.Fatalf("LoadSession: %v %v", sess, err)
	}
	if err := knowledge.Apply(context.Background(), st, sess.Namespace, knowledge.DefaultProject, knowledge.Change{
		Put: []knowledge.Entry{{ID: "k1", Project: knowledge.DefaultProject, Category: "gotcha", Title: "T", Content: fact, Confidence: 1}},
	}, time.Hour); err != nil {
		t.Fatal(err)
	}

	// Detail, with and without messages.
	code, detail := adminDo(t, "GET", "/lore/sessions/"+view.ID)
	if code != 200 {
		t.Fatalf("detail: %d %s", code, detail)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(detail), &d); err != nil || d["id"] != view.ID {
		t.Fatalf("detail %v %v", d, err)
	}
	for _, k := range []string{"distilled", "undistilled", "distillations"} {
		if _, ok := d[k]; !ok {
			t.Errorf("detail lacks %q", k)
		}
	}
	var dd SessionDetail
	_ = json.Unmarshal([]byte(detail), &dd)
	if len(dd.Distillations) != 1 || dd.Distillations[0].ID != "row-1" || dd.Distillations[0].ObservationChars != len(obs) ||
		dd.Distilled == nil || *dd.Distilled != 2 || strings.Contains(detail, obs) {
		t.Fatalf("detail distillations: %s", detail)
	}
	if _, ok := d["message_list"]; ok {
		t.Fatal("messages shown without ?messages=1")
	}
	if k := dd.Knowledge; k == nil || k.Project != knowledge.DefaultProject || k.ProjectEntries != 1 || k.GlobalEntries != 0 ||
		k.TurnsSinceCuration != 2 || len(k.Entries) != 0 || strings.Contains(detail, fact) {
		t.Fatalf("detail knowledge: %s", detail)
	}
	code, withMsgs := adminDo(t, "GET", "/lore/sessions/"+view.ID+"?messages=1")
	if code != 200 || !strings.Contains(withMsgs, secretText) || !strings.Contains(withMsgs, fact) {
		t.Fatalf("?messages=1: %d %s", code, withMsgs)
	}

	code, batches := adminDo(t, "GET", "/lore/batches")
	var bm map[string]any
	if code != 200 || json.Unmarshal([]byte(batches), &bm) != nil {
		t.Fatalf("batches: %d %s", code, batches)
	}
	for _, k := range []string{"queued", "oldest_age_seconds", "in_flight_batches", "enqueued", "fallback"} {
		if _, ok := bm[k]; !ok {
			t.Errorf("batches JSON lacks %q: %s", k, batches)
		}
	}

	code, html := adminDo(t, "GET", "/lore/")
	if code != 200 || !strings.Contains(html, "<svg") || !strings.Contains(html, view.ID) || !strings.Contains(html, `<tr class="session">`) ||
		!strings.Contains(html, `class="savings"`) || !strings.Contains(html, "saved $") {
		t.Fatalf("status page: %d %s", code, html)
	}

	// Nothing secret anywhere but the explicit messages view.
	for name, out := range map[string]string{"list": body, "detail": detail, "batches": batches, "page": html, "metrics": scrape(t)} {
		// The key's own tail is all zeros, which a float like
		// 0.0010760000000000001 contains: look for its distinctive middle.
		if strings.Contains(out, itKey) || strings.Contains(out, "integration-key") || strings.Contains(out, secretText) {
			t.Fatalf("%s leaks a credential or message text", name)
		}
	}

	for _, p := range []string{"/lore/sessions/no-such-session", "/lore/sessions/bad{id}", "/lore/nope"} {
		if code, b := adminDo(t, "GET", p); code != 404 {
			t.Fatalf("GET %s: %d %s", p, code, b)
		}
	}
	// Queued background work of the session, and of another one.
	bq := batching.NewRedisQueue(st)
	ctx := context.Background()
	for id, sid := range map[string]string{"it-mine-1": view.ID, "it-mine-2": view.ID, "it-other-1": "someone-else"} {
		item := `{"call":{"kind":"distill","session":"` + sid + `"},"cred":"","at":` + strconv.FormatInt(time.Now().UnixMilli(), 10) + `}`
		if _, _, err := bq.Enqueue(ctx, id, "admin-test-group", []byte(item), "admin-test", time.Now(), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	of := func(sid string) func([]byte) bool {
		return func(b []byte) bool { return strings.Contains(string(b), `"session":"`+sid+`"`) }
	}
	if code, b := adminDo(t, "DELETE", "/lore/sessions/"+view.ID); code != 200 {
		t.Fatalf("DELETE: %d %s", code, b)
	}
	if n, err := bq.DropQueued(ctx, of(view.ID)); err != nil || n != 0 {
		t.Fatalf("%d queued items of the deleted session left (%v)", n, err)
	}
	if n, err := bq.DropQueued(ctx, of("someone-else")); err != nil || n != 1 {
		t.Fatalf("another session's queued item: dropped %d (%v), want it left by the DELETE", n, err)
	}
	if code, _ := adminDo(t, "GET", "/lore/sessions/"+view.ID); code != 404 {
		t.Fatalf("after DELETE: %d", code)
	}
	if rows, err := distill.LiveRows(context.Background(), st, view.ID); err != nil || len(rows) != 0 {
		t.Fatalf("distillations after DELETE: %v %v", rows, err)
	}
	if msgs, err := st.Messages(context.Background(), view.ID, 0, -1); err != nil || len(msgs) != 0 {
		t.Fatalf("messages after DELETE: %d %v", len(msgs), err)
	}
	if code, _ := adminDo(t, "DELETE", "/lore/sessions/"+view.ID); code != 404 {
		t.Fatalf("second DELETE: %d", code)
	}
}
