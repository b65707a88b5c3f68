package handler

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/caddy-lore/caddy-lore/handler/translate"
	"github.com/caddy-lore/caddy-lore/pricing"
)

// recallRelay relays one streamed answer to the client while hiding the
// recall tool: a recall block is held back instead of forwarded, the other
// blocks are re-indexed so the client sees a gap-free sequence, and when
// the model called only recall the answer does not end: the caller runs
// the search, asks the upstream to continue, and relays the continuation
// into the same message (round after round, up to maxRecallRounds).
//
// Usage as the client sees it: the input and cache figures of the latest
// round (the size of the context the model last read, which Claude Code
// uses to decide when to compact) and the output tokens of all rounds.
// (What all rounds cost is recallEgress's to add up.)
type recallRelay struct {
	// send writes an event to the client, flushing unless ev.More (the
	// next upstream event has arrived and follows at once); flush sends
	// what is written, for an event held back that had no More.
	send   func(translate.Event) error
	flush  func()
	events *translate.EventReaders // nil: readers are not recycled
	next   int                     // next client-visible block index
	out    int64                   // output tokens of the earlier rounds
	last   pricing.Usage           // usage of the latest finished round
}

// roundResult is what one round left to do.
type roundResult struct {
	ok       bool            // the round ran to message_stop (or stopped for a follow-up) and the client took every event
	followUp bool            // only recall was called: answer it and continue
	content  json.RawMessage // the model's content this round, recall calls included
	calls    []recallCall
	others   bool // the model also called the client's tools
	usage    pricing.Usage
}

// round relays one upstream stream. first is false for continuations,
// whose message_start the client must not see again and whose thinking
// blocks are not forwarded either: they followed a tool result the client
// never saw, so they could not be sent back as part of its message. final
// runs right before the message_stop that ends the client's message.
//
// Every turn with tools goes through here, so the common case stays cheap:
// only the few framing events are decoded; a delta is decoded (for its
// index) only once a block is held or indices have shifted; the round's
// events are kept as bytes and folded into its content only when needed.
func (rr *recallRelay) round(body io.Reader, first bool, final func()) roundResult {
	var kept []translate.Event // the round's events, copied, for its content
	index := map[int]int{}     // upstream block index → client index
	held := map[int]bool{}     // upstream indices of blocks not forwarded
	recalls := 0
	shifted := !first // client indices differ from the upstream's
	var res roundResult
	events := rr.events.Get(body)
	defer rr.events.Put(events)
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
			cb := head.ContentBlock
			isRecall := cb.Type == "tool_use" && cb.Name == recallToolName
			if isRecall || (!first && (cb.Type == "thinking" || cb.Type == "redacted_thinking")) {
				held[head.Index], forward = true, false
				if isRecall {
					recalls++
				}
				break
			}
			res.others = res.others || cb.Type == "tool_use"
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
			if recalls > 0 && !res.others && head.Delta.StopReason == "tool_use" {
				res.followUp, forward = true, false
				break
			}
			if !first {
				u := accumulate(kept).Usage
				u.OutputTokens += rr.out
				out = withUsage(ev, u)
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
		if !forward && !ev.More && rr.flush != nil {
			rr.flush() // what was sent before this held event
		}
	}
	if recalls > 0 || res.followUp || !first {
		reply := accumulate(kept)
		res.content, res.usage = reply.Content, reply.Usage
		res.calls, _ = recallCalls(reply.Content)
	}
	return res
}

// finished records a round that needs a follow-up.
func (rr *recallRelay) finished(u pricing.Usage) {
	rr.out += u.OutputTokens
	rr.last = u
}

// close ends the client's message at the round limit: stop_reason end_turn.
func (rr *recallRelay) close(final func()) bool {
	u := rr.last
	u.OutputTokens = rr.out
	usage, _ := json.Marshal(u)
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

// fail ends the client's stream with an error event (the upstream's error
// envelope when it sent one) and no message_stop: the client sees a failed
// answer it may retry, never a silently truncated one.
func (rr *recallRelay) fail(errBody []byte) {
	var probe struct {
		Type string `json:"type"`
	}
	data := bytes.TrimSpace(errBody)
	if json.Unmarshal(data, &probe) != nil || probe.Type != "error" || bytes.ContainsAny(data, "\r\n") {
		data = []byte(`{"type":"error","error":{"type":"api_error","message":"the gateway could not continue this answer after a recall call"}}`)
	}
	_ = rr.send(withRaw(translate.Event{Name: "error", Data: data}))
}

// keepAlive sends a ping every interval until the returned stop is called,
// so that the client's stream is not idle while the gateway searches and
// waits for the continuation (proxies and SDK watchdogs cut idle streams).
// stop returns once no ping is being written.
func (rr *recallRelay) keepAlive(interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if rr.send(withRaw(translate.Event{Name: "ping", Data: []byte(`{"type":"ping"}`)})) != nil {
					return
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// accumulate folds events into the reply they make.
func accumulate(events []translate.Event) *translate.Response {
	var a translate.Accumulator
	for _, ev := range events {
		a.Add(ev)
	}
	return a.Response()
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
	return withRaw(translate.Event{Name: ev.Name, Data: data, More: ev.More})
}

// withUsage returns a message_delta whose usage figures are u's; the
// usage object's other members (server tool use, service tier) are kept.
func withUsage(ev translate.Event, u pricing.Usage) translate.Event {
	var top struct {
		Usage json.RawMessage `json:"usage"`
	}
	usage := []byte(`{}`)
	if json.Unmarshal(ev.Data, &top) == nil && len(top.Usage) > 0 && top.Usage[0] == '{' {
		usage = top.Usage
	}
	usage, err := translate.ReplaceFields(usage, usageFields(u))
	if err != nil {
		return ev
	}
	data, err := translate.ReplaceFields(ev.Data, map[string][]byte{"usage": usage})
	if err != nil {
		return ev
	}
	return withRaw(translate.Event{Name: ev.Name, Data: data, More: ev.More})
}

func usageFields(u pricing.Usage) map[string][]byte {
	n := func(v int64) []byte { return []byte(strconv.FormatInt(v, 10)) }
	return map[string][]byte{
		"input_tokens": n(u.InputTokens), "output_tokens": n(u.OutputTokens),
		"cache_read_input_tokens": n(u.CacheReadTokens), "cache_creation_input_tokens": n(u.CacheWriteTokens),
	}
}

// withRaw sets an event's wire form from its name and data, one "data:"
// line per line of data.
func withRaw(ev translate.Event) translate.Event {
	raw := make([]byte, 0, len(ev.Data)+len(ev.Name)+16)
	raw = append(raw, "event: "...)
	raw = append(raw, ev.Name...)
	for line := range bytes.SplitSeq(ev.Data, []byte("\n")) {
		raw = append(raw, "\ndata: "...)
		raw = append(raw, line...)
	}
	raw = append(raw, "\n\n"...)
	ev.Raw = raw
	return ev
}

func sumUsage(a, b pricing.Usage) pricing.Usage {
	return pricing.Usage{InputTokens: a.InputTokens + b.InputTokens, OutputTokens: a.OutputTokens + b.OutputTokens,
		CacheReadTokens: a.CacheReadTokens + b.CacheReadTokens, CacheWriteTokens: a.CacheWriteTokens + b.CacheWriteTokens,
		CacheWrite1hTokens: a.CacheWrite1hTokens + b.CacheWrite1hTokens}
}
