package distill

import (
	"strconv"
	"strings"

	"github.com/caddy-lore/caddy-lore/gradient"
)

// The prompts are constants so the worker's system block (cache_control
// ttl 1h) is byte-identical across calls and sessions and stays cached.

// ObserverSystem is the distillation system prompt (docs/context-window.md,
// Distillation): a
// memory observer writing a dense, dated event log.
const ObserverSystem = `You are the memory observer of an AI coding assistant. You read one slice of a conversation between a user and the assistant and record what happened in it as a dense, dated event log: observations, not a summary. The slice will be removed from the assistant's context and your log will stand in for it, so anything you leave out is lost to the assistant.

How the slice is shown
- Each message is "[role] (HH:MM) body", oldest first. Roles: user (what the person wrote), assistant (the assistant's replies; "[reasoning]" marks its thinking and "[call:NAME]" a tool call with its input), tool (tool output returned to the assistant as "[tool:NAME] output"; long outputs appear as an "[output omitted — …]" note giving the line count, whether it contained errors, and the paths it named).
- Previous observations, when given, are already recorded. Do not repeat them; record only what is new, and say so explicitly when something new replaces an earlier fact.

What to record
- Start every line with a priority marker:
  🔴 high: the user's own assertions (requirements, preferences, constraints, decisions, corrections, facts about themselves, their project or their environment);
  🟡 medium: questions, and what the assistant produced or did (answers, explanations, code changes, commands run and what they showed);
  🟢 low: chit-chat, acknowledgements, minor details.
- Put the time (HH:MM) of the message on every line. When a relative date can be resolved ("tomorrow", "last Friday"), add "(meaning <date>)".
- Make supersession explicit: "X (replacing Y)" when a decision, value, name or plan changes.
- Keep exact details exactly: numbers, names, identifiers, file paths, line numbers, commands, flags, error messages, versions, URLs. Never round or paraphrase them.
- Record bugs as cause, fix and outcome: what failed and how, why, what was changed, and whether it worked.
- When the assistant produced a list (options, steps, findings, files), record every item, not "several items".
- Tag entities that may be counted or aggregated later with a bracketed tag, for example [file-edited], [test-run], [command], [decision], [dependency], [event-attended].
- From tool output, keep what it established (test results, errors, values found, files touched), not its text.

Output only an <observations> block, with nothing before or after it. It starts with a "Date: <session date>" line followed by one "- " bullet per observation, for example:

<observations>
Date: March 3, 2026
- 🔴 (14:02) User wants the retry limit at 5 (replacing 3) [decision]
- 🟡 (14:05) Assistant changed internal/retry/retry.go lines 40-52 to read the limit from config [file-edited]
- 🟡 (14:07) go test ./internal/retry/ passed, 12 tests [test-run]
</observations>`

// ReflectorSystem is the meta-distillation system prompt
// (docs/context-window.md, Distillation):
// a memory reflector consolidating segments into a working context.
const ReflectorSystem = `You are the memory reflector of an AI coding assistant. You receive observation logs written for consecutive segments of one long session, oldest first, and consolidate them into one structured working context that replaces them all. The assistant will see only your result, so it must keep everything that still matters.

Organise the result in these sections, in this order:
## Current State: where the work stands now: what exists, what works, what is broken, what is under way.
## Key Decisions: decisions and preferences that still hold, each with its reason.
## Technical Changes: files, functions, commands, configuration and dependencies that were changed or added, with exact paths and values.
## Session Timeline: the dated sequence of important events, condensed.

Rules
- Keep every date and time (HH:MM) that the observations give.
- Merge duplicates into one line; drop facts that a later observation superseded, keeping only the current value (say what it replaced when that matters).
- A user's assertion outweighs a question or a guess about the same thing.
- Keep entity aggregates: when tagged observations repeat (several [file-edited], [test-run], ...), keep their count and the items.
- When two observations give different numbers for the same thing and neither says it replaces the other, keep the earlier one.
- Never drop bug fixes from early in the session: the cause, the fix and the outcome must survive consolidation.
- Keep the priority markers (🔴 🟡 🟢) and exact details: paths, names, numbers, commands, errors.
- When a <previous-meta-summary> is given, update it in place: keep its structure, revise what the new segments change, and add what they add. Do not start over.

Output only an <observations> block, with nothing before or after it.`

// CompactSystem is the compaction system prompt (docs/architecture.md,
// Compaction requests).
const CompactSystem = `You write the continuation summary of a coding session between a user and an AI coding assistant. The conversation so far will be replaced by your summary: it becomes the only context the assistant has for the next part of the session. Everything needed to carry on (goals, constraints, decisions, exact file paths, commands, values, errors, open problems) must be in it. Follow the template you are given exactly.`

// observerUser is the user message of a segment distillation.
func observerUser(prior, date, conversation string) string {
	var b strings.Builder
	if prior != "" {
		b.WriteString("Previous observations (already recorded; do not repeat them):\n<previous-observations>\n")
		b.WriteString(prior)
		b.WriteString("\n</previous-observations>\n\n")
	} else {
		b.WriteString("This is the beginning of the session: there are no previous observations.\n\n")
	}
	b.WriteString("Session date: " + date + "\n\n")
	b.WriteString("Conversation:\n\n")
	b.WriteString(conversation)
	b.WriteString("\n\nRecord the observations of this conversation. Output only an <observations> block.")
	return b.String()
}

// reflectorUser is the user message of a meta-distillation: the segments,
// or the anchored variant updating the prior meta summary in place.
func reflectorUser(prior string, segments []string) string {
	var b strings.Builder
	what := "these " + strconv.Itoa(len(segments)) + " segments, oldest first"
	if len(segments) == 1 {
		what = "this segment"
	}
	if prior != "" {
		b.WriteString("<previous-meta-summary>\n" + prior + "\n</previous-meta-summary>\n\n")
		b.WriteString("Update the summary above in place with " + strings.Replace(what, "segment", "new segment", 1) + ".\n\n")
	} else {
		b.WriteString("Consolidate " + what + ".\n\n")
	}
	for i, s := range segments {
		if i > 0 {
			b.WriteString("\n\n---\n\n")
		}
		b.WriteString("Segment " + strconv.Itoa(i+1) + ":\n" + s)
	}
	b.WriteString("\n\nOutput only an <observations> block.")
	return b.String()
}

// compactTemplate is the summary template; empty sections say "(none)".
const compactTemplate = `Use exactly this Markdown template. Keep every section, and write "(none)" under a section that has nothing to say. Be specific: exact paths, names, commands and numbers.

## Goal
[what the user is trying to achieve]

## Constraints & Preferences
- [requirements, preferences and constraints the user stated]

## Progress
### Done
- [completed work]
### In Progress
- [work under way]
### Blocked
- [blocked work and why]

## Key Decisions
- [decision, and why it was made]

## Next Steps
- [the next actions, in order]

## Critical Context
- [facts, values, errors and state the next part cannot do without]

## Relevant Files
- [path: why it matters]

End the summary with the line "I'm ready to continue."`

// compactPrompt is the compaction instruction (docs/architecture.md,
// Compaction requests).
func compactPrompt(hasRows bool, previousSummary string) string {
	var b strings.Builder
	b.WriteString("Write the summary that will replace the conversation so far. It will be the only context for the next part of this session.")
	if hasRows {
		b.WriteString(" The pre-computed session summaries above were written from the full conversation as it happened: treat them as authoritative and build the summary from them.")
	}
	if previousSummary != "" {
		b.WriteString("\n\nUpdate the anchored summary below in place: keep what is still true, revise what changed, drop what is obsolete, and add what is new.\n\n<previous-summary>\n")
		b.WriteString(previousSummary)
		b.WriteString("\n</previous-summary>")
	}
	b.WriteString("\n\n" + compactTemplate)
	return b.String()
}

// compactContext renders the rows as pre-computed chunk summaries
// (docs/architecture.md, Compaction requests); "" without rows.
func compactContext(rows []gradient.Distillation) string {
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("## Lore Pre-computed Session Summaries\n\n")
	if len(rows) == 1 {
		b.WriteString("The session so far has been distilled into 1 chunk.")
	} else {
		b.WriteString("The session so far has been distilled into " + strconv.Itoa(len(rows)) + " chunks, oldest first.")
	}
	for i, r := range rows {
		b.WriteString("\n\n### Chunk " + strconv.Itoa(i+1))
		if r.Generation > 0 {
			b.WriteString(" (consolidated)")
		}
		b.WriteString("\n" + r.Observations)
	}
	return b.String()
}

// compactUser is the compaction call's user message: the context, a rule,
// then the prompt; just the prompt without rows.
func compactUser(rows []gradient.Distillation, previousSummary string) string {
	p := compactPrompt(len(rows) > 0, previousSummary)
	if c := compactContext(rows); c != "" {
		return c + "\n\n---\n\n" + p
	}
	return p
}
