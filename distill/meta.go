package distill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/llm"
)

// metaRef is the Ref of a "meta" call.
type metaRef struct {
	Session    string   `json:"session"`
	Token      string   `json:"token"`
	RefID      string   `json:"ref"`
	Merged     []string `json:"merged"` // live row ids folded into the meta row, oldest first
	Generation int      `json:"generation"`
}

// metaUnderGuard runs the meta check for a non-urgent run whose calls are
// all over: it takes a fresh guard (if another run got in first, that run
// will check when it ends) and submits a non-urgent meta call if one is due.
// warm is the skipMeta gate (see metaIfDue).
func (d *Distiller) metaUnderGuard(ctx context.Context, sid string, warm bool) (bool, error) {
	tok := newID()
	got, err := AcquireGuard(ctx, d.st, sid, tok, holdRef, false, d.cfg.GuardTTL)
	if err != nil || got == GuardBusy {
		return false, err
	}
	meta, err := d.metaIfDue(ctx, sid, tok, false, warm)
	if _, rerr := ReleaseRef(ctx, d.st, sid, tok, holdRef); rerr != nil && err == nil {
		err = rerr
	}
	return meta, err
}

// metaIfDue submits a meta-distillation under the held guard tok when the
// session has MetaThreshold live gen-0 rows (docs/context-window.md, Distillation): the gen-0 rows
// and the latest meta row, if any, are consolidated into one row of the next
// generation. Unlike the reference, the prior meta row is archived too: the
// new row is that summary updated in place, and keeping both would repeat
// it in the prefix.
//
// warm is the skipMeta gate: while the session's prompt cache is warm a
// non-urgent run waits for twice MetaThreshold gen-0 rows. Meta rewrites
// the distilled prefix, so it waits for a cold cache or an urgent run; but a
// session past the window rarely distils urgently (the gradient cuts agent
// loops at layer 1), and without this bound its prefix would only grow
// until layer 3 cut it.
func (d *Distiller) metaIfDue(ctx context.Context, sid, tok string, urgent, warm bool) (bool, error) {
	rows, err := LiveRows(ctx, d.st, sid)
	if err != nil {
		return false, err
	}
	var gen0 []Row
	var prior *Row
	for i := range rows {
		r := &rows[i]
		switch {
		case r.Generation == 0:
			gen0 = append(gen0, *r)
		case prior == nil || r.Generation > prior.Generation ||
			(r.Generation == prior.Generation && r.CreatedAt >= prior.CreatedAt):
			prior = r
		}
	}
	minimum := metaMinFresh
	if prior != nil {
		minimum = metaMinAnchored
	}
	threshold := MetaThreshold
	if warm {
		threshold = 2 * MetaThreshold
	}
	if len(gen0) < threshold || len(gen0) < minimum {
		return false, nil
	}

	ref := metaRef{Session: sid, Token: tok, RefID: newID(), Generation: 1}
	priorText := ""
	if prior != nil {
		ref.Merged = append(ref.Merged, prior.ID)
		ref.Generation = prior.Generation + 1
		priorText = prior.Observations
	}
	segments := make([]string, len(gen0))
	for i, r := range gen0 {
		ref.Merged = append(ref.Merged, r.ID)
		segments[i] = r.Observations
	}
	refJSON, _ := json.Marshal(ref)
	c := llm.Call{
		Kind: KindMeta, SessionID: sid, Model: d.cfg.Model, Urgent: urgent, Ref: refJSON,
		System: ReflectorSystem, User: reflectorUser(priorText, segments),
	}
	if _, err := AddRef(ctx, d.st, sid, tok, ref.RefID, d.cfg.GuardTTL); err != nil {
		return false, err
	}
	if err := d.w.Submit(ctx, c); err != nil {
		return false, err
	}
	return true, nil
}

// applyMeta stores the meta row and archives the rows it merges, atomically
// (ReplaceWithMeta, rows.go). If a merged row is no longer live, the result is
// stale and dropped: nothing is archived, nothing is lost.
func (d *Distiller) applyMeta(ctx context.Context, c llm.Call, text string) error {
	var ref metaRef
	if err := json.Unmarshal(c.Ref, &ref); err != nil || ref.Session == "" || len(ref.Merged) == 0 {
		return ErrBadRef
	}
	obs := ParseObservations(text)
	if obs == "" {
		return fmt.Errorf("%w: no observations from meta-distillation", ErrEmpty)
	}
	rows, err := LiveRows(ctx, d.st, ref.Session)
	if err != nil {
		return err
	}
	byID := make(map[string]Row, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	meta := Row{ID: newID(), Generation: ref.Generation, Observations: obs, CreatedAt: d.cfg.Now().UnixMilli()}
	for i, id := range ref.Merged {
		r, ok := byID[id]
		if !ok {
			d.log.Info("meta-distillation result is stale; dropped", zap.String("session", ref.Session))
			d.release(ctx, ref.Session, ref.Token, ref.RefID)
			return nil
		}
		if i == 0 || r.First < meta.First {
			meta.First, meta.FirstPos = r.First, r.FirstPos
		}
		if i == 0 || r.Last > meta.Last {
			meta.Last, meta.LastPos = r.Last, r.LastPos
		}
		meta.SourceIDs = append(meta.SourceIDs, r.SourceIDs...)
	}
	done, err := ReplaceWithMeta(ctx, d.st, ref.Session, meta, ref.Merged)
	if err != nil {
		return err
	}
	if !done {
		d.log.Info("meta-distillation result is stale; dropped", zap.String("session", ref.Session))
	}
	d.release(ctx, ref.Session, ref.Token, ref.RefID)
	return nil
}

// failMeta releases a failed meta call's reference; the rows stay live and
// the next run checks again.
func (d *Distiller) failMeta(ctx context.Context, c llm.Call, _ error) {
	var ref metaRef
	if json.Unmarshal(c.Ref, &ref) != nil || ref.Session == "" {
		return
	}
	d.release(ctx, ref.Session, ref.Token, ref.RefID)
}

// release drops a meta call's reference (on a detached context, as finish
// does). Reaching zero triggers nothing: a meta run has just consolidated,
// so there is nothing more to fold.
func (d *Distiller) release(ctx context.Context, sid, tok, ref string) {
	ctx, cancel := detached(ctx)
	defer cancel()
	if _, err := ReleaseRef(ctx, d.st, sid, tok, ref); err != nil &&
		!errors.Is(err, ErrGuardLost) && !errors.Is(err, ErrRefReleased) {
		d.log.Warn("distillation guard not released; it expires on its own", zap.String("session", sid), zap.Error(err))
	}
}

// cacheWarm is the skipMeta gate: the session's last request is more recent
// than the provider's cache TTL. Unknown (no session, Redis error) counts
// as cold.
func (d *Distiller) cacheWarm(ctx context.Context, sid string) bool {
	s, err := d.st.LoadSession(ctx, sid)
	if err != nil || s == nil || s.LastRequest.IsZero() {
		return false
	}
	return d.cfg.Now().Sub(s.LastRequest) < d.cfg.CacheTTL
}

// detached is a short context that survives the caller's cancellation, for
// releasing guards.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
