package handler

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// With thinking on, the fake upstream refuses an altered thinking block and
// a final assistant turn that does not start with its own thinking block
// (see the fake's package doc). These tests drive every rewrite path with
// thinking on, so a gateway that breaks either rule fails them.

const thinkingOn = `"thinking":{"type":"enabled","budget_tokens":2000},`

// The recall follow-up sends the round's own signed thinking first.
func TestRecallFollowUpKeepsThinking(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "sse"}[stream], func(t *testing.T) {
			e := newEnv(t)
			withRecall(e)
			extra := thinkingOn
			if stream {
				extra += `"stream":true,`
			}
			code, _, body := e.post("/v1/messages", conversation("[[thinking]] which port? [[recall:redis test port]]", 1, extra), "x-api-key", keyA)
			if code != 200 || strings.Contains(body, `"type":"error"`) {
				t.Fatalf("%d %s", code, body)
			}
			ups := upstreamMessages(e)
			if len(ups) != 2 {
				t.Fatalf("%d upstream calls, want the turn and its follow-up", len(ups))
			}
			if follow := string(ups[1]["messages"]); !strings.Contains(follow, `"type":"thinking"`) {
				t.Fatalf("follow-up without the round's thinking: %s", follow)
			}
		})
	}
}

// loopClient is an agent loop against the gateway: it sends back what the
// model answered, as it answered it, and a file's content as each result.
type loopClient struct {
	t    *testing.T
	e    *env
	msgs []string
}

func (c *loopClient) turn() (string, map[string]any) {
	c.t.Helper()
	sys, _ := json.Marshal("You are a coding agent. " + strings.Repeat("Follow the rules. ", 40))
	body := fmt.Sprintf(`{"model":"claude-sonnet-4-5","max_tokens":4000,%s"system":%s,"tools":[{"name":"Bash","input_schema":{"type":"object"}},{"name":"Read","input_schema":{"type":"object"}},{"name":"Edit","input_schema":{"type":"object"}}],"messages":[%s]}`,
		thinkingOn, sys, strings.Join(c.msgs, ","))
	code, _, resp := c.e.post("/v1/messages", body, "x-api-key", keyA)
	if code != 200 {
		c.t.Fatalf("after %d messages: %d %s", len(c.msgs), code, resp)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(resp), &m); err != nil {
		c.t.Fatal(err)
	}
	return resp, m
}

// step answers one loop round: it appends the assistant's content and the
// result of its Bash call (the file named in it, 16 KB).
func (c *loopClient) step(m map[string]any, round int) bool {
	content, _ := json.Marshal(m["content"])
	c.msgs = append(c.msgs, fmt.Sprintf(`{"role":"assistant","content":%s}`, content))
	var id string
	for _, b := range m["content"].([]any) {
		if blk := b.(map[string]any); blk["type"] == "tool_use" {
			id = blk["id"].(string)
		}
	}
	if id == "" {
		return false
	}
	out, _ := json.Marshal(fmt.Sprintf("LOOP %d of %d\n%s", round, loopRounds, strings.Repeat(fmt.Sprintf("line %d of file %d\n", round, round), 900)))
	c.msgs = append(c.msgs, fmt.Sprintf(`{"role":"user","content":[{"type":"tool_result","tool_use_id":%q,"content":%s}]}`, id, out))
	return true
}

const loopRounds = 64

// A loop of 64 rounds of 16 KB (about 1.3 windows) goes through layer 1 (cut
// inside the loop) and, on forced overflows, a higher layer (old outputs
// stripped): every request keeps each thinking block as signed and the last
// call's thinking first.
func TestThinkingLoopThroughTheLayers(t *testing.T) {
	fake := fakeupstream.New(fakeupstream.Options{APIKeys: []string{keyA}})
	defer fake.Close()
	u, _ := url.Parse(fake.URL())
	e := newEnv(t, func(c *Config) { c.Upstream = u; c.MaxBody = 8 << 20 })
	c := &loopClient{t: t, e: e, msgs: []string{fmt.Sprintf(`{"role":"user","content":"read the files [[loop:%d]]"}`, loopRounds)}}
	layers := map[int]int{}
	for round := 1; ; round++ {
		if round == 52 || round == 58 {
			// A genuine surprise: the upstream counts more than estimated.
			fake.FailNext(fakeupstream.Failure{Path: "/v1/messages", Status: 400,
				Body: `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 9500 tokens > 9000 maximum"}}`})
		}
		resp, m := c.turn()
		e.settle()
		var st gradient.State
		sess, _ := e.store.LoadSession(t.Context(), e.sessionIDs()[0])
		if err := json.Unmarshal(sess.Gradient, &st); err == nil {
			layers[st.LastLayer]++
		}
		if !c.step(m, round) {
			if !strings.Contains(resp, fmt.Sprintf("LOOP DONE: read %d files", loopRounds)) {
				t.Fatalf("round %d ended with %s", round, resp)
			}
			break
		}
	}
	t.Logf("layers used: %v", layers)
	if layers[1] == 0 || layers[2]+layers[3] == 0 {
		t.Fatalf("layers used %v; want layer 1 and, after the forced overflows, 2 or 3", layers)
	}
	for _, b := range fake.Bills() {
		if b.Status != 200 && !strings.Contains(b.Error, "9500 tokens") {
			t.Fatalf("the upstream refused a request: %d %s", b.Status, b.Error)
		}
	}
}
