// Package gradient keeps a conversation inside the model's context window.
//
// It decides, turn by turn, how much of the client's history is sent as is
// and how much is replaced by distillations: layer 0 passes everything
// through, layers 1–3 send a distilled prefix plus the newest raw messages
// under shrinking budgets (stripping old tool outputs on the way), layer 4 is
// the emergency tail that always fits. Around the layers it deduplicates tool
// outputs, cleans system reminders, keeps tool_use/tool_result pairs valid and
// places prompt-cache breakpoints (ApplyCacheBreakpoints).
//
// The package is pure: no I/O, no clock, no package-level mutable state.
// Everything a session carries from one turn to the next is in State, a plain
// JSON-serialisable struct the caller loads before Transform and saves after
// it (and after Calibrate). Transform never modifies the caller's messages or
// blocks; changed messages are copies, unchanged ones keep their raw JSON.
//
// A turn, from the caller's side:
//
//	if idle for longer than idle_resume { st.IdleReset() }
//	res := gradient.Transform(st, gradient.Input{Limits: ..., Messages: msgs, Distillations: rows, LTMTokens: ltm})
//	system, out := gradient.ApplyCacheBreakpoints(system, res.Messages, gradient.CountCacheControl(tools))
//	// forward; on "prompt is too long": st.ForceNextLayer(), Transform again, retry once
//	gradient.Calibrate(st, input+cacheRead+cacheCreation)
//	// res.UrgentDistill → forced urgent distillation
//
// Numbers and texts are described in docs/context-window.md. They follow the
// prior art (Lore, a single-user TypeScript gateway, "the reference"); its
// gaps are fixed on purpose (deterministic ids and per-session state come
// from package msg and State); where this package otherwise differs from
// the reference, the comment at the place says "Deviation" and why. In
// short:
//
//   - the distilled prefix grows append-only without repeating "## Session
//     History", each delta in its own text block so the old prefix stays a
//     block-aligned cache hit (PrefixCache);
//   - the distillation snapshot is keyed on the last prompt (a user message
//     without tool_result), not the last user message, and is not frozen
//     while empty;
//   - the sticky layer covers layers 1–3, not the emergency layer 4;
//   - calibration samples actual input − the output's message estimate on
//     every layer (the reference's calibrated layer-0 estimate contained the
//     overhead and made the EMA decay);
//   - estimates count tool_use input, images at 1,600, unknown blocks by size;
//   - layers 2–3 size the window with the stripped messages' estimates, strip
//     an output only when the annotation is smaller, and do not re-strip a
//     deduplicated output; dedup compares bytes instead of FNV-1a hashes and
//     knows Claude Code's Read tool (file_path);
//   - the current turn is kept whole only up to 10% of the raw budget (at
//     least its last two messages): a long agent loop's older steps are
//     history, distilled and cut like any other (protectedStart);
//   - a calibrated layer-0 decision replaces what the last turn sent by the
//     whole history (KnownEstimate), not only adds what it dropped;
//   - layer-1 re-cuts are chosen by expected cache cost (recut.go), a re-cut
//     refreshes the distillation snapshot, and a layer an overflow retry
//     forced sticks only as layer 1;
//   - a window never starts with an assistant message, and none follows the
//     prefix's (the API would merge them into one turn); a tool_use with no
//     result anywhere (also a trailing one) gets the error result;
//   - layer 1 also asks for urgent distillation when it dropped messages and
//     no distillation stands for them yet;
//   - the cache breakpoints add one at the end of the distilled prefix.
package gradient
