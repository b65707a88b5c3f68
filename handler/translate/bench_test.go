package translate

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/msg"
)

// agentSession builds a Claude-Code-shaped request body with n messages:
// tool calls whose results are large file reads and command outputs.
func agentSession(n int) []byte {
	var msgs []string
	// Tool outputs are real source text (this repository's SSE reader,
	// ~4 KB): newlines, tabs and quotes at their natural density.
	src, err := os.ReadFile("sse.go")
	if err != nil {
		panic(err)
	}
	out := string(src[:min(len(src), 4096)])
	for i := 0; i < n; i++ {
		switch {
		case i == 0:
			msgs = append(msgs, `{"role":"user","content":[{"type":"text","text":"<system-reminder>context</system-reminder>"},{"type":"text","text":"Fix the failing tests in the repo."}]}`)
		case i%2 == 1:
			msgs = append(msgs, fmt.Sprintf(`{"role":"assistant","content":[{"type":"text","text":"Let me look at file %d."},{"type":"tool_use","id":"toolu_%06d","name":"Read","input":{"file_path":"/repo/pkg/file%d.go"}}]}`, i, i, i))
		default:
			o, _ := json.Marshal(out)
			msgs = append(msgs, fmt.Sprintf(`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%06d","content":%s}]}`, i-1, o))
		}
	}
	return []byte(`{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"system":[{"type":"text","text":"You are Claude Code."}],"messages":[` + strings.Join(msgs, ",") + `]}`)
}

func BenchmarkParseAndDecode(b *testing.B) {
	for _, n := range []int{100, 600} {
		body := agentSession(n)
		b.Run(fmt.Sprintf("messages=%d/bytes=%d", n, len(body)), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r, err := ParseRequest(body)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := msg.Decode(r.Messages); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAccumulate folds a real stream's events (toolStream: a text
// block, a tool call, the message's start and end) into an Accumulator, by
// Add (the fast path where it applies) and by encoding/json alone.
func BenchmarkAccumulate(b *testing.B) {
	var events [][]byte
	er := NewEventReader(strings.NewReader(toolStream))
	for {
		ev, err := er.Next()
		if err != nil {
			break
		}
		events = append(events, append([]byte(nil), ev.Data...))
	}
	for _, path := range []string{"Add", "encoding-json"} {
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var a Accumulator
				for _, e := range events {
					if path == "Add" {
						a.Add(Event{Data: e})
					} else {
						a.addDecoded(e)
					}
				}
				_ = a.Response()
			}
		})
	}
}
