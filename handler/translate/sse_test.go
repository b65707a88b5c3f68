package translate

import (
	"io"
	"testing"
)

// TestEventMoreOnlyWhenTheNextEventHasArrived feeds the reader through a
// pipe, one write per arrival, and checks More: true only when the next
// dispatched event is already whole in the buffer, so a relay that skips a
// flush on More never holds an event back while it waits for the upstream.
func TestEventMoreOnlyWhenTheNextEventHasArrived(t *testing.T) {
	cases := []struct {
		name     string
		arrivals []string
		more     []bool // per dispatched event
	}{
		{"burst", []string{"event: a\ndata: 1\n\nevent: b\ndata: 2\n\n"}, []bool{true, false}},
		{"one by one", []string{"data: 1\n\n", "data: 2\n\n"}, []bool{false, false}},
		{"next only partly arrived", []string{"data: 1\n\ndata: 2\n", "\n"}, []bool{false, false}},
		{"CRLF", []string{"data: 1\r\n\r\ndata: 2\r\n\r\n"}, []bool{true, false}},
		{"CRLF then LF", []string{"data: 1\r\n\r\ndata: 2\r\n\r\ndata: 3\n\n"}, []bool{true, true, false}},
		{"comment between", []string{"data: 1\n\n: keep-alive\n\ndata: 2\n\n"}, []bool{true, false}},
		{"only a comment after", []string{"data: 1\n\n: keep-alive\n\n", "data: 2\n\n"}, []bool{false, false}},
		{"data without a colon", []string{"data: 1\n\ndata\n\n"}, []bool{true, false}},
		{"field that only starts like data", []string{"data: 1\n\ndatum: x\n\n", "data: 2\n\n"}, []bool{false, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			er := NewEventReader(pr)
			go func() {
				for _, a := range tc.arrivals {
					_, _ = pw.Write([]byte(a)) // returns once the reader has it all
				}
				_ = pw.Close()
			}()
			var got []bool
			for {
				ev, err := er.Next()
				if err != nil {
					break
				}
				got = append(got, ev.More)
			}
			if len(got) != len(tc.more) {
				t.Fatalf("events: got %d (%v), want %d", len(got), got, len(tc.more))
			}
			for i := range got {
				if got[i] != tc.more[i] {
					t.Errorf("event %d: More = %v, want %v", i, got[i], tc.more[i])
				}
			}
		})
	}
}
