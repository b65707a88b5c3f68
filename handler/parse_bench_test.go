package handler

import (
	"testing"

	"go.uber.org/zap"

	"github.com/caddy-lore/caddy-lore/auth"
)

// BenchmarkParseMessages is the parse of one turn of a 1,000-message
// conversation: warm, the previous turn's decode is in the cache (the body
// then differs from it by the moved cache marker and two new messages);
// cold, nothing is.
func BenchmarkParseMessages(b *testing.B) {
	keys, _ := auth.NewKeyring(secret)
	cred := auth.Credential{Scheme: auth.SchemeAPIKey, Value: keyA}
	c := newBenchConversation(0)
	prev, body := c.body(999), c.body(1001)
	for _, mode := range []struct {
		name  string
		cache int64
	}{{"warm", 0}, {"cold", -1}} {
		b.Run(mode.name, func(b *testing.B) {
			h := New(Config{Keys: keys, Logger: zap.NewNop(), DecodeCacheBytes: mode.cache})
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				_, _, _, _ = h.parseMessages(prev, cred) // what the previous turn left
				b.StartTimer()
				if _, _, derr, err := h.parseMessages(body, cred); err != nil || derr != nil {
					b.Fatal(err, derr)
				}
			}
		})
	}
}
