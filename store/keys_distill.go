package store

// Distillation keys (package distill), in addition to the table in keys.go.
// All carry the session's hash tag, so the Lua scripts of distill.go, which
// touch several of them at once, run in one cluster slot. Their TTL follows
// the session's message list (<p>s:{<sid>}:msgs): every script that writes
// them copies that list's remaining TTL, so a session's distillations expire
// with its messages and never outlive them.
//
//	key                           type    content
//	<p>s:{<sid>}:dist:mark        string  distilled-up-to watermark: the count of stored
//	                                      messages (list entries, append order) covered by
//	                                      the rows in dist:rows; entries >= it are undistilled
//	<p>s:{<sid>}:dist:rows        hash    row id → DistillRow JSON: the live rows, gen-0 and
//	                                      meta, all at or below the watermark
//	<p>s:{<sid>}:dist:ahead       hash    row id → DistillRow JSON: gen-0 rows that arrived out
//	                                      of order (a hole before them); moved to dist:rows
//	                                      when the hole is filled
//	<p>s:{<sid>}:dist:ahead:idx   zset    "<first>:<last>:<id>" scored by first, the ranges
//	                                      of dist:ahead for the scripts (no JSON in Lua)
//	<p>s:{<sid>}:dist:archive     hash    row id → DistillRow JSON: rows merged into a meta row
//	<p>s:{<sid>}:dist:guard       hash    in-flight guard: h:<token> → "<urgent 0|1>:<deadline ms>"
//	                                      per holder (a run), r:<token>:<ref> → 1 per outstanding
//	                                      reference (distill_scripts.go); PX = the latest holder
//	                                      deadline, pushed by every AddDistillRef; deleted when
//	                                      no reference is left

func (k keys) distMark(sid string) string     { return k.prefix + "s:{" + sid + "}:dist:mark" }
func (k keys) distRows(sid string) string     { return k.prefix + "s:{" + sid + "}:dist:rows" }
func (k keys) distAhead(sid string) string    { return k.prefix + "s:{" + sid + "}:dist:ahead" }
func (k keys) distAheadIdx(sid string) string { return k.prefix + "s:{" + sid + "}:dist:ahead:idx" }
func (k keys) distArchive(sid string) string  { return k.prefix + "s:{" + sid + "}:dist:archive" }
func (k keys) distGuard(sid string) string    { return k.prefix + "s:{" + sid + "}:dist:guard" }
