package lore

import (
	"context"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/handler"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/recall"
	"github.com/caddy-lore/caddy-lore/store"
)

// The handler's long-term memory hooks (SPEC §8), built in Provision.

// curation is the knowledge hook of the handler: the curator's block as
// is, and its post-turn trigger on the background's tracked goroutines.
type curation struct {
	c  *knowledge.Curator
	bg *background
}

func (k curation) Block(ctx context.Context, sess *store.Session, budget int, matchText func() string, fresh bool) (string, error) {
	return k.c.Block(ctx, sess, budget, matchText, fresh)
}

func (k curation) AfterTurn(_ context.Context, sessionID string, turnsSinceCuration int) {
	if turnsSinceCuration < knowledge.AfterTurns {
		return // the common case costs no goroutine
	}
	k.bg.go_("curation after turn", func(ctx context.Context) {
		if err := k.c.AfterTurn(ctx, sessionID, turnsSinceCuration); err != nil {
			k.bg.log.Info("curation after turn failed", zap.String("session", sessionID), zap.Error(err))
		}
	})
}

// searcher answers the recall tool from the session's own data.
type searcher struct {
	st  *store.Store
	log *zap.Logger
}

// recallHook is the handler's Recaller, nil when recall is off.
func recallHook(on bool, st *store.Store, log *zap.Logger) handler.Recaller {
	if !on {
		return nil
	}
	return searcher{st, log}
}

func (s searcher) Recall(ctx context.Context, sess *store.Session, query, scope string) string {
	project := sess.Project
	if project == "" {
		project = knowledge.DefaultProject
	}
	out, err := recall.Search(ctx, s.st, recall.Query{SessionID: sess.ID, Namespace: sess.Namespace,
		Project: project, Text: query, Scope: scope})
	if err != nil {
		s.log.Warn("recall failed", zap.String("session", sess.ID), zap.Error(err))
		return "Recall is unavailable right now (the gateway's store did not answer); continue without it."
	}
	return out
}

var (
	_ handler.Knowledge = curation{}
	_ handler.Recaller  = searcher{}
)
