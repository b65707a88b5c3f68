package gradient

import (
	"strconv"

	"github.com/caddy-lore/caddy-lore/internal/jsonscan"
)

// AppendJSON appends the state as encoding/json would marshal it (the same
// field names, order and omitempty rules; strings as jsonscan.AppendString
// writes them, i.e. without HTML escaping, which json.Unmarshal reads the
// same). Every turn's commit stores its session's state: encoding/json's
// reflection cost about 11 µs of it per turn at concurrency 64, this a tenth
// (docs/benchmarks.md). TestAppendJSONIsMarshal fails when a field is added
// to State without being added here.
func (st *State) AppendJSON(b []byte) []byte {
	b = append(b, `{"layer":`...)
	b = strconv.AppendInt(b, int64(st.LastLayer), 10)
	b = appendInt(b, "overhead", st.Overhead)
	b = appendInt(b, "overhead_n", st.OverheadSamples)
	b = appendInt(b, "known_input", st.LastKnownInput)
	b = appendInt(b, "known_ltm", st.LastKnownLTM)
	b = appendInt(b, "known_count", st.LastKnownMessageCount)
	b = append(b, `,"known_window":`...)
	b = st.KnownWindow.appendJSON(b)
	b = appendInt(b, "known_estimate", st.KnownEstimate)
	b = appendInt(b, "estimate", st.LastTransformEstimate)
	b = append(b, `,"window":`...)
	b = st.LastWindow.appendJSON(b)
	b = appendInt(b, "growth", st.Growth)
	if st.Pin != nil {
		b = append(b, `,"pin":{"i":`...)
		b = strconv.AppendInt(b, int64(st.Pin.Index), 10)
		b = append(b, `,"id":`...)
		b = jsonscan.AppendString(b, st.Pin.ID)
		b = append(b, '}')
	}
	b = append(b, `,"prefix":`...)
	b = st.Prefix.appendJSON(b)
	b = appendStr(b, "snapshot", st.DistillSnapshotKey)
	b = appendInt(b, "force_min_layer", st.ForceMinLayer)
	b = appendTrue(b, "forced", st.LastLayerForced)
	b = appendTrue(b, "post_idle_compact", st.PostIdleCompact)
	b = appendInt(b, "high_layer_turns", st.ConsecutiveHighLayer)
	b = appendStr(b, "prefix_hash", st.LastPrefixHash)
	b = appendInt(b, "busts", st.BustCount)
	b = appendInt(b, "transforms", st.TransformCount)
	return append(b, '}')
}

func (w *Window) appendJSON(b []byte) []byte {
	n := len(b)
	b = appendInt(b, "start", w.Start)
	b = appendStr(b, "start_id", w.StartID)
	b = appendInt(b, "count", w.Count)
	b = appendStr(b, "last_id", w.LastID)
	b = appendInt(b, "ltm", w.LTM)
	return closeObject(b, n)
}

func (c *PrefixCache) appendJSON(b []byte) []byte {
	n := len(b)
	b = appendInt(b, "rows", c.Rows)
	b = appendStr(b, "last_id", c.LastID)
	if len(c.Parts) > 0 {
		b = jsonscan.AppendStrings(appendName(b, "parts"), c.Parts)
	}
	return closeObject(b, n)
}

// The appenders below write ,"name":value (omitted for a zero value, as
// omitempty does). An object written with them starts at n with a comma
// that closeObject turns into its opening brace.

func appendInt(b []byte, name string, v int) []byte {
	if v == 0 {
		return b
	}
	b = appendName(b, name)
	return strconv.AppendInt(b, int64(v), 10)
}

func appendStr(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	return jsonscan.AppendString(appendName(b, name), v)
}

func appendTrue(b []byte, name string, v bool) []byte {
	if !v {
		return b
	}
	return append(appendName(b, name), "true"...)
}

func appendName(b []byte, name string) []byte {
	b = append(b, `,"`...)
	b = append(b, name...)
	return append(b, `":`...)
}

// closeObject ends an object whose fields were appended from n on: their
// leading comma becomes the opening brace, or "{}" when there were none.
func closeObject(b []byte, n int) []byte {
	if len(b) == n {
		return append(b, "{}"...)
	}
	b[n] = '{'
	return append(b, '}')
}
