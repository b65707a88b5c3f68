package lore

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// longTurns drives a session past the 30-undistilled threshold.
func longTurns(t *testing.T, fake *fakeupstream.Server, turns int) {
	c := sdkClient(t)
	texts := []string{"long batched session"}
	for i := 1; i <= turns; i++ {
		reply := sdkTurn(t, c, texts...)
		texts = append(texts, reply, fmt.Sprintf("next step %d", i))
	}
}

func batchRequests(fake *fakeupstream.Server) (creates, polls int) {
	for _, r := range fake.Requests() {
		switch {
		case r.Method == "POST" && r.Path == "/v1/messages/batches":
			creates++
		case strings.HasPrefix(r.Path, "/v1/messages/batches/"):
			polls++
		}
	}
	return
}

// startBatched runs Caddy with lore on a fresh miniredis, batching flushed
// and polled every 200 ms, in front of a fake (batches end after 100 ms)
// that accepts keys.
func startBatched(t *testing.T, keys ...string) (*itEnv, *miniredis.Miniredis, *caddytest.Tester) {
	fake := fakeupstream.New(fakeupstream.Options{APIKeys: keys, BatchDelay: 100 * time.Millisecond})
	t.Cleanup(fake.Close)
	e := &itEnv{fake: fake, backend: newITEnv(t).backend}
	mr := miniredis.RunT(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(e.caddyfile(fmt.Sprintf(`redis %s
		credential_key %s
		batching {
			flush_interval 200ms
			poll_interval 200ms
		}`, mr.Addr(), itSecret)), "caddyfile")
	return e, mr, tester
}

// Non-urgent distillation goes through the Message Batches API
// (docs/batch-queue.md), and its results are applied where they belong
// (distillation rows).
func TestIntegrationDistillationBatched(t *testing.T) {
	e, mr, _ := startBatched(t, itKey)
	fake := e.fake
	longTurns(t, fake, 16)

	deadline := time.Now().Add(15 * time.Second)
	rows := 0
	for time.Now().Before(deadline) && rows == 0 {
		for _, k := range mr.Keys() {
			if strings.HasSuffix(k, ":dist:rows") {
				fields, _ := mr.HKeys(k)
				rows += len(fields)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	creates, polls := batchRequests(fake)
	if rows == 0 || creates == 0 || polls == 0 {
		t.Fatalf("distillation rows %d, batch creates %d, polls %d", rows, creates, polls)
	}
	for _, r := range fake.Requests() {
		if r.Path == "/v1/messages" && isDistillCall(r.Body) {
			t.Fatalf("a non-urgent distillation went to /v1/messages synchronously: %.200s", r.Body)
		}
	}
}

func TestIntegrationBatchingOff(t *testing.T) {
	e := newITEnv(t)
	mr := miniredis.RunT(t)
	tester := caddytest.NewTester(t)
	tester.InitServer(e.caddyfile(fmt.Sprintf("redis %s\n\t\tcredential_key %s\n\t\tbatching off", mr.Addr(), itSecret)), "caddyfile")
	longTurns(t, e.fake, 16)
	deadline := time.Now().Add(10 * time.Second)
	synced := false
	for time.Now().Before(deadline) && !synced {
		for _, r := range e.fake.Requests() {
			if r.Path == "/v1/messages" && isDistillCall(r.Body) {
				synced = true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if creates, polls := batchRequests(e.fake); !synced || creates+polls != 0 {
		t.Fatalf("batching off: synchronous distillation %v, batch endpoint calls %d", synced, creates+polls)
	}
}

// isDistillCall recognises a worker distillation request (its JSON may
// escape "<" and ">", so match the model and the word).
func isDistillCall(body []byte) bool {
	return strings.Contains(string(body), `"model":"claude-haiku-4-5"`) && strings.Contains(string(body), "observations")
}
