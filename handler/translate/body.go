package translate

import (
	"io"
	"net"
)

// Body is a request body as the byte slices it consists of, in order. A
// rebuilt body is mostly the client's own bytes, which Rebuild refers to
// instead of copying (a long session's body is megabytes; the gateway
// changes a few messages of it). The slices are never written to.
type Body [][]byte

// BodyOf is b as a Body; nil stays nil.
func BodyOf(b []byte) Body {
	if b == nil {
		return nil
	}
	return Body{b}
}

// Len is the body's length in bytes.
func (b Body) Len() int {
	n := 0
	for _, p := range b {
		n += len(p)
	}
	return n
}

// Bytes returns the body in one slice (a copy unless it is one already).
func (b Body) Bytes() []byte {
	switch len(b) {
	case 0:
		if b == nil {
			return nil
		}
		return []byte{}
	case 1:
		return b[0]
	}
	out := make([]byte, 0, b.Len())
	for _, p := range b {
		out = append(out, p...)
	}
	return out
}

// Reader returns a new reader of the body (each call starts at its beginning).
func (b Body) Reader() io.Reader {
	nb := make(net.Buffers, len(b))
	copy(nb, b)
	return &nb
}

// bodyBuilder assembles a Body, extending its last slice instead of adding a
// new one when what comes next is already in memory right after it — the
// client's next field, message or separator — so an unchanged stretch of the
// client's body stays one slice of it.
type bodyBuilder struct {
	parts Body
}

// add appends p (which must not be written to afterwards).
func (w *bodyBuilder) add(p []byte) {
	if len(p) == 0 {
		return
	}
	if k := len(w.parts) - 1; k >= 0 {
		last := w.parts[k]
		if n := len(last); cap(last)-n >= len(p) && &last[:n+1][n] == &p[0] {
			w.parts[k] = last[:n+len(p)]
			return
		}
	}
	w.parts = append(w.parts, p)
}

// lit appends literal JSON punctuation, found in memory after the last
// slice when the client's body has it there.
func (w *bodyBuilder) lit(s string) {
	if k := len(w.parts) - 1; k >= 0 {
		last := w.parts[k]
		if n := len(last); cap(last)-n >= len(s) && string(last[n:n+len(s)]) == s {
			w.parts[k] = last[:n+len(s)]
			return
		}
	}
	w.parts = append(w.parts, []byte(s))
}
