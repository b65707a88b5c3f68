package handler

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
	"github.com/caddy-lore/caddy-lore/msg"
)

// firstRead is the buffer a body starts in; it doubles as bytes arrive.
const firstRead = 64 << 10

// readBody reads the request body within max_body, answering 413 beyond it.
//
// The buffer grows with what has arrived, never ahead of it: a declared
// Content-Length only caps the last growth (so a truthful one ends in a
// buffer of exactly its size) and allocates nothing by itself. Eight
// clients announcing max_body and sending nothing cost eight times 64 KiB,
// not eight times max_body.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, fl flavor) ([]byte, bool) {
	if r.ContentLength > h.cfg.MaxBody {
		writeError(w, fl, http.StatusRequestEntityTooLarge, tooLargeMessage(h.cfg.MaxBody))
		return nil, false
	}
	body, err := readGrowing(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody), r.ContentLength)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, fl, http.StatusRequestEntityTooLarge, tooLargeMessage(h.cfg.MaxBody))
		return nil, false
	case err != nil:
		if r.Context().Err() == nil {
			writeError(w, fl, http.StatusBadRequest, "the request body could not be read")
		}
		return nil, false
	}
	return body, true
}

// readGrowing reads rd to its end into a buffer that at most doubles what
// has been read so far; declared (a Content-Length, or ≤ 0 when unknown)
// caps each growth at declared+1 bytes, so that reaching the end of a
// truthful body costs no further copy.
func readGrowing(rd io.Reader, declared int64) ([]byte, error) {
	buf := make([]byte, 0, firstRead)
	for {
		if len(buf) == cap(buf) {
			n := 2 * cap(buf)
			if declared > 0 && int64(len(buf)) <= declared && int64(n) > declared+1 {
				n = int(declared) + 1 // room for the EOF read
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
