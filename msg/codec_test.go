package msg

import (
	"encoding/json"
	"testing"
)

const conversation = `[
 {"role":"user","content":"AB"},
 {"role":"user","content":[{"type":"text","text":"A"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},{"type":"text","text":"B","cache_control":{"type":"ephemeral"}}]},
 {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s1"},{"type":"redacted_thinking","data":"zz"},{"type":"tool_use","id":"toolu_1","name":"read","input":{"path":"/a"}}]},
 {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"l1"},{"type":"image","source":{}},{"type":"text","text":"l2"}],"is_error":true}]},
 {"role":"system","content":"odd role"}
]`

func TestDecode(t *testing.T) {
	msgs, err := Decode(json.RawMessage(conversation))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 5 {
		t.Fatalf("%d messages", len(msgs))
	}
	// The prior art's fingerprint rule: "AB" and the blocks "A","B" have the same text.
	if msgs[0].Text() != "AB" || msgs[1].Text() != "AB" || !msgs[0].StringContent {
		t.Fatalf("texts %q %q", msgs[0].Text(), msgs[1].Text())
	}
	if b := msgs[1].Blocks[1]; b.Type != "image" || string(b.Raw) != `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}` {
		t.Fatalf("unknown block not kept raw: %+v", b)
	}
	a := msgs[2]
	if a.Role != RoleAssistant || a.Blocks[0].Signature != "s1" || a.Blocks[1].Type != "redacted_thinking" ||
		a.Blocks[2].ToolID != "toolu_1" || a.Blocks[2].ToolName != "read" || string(a.Blocks[2].Input) != `{"path":"/a"}` || !a.HasToolParts() {
		t.Fatalf("assistant %+v", a)
	}
	r := msgs[3].Blocks[0]
	if r.ToolID != "toolu_1" || r.OutputText() != "l1\nl2" || r.OutputLen() != 5 || !r.IsError {
		t.Fatalf("tool_result %+v", r)
	}
	if msgs[4].Role != RoleUser {
		t.Fatal("non-assistant roles are user")
	}
	if msgs[0].HasToolParts() {
		t.Fatal("text message has no tool parts")
	}
}

func TestIDsDeterministic(t *testing.T) {
	a, _ := Decode(json.RawMessage(conversation))
	b, _ := Decode(json.RawMessage(conversation))
	seen := map[string]bool{}
	for i := range a {
		if a[i].ID != b[i].ID || len(a[i].ID) != 32 {
			t.Fatalf("message %d: ids %q %q", i, a[i].ID, b[i].ID)
		}
		if seen[a[i].ID] {
			t.Fatal("ids collide")
		}
		seen[a[i].ID] = true
	}
	// Same content at another position is another message.
	if ComputeID(RoleUser, 0, []byte(`"x"`)) == ComputeID(RoleUser, 1, []byte(`"x"`)) ||
		ComputeID(RoleUser, 0, []byte(`"x"`)) == ComputeID(RoleAssistant, 0, []byte(`"x"`)) {
		t.Fatal("position and role must change the id")
	}
}

func TestAppendJSONRoundTrip(t *testing.T) {
	msgs, _ := Decode(json.RawMessage(conversation))
	for i := range msgs {
		out, err := AppendJSON(nil, &msgs[i])
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(msgs[i].Raw) {
			t.Fatalf("unmodified message %d not byte-identical:\n%s\n%s", i, out, msgs[i].Raw)
		}
	}
	m := msgs[3]
	m.Blocks = append([]Block(nil), m.Blocks...)
	m.Blocks[0].Output, m.Blocks[0].Modified = "[output omitted]", true
	out, err := AppendJSON(nil, &m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"[output omitted]","is_error":true}]}`
	if string(out) != want {
		t.Fatalf("modified:\n%s\nwant\n%s", out, want)
	}
	s := msgs[0]
	s.Blocks = []Block{{Type: TypeText, Text: "new", Modified: true}}
	out, _ = AppendJSON(nil, &s)
	if string(out) != `{"role":"user","content":[{"type":"text","text":"new"}]}` {
		t.Fatalf("string content rewritten: %s", out)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, bad := range []string{`{}`, `[{"role":"user","content":5}]`, `[{"role":"user","content":[1]}]`, `[`} {
		if _, err := Decode(json.RawMessage(bad)); err == nil {
			t.Fatalf("%s: want error", bad)
		}
	}
	if msgs, err := Decode(json.RawMessage(`[{"role":"user"}]`)); err != nil || len(msgs[0].Blocks) != 0 {
		t.Fatalf("missing content: %v", err)
	}
}

// Claude Code's mid-conversation system messages keep their role through a
// rewrite (the gradient re-encodes the last message to add a breakpoint).
func TestSystemRoleKept(t *testing.T) {
	msgs, err := Decode(json.RawMessage(`[{"role":"user","content":"a"},{"role":"system","content":[{"type":"text","text":"mode: plan"}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[1]
	if m.Role != RoleUser || m.WireRole != "system" {
		t.Fatalf("role %q wire %q", m.Role, m.WireRole)
	}
	m.Blocks = append([]Block(nil), m.Blocks...)
	m.Blocks[0].Modified = true
	out, _ := AppendJSON(nil, &m)
	if string(out) != `{"role":"system","content":[{"type":"text","text":"mode: plan"}]}` {
		t.Fatalf("%s", out)
	}
	if ComputeID("user", 1, m.Content) == m.ID {
		t.Fatal("a system message must not share a user message's id")
	}
}

// Claude Code moves its cache breakpoint to the newest message every turn; a
// message keeps its id when the marker leaves it (or arrives).
func TestIDIgnoresCacheControl(t *testing.T) {
	plain := ComputeID("user", 3, []byte(`[{"type":"text","text":"hi"},{"type":"tool_result","tool_use_id":"t","content":"x"}]`))
	for _, marked := range []string{
		`[{"type":"text","text":"hi"},{"type":"tool_result","tool_use_id":"t","content":"x","cache_control":{"type":"ephemeral"}}]`,
		`[{"type":"text","text":"hi","cache_control":{"type":"ephemeral","ttl":"1h"}},{"type":"tool_result","tool_use_id":"t","content":"x"}]`,
		`[{"type":"text","cache_control" : {"type":"ephemeral"} ,"text":"hi"},{"type":"tool_result","tool_use_id":"t","content":"x"}]`,
	} {
		if got := ComputeID("user", 3, []byte(marked)); got != plain {
			t.Fatalf("%s: id changed with a cache marker", marked)
		}
	}
	// The words inside text are content, not a marker.
	if ComputeID("user", 3, []byte(`[{"type":"text","text":"see \"cache_control\": {}"}]`)) ==
		ComputeID("user", 3, []byte(`[{"type":"text","text":"see "}]`)) {
		t.Fatal("text mentioning cache_control must not be stripped")
	}
}

// A decoded tool output's length is measured once, at decoding, and equals
// what OutputLen computes from the raw content.
func TestDecodedOutputLen(t *testing.T) {
	msgs, err := Decode(json.RawMessage(`[{"role":"user","content":[
		{"type":"tool_result","tool_use_id":"a","content":"x\n\"y\""},
		{"type":"tool_result","tool_use_id":"b","content":[{"type":"text","text":"l1"},{"type":"image","source":{}},{"type":"text","text":"l2"}]},
		{"type":"tool_result","tool_use_id":"c","content":""},
		{"type":"tool_result","tool_use_id":"d"}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{5, 5, 0, 0} {
		b := &msgs[0].Blocks[i]
		if i < 3 && b.rawOutputLen != want+1 {
			t.Errorf("block %d: measured %d, want %d", i, b.rawOutputLen-1, want)
		}
		fresh := Block{Type: b.Type, OutputRaw: b.OutputRaw}
		if b.OutputLen() != want || fresh.OutputLen() != want {
			t.Errorf("block %d: OutputLen %d, unmeasured %d, want %d", i, b.OutputLen(), fresh.OutputLen(), want)
		}
	}
	// A transform's text wins over the measured raw length.
	b := msgs[0].Blocks[0]
	b.Output, b.Modified = "replaced", true
	if b.OutputLen() != len("replaced") {
		t.Fatal("OutputLen of a rewritten block")
	}
}
