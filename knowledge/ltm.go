package knowledge

import (
	"context"

	"github.com/caddy-lore/caddy-lore/store"
)

// Block returns the knowledge block for a session's system prompt, within
// budget tokens. The block is chosen once and then kept with the session
// (sess.Knowledge, stored by the turn's commit, so every instance sends the
// same bytes) until fresh is set: the system prompt precedes the whole
// conversation, so changing it mid-session would turn every cached token of
// the conversation into a cache write. The caller sets fresh when the
// session's prompt cache is cold anyway (idle resume); knowledge curated
// meanwhile reaches the session then, and new sessions at once (within
// scopeTTL on other instances). A kept block costs nothing; choosing one
// reads the entries in one round trip at most (scopes.go).
// matchText (called only when a block is chosen) is the text the entries
// are matched against: the latest distillation and the last messages.
func (c *Curator) Block(ctx context.Context, sess *store.Session, budget int, matchText func() string, fresh bool) (string, error) {
	if !fresh && sess.KnowledgeChosen {
		return sess.Knowledge, nil
	}
	project, global, err := c.scopes.get(ctx, c.st, sess.Namespace, projectOf(sess), c.cfg.Now())
	if err != nil {
		return "", err
	}
	text := ""
	if len(project)+len(global) > 0 {
		text = Select(project, global, matchText(), budget)
	}
	sess.Knowledge, sess.KnowledgeChosen, sess.KnowledgeChanged = text, true, true
	return text, nil
}
