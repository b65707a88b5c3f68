package handler

import (
	"errors"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
	"github.com/caddy-lore/caddy-lore/msg"
)

// parseMessages reads a Messages request in one pass over the body: the
// envelope (translate.ParseRequest's rules) with the messages decoded where
// the scan meets them. The messages a client resends unchanged from its
// previous turn of the conversation are taken over from that turn's decode
// (h.decoded, see msg.DecodeArray) instead of being decoded and hashed again,
// so a long session's turn costs about a memcmp of its history plus the
// decode of what is new. err is set when the body is not a JSON object or is
// refused (translate.BodyError: duplicated fields; msg.ShapeError: more
// structure than the decode bound allows), see writeBodyError; decodeErr
// when the messages do not decode (the upstream's to judge).
func (h *Handler) parseMessages(body []byte, cred auth.Credential) (req *translate.Request, msgs []msg.Message, decodeErr, err error) {
	var lookup func(first *msg.Message) *msg.Decoded
	var key string
	if h.decoded != nil && h.cfg.Keys != nil {
		lookup = func(first *msg.Message) *msg.Decoded {
			key = h.decodedKey(cred, first)
			return h.decoded.get(key)
		}
	}
	var d *msg.Decoded
	var shape *msg.ShapeError
	req, err = translate.ParseRequestFunc(body, func(start int) (int, int) {
		var end int
		var derr error
		if d, end, derr = msg.DecodeArray(body, start, lookup); derr != nil {
			d = nil
			if errors.As(derr, &shape) {
				return len(body) + 1, 0 // stop: refused, however the rest reads
			}
			return -1, 0
		}
		return end, len(d.Messages)
	})
	if shape != nil {
		return nil, nil, nil, shape
	}
	if err != nil {
		return nil, nil, nil, err
	}
	if d == nil {
		// No messages, or messages that do not decode: decoding them alone
		// gives the error the pipeline has always reported.
		msgs, decodeErr = msg.Decode(req.Messages)
		return req, msgs, decodeErr, nil
	}
	if key != "" && len(d.Messages) >= decodeCacheMinMessages {
		h.decoded.put(key, d, d.Size())
	}
	return req, d.Messages, nil, nil
}

// refusedMessagesPrefix is the Messages route's prefixCheck: parseMessages's
// refusals that the beginning of a body settles. A messages array over the
// decode bound is over it at the same byte of any body that begins alike
// (the bound grows with the bytes read, see msg.DecodeRatio), and so are a
// duplicated field and one top-level field too many. Nesting is settled
// with room to spare: values are skipped from where they start, at most
// jsonscan.MaxDepth levels below it, and they start a few levels deep.
//
// The checks run in the order the whole parse meets them, so the refusal is
// the one the whole body gets: the fields in order (a duplicate, a field
// too many, the messages' bound), then the nesting, which the parse meets
// at its place and reports as malformed JSON.
func refusedMessagesPrefix(prefix []byte, _ int) error {
	var shape *msg.ShapeError
	_, err := translate.ParseRequestFunc(prefix, func(start int) (int, int) {
		if _, _, derr := msg.DecodeArray(prefix, start, nil); errors.As(derr, &shape) {
			return len(prefix) + 1, 0
		}
		return -1, 0 // cut short: no verdict
	})
	var refused *translate.BodyError
	switch {
	case shape != nil:
		return shape
	case errors.As(err, &refused):
		return refused
	case jsonscan.TooDeep(prefix, 2*jsonscan.MaxDepth):
		return translate.ErrInvalidJSON
	}
	return nil
}

// decodedKey names a conversation in the decoded cache: the caller's
// credential namespace (a caller is only ever compared with its own earlier
// requests, so the cache's timing tells nothing about anyone else's) and the
// id of the first message, which does not change as the conversation grows
// (ids ignore cache markers).
func (h *Handler) decodedKey(cred auth.Credential, first *msg.Message) string {
	return h.cfg.Keys.Namespace(cred) + "/" + first.ID
}
