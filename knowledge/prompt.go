package knowledge

import (
	"fmt"
	"strings"
)

// The prompts are constants so the worker's system block (cache_control
// ttl 1h) is byte-identical across calls and sessions and stays cached.

// CuratorSystem asks for durable, codebase-specific knowledge as JSON ops
// (docs/knowledge-and-recall.md, Long-term knowledge).
const CuratorSystem = `You are the knowledge curator of an AI coding assistant. You read a recent stretch of a coding session and maintain a small set of long-term knowledge entries about the user's project, which the assistant will see at the start of every future session.

Keep only durable, codebase-specific knowledge:
- architecture decisions and their reasons;
- non-obvious patterns and conventions of this codebase;
- gotchas: traps, surprising behaviour, bugs and how they were fixed;
- tooling and environment setup (build, test and run commands, required services, versions);
- the user's stated preferences about how to work.

Do not record task state or progress, temporary state, anything that is obvious from reading the code, restatements of code, marketing, or chit-chat.

Rules
- Each entry's content stays under 150 words.
- Prefer updating an existing entry over creating a new one, and merging related entries over scattering them.
- Create an entry only for knowledge that is genuinely new.
- Refer to another entry as [[entry-id]].
- scope is "project" for knowledge about this codebase and "global" for preferences that hold across all the user's projects; crossProject defaults to true.

Output only a JSON array of operations, nothing before or after it (an empty array when there is nothing worth keeping):
[{"op":"create","category":"decision|pattern|preference|architecture|gotcha","title":"...","content":"...","scope":"project|global","crossProject":true},
 {"op":"update","id":"<entry id>","content":"...","confidence":0.9},
 {"op":"delete","id":"<entry id>","reason":"..."}]`

// ConsolidationSystem asks for merges and deletions only (docs/knowledge-and-recall.md,
// Long-term knowledge).
const ConsolidationSystem = `You are the knowledge curator of an AI coding assistant. The user's project has more long-term knowledge entries than it should. Consolidate them.

- Merge related entries into one: update the entry that stays with the merged content and delete the others.
- Trim entries longer than 150 words.
- Delete entries that are stale or subsumed by another entry.
- Keep hard-won gotchas and the fixes of real bugs.
- Do not create entries.

Output only a JSON array of update and delete operations, nothing before or after it:
[{"op":"update","id":"<entry id>","content":"...","confidence":0.9},
 {"op":"delete","id":"<entry id>","reason":"..."}]`

// listEntries renders entries as "- [id] (category) title: content".
func listEntries(b *strings.Builder, entries []Entry) {
	if len(entries) == 0 {
		b.WriteString("(none)\n")
		return
	}
	for _, e := range entries {
		fmt.Fprintf(b, "- [%s] (%s) %s: %s\n", e.ID, e.Category, e.Title, e.Content)
	}
}

// curatorUser is the curator's user message: the existing entries, the
// conversation, then the reminders.
func curatorUser(entries []Entry, conversation string) string {
	var b strings.Builder
	b.WriteString("Existing knowledge entries:\n")
	listEntries(&b, entries)
	b.WriteString("\nRecent conversation:\n\n")
	b.WriteString(conversation)
	b.WriteString(`

Reminders:
1. Update an existing entry rather than creating a near-duplicate.
2. When you update, rewrite the entry; do not append to it.
3. Merge entries that cover the same topic.
4. Create entries only for knowledge that is genuinely new.
5. Keep every entry under 150 words.`)
	return b.String()
}

// consolidationUser lists every entry with the target count.
func consolidationUser(entries []Entry, target int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "The project has %d knowledge entries; bring them down to at most %d.\n\n", len(entries), target)
	listEntries(&b, entries)
	return b.String()
}
