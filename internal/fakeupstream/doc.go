// Package fakeupstream is a fake Anthropic (and OpenAI Chat Completions)
// API for tests. It speaks the real wire format (the Messages API's JSON and
// SSE shapes and error envelope, the Message Batches API, OpenAI's Chat
// Completions, Files and Batch APIs; TESTING.md says which tests use it),
// records every request, simulates the prompt cache and answers with
// deterministic, scriptable replies.
//
// # Routes
//
//	POST   /v1/messages                        JSON or SSE (stream:true)
//	POST   /v1/messages/count_tokens           {"input_tokens":N}
//	GET    /v1/models, /v1/models/{id}         a few current models (OpenAI's list shape for an OpenAI client)
//	POST   /v1/messages/batches                create
//	GET    /v1/messages/batches                list (newest first)
//	GET    /v1/messages/batches/{id}           retrieve
//	GET    /v1/messages/batches/{id}/results   JSONL, 404 until ended
//	POST   /v1/messages/batches/{id}/cancel    canceling, then ended (all rows canceled)
//	DELETE /v1/messages/batches/{id}           only once ended
//	POST   /v1/chat/completions                OpenAI, JSON or SSE
//	POST   /v1/files                           OpenAI: multipart upload, purpose "batch" (JSONL)
//	GET    /v1/files/{id}/content              OpenAI: a file's bytes (batch input, output, errors)
//	DELETE /v1/files/{id}                      OpenAI: delete a file
//	POST   /v1/batches                         OpenAI Batch API create (endpoint /v1/chat/completions)
//	GET    /v1/batches, /v1/batches/{id}       list (newest first, after=) / retrieve; completed after BatchDelay
//	POST   /v1/batches/{id}/cancel             cancelled (no output)
//	GET    /_fake/requests                     JSON array of Request (body as a string)
//	POST   /_fake/reset                        clear recordings
//	POST   /_fake/fail                         queue a Failure (JSON)
//
// Every request except /_fake/ ones is recorded (with its body) before it is
// answered, including 401s and injected failures (beyond 100000 requests or
// 512 MiB of bodies the oldest are dropped). Queued failures are applied
// before authentication.
//
// # Authentication
//
// Anthropic routes: x-api-key must be in Options.APIKeys (else 401
// "invalid x-api-key"); without it, "Authorization: Bearer K" with K in
// Options.APIKeys is that key (anthropic-sdk-go v2 sends keys this way), and
// any other "Authorization: Bearer T" needs T in Options.OAuthTokens (else 401 "Invalid bearer token") and
// "oauth-2025-04-20" in anthropic-beta (else 401 "OAuth authentication is
// currently not supported."); with neither, 401 "x-api-key header is
// required". Then anthropic-version is required (400). Prompt caches and
// batches are scoped to the credential: a batch fetched with another
// credential is 404. With RefuseBatchBearer, bearer credentials get 403
// permission_error on every /v1/messages/batches route. OpenAI routes:
// "Authorization: Bearer K" with K in Options.APIKeys.
//
// # Scripted replies
//
// N is the number of user messages; "the last user text" is the text blocks
// (or string content) of the last user message, not its tool_result blocks.
//
//   - Default: one text block "ok (turn N)", stop_reason "end_turn".
//   - "[[tool:NAME]]" in the last user text (NAME of [A-Za-z0-9_.-]): the
//     text block, then a tool_use block {id "toolu_01"+22 hex chars derived
//     from the prompt, name NAME, input {"command":"echo hi"}}, stop_reason
//     "tool_use". Several markers give several tool_use blocks. A follow-up
//     whose last user message only holds tool_result blocks gets the default
//     reply, so agent loops terminate. OpenAI: tool_calls with id
//     "call_"+24 hex chars and finish_reason "tool_calls". On OpenAI routes a
//     run of role "tool" messages counts as one user message with no text
//     (as it becomes one tool_result user turn in Anthropic terms).
//   - "[[recall:QUERY]]" in the last user text: a tool_use block named
//     "recall" with input {"query":"QUERY"} (before any [[tool:NAME]]
//     blocks, ids numbered on from it), stop_reason "tool_use".
//   - "[[thinking]]" in the last user text, or a request that enables
//     thinking (as a real model with thinking on always thinks first): first
//     a thinking block "thinking about turn N" with this server's signature
//     ("EqQB…", an HMAC of the text under a key made at start). (Anthropic
//     only.)
//   - "[[loop:N]]" in a user text: a scripted agent loop of N rounds, each a
//     thinking block (when the request enables thinking) and a Bash tool_use
//     `cat f_00i.txt`; progress is the highest "LOOP i of N" in any user
//     text or tool_result, a summary request gets a summary naming it, and
//     the last round's answer is "LOOP DONE: read N files" (see loop.go).
//   - "[[stream:error]]" in the last user text, streaming only: after
//     message_start, the first content_block_start and ping, an
//     "event: error" overloaded_error "Overloaded", then the stream ends
//     (OpenAI: a data chunk with an "error" key).
//   - "<observations>" anywhere in the system prompt or a user text (a
//     distillation prompt): a single text block
//     "<observations>\n- distilled K messages\n</observations>", where K is
//     the number of lines of all user texts starting (after blanks) with
//     "[user]" or "[assistant]". This wins over the rules above.
//   - "knowledge curator of an AI coding assistant" in the system prompt (a
//     curation or consolidation prompt; wins over every rule above): a JSON
//     array of ops as the only text block. Curation: one create op
//     {"op":"create","category":"pattern","title":T,"content":C,
//     "scope":"project"} per "[[remember:T=C]]" in the user texts ("[]"
//     without any). Consolidation (the system prompt also says "Consolidate
//     them"): a delete op for every "- [id]" entry line after the first N,
//     N from "at most N" in the user text.
//   - max_tokens: 0 gives empty content and stop_reason "max_tokens"; a limit
//     below the reply's output tokens truncates text to 4*max_tokens bytes,
//     drops tool_use blocks and sets "max_tokens" (OpenAI: "length").
//   - Batch items only (any user text): "[[batch:errored]]" makes the row
//     errored with invalid_request_error "fake upstream: request marked
//     [[batch:errored]]" ("[[batch:errored:api_error]]" picks the error
//     type); "[[batch:expired]]" / "[[batch:canceled]]" give those rows.
//
// Output tokens are ceil(chars/4) of text + thinking + tool name + input
// (at least 1). Input tokens follow EstimateTokens; see its doc for the rule.
//
// # Validation (400 invalid_request_error, real messages)
//
// Missing model/max_tokens/messages ("model: Field required"…), empty
// messages, empty non-final content, a tool_result whose tool_use_id is not a
// tool_use of the previous assistant turn ("messages.I.content.J: unexpected
// `tool_use_id` found in `tool_result` blocks: ID. Each `tool_result` block
// must have a corresponding `tool_use` block in the previous message."), a
// tool_use not answered in the next user turn ("messages.I: `tool_use` ids
// were found without `tool_result` blocks immediately after: ID. Each
// `tool_use` block must have a corresponding `tool_result` block in the next
// message."), more than 4 cache_control blocks ("A maximum of 4 blocks with
// cache_control may be provided. Found K."), and more input tokens than
// ContextLimit ("prompt is too long: N tokens > LIMIT maximum"). Consecutive
// same-role messages form one turn, as the real API merges them. With
// thinking enabled ("enabled" or "adaptive"): a thinking block whose
// signature is not this server's for its text ("messages.I.content.J:
// Invalid `signature` in `thinking` block"), and a final assistant turn
// before a trailing tool_result turn that does not start with a thinking or
// redacted_thinking block ("Expected `thinking` or `redacted_thinking`, but
// found `text`. When `thinking` is enabled, a final `assistant` message must
// start with a thinking block ...").
//
// # Ledger
//
// Bills() lists what every Messages call was charged: each /v1/messages
// request (answered or refused, with its status and error message) and each
// batch row, with its usage, model, tool count and the start of its system
// prompt, so a test can price a run.
//
// # Prompt cache
//
// See promptCache: prefix hashes over tools → system → messages, breakpoints
// at cache_control blocks (and at the last message block for a top-level
// cache_control), 20-position lookback, per-credential and per-model entries
// with 5m/1h TTL refreshed on read, cache_creation split into
// ephemeral_5m/1h. Hashes are over decoded JSON, so key order, whitespace
// and escaping do not matter; content does. There is no minimum cacheable
// length and no check that 1h breakpoints precede 5m ones.
//
// # Batches
//
// Create validates requests (1..100000, custom_id ^[a-zA-Z0-9_-]{1,64}$,
// unique) synchronously; params errors become errored rows. A batch is
// in_progress for BatchDelay, then ended with results_url
// URL()+"/v1/messages/batches/{id}/results" (from the Host header for
// NewHandler). Rows are computed when the batch is first seen ended, with the
// same logic as /v1/messages (cache included, usage.service_tier "batch"), in
// an order sorted by sha256(custom_id), not request order.
//
// # Response headers
//
// request-id (req_…), anthropic-organization-id and
// anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}
// on every Anthropic response, plus anthropic-ratelimit-unified-* for bearer
// callers; 429 responses carry retry-after: 1 (overridable by
// Failure.Header). OpenAI responses carry x-request-id.
package fakeupstream
