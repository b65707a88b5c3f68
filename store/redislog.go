package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// go-redis writes its own lines (`redis: … pool.go:770: connection pool:
// failed to dial …`) to stderr through one process-wide logger, and only
// offers redis.SetLogger to change it. Each external client's health routes
// those lines through the module's zap logger instead, at warn level and
// once per outage like the outage message itself: the first line since Redis
// was last reachable is logged, the rest are dropped until it is reachable
// again. The newest client's health wins the process-wide hook, so the lines
// go to the newest configuration's logs, as outage messages do.

// Printf implements go-redis's logging interface.
func (h *health) Printf(_ context.Context, format string, v ...any) {
	if h.clientLogged.Swap(true) {
		return
	}
	h.log.Load().Warn("redis client", zap.String("detail", fmt.Sprintf(format, v...)))
}

// routeClientLog makes h the process-wide go-redis logger.
func (h *health) routeClientLog() { redis.SetLogger(h) }
