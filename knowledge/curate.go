package knowledge

import (
	"context"
	"encoding/json"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

// maxCurateMessages bounds what one curation reads: the newest messages
// since the last curation (the renderer keeps the newest text anyway).
const maxCurateMessages = 200

// AfterTurn is the post-response trigger (docs/knowledge-and-recall.md, Long-term knowledge: Curation): a curation once
// AfterTurns turns have been stored since the last one. It only submits the
// (batchable) call.
func (c *Curator) AfterTurn(ctx context.Context, sid string, turnsSinceCuration int) error {
	if turnsSinceCuration < AfterTurns {
		return nil
	}
	_, err := c.curate(ctx, sid, true)
	return err
}

// Idle is the idle trigger (docs/context-window.md, Idle work and post-idle
// compaction): a curation when one is due, then a
// consolidation when the project has more than MaxEntries live entries.
func (c *Curator) Idle(ctx context.Context, sid string) error {
	if _, err := c.curate(ctx, sid, true); err != nil {
		return err
	}
	_, err := c.Consolidate(ctx, sid)
	return err
}

func projectOf(sess *store.Session) string {
	if sess.Project == "" {
		return DefaultProject
	}
	return sess.Project
}

// curate submits a curation of the messages the session stored since its
// last one, unless fewer than MinMessages are new or a curation of the
// session is already in flight. It reports whether a call was submitted.
// When due is set it also needs AfterTurns turns since the last curation by
// the session's counter in Redis (the caller's figure may predate a
// curation that landed meanwhile).
func (c *Curator) curate(ctx context.Context, sid string, due bool) (bool, error) {
	sess, err := c.st.LoadSession(ctx, sid)
	if err != nil || sess == nil || (due && sess.TurnsSinceCuration < AfterTurns) {
		return false, err
	}
	r := ref{Session: sid, Namespace: sess.Namespace, Project: projectOf(sess), Token: newID(c.cfg.Now()), Turns: sess.TurnsSinceCuration}
	if ok, err := AcquireCurationGuard(ctx, c.st, sid, r.Token, c.cfg.GuardTTL); err != nil || !ok {
		return false, err
	}
	submitted := false
	defer func() {
		if !submitted {
			c.releaseCuration(ctx, r)
		}
	}()
	mark, err := CurationMark(ctx, c.st, sid)
	if err != nil {
		return false, err
	}
	n, err := c.st.MessageLen(ctx, sid)
	if err != nil || n-mark < MinMessages {
		return false, err
	}
	msgs, err := c.st.Messages(ctx, sid, int64(max(mark, n-maxCurateMessages)), int64(n-1))
	if err != nil {
		return false, err
	}
	entries, err := c.entries(ctx, r.Namespace, r.Project)
	if err != nil {
		return false, err
	}
	r.Mark = n
	refJSON, _ := json.Marshal(r)
	call := llm.Call{Kind: KindCurate, SessionID: sid, Model: c.cfg.Model, Ref: refJSON,
		System: CuratorSystem, User: curatorUser(entries, renderConversation(msgs))}
	submitted = true // from here on, Submit's Fail releases the guard
	return true, c.w.Submit(ctx, call)
}

// Consolidate submits a consolidation of the session's project when its
// live entries number more than MaxEntries, unless one is in flight. The
// session's credential pays for it: knowledge never leaves its namespace.
func (c *Curator) Consolidate(ctx context.Context, sid string) (bool, error) {
	sess, err := c.st.LoadSession(ctx, sid)
	if err != nil || sess == nil {
		return false, err
	}
	r := ref{Session: sid, Namespace: sess.Namespace, Project: projectOf(sess), Token: newID(c.cfg.Now())}
	entries, err := Entries(ctx, c.st, r.Namespace, r.Project)
	if err != nil {
		return false, err
	}
	entries = live(entries)
	if len(entries) <= MaxEntries {
		return false, nil
	}
	if ok, err := acquireConsolidation(ctx, c.st, r.Namespace, r.Project, r.Token, c.cfg.GuardTTL); err != nil || !ok {
		return false, err
	}
	refJSON, _ := json.Marshal(r)
	call := llm.Call{Kind: KindConsolidate, SessionID: sid, Model: c.cfg.Model, Ref: refJSON,
		System: ConsolidationSystem, User: consolidationUser(entries, consolidateTo)}
	return true, c.w.Submit(ctx, call) // Submit's Fail releases the guard
}

// entries returns a project's entries followed by the namespace's global
// ones, read now (ops must apply to what is stored, not to a cached read).
func (c *Curator) entries(ctx context.Context, ns, project string) ([]Entry, error) {
	own, global, err := readScopes(ctx, c.st, ns, project)
	return append(own, global...), err
}

// applyCurate applies a curation's ops and records it as done. An answer
// that is not a JSON array is a curation that found nothing
// (docs/knowledge-and-recall.md, "Long-term knowledge"), so the same
// messages are not curated again.
func (c *Curator) applyCurate(ctx context.Context, call llm.Call, text string) error {
	r, err := decodeRef(call)
	if err != nil {
		return err
	}
	defer c.releaseCuration(ctx, r)
	a, err := c.apply(ctx, r, ParseOps(text), true)
	if err != nil {
		return err
	}
	if err := CurationDone(ctx, c.st, r.Session, r.Mark, r.Turns); err != nil {
		return err
	}
	c.log.Debug("curation applied", zap.String("session", r.Session),
		zap.Int("created", a.created), zap.Int("updated", a.updated), zap.Int("deleted", a.deleted))
	return nil
}

// applyConsolidate applies a consolidation's updates and deletes.
func (c *Curator) applyConsolidate(ctx context.Context, call llm.Call, text string) error {
	r, err := decodeRef(call)
	if err != nil {
		return err
	}
	defer c.releaseConsolidation(ctx, r)
	a, err := c.apply(ctx, r, ParseOps(text), false)
	if err == nil {
		c.log.Debug("consolidation applied", zap.Int("updated", a.updated), zap.Int("deleted", a.deleted))
	}
	return err
}

// apply writes ops against the current entries; the project's TTL is
// refreshed even when nothing changed (it is in use).
func (c *Curator) apply(ctx context.Context, r ref, ops []Op, allowCreate bool) (*applied, error) {
	entries, err := c.entries(ctx, r.Namespace, r.Project)
	if err != nil {
		return nil, err
	}
	now := c.cfg.Now()
	a := applyOps(ops, r.Project, entries, allowCreate, func() string { return newID(now) }, now.UnixMilli())
	if a.changes[r.Project] == nil {
		a.changes[r.Project] = &Change{}
	}
	for project, ch := range a.changes {
		if err := Apply(ctx, c.st, r.Namespace, project, *ch, c.cfg.EntryTTL); err != nil {
			return nil, err
		}
		if len(ch.Put)+len(ch.Delete) > 0 {
			c.scopes.drop(r.Namespace, project)
		}
	}
	return a, nil
}

// release is the Failer of both kinds: the work is left to the next trigger.
func (c *Curator) release(ctx context.Context, call llm.Call, _ error) {
	r, err := decodeRef(call)
	if err != nil {
		return
	}
	if call.Kind == KindConsolidate {
		c.releaseConsolidation(ctx, r)
	} else {
		c.releaseCuration(ctx, r)
	}
}

func (c *Curator) releaseCuration(ctx context.Context, r ref) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := ReleaseCurationGuard(ctx, c.st, r.Session, r.Token); err != nil {
		c.log.Warn("curation guard not released; it expires on its own", zap.String("session", r.Session), zap.Error(err))
	}
}

func (c *Curator) releaseConsolidation(ctx context.Context, r ref) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := releaseConsolidation(ctx, c.st, r.Namespace, r.Project, r.Token); err != nil {
		c.log.Warn("consolidation guard not released; it expires on its own", zap.Error(err))
	}
}
