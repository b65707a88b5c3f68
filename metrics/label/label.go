// Package label holds the metrics label values, defined once for the code
// that records events (handler, llm, the module) and the collectors that
// export them (metrics). It imports nothing, so the request path can name a
// label without pulling in Prometheus.
package label

// Routes: the API a client request came in on.
const (
	RouteMessages    = "messages"
	RouteChat        = "chat"
	RoutePassthrough = "passthrough"
)

// Classes: what a request is (see handler's classify).
const (
	ClassTurn        = "turn"
	ClassUtility     = "utility"
	ClassCompaction  = "compaction"
	ClassPassthrough = "passthrough"
)

// Call routes of a worker call: made now, enqueued for the Message Batches
// API, run by the background pool, or run synchronously after a batch
// could not take it.
const (
	CallBatch    = "batch"
	CallSync     = "sync"
	CallUrgent   = "urgent"
	CallFallback = "fallback"
)
