// Package batching is the durable Message Batches queue (docs/batch-queue.md):
// the gateway's non-urgent worker calls are queued in Redis with an encrypted
// snapshot of the credential they are billed to, submitted as one
// POST /v1/messages/batches per credential group, polled, and their results
// applied through the Runner — by kind and session, never by an in-memory
// promise, so a result that arrives after a restart is applied all the same.
//
// # Life of an item
//
// Enqueue seals the credential (AES-GCM, with the item's custom_id and a
// SHA-256 of its call as additional data, so the credential opens only for
// that item with that exact request) and appends {custom_id, call, sealed
// credential, enqueued at} to the queue under its credential group (a keyed
// hash of the credential). From then on the item is always in exactly one
// place, and every move is one Lua script (redis_scripts.go):
//
//	queue ──take──▶ record "submitting" ──create ok──▶ record "inflight" ──results──▶ claimed
//	  ▲                   │   │                              │
//	  └──requeue──────────┘   └──create failed──▶ record "sync" ◀──max age──┘
//	                                                     │
//	                                                     └──run──▶ claimed
//
// A record is a group of one credential group's items with a lease in Redis
// (owner, expiry), renewed while its holder works on it; it becomes one
// upstream batch. A flush takes at most 2,000 items per script call (a Lua
// script blocks Redis while it runs), so a large backlog becomes several
// batches of at most 2,000 requests. Take is atomic, so
// two instances never take the same item; a record's lease decides who works
// on it; whoever claims an item (atomically removing it from its record)
// is the only one to apply or fail its result.
//
// # Exactly-once submission
//
// The record is written before the create is sent ("record first"), and the
// batch id after. A kill -9 can fall in three places:
//
//   - before the create left: the record stays "submitting" with a lease
//     nobody renews;
//   - after the upstream created the batch but before its id was recorded:
//     the same;
//   - after the id was recorded: the record is "inflight" and any instance
//     polls it.
//
// The first two look alike from Redis, so whoever takes the expired lease
// reconciles: it lists the credential's batches upstream
// (GET /v1/messages/batches, newest first) and looks for one created between
// the record's take time (minus a clock slack) and now, with exactly the
// record's number of requests, and not already recorded by this queue (every
// recorded batch id is kept for 7 days). Found: the batch is adopted as the
// record's in-flight batch. Not found: the create never happened and the items
// go back to the queue head. When the adopted batch's results hold none of the
// record's custom_ids, it was somebody else's batch after all and the items
// are requeued too. A create whose outcome the submitter itself does not know
// (transport error) is reconciled the same way one lease period later, and its
// items run synchronously when no batch is found (docs/batch-queue.md, Flush).
//
// What remains: a duplicate is possible only if another client of the same
// workspace creates a batch of exactly the same size within the same
// seconds, and reconciliation picks it instead of ours; or if a submitter
// stalls (not dies) for longer than a lease period while Redis is unreachable
// to it. Both are logged.
//
// # Results are applied at most once
//
// An item is claimed before Runner.Apply (or Runner.Fail) runs, so a kill
// between the claim and the apply loses that one result: the work is left to
// the normal triggers (a distillation not stored is retried at the next turn),
// as for failed rows (docs/batch-queue.md, Polling and results); applying
// twice (two distillation rows) would not be repairable. Synchronous runs call
// Runner.Do before the claim, so a kill during Do re-runs the call later.
//
// # Shutdown
//
// Stop stops the timers, lets running steps finish (until its context
// ends), releases the leases it can, and, with the embedded store, runs the
// queued items synchronously — unless another live instance shares the
// embedded store (a config reload provisions the new module before cleaning
// up the old one; instances register in Redis from Start on), which then
// carries on. Items and in-flight batches otherwise stay in Redis for the
// next holder of their lease. A context passed to Start that
// ends without Stop is treated as a crash: nothing is released, leases
// expire. (Caddy cancels a module's context before calling Cleanup, so pass
// Start a context that outlives the module and call Stop from Cleanup.)
package batching
