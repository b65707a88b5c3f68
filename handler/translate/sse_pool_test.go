package translate

import (
	"io"
	"strings"
	"testing"
)

// TestEventReadersRecycle: a recycled reader reads its next stream from the
// start, with nothing of the previous one left over, even when that one
// ended mid-event.
func TestEventReadersRecycle(t *testing.T) {
	var p EventReaders
	er := p.Get(strings.NewReader("event: a\ndata: 1\n\nevent: b\ndata: 2"))
	if ev, err := er.Next(); err != nil || ev.Name != "a" || string(ev.Data) != "1" {
		t.Fatalf("first stream: %q %q %v", ev.Name, ev.Data, err)
	}
	p.Put(er) // the rest of the first stream is never read
	er2 := p.Get(strings.NewReader("data: x\n\n"))
	ev, err := er2.Next()
	if err != nil || ev.Name != "message" || string(ev.Data) != "x" || string(ev.Raw) != "data: x\n\n" {
		t.Fatalf("recycled reader: %q %q %q %v", ev.Name, ev.Data, ev.Raw, err)
	}
	if _, err := er2.Next(); err != io.EOF {
		t.Fatalf("after the only event: %v, want EOF", err)
	}
	var none *EventReaders // nil: no recycling, still readers
	if ev, err := none.Get(strings.NewReader("data: y\n\n")).Next(); err != nil || string(ev.Data) != "y" {
		t.Fatalf("nil pool: %q %v", ev.Data, err)
	}
	none.Put(er2)
}
