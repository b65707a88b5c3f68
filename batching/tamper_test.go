package batching

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A queued item's sealed credential is bound to that item's custom_id and
// request (docs/batch-queue.md, Enqueue). Somebody who can write to Redis
// edits an item's prompt (or moves a sealed credential onto another item): the
// item fails closed — logged, reported as failed, never sent to a batch nor
// run synchronously.
func TestEditedItemFailsClosed(t *testing.T) {
	for _, edit := range []string{"prompt", "swap"} {
		t.Run(edit, func(t *testing.T) {
			b := backends(t)[0]
			e := newEnv(t, b.cfg, fakeupstream.Options{})
			core, logs := observer.New(zap.InfoLevel)
			e.log = zap.New(core)
			q := e.queue(queueOpts{cfg: func(c *Config) { c.MaxItems = 1000 }})
			e.enqueue(q, call("V", 0), credA)
			e.enqueue(q, call("M", 0), credB)

			ctx := context.Background()
			raw := redis.NewClient(&redis.Options{Addr: b.cfg.Addresses[0]})
			defer func() { _ = raw.Close() }()
			key := "lore:bq:{batch}:items"
			items := raw.HGetAll(ctx, key).Val()
			if len(items) != 2 {
				t.Fatalf("%d queued items", len(items))
			}
			var victim, mine string
			for id, data := range items {
				if strings.Contains(data, "V item 0") {
					victim = id
				} else {
					mine = id
				}
			}
			switch edit {
			case "prompt": // the victim's item asks for something else
				raw.HSet(ctx, key, victim, strings.Replace(items[victim], "V item 0", "V exfiltrate", 1))
			case "swap": // the victim's sealed credential moved onto my item
				var vCred, mCred string
				for _, pair := range [][2]*string{{&vCred, ptr(items[victim])}, {&mCred, ptr(items[mine])}} {
					d := *pair[1]
					i := strings.Index(d, `"cred":"`)
					j := strings.Index(d[i+8:], `"`)
					*pair[0] = d[i+8 : i+8+j]
				}
				raw.HSet(ctx, key, mine, strings.Replace(items[mine], mCred, vCred, 1))
			}
			q.flushAll()
			edited := "V exfiltrate"
			if edit == "swap" {
				edited = "M item 0"
			}
			waitFor(t, "the edited item failed", func() bool {
				e.runner.mu.Lock()
				defer e.runner.mu.Unlock()
				return len(e.runner.failed[edited]) == 1
			})
			q.pollAll()
			for _, r := range e.up.Requests() {
				if strings.Contains(string(r.Body), edited) {
					t.Fatalf("the edited item reached the upstream: %s %s", r.Method, r.Path)
				}
			}
			e.runner.mu.Lock()
			ran := e.runner.dos[edited]
			e.runner.mu.Unlock()
			if ran != 0 {
				t.Fatal("the edited item ran synchronously")
			}
			if n := logs.FilterMessageSnippet("does not open for its request").Len(); n != 1 {
				t.Fatalf("%d error logs about the edited item", n)
			}
			if e.count(http.MethodPost, "/v1/messages/batches") != 1 {
				t.Fatal("the intact item was not batched")
			}
		})
	}
}

func ptr(s string) *string { return &s }
