package knowledge

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/caddy-lore/caddy-lore/internal/textrank"
)

// Selection constants (docs/knowledge-and-recall.md, Long-term knowledge:
// Injection).
const (
	minConfidence    = 0.2 // entries at or below are not injected
	maxContextTerms  = 40
	minContextChars  = 20
	safetyNetEntries = 5     // unmatched project entries still offered
	safetyNetFactor  = 0.001 // their score, × confidence
	noContextEntries = 10    // per pool, when there is no context to match
	headerTokens     = 15
	entryOverhead    = 10
	weightTitle      = 6.0
	weightContent    = 2.0
	weightCategory   = 3.0
	// Header is the first line of the block in the system prompt.
	Header = "## Long-term Knowledge"
)

// Tokens estimates a text's tokens the way the reference does for
// knowledge: ceil(chars / 3).
func Tokens(s string) int { return (len(s) + 2) / 3 }

type scored struct {
	e     Entry
	score float64
}

// Select picks the entries most relevant to the session's context and
// formats them within budget tokens (docs/knowledge-and-recall.md): entries matching the
// context's top terms by BM25 (title ×6, content ×2, category ×3), min-max
// normalised and weighted by confidence, plus the best few unmatched
// project entries as a safety net; global entries only when they match.
// Without a usable context, the most confident entries of each pool.
// It returns "" when nothing fits or there is nothing to say.
func Select(project, global []Entry, context string, budget int) string {
	project, global = live(project), live(global)
	if len(project)+len(global) == 0 || budget <= headerTokens {
		return ""
	}
	var picks []scored
	if terms := textrank.TopTerms(context, maxContextTerms); len(strings.TrimSpace(context)) > minContextChars && len(terms) > 0 {
		picks = matchEntries(project, global, terms)
	} else {
		for _, pool := range [][]Entry{project, global} {
			for i := range min(len(pool), noContextEntries) {
				picks = append(picks, scored{pool[i], pool[i].Confidence})
			}
		}
	}
	slices.SortStableFunc(picks, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	left := budget - headerTokens
	var packed []Entry
	for _, p := range picks {
		cost := Tokens(p.e.Title+p.e.Content) + entryOverhead
		if cost <= left {
			packed = append(packed, p.e)
			left -= cost
		}
	}
	return Format(packed)
}

// matchEntries scores both pools against the terms.
func matchEntries(project, global []Entry, terms []string) []scored {
	all := append(slices.Clip(project), global...)
	raw := bm25(all, terms)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range raw {
		if s > 0 {
			lo, hi = min(lo, s), max(hi, s)
		}
	}
	norm := func(s float64) float64 {
		if hi == lo {
			return 1
		}
		return (s - lo) / (hi - lo)
	}
	var picks []scored
	unmatched := 0
	for i, e := range all {
		switch {
		case raw[i] > 0:
			// A match at the bottom of the range still ranks above the
			// safety net.
			picks = append(picks, scored{e, max(norm(raw[i]), safetyNetFactor*2) * e.Confidence})
		case i < len(project) && unmatched < safetyNetEntries:
			picks = append(picks, scored{e, safetyNetFactor * e.Confidence})
			unmatched++
		}
	}
	return picks
}

// bm25 scores each entry against the terms: title ×6, content ×2,
// category ×3, prefix matching (textrank.Score).
func bm25(entries []Entry, terms []string) []float64 {
	docs := make([]textrank.Doc, len(entries))
	for i, e := range entries {
		docs[i] = textrank.Doc{{Text: e.Title, Weight: weightTitle}, {Text: e.Content, Weight: weightContent}, {Text: e.Category, Weight: weightCategory}}
	}
	return textrank.Score(docs, terms)
}

// live drops entries the selection must not inject.
func live(entries []Entry) []Entry {
	return slices.DeleteFunc(slices.Clone(entries), func(e Entry) bool { return e.Confidence <= minConfidence })
}

// Format renders entries as the system prompt's knowledge block: the
// header, then one "### Category" section per category in order of first
// appearance, each entry a "- **title**: content" bullet.
func Format(entries []Entry) string {
	if len(entries) == 0 {
		return ""
	}
	var cats []string
	byCat := map[string][]Entry{}
	for _, e := range entries {
		if byCat[e.Category] == nil {
			cats = append(cats, e.Category)
		}
		byCat[e.Category] = append(byCat[e.Category], e)
	}
	var b strings.Builder
	b.WriteString(Header)
	for _, c := range cats {
		b.WriteString("\n\n### ")
		b.WriteString(capitalize(c))
		for _, e := range byCat[c] {
			b.WriteString("\n- **")
			b.WriteString(e.Title)
			b.WriteString("**: ")
			b.WriteString(e.Content)
		}
	}
	return b.String()
}

func capitalize(s string) string {
	if s == "" {
		return "General"
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}
