// Package textrank ranks short texts against a handful of query terms: a
// tokenizer, a stopword list and BM25F with prefix matching. The reference
// implementation ranks with SQLite FTS5 (`term*` queries, bm25()); this
// package reproduces those semantics in memory, because the gateway keeps
// its state in Redis and has no full-text index. Shared by long-term
// knowledge selection (package knowledge) and recall (package recall).
//
// Everything here is a pure function of its arguments; the only package
// state is the read-only stopword table.
package textrank

import (
	"cmp"
	"iter"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// BM25 parameters, FTS5's defaults.
const (
	K1 = 1.2
	B  = 0.75
)

// Field is one text of a document with its weight (BM25F): a match in a
// field of weight 6 counts as six matches in a field of weight 1. Weights
// must be positive.
type Field struct {
	Text   string
	Weight float64
}

// Doc is a document: its weighted fields.
type Doc []Field

// Score returns each document's BM25F score against terms, 0 for a
// document that matches none of them. A term matches every token it is a
// prefix of (FTS5's term*), so "clust" matches "cluster" and "clusters".
// Field weights are folded into the term frequencies and the document
// lengths; the idf is FTS5's ln(1 + (N - n + 0.5)/(n + 0.5)). Terms should
// be tokens (lower case, see tokens); empty terms are ignored, repeated
// terms count once per occurrence.
//
// One pass over the documents, no index: the callers build the corpus
// fresh for each query (a few thousand short texts at most), so an
// inverted index would cost more to build than it saves.
func Score(docs []Doc, terms []string) []float64 {
	scores := make([]float64, len(docs))
	terms = slices.DeleteFunc(slices.Clone(terms), func(t string) bool { return t == "" })
	nt := len(terms)
	if len(docs) == 0 || nt == 0 {
		return scores
	}
	freq := make([]float64, len(docs)*nt) // freq[i*nt+j]: weighted count of term j in doc i
	lengths := make([]float64, len(docs))
	df := make([]int, nt) // documents matching term j
	total := 0.0
	for i, d := range docs {
		row := freq[i*nt : (i+1)*nt]
		for _, f := range d {
			for tok := range tokens(f.Text) {
				lengths[i] += f.Weight
				for j, t := range terms {
					if strings.HasPrefix(tok, t) {
						row[j] += f.Weight
					}
				}
			}
		}
		for j, f := range row {
			if f > 0 {
				df[j]++
			}
		}
		total += lengths[i]
	}
	avg := total / float64(len(docs))
	if avg == 0 {
		avg = 1
	}
	n := float64(len(docs))
	for j := range terms {
		if df[j] == 0 {
			continue
		}
		idf := math.Log(1 + (n-float64(df[j])+0.5)/(float64(df[j])+0.5))
		for i := range docs {
			if f := freq[i*nt+j]; f > 0 {
				scores[i] += idf * f * (K1 + 1) / (f + K1*(1-B+B*lengths[i]/avg))
			}
		}
	}
	return scores
}

// Top returns the indices of the documents with a positive score, best
// first, ties by index (so the caller's document order decides), at most
// limit of them (limit < 0: all).
func Top(scores []float64, limit int) []int {
	var idx []int
	for i, s := range scores {
		if s > 0 {
			idx = append(idx, i)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	if limit >= 0 && len(idx) > limit {
		idx = idx[:limit]
	}
	return idx
}

// TopTerms returns the n most frequent meaningful terms of text (no
// stopwords, no single characters), most frequent first, ties by first
// use; n < 0 returns them all.
func TopTerms(text string, n int) []string {
	count := map[string]int{}
	var order []string
	for tok := range tokens(text) {
		if !meaningful(tok) {
			continue
		}
		if count[tok] == 0 {
			order = append(order, strings.Clone(tok)) // tok may share a large text's memory
		}
		count[tok]++
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(count[b], count[a]) })
	if n >= 0 && len(order) > n {
		order = order[:n]
	}
	return order
}

// meaningful reports whether a token can say what a text is about: more
// than one character (counted in runes, so "é" is one) and no stopword.
func meaningful(tok string) bool {
	return utf8.RuneCountInString(tok) > 1 && !stopwords[tok]
}

// tokens yields the lower-cased runs of letters and digits of text; they are
// substrings of the lower-cased text, so scoring a corpus allocates
// nothing per token.
func tokens(text string) iter.Seq[string] {
	return func(yield func(string) bool) {
		s := strings.ToLower(text) // returns text itself when already lower case
		start := -1
		for i := 0; i < len(s); {
			r, size := rune(s[i]), 1
			word := false
			if r < utf8.RuneSelf {
				word = 'a' <= r && r <= 'z' || '0' <= r && r <= '9' // s is lower case
			} else {
				r, size = utf8.DecodeRuneInString(s[i:])
				word = unicode.IsLetter(r) || unicode.IsDigit(r)
			}
			switch {
			case word && start < 0:
				start = i
			case !word && start >= 0:
				if !yield(s[start:i]) {
					return
				}
				start = -1
			}
			i += size
		}
		if start >= 0 {
			yield(s[start:])
		}
	}
}

// stopwords is a read-only lookup table, built once.
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an the and or but if then else of to in on at by for with from into onto
		is are was were be been being am do does did done have has had having it its it's this that these those
		there here what which who whom whose when where why how i me my we our you your he she they them their
		not no yes so as than too very can could should would will just also only about over under again more
		most some any all each both few other such own same let lets use used using get got make made need
		now up down out off one two new like want please thanks ok okay file files code`) {
		m[w] = true
	}
	return m
}()
