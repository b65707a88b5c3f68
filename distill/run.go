package distill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/llm"
)

// The in-flight guard (docs/context-window.md, Distillation) is a set of named references in Redis,
// grouped by run: a run joins it under a random token with one reference
// (its own hold), adds one per worker call it submits, and drops its hold
// when it returns; each call's Apply or Fail drops the call's own. A run
// leaves the guard when its last reference goes, i.e. when the run and all
// of its calls are over, however late a batched result arrives; whoever
// drops the last reference of a non-urgent run checks for a
// meta-distillation, since only then are all its rows in. Named references
// make a duplicate delivery harmless, and a late result can only release
// its own run's reference.
//
// A non-urgent run starts only when no run holds the guard. An urgent run
// (layer ≥ 2, overflow recovery, compaction) also starts beside non-urgent
// runs whose calls are still out, typically in a Message Batch for minutes,
// but never beside another urgent run: it distils the pending messages
// itself, inline, re-covering what the batched calls cover. Whichever
// result comes second overlaps a stored row and is dropped
// (StoreRow, ReplaceWithMeta: rows.go), so the late batched
// results neither duplicate nor contradict the urgent run's rows.

// holdRef names a run's own reference.
const holdRef = "hold"

type runOpts struct {
	force  bool // distil even fewer than MinMessages
	urgent bool // calls bypass the batch queue; rounds run inline
	// metaIfCold applies the skipMeta gate: meta-distillation only when the
	// session's prompt cache is cold at the time it is decided.
	metaIfCold bool
}

// segmentRef is the Ref of a "distill" call: what its applier needs, since a
// batched result may be applied by another instance after a restart.
type segmentRef struct {
	Session    string   `json:"session"`
	Token      string   `json:"token"` // the guard the call belongs to
	RefID      string   `json:"ref"`   // the guard reference this call holds
	First      int      `json:"first"` // list indices covered, inclusive
	Last       int      `json:"last"`
	FirstPos   int      `json:"first_pos"`
	LastPos    int      `json:"last_pos"`
	IDs        []string `json:"ids"`
	MetaIfCold bool     `json:"meta_if_cold,omitempty"`
}

// run is one distillation (docs/context-window.md, "Distillation") under
// the in-flight guard.
func (d *Distiller) run(ctx context.Context, sid string, o runOpts) (res Result, err error) {
	tok := newID()
	got, err := AcquireGuard(ctx, d.st, sid, tok, holdRef, o.urgent, d.cfg.GuardTTL)
	if err != nil || got == GuardBusy {
		res.Busy = err == nil
		return res, err
	}
	if got == GuardJoined {
		res.Joined = true
		d.log.Debug("urgent distillation beside a non-urgent run whose calls are out", zap.String("session", sid))
	}
	stoppedEarly := false
	defer func() {
		// finish releases the hold even if the caller gave up.
		allowMeta := !o.urgent && !stoppedEarly
		if d.finish(ctx, sid, tok, holdRef, allowMeta, o.metaIfCold) {
			res.Meta = true
		}
	}()

	for round := 0; round < MaxRounds; round++ {
		p, err := LoadPending(ctx, d.st, sid)
		if err != nil {
			return res, err
		}
		segs := plan(p)
		n := 0
		for _, s := range segs {
			n += len(s)
		}
		if round == 0 && !o.force && n < MinMessages {
			stoppedEarly = true
			return res, nil
		}
		if n > 0 {
			res.Rounds++
			names := toolNames(flatten(segs))
			prior := d.latestObservations(ctx, sid)
			for i, seg := range segs {
				if o.urgent && i > 0 {
					// Inline results are in already: the next segment's
					// observer sees the previous segment's observations.
					prior = d.latestObservations(ctx, sid)
				}
				stored, err := d.submitSegment(ctx, sid, tok, seg, names, prior, o)
				res.Segments++
				res.Messages += len(seg)
				if stored {
					res.Distilled += len(seg)
				}
				if errors.Is(err, llm.ErrNoCredential) || errors.Is(err, ErrGuardLost) {
					return res, err // every other segment would fail the same way
				}
			}
		}
		if !o.urgent {
			return res, nil // results arrive later; the last one checks for meta
		}
		// Inline runs check for meta after each round, under their own hold
		// (as the prior art does); they are never gated, the prefix is being
		// rewritten under pressure anyway.
		meta, err := d.metaIfDue(ctx, sid, tok, true, false)
		res.Meta = res.Meta || meta
		if err != nil {
			d.log.Warn("meta-distillation failed", zap.String("session", sid), zap.Error(err))
		}
		// Another round only picks up what arrived meanwhile or failed.
		if !o.force || n == 0 {
			return res, nil
		}
	}
	return res, nil
}

// submitSegment submits one segment's call and reports whether its row was
// stored by the time Submit returned (urgent calls).
func (d *Distiller) submitSegment(ctx context.Context, sid, tok string, seg []indexed, names map[string]string, prior string, o runOpts) (bool, error) {
	ref := segmentRef{Session: sid, Token: tok, RefID: newID(), First: seg[0].Index, Last: seg[len(seg)-1].Index,
		FirstPos: seg[0].Msg.Position, LastPos: seg[len(seg)-1].Msg.Position, MetaIfCold: o.metaIfCold}
	ref.IDs = make([]string, len(seg))
	for i, m := range seg {
		ref.IDs[i] = m.Msg.ID
	}
	refJSON, _ := json.Marshal(ref)
	c := llm.Call{
		Kind: KindDistill, SessionID: sid, Model: d.cfg.Model, Urgent: o.urgent, Ref: refJSON,
		System: ObserverSystem,
		User:   observerUser(prior, sessionDate(seg, d.cfg.Location), render(seg, names, d.cfg.Location)),
	}
	if _, err := AddRef(ctx, d.st, sid, tok, ref.RefID, d.cfg.GuardTTL); err != nil {
		return false, err
	}
	if err := d.w.Submit(ctx, c); err != nil {
		return false, err // Submit told Fail, which dropped the reference
	}
	if !o.urgent {
		return false, nil
	}
	mark, err := DistilledUpTo(ctx, d.st, sid)
	return err == nil && mark > ref.Last, nil
}

// applySegment stores a segment's row. Out-of-order results (a batch
// answers in any order; a failed segment leaves a hole) are kept aside and
// become live when the rows before them arrive, so the live rows always
// cover one contiguous prefix and only ever grow at the end (the distilled
// prefix stays append-only, which keeps it cached). A result overlapping
// stored rows (a duplicate delivery, or a stale run whose guard expired) is
// dropped.
func (d *Distiller) applySegment(ctx context.Context, c llm.Call, text string) error {
	var ref segmentRef
	if err := json.Unmarshal(c.Ref, &ref); err != nil || ref.Session == "" {
		return ErrBadRef
	}
	obs := ParseObservations(text)
	if obs == "" {
		return fmt.Errorf("%w: no observations for entries %d-%d", ErrEmpty, ref.First, ref.Last)
	}
	row := Row{
		ID: newID(), Observations: obs, First: ref.First, Last: ref.Last,
		FirstPos: ref.FirstPos, LastPos: ref.LastPos, SourceIDs: ref.IDs, CreatedAt: d.cfg.Now().UnixMilli(),
	}
	outcome, mark, err := StoreRow(ctx, d.st, ref.Session, row)
	if err != nil {
		return err // Fail drops the reference
	}
	switch outcome {
	case RowRejected:
		d.log.Info("distillation result overlaps stored rows; dropped",
			zap.String("session", ref.Session), zap.Int("first", ref.First), zap.Int("last", ref.Last))
	case RowNoSession:
		d.log.Info("distillation result for an expired session; dropped", zap.String("session", ref.Session))
	default:
		d.log.Debug("distillation stored", zap.String("session", ref.Session), zap.Int("first", ref.First),
			zap.Int("last", ref.Last), zap.Int("mark", mark), zap.Bool("ahead", outcome == RowAhead))
	}
	d.finish(ctx, ref.Session, ref.Token, ref.RefID, !c.Urgent, ref.MetaIfCold)
	return nil
}

// failSegment releases a failed call's reference; its messages stay
// undistilled and the next trigger picks them up.
func (d *Distiller) failSegment(ctx context.Context, c llm.Call, err error) {
	var ref segmentRef
	if json.Unmarshal(c.Ref, &ref) != nil || ref.Session == "" {
		return
	}
	d.finish(ctx, ref.Session, ref.Token, ref.RefID, !c.Urgent, ref.MetaIfCold)
}

// finish drops one guard reference. If it was the last one and meta is
// allowed, it checks for a meta-distillation under a fresh guard and reports
// whether one was submitted.
//
// It works on a context detached from the caller's: an urgent call whose
// request context was cancelled must still release its reference, or the
// session could not distil again until GuardTTL.
func (d *Distiller) finish(ctx context.Context, sid, tok, ref string, allowMeta, metaIfCold bool) bool {
	ctx, cancel := detached(ctx)
	defer cancel()
	left, err := ReleaseRef(ctx, d.st, sid, tok, ref)
	if err != nil {
		if !errors.Is(err, ErrGuardLost) && !errors.Is(err, ErrRefReleased) {
			d.log.Warn("distillation guard not released; it expires on its own",
				zap.String("session", sid), zap.Error(err))
		}
		return false
	}
	if left > 0 || !allowMeta {
		return false
	}
	meta, err := d.metaUnderGuard(ctx, sid, metaIfCold && d.cacheWarm(ctx, sid))
	if err != nil {
		d.log.Warn("meta-distillation failed", zap.String("session", sid), zap.Error(err))
	}
	return meta
}

// latestObservations is the most recent live row's observations, shown to
// the observer as already recorded; "" at the start of a session.
func (d *Distiller) latestObservations(ctx context.Context, sid string) string {
	rows, err := LiveRows(ctx, d.st, sid)
	if err != nil || len(rows) == 0 {
		return ""
	}
	return rows[len(rows)-1].Observations
}

func flatten(segs [][]indexed) []indexed {
	var out []indexed
	for _, s := range segs {
		out = append(out, s...)
	}
	return out
}
