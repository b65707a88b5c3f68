package gradient

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/msg"
)

// A Claude Code tool loop past the window, driven the way the handler drives
// the gradient: one prompt, then rounds of (thinking + Bash tool_use, an
// 8 KB tool_result), each round a transform, an upstream that counts about
// 4 characters a token on top of a 22K-token system prompt and tools and
// refuses more than 200K, a retry at a forced higher layer on overflow,
// calibration from the upstream's count, and distillations arriving as the
// handler schedules them. The prompt cache is simulated per message: what
// the previous request sent, unchanged and in order, is read at 0.1×; the
// rest is written at 1.25×.

const (
	simSystemTokens = 22_000
	simContext      = 200_000
	simOutput       = 8192 // bytes of each tool output
)

var simLimits = Limits{Context: simContext, MaxOutput: 64_000}

type loopSim struct {
	t         *testing.T
	c         *conv
	msgs      []msg.Message
	st        State
	rows      []Distillation
	distilled int // messages covered by rows

	prev []string // encoded messages of the last request

	overflows   int
	layers      map[int]int
	cost        float64 // in input-token price units
	costs       []float64
	writes      int // requests that wrote more than 20K tokens to the cache
	lastSentTok int
}

func newLoopSim(t *testing.T) *loopSim {
	s := &loopSim{t: t, c: &conv{}, layers: map[int]int{}}
	s.c.add("user", []map[string]any{{"type": "text", "text": "Read the files f_001.txt to f_150.txt in order with cat, one per step."}})
	s.msgs = s.c.msgs(t)
	return s
}

func simOutputText(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "LOOP %d\n", i)
	for line := 0; b.Len() < simOutput; line++ {
		fmt.Fprintf(&b, "%03d.%03d %s\n", i, line, text(70))
	}
	return b.String()
}

// round adds one tool round and runs the turn.
func (s *loopSim) round(i int) {
	id := fmt.Sprintf("toolu_%03d", i)
	s.c.add("assistant", []map[string]any{
		{"type": "thinking", "thinking": fmt.Sprintf("Round %d: the next file. %s", i, text(300)), "signature": fmt.Sprintf("sig%03d", i)},
		{"type": "tool_use", "id": id, "name": "Bash", "input": map[string]any{"command": fmt.Sprintf("cat f_%03d.txt", i)}},
	})
	s.c.add("user", []map[string]any{{"type": "tool_result", "tool_use_id": id, "content": simOutputText(i)}})
	s.msgs = s.c.grow(s.t, s.msgs)
	s.turn()
}

// upstreamTokens is the simulated upstream count of a request.
func upstreamTokens(enc []string) int {
	n := 0
	for _, e := range enc {
		n += len(e)
	}
	return simSystemTokens + (n+3)/4
}

func (s *loopSim) encode(out []msg.Message) []string {
	enc := make([]string, len(out))
	for i := range out {
		b, err := msg.AppendJSON(nil, &out[i])
		if err != nil {
			s.t.Fatal(err)
		}
		enc[i] = string(b)
	}
	return enc
}

func (s *loopSim) turn() {
	in := Input{Limits: simLimits, Messages: s.msgs, Distillations: s.rows}
	res := Transform(&s.st, in)
	enc := s.encode(res.Messages)
	sent := upstreamTokens(enc)
	if sent > simContext {
		s.overflows++
		s.st.ForceNextLayer()
		s.distill(true)
		res = Transform(&s.st, Input{Limits: simLimits, Messages: s.msgs, Distillations: s.rows})
		enc = s.encode(res.Messages)
		if sent = upstreamTokens(enc); sent > simContext {
			s.t.Fatalf("turn at %d messages: still %d tokens after the retry", len(s.msgs), sent)
		}
	}
	checkThinkingRule(s.t, res.Messages)
	s.layers[res.Layer]++
	s.account(enc, sent)
	Calibrate(&s.st, sent)
	if res.UrgentDistill || len(s.msgs)-s.distilled >= 30 {
		s.distill(res.UrgentDistill)
	}
}

// account prices the request against the previous one.
func (s *loopSim) account(enc []string, sent int) {
	k := 0
	for k < len(enc) && k < len(s.prev) && enc[k] == s.prev[k] {
		k++
	}
	read := simSystemTokens
	if s.prev == nil {
		read = 0
	}
	readTok := upstreamTokens(enc[:k]) - simSystemTokens + read
	write := sent - readTok
	c := float64(readTok)*0.1 + float64(write)*1.25
	if write > 20_000 {
		s.writes++
	}
	if testing.Verbose() {
		s.t.Logf("msgs %d layer %d sent %d read %d write %d rows %d pin %v", len(s.msgs), s.st.LastLayer, sent, readTok, write, len(s.rows), s.st.Pin)
	}
	s.cost += c
	s.costs = append(s.costs, c)
	s.prev = enc
	s.lastSentTok = sent
}

// distill stands for the handler's distillation: every undistilled message
// but the newest (forced: all) becomes one row of about 1,500 characters.
func (s *loopSim) distill(forced bool) {
	upTo := len(s.msgs)
	if !forced {
		upTo--
	}
	if upTo-s.distilled < 5 && !forced || upTo <= s.distilled {
		return
	}
	s.rows = append(s.rows, Distillation{
		ID:           fmt.Sprintf("row%d", len(s.rows)),
		Observations: fmt.Sprintf("- messages %d to %d: read files, nothing unusual. %s", s.distilled, upTo, text(1_400)),
	})
	s.distilled = upTo
}

// directCost is the same loop sent straight upstream by a client that
// compacts when its context passes 160K (Claude Code's auto-compaction): the
// whole history every round, and at compaction one summary call that reads
// the history and a fresh history of the summary.
func directCost(rounds int) float64 {
	cost, hist, prev := 0.0, 0, 0
	round := (simOutput + 400 + 200) / 4
	for i := 1; i <= rounds; i++ {
		hist += round
		sent := simSystemTokens + hist
		cost += float64(simSystemTokens+prev)*0.1 + float64(sent-simSystemTokens-prev)*1.25
		prev = hist
		if sent > 160_000 {
			cost += float64(sent) * 0.1 // the summary request reads the cached history
			hist, prev = 2_000, 0
		}
	}
	return cost
}

// TestLongToolLoopPastTheWindow: 150 rounds of 8 KB (about 1.5 windows). No
// overflow reaches the upstream after the first time the window fills (the
// first one is a genuine surprise: an uncalibrated estimate), no turn falls
// back to layer 0 once past the window, and the whole run costs no more than
// the same loop sent directly by a client that compacts by itself.
func TestLongToolLoopPastTheWindow(t *testing.T) {
	s := newLoopSim(t)
	s.turn()
	for i := 1; i <= 150; i++ {
		s.round(i)
	}
	direct := directCost(150)
	t.Logf("layers %v, overflows %d, large cache writes %d, cost %.0f vs direct %.0f (%.2fx), last request %d tokens",
		s.layers, s.overflows, s.writes, s.cost, direct, s.cost/direct, s.lastSentTok)
	if s.overflows > 0 {
		t.Errorf("%d overflow retries; the estimate should keep every request under the limit", s.overflows)
	}
	if s.layers[4] > 0 {
		t.Errorf("%d turns at the emergency layer 4", s.layers[4])
	}
	if s.cost > direct {
		t.Errorf("cost %.0f is more than going direct (%.0f)", s.cost, direct)
	}
}

// checkThinkingRule applies the API's rule for a request with thinking on:
// when the last turn is a user turn with tool results, the assistant turn
// before it (consecutive assistant messages merge into one) starts with a
// thinking block.
func checkThinkingRule(t *testing.T, out []msg.Message) {
	t.Helper()
	end, results := len(out), false
	for end > 0 && out[end-1].Role == msg.RoleUser {
		end--
		for _, b := range out[end].Blocks {
			results = results || b.Type == msg.TypeToolResult
		}
	}
	start := end
	for start > 0 && out[start-1].Role == msg.RoleAssistant {
		start--
	}
	if !results || start == end {
		return
	}
	if b := out[start].Blocks; len(b) == 0 || b[0].Type != msg.TypeThinking {
		t.Fatalf("the final assistant turn (message %d of %d) does not start with its thinking block", start, len(out))
	}
}

// A window that holds only the last step after the prefix keeps that step's
// thinking first: a user placeholder separates it from the prefix.
func TestLastStepAfterPrefixKeepsThinkingFirst(t *testing.T) {
	s := newLoopSim(t)
	for i := 1; i <= 3; i++ {
		s.c.add("assistant", []map[string]any{
			{"type": "thinking", "thinking": "step", "signature": "sig"},
			{"type": "tool_use", "id": idf("toolu_", i), "name": "Bash", "input": map[string]any{"command": "cat"}},
		})
		s.c.add("user", []map[string]any{{"type": "tool_result", "tool_use_id": idf("toolu_", i), "content": text(40_000)}})
	}
	m := s.c.msgs(t)
	r := Transform(&State{ForceMinLayer: 4}, Input{Limits: simLimits, Messages: m, Distillations: rows(2)})
	mustEqual(t, "layer", r.Layer, 4)
	checkThinkingRule(t, r.Messages)
	mustEqual(t, "placeholder after the prefix", r.Messages[2].ID, "lore-placeholder-window")
}
