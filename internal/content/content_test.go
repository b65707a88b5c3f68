package content

import (
	"encoding/json"
	"testing"
)

func TestDecodeAndResultText(t *testing.T) {
	if blocks, s := Decode(json.RawMessage(` "plain"`)); blocks != nil || s != "plain" {
		t.Fatalf("string content: %v %q", blocks, s)
	}
	blocks, _ := Decode(json.RawMessage(`[{"type":"text","text":"a"},{"type":"tool_use","name":"bash","input":{"c":1}}]`))
	if len(blocks) != 2 || blocks[1].Name != "bash" || string(blocks[1].Input) != `{"c":1}` {
		t.Fatalf("blocks %+v", blocks)
	}
	if b, s := Decode(json.RawMessage(`{"not":"content"}`)); b != nil || s != "" {
		t.Fatal("an object is neither")
	}
	if got := ResultText(json.RawMessage(`[{"type":"text","text":"x"},{"type":"image"},{"type":"text","text":"y"}]`)); got != "x\ny" {
		t.Fatalf("result text %q", got)
	}
	if got := ResultText(json.RawMessage(`"out"`)); got != "out" {
		t.Fatalf("string result %q", got)
	}
}
