package translate

import (
	"bufio"
	"bytes"
	"io"
	"sync"
)

// Event is one server-sent event. Raw is the event exactly as received,
// including its terminating blank line, so it can be forwarded unchanged.
type Event struct {
	Name string // "event:" value; "message" when absent
	Data []byte // "data:" lines joined with "\n"
	Raw  []byte
	// More is true when the next event has already arrived whole, so reading
	// it will not wait: a relay may write it before flushing, and a burst of
	// events leaves in one write instead of one per event (as
	// reverse_proxy's flush_interval -1 does). False is always safe: flush.
	More bool
}

// EventReader splits an SSE stream into events as they arrive.
type EventReader struct {
	br  *bufio.Reader
	raw []byte
}

// NewEventReader reads events from r.
//
// Its buffer is bufio's default 4 KiB: a streamed answer's events are lines
// of a few hundred bytes (longer ones are read whole by readLine), and the
// upstream body it reads already comes through the HTTP transport's own
// 4 KiB buffer. A 32 KiB buffer per stream was 40% of the gateway's
// allocations on streamed turns (docs/benchmarks.md).
func NewEventReader(r io.Reader) *EventReader {
	return &EventReader{br: bufio.NewReader(r)}
}

// EventReaders recycles event readers, their buffers included, from one
// stream to the next: 4 KiB and the event buffer per streamed turn were the
// gateway's largest allocations on a busy streaming path. The zero value is
// ready; whoever relays streams owns one (the handler), there is no shared
// pool.
type EventReaders struct{ pool sync.Pool }

// Get returns an event reader of r.
func (p *EventReaders) Get(r io.Reader) *EventReader {
	if p == nil {
		return NewEventReader(r)
	}
	if er, ok := p.pool.Get().(*EventReader); ok {
		er.br.Reset(r)
		return er
	}
	return NewEventReader(r)
}

// maxPooledEvent bounds the event buffer kept with a recycled reader: an
// answer's one huge event does not pin its buffer.
const maxPooledEvent = 64 << 10

// Put recycles er: neither it nor an Event it returned may be used after.
func (p *EventReaders) Put(er *EventReader) {
	if p == nil || er == nil {
		return
	}
	er.br.Reset(nil)
	er.raw = er.raw[:0]
	if cap(er.raw) > maxPooledEvent {
		er.raw = nil
	}
	p.pool.Put(er)
}

// Next returns the next event. Raw and Data alias an internal buffer that is
// reused by the following call. At the end of the stream it returns io.EOF; a
// final event without its blank line is still returned first.
func (er *EventReader) Next() (Event, error) {
	er.raw = er.raw[:0]
	for {
		line, err := er.readLine()
		if len(line) > 0 {
			er.raw = append(er.raw, line...)
			if isBlank(line) {
				if ev, ok := parseEvent(er.raw); ok {
					ev.More = er.nextReady()
					return ev, nil
				}
				er.raw = er.raw[:0] // comments or stray blank lines only
				continue
			}
		}
		if err != nil {
			if ev, ok := parseEvent(er.raw); ok && len(er.raw) > 0 {
				return ev, nil
			}
			return Event{}, err
		}
	}
}

// readLine returns one line including its terminator, however long.
func (er *EventReader) readLine() ([]byte, error) {
	line, err := er.br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	buf := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		line, err = er.br.ReadSlice('\n')
		buf = append(buf, line...)
	}
	return buf, err
}

// nextReady reports whether the buffer already holds the whole next event
// that Next would return (blocks without data, which Next skips, are looked
// past). It only looks at what is buffered, so it never waits.
func (er *EventReader) nextReady() bool {
	buf, _ := er.br.Peek(er.br.Buffered())
	for len(buf) > 0 {
		end, sep := bytes.Index(buf, []byte("\n\n")), 2
		crlf := buf // a CRLF blank line counts only before the first LF one
		if end >= 0 {
			crlf = buf[:end+2]
		}
		if i := bytes.Index(crlf, []byte("\n\r\n")); i >= 0 && (end < 0 || i < end) {
			end, sep = i, 3
		}
		if end < 0 {
			return false
		}
		if hasDataLine(buf[:end+1]) {
			return true
		}
		buf = buf[end+sep:]
	}
	return false
}

// hasDataLine reports whether a block of lines has a "data" field, i.e. is
// an event Next dispatches (parseEvent's rule).
func hasDataLine(block []byte) bool {
	for len(block) > 0 {
		line := block
		if i := bytes.IndexByte(block, '\n'); i >= 0 {
			line, block = block[:i], block[i+1:]
		} else {
			block = nil
		}
		line = bytes.TrimRight(line, "\r")
		if field, _, _ := bytes.Cut(line, []byte(":")); string(field) == "data" {
			return true
		}
	}
	return false
}

func isBlank(line []byte) bool {
	return len(bytes.TrimRight(line, "\r\n")) == 0
}

// parseEvent reads the fields of one raw event. ok is false when it has no
// data (only comments), which per the SSE rules is not dispatched.
func parseEvent(raw []byte) (Event, bool) {
	ev := Event{Name: "message", Raw: raw}
	var data []byte
	hasData := false
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		var line []byte
		if i < 0 {
			line, raw = raw, nil
		} else {
			line, raw = raw[:i], raw[i+1:]
		}
		line = bytes.TrimRight(line, "\r")
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.Name = string(value)
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		}
	}
	ev.Data = data
	return ev, hasData
}
