package fakeupstream

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// Scripted answers to the gateway's knowledge prompts (rules in doc.go).
const (
	curatorMarker       = "knowledge curator of an AI coding assistant"
	consolidationMarker = "Consolidate them"
)

var (
	rememberMagic = regexp.MustCompile(`\[\[remember:([^=\]]+)=([^\]]+)\]\]`)
	entryLine     = regexp.MustCompile(`(?m)^- \[([^\]]+)\] `)
	atMost        = regexp.MustCompile(`at most (\d+)`)
)

// knowledgeReply answers a curation or consolidation prompt; ok is false
// for any other request.
func knowledgeReply(c convo) (reply, bool) {
	if !strings.Contains(c.System, curatorMarker) {
		return reply{}, false
	}
	user := strings.Join(c.UserTexts, "\n")
	type op struct {
		Op       string `json:"op"`
		ID       string `json:"id,omitempty"`
		Category string `json:"category,omitempty"`
		Title    string `json:"title,omitempty"`
		Content  string `json:"content,omitempty"`
		Scope    string `json:"scope,omitempty"`
		Reason   string `json:"reason,omitempty"`
	}
	ops := []op{}
	if strings.Contains(c.System, consolidationMarker) {
		keep := 0
		if m := atMost.FindStringSubmatch(user); m != nil {
			keep, _ = strconv.Atoi(m[1])
		}
		for i, m := range entryLine.FindAllStringSubmatch(user, -1) {
			if i >= keep {
				ops = append(ops, op{Op: "delete", ID: m[1], Reason: "fake consolidation"})
			}
		}
	} else {
		seen := map[string]bool{}
		for _, m := range rememberMagic.FindAllStringSubmatch(user, -1) {
			title, content := strings.TrimSpace(m[1]), strings.TrimSpace(m[2])
			// The conversation may repeat a magic (a user message quoted
			// back); one op per title.
			if !seen[title] {
				seen[title] = true
				ops = append(ops, op{Op: "create", Category: "pattern", Title: title, Content: content, Scope: "project"})
			}
		}
	}
	text, _ := json.Marshal(ops)
	return reply{Blocks: []replyBlock{{Type: "text", Text: string(text)}}, StopReason: "end_turn"}, true
}
