package knowledge

import (
	"context"

	"github.com/caddy-lore/caddy-lore/store"
)

// Block returns the knowledge block for a session's system prompt, within
// budget tokens. The block is chosen once and then kept (in Redis, so every
// instance sends the same bytes) until fresh is set: the system prompt
// precedes the whole conversation, so changing it mid-session would turn
// every cached token of the conversation into a cache write. The caller
// sets fresh when the session's prompt cache is cold anyway (idle resume);
// knowledge curated meanwhile reaches the session then, and new sessions at
// once. matchText (called only when a block is built) is the text the entries
// are matched against: the latest distillation and the last messages.
func (c *Curator) Block(ctx context.Context, sess *store.Session, budget int, matchText func() string, fresh bool) (string, error) {
	if !fresh {
		if text, ok, err := c.st.LTMCache(ctx, sess.ID); err != nil || ok {
			return text, err
		}
	}
	project, err := c.st.KnowledgeEntries(ctx, sess.Namespace, projectOf(sess))
	if err != nil {
		return "", err
	}
	global, err := c.st.KnowledgeEntries(ctx, sess.Namespace, store.GlobalProject)
	if err != nil {
		return "", err
	}
	text := ""
	if len(project)+len(global) > 0 {
		text = Select(project, global, matchText(), budget)
	}
	return text, c.st.SetLTMCache(ctx, sess.ID, text, c.cfg.LTMTTL)
}
