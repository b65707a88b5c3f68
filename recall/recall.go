// Package recall answers the model's recall tool (docs/knowledge-and-recall.md,
// Recall):
// it searches the session's long-term knowledge, its distillations and its
// stored messages for a query and returns the best matches as a Markdown
// list, fused across sources by Reciprocal Rank Fusion.
//
// Privacy. The gateway serves many people through one Redis, so recall is
// narrower than the reference's (which searched one user's local database):
// it reads only
//   - the knowledge of the caller's credential namespace (Query.Namespace),
//     for Query.Project and the namespace's cross-project entries, and
//   - the distillations and messages of the caller's own session
//     (Query.SessionID).
//
// It never lists or searches other sessions (the reference's cross-session
// temporal search and cross-project knowledge of other users have no
// equivalent here), so the caller must pass the namespace and session it
// authenticated, never ones taken from the model's tool input.
//
// Cost. Recall runs only when the model calls the tool, so it ranks in
// memory with no index to maintain on the hot path; what it reads is
// bounded: the newest MaxMessages stored messages, the session's rows and
// two knowledge hashes.
package recall

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/caddy-lore/caddy-lore/distill"
	"github.com/caddy-lore/caddy-lore/internal/textrank"
	"github.com/caddy-lore/caddy-lore/knowledge"
	"github.com/caddy-lore/caddy-lore/store"
)

// Limits (docs/knowledge-and-recall.md, Recall).
const (
	// PerSourceLimit is the most hits one source contributes to the fusion
	// (the reference's search.recallLimit).
	PerSourceLimit = 10
	// MaxResults is the most results returned.
	MaxResults = 20
	// MaxMessages is how many of the session's newest stored messages are
	// searched: a long session's history is mostly distilled anyway, and
	// the tool must not read unbounded data.
	MaxMessages = 2000
	// rrfK is Reciprocal Rank Fusion's k: large enough that rank 0 of one
	// source does not drown agreement between several.
	rrfK = 60
	// maxQueryTerms bounds the scoring work for a pasted-in query.
	maxQueryTerms = 32
	// minConfidence: entries at or below are as good as deleted (the same
	// floor as knowledge selection).
	minConfidence = 0.2
	// Knowledge field weights, as in knowledge selection
	// (docs/knowledge-and-recall.md, Long-term knowledge: Injection).
	weightTitle    = 6.0
	weightContent  = 2.0
	weightCategory = 3.0
)

// Scopes.
const (
	ScopeAll       = "all"       // knowledge, distillations and messages
	ScopeSession   = "session"   // the session's distillations and messages
	ScopeKnowledge = "knowledge" // long-term knowledge only
)

// VagueAnswer is the answer to a query with no meaningful terms.
const VagueAnswer = "Query too vague — name a file, function, error or decision to search for."

// Query is one recall request. SessionID, Namespace and Project come from
// the authenticated session, Text and Scope from the model.
type Query struct {
	SessionID string
	Namespace string
	Project   string // "" when unknown: only cross-project knowledge
	Text      string
	Scope     string // ScopeAll ("" or anything unknown), ScopeSession or ScopeKnowledge
}

// Source order, also the last tie-break of the fusion.
const (
	srcKnowledge = iota
	srcDistilled
	srcTemporal
)

// item is one hit of one source, formatted already (at most
// PerSourceLimit per source get this far).
type item struct {
	key  string // source-prefixed, the fusion's identity
	src  int
	idx  int // position in the source's corpus, for deterministic ties
	line string
}

// result is a fused item.
type result struct {
	item
	score float64
	best  int // best rank over the rankings it appears in
}

// Search runs a recall query and returns the tool's Markdown answer. A
// query without meaningful terms is answered with VagueAnswer, not an
// error; errors are the store's.
func Search(ctx context.Context, st *store.Store, q Query) (string, error) {
	text := strings.TrimSpace(q.Text)
	terms := textrank.TopTerms(text, maxQueryTerms)
	if len(terms) == 0 {
		return VagueAnswer, nil
	}
	rankings, err := collect(ctx, st, q, terms)
	if err != nil {
		return "", err
	}
	return format(text, fuse(rankings, MaxResults)), nil
}

// collect ranks every source the scope allows; each ranking is best first.
func collect(ctx context.Context, st *store.Store, q Query, terms []string) ([][]item, error) {
	var rankings [][]item
	if q.Scope != ScopeSession {
		k, err := searchKnowledge(ctx, st, q, terms)
		if err != nil {
			return nil, err
		}
		rankings = append(rankings, k)
	}
	if q.Scope != ScopeKnowledge && q.SessionID != "" {
		d, err := searchDistilled(ctx, st, q.SessionID, terms)
		if err != nil {
			return nil, err
		}
		m, err := searchTemporal(ctx, st, q.SessionID, terms)
		if err != nil {
			return nil, err
		}
		// The same message hits again, newest first: what was said last
		// is more often what the model lost track of (the reference's
		// recency ranking).
		recent := slices.Clone(m)
		slices.SortStableFunc(recent, func(a, b item) int { return cmp.Compare(b.idx, a.idx) })
		rankings = append(rankings, d, m, recent)
	}
	return rankings, nil
}

// searchKnowledge ranks the namespace's entries of the project and its
// cross-project entries.
func searchKnowledge(ctx context.Context, st *store.Store, q Query, terms []string) ([]item, error) {
	if q.Namespace == "" {
		return nil, nil // no namespace, no knowledge: never guess one
	}
	projects := []string{knowledge.GlobalProject}
	if q.Project != "" && q.Project != knowledge.GlobalProject {
		projects = []string{q.Project, knowledge.GlobalProject}
	}
	var entries []knowledge.Entry
	for _, p := range projects {
		es, err := knowledge.Entries(ctx, st, q.Namespace, p)
		if err != nil {
			return nil, fmt.Errorf("recall: knowledge: %w", err)
		}
		for _, e := range es {
			if e.Confidence > minConfidence {
				entries = append(entries, e)
			}
		}
	}
	docs := make([]textrank.Doc, len(entries))
	for i, e := range entries {
		docs[i] = textrank.Doc{{Text: e.Title, Weight: weightTitle}, {Text: e.Content, Weight: weightContent}, {Text: e.Category, Weight: weightCategory}}
	}
	var out []item
	for _, i := range textrank.Top(textrank.Score(docs, terms), PerSourceLimit) {
		out = append(out, item{"knowledge:" + entries[i].ID, srcKnowledge, i, knowledgeLine(entries[i])})
	}
	return out, nil
}

// searchDistilled ranks the session's live and archived distillations: an
// archived row was merged into a meta row that may have dropped the detail
// the model is looking for.
func searchDistilled(ctx context.Context, st *store.Store, sid string, terms []string) ([]item, error) {
	rows, err := distill.LiveRows(ctx, st, sid)
	if err != nil {
		return nil, fmt.Errorf("recall: distillations: %w", err)
	}
	archived, err := distill.ArchivedRows(ctx, st, sid)
	if err != nil {
		return nil, fmt.Errorf("recall: archived distillations: %w", err)
	}
	rows = append(rows, archived...)
	docs := make([]textrank.Doc, len(rows))
	for i, r := range rows {
		docs[i] = textrank.Doc{{Text: r.Observations, Weight: 1}}
	}
	var out []item
	for _, i := range textrank.Top(textrank.Score(docs, terms), PerSourceLimit) {
		out = append(out, item{"distilled:" + rows[i].ID, srcDistilled, i, distilledLine(rows[i])})
	}
	return out, nil
}

// searchTemporal ranks the session's newest MaxMessages stored messages;
// item.idx is the message's list index.
func searchTemporal(ctx context.Context, st *store.Store, sid string, terms []string) ([]item, error) {
	n, err := st.MessageLen(ctx, sid)
	if err != nil {
		return nil, fmt.Errorf("recall: messages: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	// List indices only grow, so reading from a fixed start keeps them
	// exact even if a turn is appended meanwhile (it is just not read).
	start := max(0, n-MaxMessages)
	msgs, err := st.Messages(ctx, sid, int64(start), int64(start+MaxMessages-1))
	if err != nil {
		return nil, fmt.Errorf("recall: messages: %w", err)
	}
	texts := make([]string, len(msgs))
	docs := make([]textrank.Doc, len(msgs))
	for i, m := range msgs {
		texts[i] = messageText(m.Content)
		docs[i] = textrank.Doc{{Text: texts[i], Weight: 1}}
	}
	var out []item
	for _, i := range textrank.Top(textrank.Score(docs, terms), PerSourceLimit) {
		idx := start + i
		out = append(out, item{"temporal:" + strconv.Itoa(idx), srcTemporal, idx, temporalLine(msgs[i], texts[i])})
	}
	return out, nil
}

// fuse merges rankings by Reciprocal Rank Fusion: an item scores
// Σ 1/(rrfK + rank) over the rankings it appears in (rank from 0), so
// agreement between rankings beats a single first place. Ties go to the
// better best rank, then source order, then corpus position, so the answer
// is the same on every call. At most limit results.
func fuse(rankings [][]item, limit int) []result {
	byKey := map[string]*result{}
	var order []*result
	for _, ranking := range rankings {
		for rank, it := range ranking {
			r := byKey[it.key]
			if r == nil {
				r = &result{item: it, best: rank}
				byKey[it.key] = r
				order = append(order, r)
			}
			r.score += 1 / float64(rrfK+rank)
			r.best = min(r.best, rank)
		}
	}
	slices.SortFunc(order, func(a, b *result) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.best, b.best),
			cmp.Compare(a.src, b.src), cmp.Compare(a.idx, b.idx), strings.Compare(a.key, b.key))
	})
	out := make([]result, 0, min(len(order), limit))
	for _, r := range order[:min(len(order), limit)] {
		out = append(out, *r)
	}
	return out
}
