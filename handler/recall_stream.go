package handler

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"

	"github.com/caddy-lore/caddy-lore/handler/translate"
)

// recallRelay relays one streamed answer to the client while hiding the
// recall tool: a recall block is held back instead of forwarded, the other
// blocks are re-indexed so the client sees a gap-free sequence, and when
// the model called only recall the answer does not end: the caller runs
// the search, asks the upstream to continue, and relays the continuation
// into the same message (round after round, up to maxRecallRounds).
type recallRelay struct {
	send  func(translate.Event) error // to the client
	next  int                         // next client-visible block index
	prior translate.Usage             // usage of the earlier rounds
}

// roundResult is what one round left to do.
type roundResult struct {
	ok       bool            // the round ran to message_stop (or stopped for a follow-up) and the client took every event
	followUp bool            // only recall was called: answer it and continue
	content  json.RawMessage // the model's content this round, recall calls included
	calls    []recallCall
	others   bool // the model also called the client's tools
	usage    translate.Usage
}

// round relays one upstream stream. first is false for continuations,
// whose message_start the client must not see again; final runs right
// before the message_stop that ends the client's message.
//
// Every turn with tools goes through here, so the common case stays cheap:
// only the few framing events are decoded; a delta is decoded (for its
// index) only once a recall block is held or indices have shifted; the
// round's events are kept as bytes and folded into its content only when a
// follow-up needs it.
func (rr *recallRelay) round(body io.Reader, first bool, final func()) roundResult {
	var kept []translate.Event // the round's events, copied, for its content
	index := map[int]int{}     // upstream block index → client index
	held := map[int]bool{}     // upstream indices of recall blocks
	shifted := !first          // client indices differ from the upstream's
	var res roundResult
	events := translate.NewEventReader(body)
	for {
		ev, err := events.Next()
		if err != nil {
			break
		}
		kept = append(kept, translate.Event{Name: ev.Name, Data: bytes.Clone(ev.Data)})
		quick := ev.Name == "content_block_delta" || ev.Name == "content_block_stop" || ev.Name == "ping"
		if quick && len(held) == 0 && !shifted {
			if rr.send(ev) != nil {
				return roundResult{} // client gone
			}
			continue
		}
		var head struct {
			Type         string `json:"type"`
			Index        int    `json:"index"`
			ContentBlock struct {
				Type string `json:"type"`
				Name string `json:"name"`
			} `json:"content_block"`
			Delta struct {
				StopReason string `json:"stop_reason"`
			} `json:"delta"`
		}
		_ = json.Unmarshal(ev.Data, &head)
		out, forward := ev, true
		switch head.Type {
		case "message_start":
			forward = first
		case "content_block_start":
			if head.ContentBlock.Type == "tool_use" && head.ContentBlock.Name == recallToolName {
				held[head.Index], forward = true, false
				break
			}
			res.others = res.others || head.ContentBlock.Type == "tool_use"
			index[head.Index] = rr.next
			shifted = shifted || rr.next != head.Index
			rr.next++
			out = withIndex(ev, head.Index, index[head.Index])
		case "content_block_delta", "content_block_stop":
			if held[head.Index] {
				forward = false
				break
			}
			if i, ok := index[head.Index]; ok {
				out = withIndex(ev, head.Index, i)
			}
		case "message_delta":
			if len(held) > 0 && !res.others && head.Delta.StopReason == "tool_use" {
				res.followUp, forward = true, false
				break
			}
			if rr.prior != (translate.Usage{}) {
				out = withUsage(ev, sumUsage(rr.prior, accumulate(kept).Usage))
			}
		case "message_stop":
			res.ok = true
			if res.followUp {
				forward = false
				break
			}
			if final != nil {
				final()
			}
		}
		if forward && rr.send(out) != nil {
			return roundResult{} // client gone
		}
	}
	if len(held) > 0 || res.followUp || rr.prior != (translate.Usage{}) {
		reply := accumulate(kept)
		res.content, res.usage = reply.Content, reply.Usage
		res.calls, _ = recallCalls(reply.Content)
	}
	return res
}

// accumulate folds events into the reply they make.
func accumulate(events []translate.Event) *translate.Response {
	var a translate.Accumulator
	for _, ev := range events {
		a.Add(ev)
	}
	return a.Response()
}

// close ends the client's message when a continuation cannot be had (the
// round limit, or a failed follow-up call): stop_reason end_turn.
func (rr *recallRelay) close(final func()) bool {
	usage, _ := json.Marshal(rr.prior)
	delta := translate.Event{Name: "message_delta",
		Data: []byte(`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":` + string(usage) + `}`)}
	if rr.send(withRaw(delta)) != nil {
		return false
	}
	if final != nil {
		final()
	}
	return rr.send(withRaw(translate.Event{Name: "message_stop", Data: []byte(`{"type":"message_stop"}`)})) == nil
}

// withIndex returns ev with its top-level "index" set to to (ev itself when
// unchanged, the common case).
func withIndex(ev translate.Event, from, to int) translate.Event {
	if from == to {
		return ev
	}
	data, err := translate.ReplaceFields(ev.Data, map[string][]byte{"index": []byte(strconv.Itoa(to))})
	if err != nil {
		return ev
	}
	return withRaw(translate.Event{Name: ev.Name, Data: data})
}

// withUsage returns a message_delta whose usage is u (the answer's total
// over all rounds, so the client and the stored turn count every call).
func withUsage(ev translate.Event, u translate.Usage) translate.Event {
	b, _ := json.Marshal(u)
	data, err := translate.ReplaceFields(ev.Data, map[string][]byte{"usage": b})
	if err != nil {
		return ev
	}
	return withRaw(translate.Event{Name: ev.Name, Data: data})
}

// withRaw sets an event's wire form from its name and data.
func withRaw(ev translate.Event) translate.Event {
	raw := make([]byte, 0, len(ev.Data)+len(ev.Name)+16)
	raw = append(raw, "event: "...)
	raw = append(raw, ev.Name...)
	raw = append(raw, "\ndata: "...)
	raw = append(raw, ev.Data...)
	ev.Raw = append(raw, "\n\n"...)
	return ev
}

func sumUsage(a, b translate.Usage) translate.Usage {
	return translate.Usage{InputTokens: a.InputTokens + b.InputTokens, OutputTokens: a.OutputTokens + b.OutputTokens,
		CacheReadTokens: a.CacheReadTokens + b.CacheReadTokens, CacheWriteTokens: a.CacheWriteTokens + b.CacheWriteTokens}
}
