package fakeupstream

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Loop mode scripts a long agent tool loop, the way Claude Code runs one:
//
//   - "[[loop:N]]" in a user text starts it. The model then asks, one round
//     at a time, for `cat f_001.txt`, `cat f_002.txt`, … `cat f_N.txt` with
//     the Bash tool (input {"command","description"}), each reply a thinking
//     block (when the request enables thinking) and the tool_use.
//   - Progress is read from the request, not kept in the fake: the highest
//     "LOOP i of N" found in any user text or tool_result says file i was
//     read. Files carry that line; a summary the fake wrote carries it too.
//     So a gateway may drop or distil old rounds, and a client may compact,
//     and the loop still goes on from where the newest visible round is.
//   - When i reaches N the reply is the final answer "LOOP DONE: read N
//     files", stop_reason end_turn.
//   - A summary request (the last user text asks for "a detailed summary of
//     the conversation", as Claude Code's compaction does, in a text block
//     after the last tool_result) is answered with a summary text naming the
//     highest "LOOP i of N" seen, stop_reason end_turn.
var (
	loopStartRE = regexp.MustCompile(`\[\[loop:(\d+)\]\]`)
	loopMarkRE  = regexp.MustCompile(`LOOP (\d+) of (\d+)`)
)

// loopThinkingPad makes each round's thinking about as long as a short real
// one (a few hundred characters).
const loopThinkingPad = "I will read it with cat, look at what it holds, and then move on to the next one " +
	"until every file of the list has been read; nothing in the earlier files changes that plan."

func loopReply(c convo) (reply, bool) {
	n, i := 0, 0
	scan := func(s string) {
		if m := loopStartRE.FindStringSubmatch(s); m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		for _, m := range loopMarkRE.FindAllStringSubmatch(s, -1) {
			k, _ := strconv.Atoi(m[1])
			total, _ := strconv.Atoi(m[2])
			i = max(i, k)
			if n == 0 {
				n = total
			}
		}
	}
	for _, t := range c.UserTexts {
		scan(t)
	}
	for _, t := range c.ToolResults {
		scan(t)
	}
	if n == 0 {
		return reply{}, false
	}
	last := ""
	if len(c.UserTexts) > 0 {
		last = c.UserTexts[len(c.UserTexts)-1]
	}
	if isSummaryRequest(last) {
		return reply{
			Blocks:     []replyBlock{{Type: "text", Text: fmt.Sprintf("<summary>\nThe user asked to read files in order. Progress: LOOP %d of %d. Next: keep reading.\n</summary>", i, n)}},
			StopReason: "end_turn",
		}, true
	}
	if i >= n {
		return reply{Blocks: []replyBlock{{Type: "text", Text: fmt.Sprintf("LOOP DONE: read %d files", n)}}, StopReason: "end_turn"}, true
	}
	next := i + 1
	var r reply
	if c.Thinking {
		text := fmt.Sprintf("Round %d of %d: the next file is f_%03d.txt. %s", next, n, next, loopThinkingPad)
		r.Blocks = append(r.Blocks, replyBlock{Type: "thinking", Text: text, Signature: sign(c.SigKey, text)})
	}
	input := fmt.Sprintf(`{"command":"cat f_%03d.txt","description":"Read file %d of %d"}`, next, next, n)
	r.Blocks = append(r.Blocks, replyBlock{Type: "tool_use", ID: toolUseID(c.Seed, 0), Name: "Bash", Input: input})
	r.StopReason = "tool_use"
	return r, true
}

func isSummaryRequest(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "detailed summary of the conversation") || strings.Contains(s, "summary of the conversation so far")
}
