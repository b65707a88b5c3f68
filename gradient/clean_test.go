package gradient

import (
	"testing"

	"github.com/caddy-lore/caddy-lore/msg"
)

func TestCleanText(t *testing.T) {
	cases := map[string]string{
		"hello": "hello",
		"<system-reminder>build mode</system-reminder>\nhello":                                                                     "hello",
		"a<system-reminder>x</system-reminder>b<system-reminder>y</system-reminder>\nc":                                            "abc",
		"<system-reminder>The user sent the following message:\n  fix the bug  \n\nPlease address this message.</system-reminder>": "fix the bug",
		"before\n<system-reminder>The user sent the following message:\nhi\n\nPlease address</system-reminder>\nafter":             "before\nhi\nafter",
		"a\n\n\n\n\nb\n\n\nc":                           "a\n\nb\n\nc",
		"  padded \n":                                   "padded",
		"<system-reminder>unclosed":                     "<system-reminder>unclosed",
		"x</system-reminder><system-reminder>y":         "x</system-reminder><system-reminder>y",
		"<system-reminder>a\n\nb</system-reminder>\n\n": "",
	}
	for in, want := range cases {
		mustEqual(t, "CleanText("+in+")", CleanText(in), want)
	}
}

func TestCleanBlocks(t *testing.T) {
	c := (&conv{}).add("user", []map[string]any{
		{"type": "text", "text": "<system-reminder>only a reminder</system-reminder>"},
		{"type": "text", "text": "keep me"},
	})
	c.add("user", []map[string]any{{"type": "text", "text": "<system-reminder>x</system-reminder>"}})
	c.user("<system-reminder>string content</system-reminder>")
	c.add("assistant", []map[string]any{
		{"type": "thinking", "thinking": "<system-reminder>t</system-reminder>", "signature": "sig"},
		{"type": "text", "text": ""},
	})
	m := c.msgs(t)

	out := cleanBlocks(m[0].Blocks)
	mustEqual(t, "dropped empty", len(out), 1)
	mustEqual(t, "kept", out[0].Text, "keep me")
	out = cleanBlocks(m[1].Blocks)
	mustEqual(t, "placeholder", out[0].Text, "...")
	out = cleanBlocks(m[2].Blocks)
	mustEqual(t, "string content placeholder", out[0].Text, "...")
	out = cleanBlocks(m[3].Blocks)
	mustEqual(t, "thinking kept with signature", len(out), 1)
	mustEqual(t, "thinking", out[0].Type+"/"+out[0].Signature, msg.TypeThinking+"/sig")
	mustEqual(t, "unchanged is nil", cleanBlocks((&conv{}).user("fine").msgs(t)[0].Blocks) == nil, true)
}
