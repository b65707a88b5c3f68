package recall

import (
	"context"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/store"
)

// Searcher answers the recall tool the gateway offers the model from the
// session's own data (the handler's Recaller).
type Searcher struct {
	Store *store.Store
	Log   *zap.Logger
}

// Recall searches for query within scope; when the store does not answer
// the model is told so, and the turn goes on without it.
func (s Searcher) Recall(ctx context.Context, sess *store.Session, query, scope string) string {
	project := sess.Project
	if project == "" {
		project = knowledge.DefaultProject
	}
	out, err := Search(ctx, s.Store, Query{SessionID: sess.ID, Namespace: sess.Namespace,
		Project: project, Text: query, Scope: scope})
	if err != nil {
		s.Log.Warn("recall failed", zap.String("session", sess.ID), zap.Error(err))
		return "Recall is unavailable right now (the gateway's store did not answer); continue without it."
	}
	return out
}
