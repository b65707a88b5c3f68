package gradient

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/msg"
)

// claudeCodeSession builds n messages shaped like a Claude Code session: a
// prompt (often with a system reminder), then 3–6 tool steps — assistant
// thinking + tool_use (Read, Bash, Grep, Edit), user tool_result of 0.3–12
// KB (Read outputs with line numbers, some files read twice) — and a final
// answer. About 4 KB per message on average, as a 300-turn session that
// re-sends ~2.5 MB.
func claudeCodeSession(tb testing.TB, n int) []msg.Message {
	rng := rand.New(rand.NewSource(42))
	c := &conv{}
	files := make([]string, 40)
	for i := range files {
		files[i] = fmt.Sprintf("/home/dev/project/internal/pkg%d/file%d.go", i%7, i)
	}
	line := "\tif err := doSomething(ctx, req); err != nil { return fmt.Errorf(\"wrap: %w\", err) }\n"
	step := 0
	for turn := 0; len(c.raw) < n; turn++ {
		prompt := fmt.Sprintf("Please fix the failing test in package %d and explain.", turn)
		if turn%3 == 0 {
			prompt = "<system-reminder>\nThe TodoWrite tool hasn't been used recently.\n</system-reminder>\n" + prompt
		}
		c.user(prompt)
		for k := 3 + rng.Intn(4); k > 0 && len(c.raw) < n-1; k-- {
			id := fmt.Sprintf("toolu_%05d", step)
			step++
			var name string
			var input map[string]any
			var out string
			switch rng.Intn(4) {
			case 0, 1:
				f := files[rng.Intn(len(files))]
				name, input = "Read", map[string]any{"file_path": f}
				var b strings.Builder
				for l := 1; l <= 20+rng.Intn(150); l++ {
					fmt.Fprintf(&b, "%6d→%s", l, line)
				}
				out = b.String()
			case 2:
				name, input = "Bash", map[string]any{"command": "go test ./...", "description": "run tests"}
				out = fmt.Sprintf("--- FAIL: TestThing%d (0.01s)\n    thing_test.go:%d: got 1, want 2\nFAIL\n%s", step, step, text(300+rng.Intn(3_000)))
			default:
				name, input = "Grep", map[string]any{"pattern": "doSomething", "path": "/home/dev/project"}
				out = strings.Repeat(files[rng.Intn(len(files))]+":12: doSomething(ctx, req)\n", 5+rng.Intn(60))
			}
			c.add("assistant", []map[string]any{
				{"type": "thinking", "thinking": text(200 + rng.Intn(600)), "signature": strings.Repeat("c2ln", 60)},
				{"type": "text", "text": "Let me look at that."},
				{"type": "tool_use", "id": id, "name": name, "input": input},
			})
			c.result(id, out)
		}
		if len(c.raw) < n {
			c.asst("Fixed: " + text(200+rng.Intn(800)))
		}
	}
	c.raw = c.raw[:n]
	if strings.HasPrefix(c.raw[n-1], `{"role":"assistant"`) {
		c.raw[n-1] = `{"role":"user","content":"continue"}`
	}
	return c.msgs(tb)
}

func rawSize(msgs []msg.Message) int64 {
	var n int64
	for i := range msgs {
		n += int64(len(msgs[i].Raw))
	}
	return n
}

// benchTransform measures the steady state: the session was transformed and
// calibrated one turn earlier (2 messages fewer), this turn adds 2.
func benchTransform(b *testing.B, n int) {
	msgs := claudeCodeSession(b, n)
	d := make([]Distillation, min(n/60, 15))
	for i := range d {
		d[i] = Distillation{ID: fmt.Sprintf("d%d", i), Observations: text(1_500)}
	}
	l := LimitsFor("claude-sonnet-4-5", false)
	st := &State{}
	prev := Transform(st, Input{Limits: l, Messages: msgs[:n-2], Distillations: d})
	Calibrate(st, prev.Estimate+20_000)
	b.SetBytes(rawSize(msgs))
	b.ReportAllocs()
	var r Result
	for b.Loop() {
		s := *st
		r = Transform(&s, Input{Limits: l, Messages: msgs, Distillations: d})
	}
	b.ReportMetric(float64(r.Layer), "layer")
	b.ReportMetric(float64(len(r.Messages)), "out-msgs")
}

func BenchmarkTransform100(b *testing.B)  { benchTransform(b, 100) }
func BenchmarkTransform1000(b *testing.B) { benchTransform(b, 1000) }
func BenchmarkTransform5000(b *testing.B) { benchTransform(b, 5000) }

// The first, uncalibrated turn of a long session (no pin, full estimate).
func BenchmarkTransformCold1000(b *testing.B) {
	msgs := claudeCodeSession(b, 1000)
	l := LimitsFor("claude-sonnet-4-5", false)
	b.SetBytes(rawSize(msgs))
	b.ReportAllocs()
	for b.Loop() {
		Transform(&State{}, Input{Limits: l, Messages: msgs, Distillations: rows(10)})
	}
}

// Layer 3: every old tool output stripped (annotations computed).
func BenchmarkTransformLayer3_1000(b *testing.B) {
	msgs := claudeCodeSession(b, 1000)
	l := LimitsFor("claude-sonnet-4-5", false)
	b.SetBytes(rawSize(msgs))
	b.ReportAllocs()
	for b.Loop() {
		Transform(&State{ForceMinLayer: 3}, Input{Limits: l, Messages: msgs, Distillations: rows(10)})
	}
}

func BenchmarkApplyCacheBreakpoints1000(b *testing.B) {
	msgs := claudeCodeSession(b, 1000)
	r := Transform(&State{}, Input{Limits: LimitsFor("claude-sonnet-4-5", false), Messages: msgs, Distillations: rows(10)})
	sys := json.RawMessage(`[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"` + text(20_000) + `"}]`)
	b.ReportAllocs()
	for b.Loop() {
		ApplyCacheBreakpoints(sys, r.Messages, 0)
	}
}

// Layer 0 on a huge window: the per-turn cost of passthrough (estimates of
// the new messages, pairing checks over every block), linear in n.
func benchPassthrough(b *testing.B, n int) {
	msgs := claudeCodeSession(b, n)
	l := Limits{Context: 50_000_000, MaxOutput: 32_000}
	st := &State{}
	prev := Transform(st, Input{Limits: l, Messages: msgs[:n-2]})
	Calibrate(st, prev.Estimate+20_000)
	b.SetBytes(rawSize(msgs))
	b.ReportAllocs()
	var r Result
	for b.Loop() {
		s := *st
		r = Transform(&s, Input{Limits: l, Messages: msgs})
	}
	if r.Layer != 0 {
		b.Fatal("not passthrough")
	}
}

func BenchmarkTransformPassthrough1000(b *testing.B) { benchPassthrough(b, 1000) }
func BenchmarkTransformPassthrough5000(b *testing.B) { benchPassthrough(b, 5000) }
