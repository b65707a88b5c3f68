package msg

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// repeatArray renders "[" + n copies of elem joined by commas + "]".
func repeatArray(elem string, n int) []byte {
	b := make([]byte, 0, n*(len(elem)+1)+2)
	b = append(b, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, elem...)
	}
	return append(b, ']')
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileShapesStopAtTheBound: arrays of empty messages or blocks are
// refused with a *ShapeError having allocated little more than the slack,
// however long they are.
func TestHostileShapesStopAtTheBound(t *testing.T) {
	const size = 16 << 20
	blocks := func(elem string) []byte {
		inner := repeatArray(elem, size/(len(elem)+1))
		return []byte(`[{"role":"user","content":` + string(inner) + `}]`)
	}
	for name, body := range map[string][]byte{
		"empty messages":             repeatArray(`{}`, size/3),
		"empty string content":       repeatArray(`{"content":""}`, size/15),
		"empty block arrays":         repeatArray(`{"content":[]}`, size/15),
		"empty blocks":               blocks(`{}`),
		"untyped text blocks":        blocks(`{"text":""}`),
		"padded one-letter messages": repeatArray(`{"role":"user","content":"x","a":null}`, size/40),
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			alloc := allocated(func() { _, _, err = DecodeArray(body, 0, nil) })
			var se *ShapeError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *ShapeError", err)
			}
			// The slices holding what was decoded grow by doubling: the
			// refusal comes after at most a few times the slack.
			if limit := uint64(6 * DecodeSlack); alloc > limit {
				t.Fatalf("allocated %d bytes before refusing %d, want ≤ %d", alloc, len(body), limit)
			}
			if !strings.Contains(se.Error(), "more than this gateway decodes") {
				t.Fatalf("message %q", se.Error())
			}
		})
	}
}

// TestDecodedBound: whatever decodes keeps at most DecodeRatio × its size +
// DecodeSlack (docs/hostile-input.md's figure), and allocates at most twice that while
// decoding (slices grow by doubling); shapes just inside the bound included.
func TestDecodedBound(t *testing.T) {
	text := func(n int) string { s, _ := json.Marshal(strings.Repeat("word ", n/5)); return string(s) }
	conversation := func(n int) []byte {
		var b strings.Builder
		b.WriteByte('[')
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			if i%2 == 0 {
				fmt.Fprintf(&b, `{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%06d","content":%s}]}`, i, text(2000))
			} else {
				fmt.Fprintf(&b, `{"role":"assistant","content":[{"type":"text","text":"Reading."},{"type":"tool_use","id":"toolu_%06d","name":"Read","input":{"file_path":"/f%d.go"}}]}`, i, i)
			}
		}
		b.WriteByte(']')
		return []byte(b.String())
	}
	for name, body := range map[string][]byte{
		"agent session":              conversation(4000),
		"short chat":                 repeatArray(`{"role":"user","content":"ok, go on"}`, 10_000),
		"text messages at the bound": repeatArray(`{"role":"user","content":`+text(200)+`}`, 60_000),
		"text blocks at the bound":   repeatArray(`{"role":"user","content":[{"type":"text","text":`+text(300)+`}]}`, 40_000),
	} {
		t.Run(name, func(t *testing.T) {
			var d *Decoded
			var err error
			alloc := allocated(func() { d, _, err = DecodeArray(body, 0, nil) })
			if err != nil {
				var se *ShapeError
				if errors.As(err, &se) && strings.Contains(name, "bound") {
					return // refused: fine, the bound holds trivially
				}
				t.Fatal(err)
			}
			kept := d.Size() - d.held
			limit := DecodeRatio*len(body) + DecodeSlack
			t.Logf("%d bytes, %d messages: keeps %d (%.2f×), allocates %d (%.2f×)", len(body), len(d.Messages),
				kept, float64(kept)/float64(len(body)), alloc, float64(alloc)/float64(len(body)))
			if kept > limit {
				t.Fatalf("keeps %d bytes for %d, want ≤ %d", kept, len(body), limit)
			}
			if alloc > uint64(2*limit) {
				t.Fatalf("allocated %d bytes for %d, want ≤ %d", alloc, len(body), 2*limit)
			}
		})
	}
}
