package translate

import (
	"encoding/json"
	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
	"github.com/caddy-lore/caddy-lore/pricing"
	"io"
	"strconv"
)

// StreamTranslator turns an Anthropic Messages SSE stream into an OpenAI
// chat-completions stream, incrementally: every Anthropic event is translated
// and written as soon as it is given, in a single Write, so the caller can
// flush after each Event (the prior art buffered the whole answer first).
//
// Output lines are "data: <chunk>\n\n" (no "event:" lines), ending with
// "data: [DONE]\n\n". Every chunk has the same id ("chatcmpl-" + message id),
// created and model, object "chat.completion.chunk", and one choice
// {index 0, delta, logprobs null, finish_reason}. Event by event:
//
//   - message_start → the role chunk, delta {"role":"assistant","content":""}.
//     It is also sent before anything else should an upstream skip
//     message_start.
//   - text block start (with text) and text_delta → delta {"content": text};
//     empty fragments are not sent.
//   - tool_use block start → delta {"tool_calls":[{"index":k,"id","type":
//     "function","function":{"name","arguments":""}}]}, where k counts the
//     tool_use blocks of this message from 0, in block order; input_json_delta
//     → {"tool_calls":[{"index":k,"function":{"arguments": fragment}}]}
//     (empty fragments, which Anthropic sends first, are not sent).
//   - thinking_delta → delta {"reasoning_content": text} (non-standard, read
//     by clients that show reasoning, ignored by the others); signatures,
//     redacted thinking, citations and server-tool blocks are dropped.
//   - message_delta with a stop_reason → the finish chunk, delta {} and
//     finish_reason = OpenAIFinishReason(stop_reason). Usage is tracked
//     (cumulative, as Anthropic sends it).
//   - message_stop → the finish chunk if none was sent ("stop"); with
//     include_usage, the usage chunk ("choices":[] and usage =
//     ToOpenAIUsage); then [DONE]. With include_usage every other chunk
//     carries "usage":null, as OpenAI does.
//   - error → {"error":{"message","type","param":null,"code"}} (which the
//     OpenAI SDKs raise as a stream error), then [DONE].
//   - ping, content_block_stop, unknown events → nothing.
//
// Events after [DONE] are ignored.
type StreamTranslator struct {
	w            io.Writer
	model        string
	id           string
	created      int64
	includeUsage bool

	buf []byte // this event's output

	started  bool          // role chunk written
	finished bool          // finish chunk written
	done     bool          // [DONE] written
	usage    pricing.Usage // cumulative
	tools    map[int]int   // Anthropic block index → OpenAI tool_calls index
}

// NewStreamTranslator writes the OpenAI stream to w. model is reported until
// message_start names the model that answers; created is the unix time every
// chunk reports; includeUsage is stream_options.include_usage.
func NewStreamTranslator(w io.Writer, model string, created int64, includeUsage bool) *StreamTranslator {
	return &StreamTranslator{w: w, model: model, created: created, includeUsage: includeUsage,
		tools: map[int]int{}, buf: make([]byte, 0, 1024)}
}

type anthStreamEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message struct {
		ID    string        `json:"id"`
		Model string        `json:"model"`
		Usage pricing.Usage `json:"usage"`
	} `json:"message"`
	ContentBlock struct {
		Type     string `json:"type"`
		ID       string `json:"id"`
		Name     string `json:"name"`
		Text     string `json:"text"`
		Thinking string `json:"thinking"`
	} `json:"content_block"`
	Delta struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		Thinking    string `json:"thinking"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *pricing.Usage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// Event translates one Anthropic event and writes the resulting chunks, if
// any, in one Write. It returns the writer's error.
func (t *StreamTranslator) Event(ev Event) error {
	if t.done {
		return nil
	}
	var e anthStreamEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		if ev.Name != "error" {
			return nil // not JSON: nothing a client could use
		}
		e.Type = "error"
	}
	if e.Type == "" {
		e.Type = ev.Name
	}
	t.buf = t.buf[:0]
	switch e.Type {
	case "message_start":
		if e.Message.ID != "" {
			t.id = ChatCompletionID(e.Message.ID)
		}
		if e.Message.Model != "" {
			t.model = e.Message.Model
		}
		t.usage = e.Message.Usage
		t.start()
	case "content_block_start":
		t.start()
		switch cb := e.ContentBlock; cb.Type {
		case "text":
			t.stringDelta(`{"content":`, cb.Text)
		case "thinking":
			t.stringDelta(`{"reasoning_content":`, cb.Thinking)
		case "tool_use":
			k := len(t.tools)
			t.tools[e.Index] = k
			d := append(t.chunkHead(), `{"tool_calls":[{"index":`...)
			d = strconv.AppendInt(d, int64(k), 10)
			d = append(d, `,"id":`...)
			d = jsonscan.AppendString(d, cb.ID)
			d = append(d, `,"type":"function","function":{"name":`...)
			d = jsonscan.AppendString(d, cb.Name)
			d = append(d, `,"arguments":""}}]}`...)
			t.buf = d
			t.chunkTail("")
		}
	case "content_block_delta":
		t.start()
		switch d := e.Delta; d.Type {
		case "text_delta":
			t.stringDelta(`{"content":`, d.Text)
		case "thinking_delta":
			t.stringDelta(`{"reasoning_content":`, d.Thinking)
		case "input_json_delta":
			if k, ok := t.tools[e.Index]; ok && d.PartialJSON != "" {
				b := append(t.chunkHead(), `{"tool_calls":[{"index":`...)
				b = strconv.AppendInt(b, int64(k), 10)
				b = append(b, `,"function":{"arguments":`...)
				b = jsonscan.AppendString(b, d.PartialJSON)
				b = append(b, `}}]}`...)
				t.buf = b
				t.chunkTail("")
			}
		}
	case "message_delta":
		if u := e.Usage; u != nil {
			t.usage.OutputTokens = u.OutputTokens
			if u.InputTokens > 0 {
				t.usage.InputTokens = u.InputTokens
			}
			if u.CacheReadTokens > 0 {
				t.usage.CacheReadTokens = u.CacheReadTokens
			}
			if u.CacheWriteTokens > 0 {
				t.usage.CacheWriteTokens = u.CacheWriteTokens
			}
		}
		if e.Delta.StopReason != "" {
			t.start()
			t.finish(OpenAIFinishReason(e.Delta.StopReason))
		}
	case "message_stop":
		t.start()
		t.finish("stop")
		t.end()
	case "error":
		errType, message := "api_error", "the upstream stream failed"
		if e.Error != nil {
			if e.Error.Type != "" {
				errType = e.Error.Type
			}
			if e.Error.Message != "" {
				message = e.Error.Message
			}
		}
		t.errorLine(errType, message)
		t.doneLine()
	}
	return t.flush()
}

// Close ends the stream if [DONE] has not been written yet. When the finish
// chunk was already sent (only message_stop went missing) the answer is
// whole: the usage chunk (with include_usage) and [DONE] follow as usual.
// Otherwise the upstream broke off mid-answer, and the client gets an error
// chunk before [DONE], so that it does not take a truncated answer for a
// finished one.
func (t *StreamTranslator) Close() error {
	if t.done {
		return nil
	}
	t.buf = t.buf[:0]
	if t.finished {
		t.end()
	} else {
		t.errorLine("api_error", "the upstream stream ended before the answer was complete")
		t.doneLine()
	}
	return t.flush()
}

// end writes the usage chunk when include_usage is on, then [DONE].
func (t *StreamTranslator) end() {
	if t.includeUsage {
		t.head()
		t.buf = append(t.buf, `[],"usage":`...)
		t.buf = appendOpenAIUsage(t.buf, ToOpenAIUsage(t.usage))
		t.buf = append(t.buf, "}\n\n"...)
	}
	t.doneLine()
}

// Done reports whether [DONE] has been written.
func (t *StreamTranslator) Done() bool { return t.done }

func (t *StreamTranslator) chunkID() string {
	if t.id == "" {
		t.id = "chatcmpl-lore-" + strconv.FormatInt(t.created, 10)
	}
	return t.id
}

// head appends `data: {"id":…,"object":…,"created":…,"model":…,"choices":`.
func (t *StreamTranslator) head() {
	b := t.buf
	b = append(b, `data: {"id":`...)
	b = jsonscan.AppendString(b, t.chunkID())
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, t.created, 10)
	b = append(b, `,"model":`...)
	b = jsonscan.AppendString(b, t.model)
	b = append(b, `,"choices":`...)
	t.buf = b
}

// chunkHead starts a one-choice chunk up to its delta and returns the buffer
// for the delta to be appended; chunkTail closes it.
func (t *StreamTranslator) chunkHead() []byte {
	t.head()
	return append(t.buf, `[{"index":0,"delta":`...)
}

func (t *StreamTranslator) chunkTail(finish string) {
	b := t.buf
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = jsonscan.AppendString(b, finish)
	}
	b = append(b, "}]"...)
	if t.includeUsage {
		b = append(b, `,"usage":null`...)
	}
	b = append(b, "}\n\n"...)
	t.buf = b
}

func (t *StreamTranslator) start() {
	if t.started {
		return
	}
	t.started = true
	t.buf = append(t.chunkHead(), `{"role":"assistant","content":""}`...)
	t.chunkTail("")
}

// stringDelta writes a chunk whose delta is prefix + s + "}", unless s is
// empty.
func (t *StreamTranslator) stringDelta(prefix, s string) {
	if s == "" {
		return
	}
	b := append(t.chunkHead(), prefix...)
	b = jsonscan.AppendString(b, s)
	b = append(b, '}')
	t.buf = b
	t.chunkTail("")
}

func (t *StreamTranslator) finish(reason string) {
	if t.finished {
		return
	}
	t.finished = true
	t.buf = append(t.chunkHead(), "{}"...)
	t.chunkTail(reason)
}

func (t *StreamTranslator) errorLine(errType, message string) {
	t.buf = append(t.buf, "data: "...)
	t.buf = append(t.buf, openAIErrorJSON(errType, message)...)
	t.buf = append(t.buf, "\n\n"...)
}

func (t *StreamTranslator) doneLine() {
	t.buf = append(t.buf, "data: [DONE]\n\n"...)
	t.done = true
}

func (t *StreamTranslator) flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	_, err := t.w.Write(t.buf)
	return err
}
