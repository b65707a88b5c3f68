package jsonscan

import (
	"encoding/json"
	"os"
	"testing"
)

// BenchmarkSkipString skips a JSON-encoded source file, the shape of most of
// a request's bytes (an escape every few dozen bytes).
func BenchmarkSkipString(b *testing.B) {
	src, err := os.ReadFile("jsonscan.go")
	if err != nil {
		b.Fatal(err)
	}
	enc, _ := json.Marshal(string(src))
	b.SetBytes(int64(len(enc)))
	for i := 0; i < b.N; i++ {
		if SkipString(enc, 0) != len(enc) {
			b.Fatal("not skipped")
		}
	}
}
