package handler

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
	"github.com/caddy-lore/caddy-lore/msg"
)

// firstRead is the buffer a body starts in (smaller when a Content-Length
// says the body is); it grows as bytes arrive.
const firstRead = 64 << 10

// readBody reads the request body within max_body, answering 413 beyond it.
//
// The buffer grows with what has arrived, never ahead of it by more than
// growAhead times: a declared Content-Length allocates nothing by itself, it
// only lets the last growth be exact. Eight clients announcing max_body and
// sending nothing cost eight times 64 KiB, not eight times max_body.
//
// A body longer than refuseCheck is judged on its beginning by the route's
// refused before the buffer grows past it: a shape the gateway refuses
// whatever follows (docs/hostile-input.md) is answered 400 having cost
// 4 MiB of memory, not the 32 MiB the client sends.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, fl flavor, refused prefixCheck) ([]byte, bool) {
	if r.ContentLength > h.cfg.MaxBody {
		writeError(w, fl, http.StatusRequestEntityTooLarge, tooLargeMessage(h.cfg.MaxBody))
		return nil, false
	}
	size := h.cfg.MaxBody // the most the body can be
	if r.ContentLength >= 0 {
		size = r.ContentLength
	}
	check := func(prefix []byte) error { return refused(prefix, int(size)) }
	src := http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
	body, err := readGrowing(src, r.ContentLength, check)
	var early *refusedEarly
	if errors.As(err, &early) {
		// The rest is read and dropped, 8 KiB at a time, before the
		// answer: the client sees the 400 as it would have after a whole
		// read (a client that sends everything before it reads the
		// answer too), or the 413 or 408 the read ends in.
		if _, err = io.Copy(io.Discard, src); err == nil {
			writeBodyError(w, fl, early.err)
			return nil, false
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, fl, http.StatusRequestEntityTooLarge, tooLargeMessage(h.cfg.MaxBody))
		return nil, false
	case isTimeout(err):
		// The server's read_body timeout: the connection's context is
		// cancelled too, but the client can still be told why.
		writeError(w, fl, http.StatusRequestTimeout, "the request body did not arrive within this server's read timeout")
		return nil, false
	case err != nil:
		if r.Context().Err() == nil {
			writeError(w, fl, http.StatusBadRequest, "the request body could not be read")
		}
		return nil, false
	}
	return body, true
}

// prefixCheck returns the error a route answers a body with, judging from
// its beginning alone, or nil when the beginning does not settle it; size
// is the most the whole body can be (its Content-Length, else max_body).
// Its verdict must be final: whatever follows the prefix, the route refuses
// the whole body too.
type prefixCheck func(prefix []byte, size int) error

// refuseCheck is how much of a body is read before its beginning is
// judged: a hostile shape shows in its first kilobytes (the decode bound's
// slack is 4 MiB, see msg.DecodeSlack), and real bodies of up to 4 MiB,
// which includes long agent sessions, are never judged twice.
const refuseCheck = 4 << 20

// refusedEarly carries a prefixCheck's verdict out of readGrowing.
type refusedEarly struct{ err error }

func (e *refusedEarly) Error() string { return e.err.Error() }

// growAhead bounds a body buffer to this many times the bytes received.
// Growing by 4 and jumping to a truthful Content-Length once it is within
// reach keeps the garbage of a body small (doubling from 64 KiB would
// allocate and copy the body's size again): a body of up to 2 MiB — a long
// agent session's — is read into the first 64 KiB and then its own buffer,
// and a 32 MiB body peaks at 32 + 4 MiB while it is read, not 32 + 16.
const growAhead = 32

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readGrowing reads rd to its end into a buffer that is at most growAhead
// times what has been read; declared (a Content-Length, or ≤ 0 when unknown)
// is taken as the final size once it is within that reach. When check is
// not nil the buffer stops at refuseCheck bytes (plus the one a read needs
// to see EOF) until check has passed them; its error ends the read as a
// *refusedEarly.
func readGrowing(rd io.Reader, declared int64, check func(prefix []byte) error) ([]byte, error) {
	first := firstRead
	if declared >= 0 && declared <= firstRead {
		// A short body in a buffer of its own size: 64 KiB per request
		// was most of the gateway's garbage (and its clearing, the GC's
		// work) on small turns. A lie costs a regrowth, never more.
		first = int(declared) + 1 // room for the read that sees EOF
	}
	buf := make([]byte, 0, first)
	for {
		if len(buf) == cap(buf) {
			if check != nil && len(buf) >= refuseCheck {
				if err := check(buf); err != nil {
					return nil, &refusedEarly{err}
				}
				check = nil
			}
			n := 4 * cap(buf)
			if declared > int64(len(buf)) && declared < int64(growAhead*cap(buf)) {
				n = int(declared) + 1 // room for the read that sees EOF
			}
			if check != nil && n > refuseCheck+1 { // (len(buf) < refuseCheck)
				// +1: a body of exactly refuseCheck bytes sees its EOF
				// in this buffer, unjudged, like every shorter one.
				n = refuseCheck + 1
			}
			grown := make([]byte, len(buf), n)
			copy(grown, buf)
			buf = grown
		}
		k, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// writeBodyError answers a body the gateway refuses to read (see
// parseMessages) with 400 in the route's error shape.
func writeBodyError(w http.ResponseWriter, fl flavor, err error) {
	var shape *msg.ShapeError
	var refused *translate.BodyError
	switch {
	case errors.As(err, &shape):
		writeError(w, fl, http.StatusBadRequest, shape.Error())
	case errors.As(err, &refused):
		writeError(w, fl, http.StatusBadRequest, refused.Message)
	default:
		writeError(w, fl, http.StatusBadRequest, invalidJSONMessage)
	}
}

// invalidJSONMessage answers a body that is not a well-formed JSON object.
var invalidJSONMessage = fmt.Sprintf("Invalid JSON body: the request body must be a well-formed JSON object, nested at most %d levels deep", jsonscan.MaxDepth)

func tooLargeMessage(limit int64) string {
	return fmt.Sprintf("request body is larger than this gateway's limit of %d bytes (max_body)", limit)
}
