package e2e

// The end-to-end test of idle work and post-idle compaction
// (docs/context-window.md, Idle work and post-idle compaction): a Claude-Code-shaped session of ~60 turns through the built gateway
// and a real redis-server goes idle; the idle scheduler distils every
// pending message through the Message Batches API; after idle_resume the
// next turn is compacted (distilled prefix + a raw window of at most 20% of
// usable), the one after is back to 40%. The same script runs again with
// idle_resume 0 to measure what post-idle compaction saves on the
// cold-cache turn.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/gradient"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/msg"
)

const (
	idleMainTurns  = 80
	idleTimeoutCfg = 2 * time.Second
	idleResumeCfg  = 5 * time.Second
	idleTailText   = "One more thing before the break: run the linters on the store package. [[tool:Bash]]"
)

// idleRun is what one run of the idle script measured.
type idleRun struct {
	Resume        string
	Turns         int // conversation turns before the idle period
	MainTurns     int // of which before the tail
	Layers        map[int]int
	ClientTokens  int // the client's history before the break (fake's count)
	Pending       int // messages undistilled when the session went idle
	IdleBatches   int
	IdleRendered  int // messages rendered in the idle batch items
	IdleMeta      bool
	IdleCurations int // curation and consolidation items in the idle batches
	Budget        gradient.Budget
	P1, P2        idleTurn
	LayerBeforeP1 int
}

// idleTurn is one turn after the break.
type idleTurn struct {
	Layer      int
	Messages   int // messages sent upstream
	RawTokens  int // gradient estimate of the raw window (messages after the prefix)
	PrefixTok  int // gradient estimate of the two prefix messages
	Tokens     int // fake's count of the whole upstream request
	UsageTotal int // input + cache read + cache write, as the fake billed it
	HasPrefix  bool
}

// renderedLine matches one message as the observer prompt renders it
// (distill/render.go): "[role] (HH:MM) ".
var renderedLine = regexp.MustCompile(`(?m)^\[(user|assistant|tool)\] \(\d\d:\d\d\) `)

func TestIdleWorkAndPostIdleCompaction(t *testing.T) {
	var with, without idleRun
	// The first run adds prompts past idleMainTurns until the pinned raw
	// window is above the post-idle budget (where a break can save
	// anything); the second runs exactly as many turns.
	t.Run("idle_resume 5s", func(t *testing.T) { with = runIdleScript(t, "5s", 0) })
	t.Run("idle_resume 0", func(t *testing.T) { without = runIdleScript(t, "0", with.MainTurns) })
	if t.Failed() {
		return
	}

	a, b := with.P1, without.P1
	if a.UsageTotal >= b.UsageTotal {
		t.Errorf("first turn after idle: %d input tokens with post-idle compaction, %d without; want fewer with",
			a.UsageTotal, b.UsageTotal)
	}
	saved := b.UsageTotal - a.UsageTotal
	savedEst := (b.RawTokens + b.PrefixTok) - (a.RawTokens + a.PrefixTok)
	usable := with.Budget.Usable
	var md strings.Builder
	fmt.Fprintf(&md, "### Idle work and post-idle compaction (%d-turn Claude-Code-shaped session, model %s, idle_timeout %s)\n\n",
		with.Turns, testModel, idleTimeoutCfg)
	md.WriteString("| measure | idle_resume 5s (post-idle compaction) | idle_resume 0 |\n|---|---|---|\n")
	fmt.Fprintf(&md, "| client history before the break | %d tokens | %d tokens |\n", with.ClientTokens, without.ClientTokens)
	fmt.Fprintf(&md, "| messages pending when idle → distilled by the idle batch | %d → %d (%d batch(es), meta %v) | %d → %d (%d batch(es), meta %v) |\n",
		with.Pending, with.IdleRendered, with.IdleBatches, with.IdleMeta, without.Pending, without.IdleRendered, without.IdleBatches, without.IdleMeta)
	fmt.Fprintf(&md, "| usable (gradient estimate) / 20%% / 40%% | %d / %d / %d | %d / %d / %d |\n",
		with.Budget.Usable, with.Budget.PostIdleRaw, with.Budget.Raw, without.Budget.Usable, without.Budget.PostIdleRaw, without.Budget.Raw)
	fmt.Fprintf(&md, "| first turn after idle: layer, raw window (estimate) | %d, %d | %d, %d |\n", a.Layer, a.RawTokens, b.Layer, b.RawTokens)
	fmt.Fprintf(&md, "| first turn after idle: distilled prefix (estimate) | %d | %d |\n", a.PrefixTok, b.PrefixTok)
	fmt.Fprintf(&md, "| **first turn after idle: cold-cache input tokens** (fake's count: input + cache read + cache write) | **%d** | **%d** |\n", a.UsageTotal, b.UsageTotal)
	fmt.Fprintf(&md, "| turn after that: layer, raw window (estimate) | %d, %d | %d, %d |\n", with.P2.Layer, with.P2.RawTokens, without.P2.Layer, without.P2.RawTokens)
	fmt.Fprintf(&md, "| saved on the cold-cache turn | %d tokens (fake's count); %d estimated = %.1f%% of usable | |\n",
		saved, savedEst, 100*float64(savedEst)/float64(max(usable, 1)))
	report(t, md.String())
}

// runIdleScript runs the whole scenario once with the given idle_resume and
// mainTurns turns before the tail (0: at least idleMainTurns, then whole
// prompts until the raw window is 15% above the post-idle budget).
func runIdleScript(t *testing.T, resume string, mainTurns int) idleRun {
	run := idleRun{Resume: resume, Layers: map[int]int{}}
	e := NewEnv(t, EnvOptions{
		LoreExtra: fmt.Sprintf("idle_timeout %s\nidle_resume %s\nbatching {\nflush_interval 500ms\npoll_interval 500ms\n}",
			idleTimeoutCfg, resume),
		Fake: fakeupstream.Options{BatchDelay: 200 * time.Millisecond},
	})
	key := e.Creds.Alice
	rc := e.Redis.Client()
	c := newCCClient(t, e.URL, key)
	gen := newOutputGen(42)
	rng := rand.New(rand.NewSource(9))

	// ---------------------------------------------------------------- the session
	// Typed prompts, each followed by a short autonomous tool chain (2–6
	// steps of 6–20 KB outputs): long enough that the history outgrows the
	// window and the gradient works at layer 1, short enough that no turn
	// alone needs layer 2 (sticky, and not what the post-idle turn shows).
	var pending []toolUse
	stepsLeft, promptN, sid := 0, 0, ""
	send := func(blocks []map[string]any, stream bool) ccReply {
		t.Helper()
		r := c.send(blocks, stream)
		if r.Status != 200 {
			t.Fatalf("turn %d: status %d: %s", run.Turns+1, r.Status, truncate(r.Body, 600))
		}
		run.Turns++
		if sid == "" {
			var ids []string
			if !waitFor(5*time.Second, func() bool { ids = findSessions(t, rc); return len(ids) == 1 }) {
				t.Fatalf("want one session in Redis after turn 1, found %v", ids)
			}
			sid = ids[0]
		}
		st := waitTurns(t, rc, sid, run.Turns)
		run.Layers[st.Layer]++
		pending = r.ToolUses
		return r
	}
	// windowLarge: the pinned raw window (the last transform's estimate less
	// its distilled prefix) is above the post-idle budget by 15%.
	windowLarge := func() bool {
		st := readGradient(t, rc, sid)
		pre := 0
		for _, p := range st.Prefix.Parts {
			pre += gradient.EstimateText(p)
		}
		b := gradient.ComputeBudget(&st, gradient.LimitsFor(testModel, false), 0)
		return st.LastLayer == 1 && (st.LastTransformEstimate-pre)*100 > b.PostIdleRaw*115
	}
	more := func(k int) bool {
		if len(pending) > 0 {
			return true
		}
		if mainTurns > 0 {
			return k <= mainTurns
		}
		return k <= idleMainTurns || (k <= idleMainTurns+80 && !windowLarge())
	}
	for k := 1; more(k); k++ {
		var blocks []map[string]any
		if len(pending) == 0 {
			promptN++
			stepsLeft = 2 + rng.Intn(5)
			blocks = append(blocks, map[string]any{"type": "text", "text": fmt.Sprintf("%s (request %d) [[tool:%s]]",
				userPrompts[rng.Intn(len(userPrompts))], promptN, chainTools[rng.Intn(len(chainTools))])})
		} else {
			for _, tu := range pending {
				blocks = append(blocks, map[string]any{"type": "tool_result", "tool_use_id": tu.ID, "content": gen.Output(tu.Name)})
			}
			stepsLeft--
			if stepsLeft > 0 {
				blocks = append(blocks, map[string]any{"type": "text", "text": fmt.Sprintf("Step %d: continue. [[tool:%s]]",
					k, chainTools[rng.Intn(len(chainTools))])})
			}
		}
		send(blocks, k%5 != 0)
	}

	// Let the post-turn distillations finish (the idle scheduler may take
	// part: a pause of 2 s is an idle period already), so that the tail
	// below is the only thing left for the idle work.
	quiet := func(what string) sessState {
		t.Helper()
		var st sessState
		if !waitFor(30*time.Second, func() bool { st = readSession(t, rc, sid); return st.Mark == st.Stored && !st.Guard }) {
			t.Fatalf("%s: watermark %d of %d stored messages, guard held %v after 30s", what, st.Mark, st.Stored, st.Guard)
		}
		return st
	}
	run.MainTurns = run.Turns
	quiet("after the main turns")

	// The tail: a typed prompt and its one tool step, 4 messages — below
	// the post-turn trigger (30) and below the minimum of a non-forced run
	// (5): only the idle work distils them.
	send([]map[string]any{{"type": "text", "text": idleTailText}}, true)
	if len(pending) != 1 {
		t.Fatalf("tail prompt: %d tool calls, want 1", len(pending))
	}
	send([]map[string]any{{"type": "tool_result", "tool_use_id": pending[0].ID, "content": gen.Output("Bash")}}, false)
	tLast := time.Now() // the last turn's commit is in (waitTurns)
	before := readSession(t, rc, sid)
	run.Pending = before.Stored - before.Mark
	run.ClientTokens = fakeupstream.EstimateTokens(c.lastBody)
	if run.Pending != 4 {
		t.Errorf("%d messages pending before the idle period, want the 4 of the tail", run.Pending)
	}
	n0 := len(e.Fake.Requests())

	// ---------------------------------------------------------------- idle
	after := quiet("idle work")
	if after.Stored != before.Stored {
		t.Fatalf("stored messages changed during the idle period: %d → %d", before.Stored, after.Stored)
	}
	var idleDistilled []string
	for _, r := range e.Fake.Requests()[n0:] {
		switch {
		case r.Path == "/v1/messages/batches" && r.Method == "POST":
			run.IdleBatches++
			for _, p := range batchParams(t, r.Body) {
				switch _, kind := classifyUpstream(p, testModel); kind {
				case "distill":
					idleDistilled = append(idleDistilled, workerUserText(t, p))
				case "meta":
					run.IdleMeta = true
				case "curate", "consolidate":
					run.IdleCurations++ // idle work's knowledge steps (docs/context-window.md)
				default:
					t.Errorf("idle batch item of kind %s", kind)
				}
			}
		case r.Path == "/v1/messages":
			_, kind := classifyUpstream(r.Body, testModel)
			t.Errorf("a %s call went to /v1/messages during the idle period: idle work is non-urgent, it goes through the batch queue", kind)
		}
	}
	for _, u := range idleDistilled {
		run.IdleRendered += len(renderedLine.FindAllString(u, -1))
	}
	if len(idleDistilled) == 0 {
		t.Fatalf("no distillation in a batch after the session went idle (%d batch creates)", run.IdleBatches)
	}
	all := strings.Join(idleDistilled, "\n")
	if run.IdleRendered != run.Pending || !strings.Contains(all, strings.TrimSuffix(idleTailText, " [[tool:Bash]]")) {
		t.Errorf("the idle batch renders %d messages (tail prompt present: %v), want the %d pending ones",
			run.IdleRendered, strings.Contains(all, "run the linters"), run.Pending)
	}
	if !strings.Contains(e.Caddy.Log(), `"idle work done","session":"`+sid+`"`) {
		t.Errorf("caddy log has no \"idle work done\" line for session %s", sid)
	}

	// ---------------------------------------------------------------- after idle_resume
	for time.Since(tLast) < idleResumeCfg+300*time.Millisecond {
		time.Sleep(50 * time.Millisecond)
	}
	st := readGradient(t, rc, sid)
	run.LayerBeforeP1 = st.LastLayer
	if st.LastLayer != 1 {
		t.Fatalf("the session was at layer %d before the break (layers seen %v); the script must keep it at layer 1",
			st.LastLayer, run.Layers)
	}
	run.Budget = gradient.ComputeBudget(&st, gradient.LimitsFor(testModel, false), 0)

	turnAfter := func(text string) idleTurn {
		t.Helper()
		n := len(e.Fake.Requests())
		r := send([]map[string]any{{"type": "text", "text": text}}, true)
		var it idleTurn
		it.UsageTotal = r.Usage.Input + r.Usage.CacheRead + r.Usage.CacheCreate
		var up []byte
		for _, q := range e.Fake.Requests()[n:] {
			if _, kind := classifyUpstream(q.Body, testModel); q.Path == "/v1/messages" && kind == "turn" {
				up = q.Body
			}
		}
		if up == nil {
			t.Fatalf("turn %q did not reach the upstream", text)
		}
		it.Tokens = fakeupstream.EstimateTokens(up)
		it.Layer = readSession(t, rc, sid).Layer
		var body struct {
			Messages json.RawMessage `json:"messages"`
		}
		if err := json.Unmarshal(up, &body); err != nil {
			t.Fatal(err)
		}
		msgs, err := msg.Decode(body.Messages)
		if err != nil {
			t.Fatalf("upstream messages: %v", err)
		}
		it.Messages = len(msgs)
		raw, texts := prefixOf(up)
		it.HasPrefix = raw != nil && strings.Contains(strings.Join(texts, "\n"), "## Session History")
		if !it.HasPrefix {
			t.Errorf("turn %q: upstream messages do not start with the distilled prefix (no layer-0 passthrough after idle): %s",
				text, truncate(body.Messages, 300))
			return it
		}
		it.PrefixTok = gradient.EstimateMessages(msgs[:2])
		it.RawTokens = gradient.EstimateMessages(msgs[2:])
		return it
	}

	run.P1 = turnAfter("I'm back. Where were we? Summarise the state and continue with the next step.")
	gs := readGradient(t, rc, sid)
	if gs.PostIdleCompact {
		t.Error("the post-idle flag is still set after the turn that should have consumed it")
	}
	limit, what := run.Budget.Raw, "40%"
	if resume != "0" {
		limit, what = run.Budget.PostIdleRaw, "20%"
	}
	if run.P1.Layer < 1 || run.P1.RawTokens > limit || run.P1.RawTokens == 0 {
		t.Errorf("first turn after idle: layer %d, raw window %d tokens; want layer >= 1 and a raw window within %s of usable (%d of %d)",
			run.P1.Layer, run.P1.RawTokens, what, limit, run.Budget.Usable)
	}
	// The turn after: the one-shot is spent, the raw budget is 40% again
	// (the sticky layer keeps it at layer >= 1).
	run.P2 = turnAfter("Good. Now add a regression test for it and run the package's tests.")
	if run.P2.Layer < 1 || run.P2.RawTokens > run.Budget.Raw {
		t.Errorf("second turn after idle: layer %d, raw window %d tokens; want layer >= 1 within 40%% of usable (%d)",
			run.P2.Layer, run.P2.RawTokens, run.Budget.Raw)
	}
	t.Logf("idle_resume %s: %d turns (layers %v), %d pending at idle → %d rendered in %d batch(es); usable %d; "+
		"P1 layer %d raw %d prefix %d usage %d; P2 layer %d raw %d usage %d",
		resume, run.Turns, run.Layers, run.Pending, run.IdleRendered, run.IdleBatches, run.Budget.Usable,
		run.P1.Layer, run.P1.RawTokens, run.P1.PrefixTok, run.P1.UsageTotal, run.P2.Layer, run.P2.RawTokens, run.P2.UsageTotal)
	return run
}

// readGradient reads the session's gradient state from Redis (the "gradient"
// field of its state hash, store/session.go).
func readGradient(t testing.TB, c *redis.Client, sid string) gradient.State {
	t.Helper()
	var st gradient.State
	raw, err := c.HGet(context.Background(), "lore:s:{"+sid+"}:state", "gradient").Bytes()
	if err != nil {
		t.Fatalf("gradient state of %s: %v", sid, err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("gradient state of %s: %v", sid, err)
	}
	return st
}

// batchParams returns the params of each item of a batch-create body.
func batchParams(t testing.TB, body []byte) [][]byte {
	t.Helper()
	var b struct {
		Requests []struct {
			CustomID string          `json:"custom_id"`
			Params   json.RawMessage `json:"params"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("batch create body: %v", err)
	}
	out := make([][]byte, len(b.Requests))
	for i, r := range b.Requests {
		out[i] = bytes.Clone(r.Params)
	}
	return out
}

// workerUserText is the user message of a worker call's params.
func workerUserText(t testing.TB, params []byte) string {
	t.Helper()
	var p struct {
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(params, &p); err != nil || len(p.Messages) == 0 {
		t.Fatalf("worker params: %v", err)
	}
	return p.Messages[0].Content
}
