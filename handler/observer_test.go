package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// recObserver records the handler's metrics events.
type recObserver struct {
	mu       sync.Mutex
	requests map[string]int
	statuses map[int]int
	tokens   [4]int64
	removed  int
	cost     [2]int64
	overflow int
}

func (o *recObserver) Request(route, class string, layer int) {
	o.mu.Lock()
	o.requests[fmt.Sprintf("%s/%s/%d", route, class, layer)]++
	o.mu.Unlock()
}
func (o *recObserver) UpstreamStatus(code int) { o.mu.Lock(); o.statuses[code]++; o.mu.Unlock() }
func (o *recObserver) Tokens(in, out, cr, cw int64) {
	o.mu.Lock()
	o.tokens[0] += in
	o.tokens[1] += out
	o.tokens[2] += cr
	o.tokens[3] += cw
	o.mu.Unlock()
}
func (o *recObserver) TokensRemoved(n int) { o.mu.Lock(); o.removed += n; o.mu.Unlock() }
func (o *recObserver) OverflowRetry()      { o.mu.Lock(); o.overflow++; o.mu.Unlock() }
func (o *recObserver) overflows() int      { o.mu.Lock(); defer o.mu.Unlock(); return o.overflow }
func (o *recObserver) Cost(a, c int64) {
	o.mu.Lock()
	o.cost[0] += a
	o.cost[1] += c
	o.mu.Unlock()
}

func TestObserverEvents(t *testing.T) {
	obs := &recObserver{requests: map[string]int{}, statuses: map[int]int{}}
	e := newEnv(t, func(c *Config) { c.Observer = obs })

	var want [4]int64
	addUsage := func(body string) {
		t.Helper()
		var r struct {
			Usage struct {
				In  int64 `json:"input_tokens"`
				Out int64 `json:"output_tokens"`
				CR  int64 `json:"cache_read_input_tokens"`
				CW  int64 `json:"cache_creation_input_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		want[0] += r.Usage.In
		want[1] += r.Usage.Out
		want[2] += r.Usage.CR
		want[3] += r.Usage.CW
	}
	// A chat-completions turn (Claude model through the OpenAI route).
	oc := openAIClient(e, keyA)
	if _, err := oc.Chat.Completions.New(context.Background(), chatParams("claude-sonnet-4-5")); err != nil {
		t.Fatal(err)
	}
	// A passthrough call.
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v1/models", nil)
	req.Header.Set("X-Api-Key", keyA)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
	}
	e.settle()
	obs.mu.Lock()
	before := obs.tokens
	obs.mu.Unlock()

	for turns := 1; turns <= 2; turns++ {
		code, _, body := e.post("/v1/messages", conversation("observe me", turns, ""), "X-Api-Key", keyA)
		if code != 200 {
			t.Fatalf("turn %d: %d %s", turns, code, body)
		}
		addUsage(body)
	}
	e.settle()

	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.requests["messages/turn/0"] != 2 || obs.requests["chat/turn/0"] != 1 || obs.requests["passthrough/passthrough/-1"] != 1 {
		t.Fatalf("requests %v", obs.requests)
	}
	total := 0
	for _, n := range obs.statuses {
		total += n
	}
	if total != 4 || obs.statuses[200] < 3 {
		t.Fatalf("upstream statuses %v", obs.statuses)
	}
	for i := range want {
		if got := obs.tokens[i] - before[i]; got != want[i] {
			t.Fatalf("tokens delta %v - %v, the Messages turns answered %v", obs.tokens, before, want)
		}
	}
	if want[1] == 0 || before[1] == 0 {
		t.Fatalf("no usage reported: %v %v", before, want)
	}
}
