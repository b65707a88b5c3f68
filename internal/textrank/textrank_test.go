package textrank

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	got := tokenize("Fix CROSSSLOT in redis_cluster.go:42 — Ünïcode straße, 中文 x")
	want := []string{"fix", "crossslot", "in", "redis", "cluster", "go", "42", "ünïcode", "straße", "中文", "x"}
	if !slices.Equal(got, want) {
		t.Fatalf("tokenize = %q, want %q", got, want)
	}
	if got := tokenize(" \n\t—… "); len(got) != 0 {
		t.Fatalf("no letters: %q", got)
	}
	if got := tokenize("bad\xffbyte"); !slices.Equal(got, []string{"bad", "byte"}) {
		t.Fatalf("invalid UTF-8 must separate: %q", got)
	}
}

func TestTopTerms(t *testing.T) {
	got := TopTerms("The Redis redis REDIS cluster, the cluster; a b é lua", 2)
	if !slices.Equal(got, []string{"redis", "cluster"}) {
		t.Fatalf("top terms %v", got)
	}
	// Ties by first use; single characters (a rune, not a byte) and
	// stopwords never.
	if got := TopTerms("lua é zap the lua zap", -1); !slices.Equal(got, []string{"lua", "zap"}) {
		t.Fatalf("all terms %v", got)
	}
	if got := TopTerms("the of a b ?", -1); len(got) != 0 {
		t.Fatalf("vague text gave %v", got)
	}
	if !stopwords["the"] || stopwords["redis"] {
		t.Fatal("stopwords")
	}
}

func TestScoreArithmetic(t *testing.T) {
	// One field of weight 1: N=2, lengths 2 and 1, avg 1.5, df 1.
	got := Score([]Doc{{{"Redis cluster", 1}}, {{"postgres", 1}}}, []string{"redis"})
	want := math.Log(2) * 1 * 2.2 / (1 + 1.2*(0.25+0.75*2/1.5))
	if math.Abs(got[0]-want) > 1e-12 || got[1] != 0 {
		t.Fatalf("scores %v, want [%v 0]", got, want)
	}
	// Weighted fields: lengths 6+2·2=10 and 6+2=8, avg 9, both match.
	docs := []Doc{
		{{"Redis", 6}, {"cluster setup", 2}},
		{{"Other", 6}, {"redis", 2}},
	}
	got = Score(docs, []string{"redis"})
	idf := math.Log(1 + 0.5/2.5)
	w0 := idf * 6 * 2.2 / (6 + 1.2*(0.25+0.75*10.0/9))
	w1 := idf * 2 * 2.2 / (2 + 1.2*(0.25+0.75*8.0/9))
	if math.Abs(got[0]-w0) > 1e-12 || math.Abs(got[1]-w1) > 1e-12 {
		t.Fatalf("weighted scores %v, want [%v %v]", got, w0, w1)
	}
	if got[0] <= got[1] {
		t.Fatal("a title match must outrank a content match")
	}
}

func TestScorePrefix(t *testing.T) {
	got := Score([]Doc{{{"clusters of cluster nodes", 1}}, {{"subcluster", 1}}, {{"clu", 1}}}, []string{"clust"})
	if got[0] <= 0 || got[1] != 0 || got[2] != 0 {
		t.Fatalf("prefix, not substring, not shorter: %v", got)
	}
	// Both tokens count: the doc with two matching tokens beats one with
	// one at the same length.
	two := Score([]Doc{{{"cluster clusters", 1}}, {{"cluster nodes", 1}}}, []string{"clust"})
	if two[0] <= two[1] {
		t.Fatalf("tf of a prefix is the sum over its tokens: %v", two)
	}
}

func TestScoreEdges(t *testing.T) {
	if got := Score(nil, []string{"x"}); len(got) != 0 {
		t.Fatal(got)
	}
	if got := Score([]Doc{{{"redis", 1}}}, nil); len(got) != 1 || got[0] != 0 {
		t.Fatal(got)
	}
	if got := Score([]Doc{{{"redis", 1}}}, []string{""}); got[0] != 0 {
		t.Fatalf("an empty term must match nothing: %v", got)
	}
	if got := Score([]Doc{{}, {{"", 1}}}, []string{"redis"}); got[0] != 0 || got[1] != 0 {
		t.Fatal(got)
	}
}

func TestTop(t *testing.T) {
	scores := []float64{0.5, 0, 2, 0.5, 1, -1}
	if got := Top(scores, -1); !slices.Equal(got, []int{2, 4, 0, 3}) {
		t.Fatalf("Top all = %v", got)
	}
	if got := Top(scores, 3); !slices.Equal(got, []int{2, 4, 0}) {
		t.Fatalf("Top 3 = %v", got)
	}
	if got := Top(scores, 0); len(got) != 0 {
		t.Fatalf("Top 0 = %v", got)
	}
}

// naiveScore is the map-based BM25F that package knowledge used before
// this package existed; Score must agree with it.
func naiveScore(docs []Doc, terms []string) []float64 {
	tfs := make([]map[string]float64, len(docs))
	lengths := make([]float64, len(docs))
	avg := 0.0
	for i, d := range docs {
		tfs[i] = map[string]float64{}
		for _, f := range d {
			for _, tok := range strings.FieldsFunc(strings.ToLower(f.Text), func(r rune) bool {
				wordChar := 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r > 127 && isLetterOrDigit(r)
				return !wordChar
			}) {
				tfs[i][tok] += f.Weight
				lengths[i] += f.Weight
			}
		}
		avg += lengths[i]
	}
	avg /= float64(len(docs))
	if avg == 0 {
		avg = 1
	}
	scores := make([]float64, len(docs))
	for _, t := range terms {
		freq := make([]float64, len(docs))
		n := 0
		for i, d := range tfs {
			for tok, w := range d {
				if strings.HasPrefix(tok, t) {
					freq[i] += w
				}
			}
			if freq[i] > 0 {
				n++
			}
		}
		if n == 0 {
			continue
		}
		idf := math.Log(1 + (float64(len(docs))-float64(n)+0.5)/(float64(n)+0.5))
		for i, f := range freq {
			if f > 0 {
				scores[i] += idf * f * (K1 + 1) / (f + K1*(1-B+B*lengths[i]/avg))
			}
		}
	}
	return scores
}

func isLetterOrDigit(r rune) bool {
	toks := tokenize(string(r))
	return len(toks) == 1
}

func TestScoreMatchesNaive(t *testing.T) {
	words := strings.Fields("redis cluster clusters lua script slot hash tag session knowledge recall the of a b zap é straße")
	rng := rand.New(rand.NewPCG(1, 2))
	text := func() string {
		var b strings.Builder
		for range rng.IntN(30) {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteString([]string{" ", ", ", ".\n", "_"}[rng.IntN(4)])
		}
		return b.String()
	}
	for round := range 50 {
		docs := make([]Doc, 1+rng.IntN(20))
		for i := range docs {
			docs[i] = Doc{{text(), 6}, {text(), 2}, {text(), 3}}
		}
		terms := TopTerms(text(), 5)
		got, want := Score(docs, terms), naiveScore(docs, terms)
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-9 {
				t.Fatalf("round %d doc %d: %v, naive %v (terms %v)", round, i, got[i], want[i], terms)
			}
		}
	}
}

func BenchmarkScore(b *testing.B) {
	docs := make([]Doc, 2000)
	for i := range docs {
		docs[i] = Doc{{strings.Repeat("the redis cluster answered with CROSSSLOT keys in request ", 8), 1}}
	}
	terms := []string{"crossslot", "lua", "slot"}
	b.ReportAllocs()
	for b.Loop() {
		Score(docs, terms)
	}
}

// tokenize lower-cases text and splits it into runs of letters and digits.
func tokenize(text string) []string {
	var out []string
	for tok := range tokens(text) {
		out = append(out, tok)
	}
	return out
}
