package e2e

// End-to-end tests of the durable Message Batches queue (docs/batch-queue.md)
// with the built binary, a real redis-server and the fake upstream:
//
//   - TestBatchQueuedSurvivesKill9: items queued in Redis survive a kill -9;
//     the restarted instance submits each exactly once and applies each result
//     exactly once.
//   - TestBatchInFlightSurvivesKill9: a kill -9 while a batch is in flight
//     (created upstream, recorded in Redis, not yet ended); the restarted
//     instance polls it and applies its results, without creating it again.
//   - TestBatchTwoInstancesExactlyOnce: two Caddy processes on one Redis
//     flushing 1,000 items: each custom_id reaches the fake exactly once.
//   - TestBatchCredentialGrouping: 20 concurrent sessions with 20 api keys:
//     every batch create carries only items of the key that authenticated it.
//
// Items come from real sessions (a non-urgent distillation is queued once a
// session has 30 undistilled messages), except in the two-instance test,
// which enqueues straight into the shared Redis with batching.Queue.Enqueue
// (the same credential_key and key prefix as the gateway), since what it
// tests is the instances' flush.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/batching"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
	"github.com/caddy-lore/caddy-lore/llm"
	"github.com/caddy-lore/caddy-lore/store"
)

// bqTurns is how many turns each session sends: 2 stored messages per turn,
// so the 15th turn reaches distill.MaxSegment (30) undistilled messages and
// queues a non-urgent distillation; one more turn for slack.
const bqTurns = 16

// Redis keys of the queue (batching/redis_keys.go, default key prefix).
const (
	bqItemsKey  = "lore:bq:{batch}:items"
	bqQueueKey  = "lore:bq:{batch}:queue"
	bqRecsKey   = "lore:bq:{batch}:recs"
	bqWhereKey  = "lore:bq:{batch}:where"
	bqLeasesKey = "lore:bq:{batch}:leases"
	bqKnownKey  = "lore:bq:{batch}:known"
)

// batchingExtra is the lore block's batching config; idle work is off so
// that nothing but the turns' own triggers queues work.
//
// Knowledge is off: these tests count the queued distillations one by one,
// and curation items (which ride the same queue, see knowledge_test.go)
// would only blur what they show about the queue itself.
func batchingExtra(flush, poll string, maxItems int) string {
	s := "idle_timeout 0\nknowledge off\nbatching {\nflush_interval " + flush + "\npoll_interval " + poll + "\n"
	if maxItems > 0 {
		s += "max_items " + strconv.Itoa(maxItems) + "\n"
	}
	return s + "}"
}

// ---------------------------------------------------------------- sessions

// bqSession is one conversation whose every user message carries a marker,
// so that any distillation prompt rendered from it names its session.
type bqSession struct {
	key    string
	marker string
	c      *convo
	sid    string // gateway session id, found in Redis by the marker
}

func newBQSession(t testing.TB, e *Env, key, marker string) *bqSession {
	return &bqSession{key: key, marker: marker, c: newConvo(t, e.URL, apiKeyHeader(key))}
}

// turn sends one JSON turn; errors are returned, not fatal, so it can run
// on any goroutine.
func (s *bqSession) turn(i int) error {
	c := s.c
	c.msgs = append(c.msgs, map[string]any{"role": "user", "content": fmt.Sprintf(
		"[%s] step %d: read the next file of the package and report what it does.", s.marker, i)})
	body, err := json.Marshal(map[string]any{"model": c.model, "max_tokens": 512, "system": c.system, "messages": c.msgs})
	if err != nil {
		return err
	}
	req, _ := http.NewRequest("POST", c.base+"/v1/messages", bytes.NewReader(body))
	req.Header.Set("X-Api-Key", s.key)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s turn %d: %w", s.marker, i, err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%s turn %d: read: %w", s.marker, i, err)
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s turn %d: status %d: %s", s.marker, i, resp.StatusCode, truncate(b, 300))
	}
	var m struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(b, &m); err != nil || len(m.Content) == 0 {
		return fmt.Errorf("%s turn %d: reply %s", s.marker, i, truncate(b, 300))
	}
	c.msgs = append(c.msgs, map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "text", "text": m.Content[0].Text}}})
	return nil
}

// driveSessions runs n turns of every session, the sessions concurrently.
func driveSessions(t *testing.T, sessions []*bqSession, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(sessions))
	for _, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= n; i++ {
				if err := s.turn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// resolveSessions finds each session's id in Redis (the stored first message
// holds its marker).
func resolveSessions(t *testing.T, rc *redis.Client, sessions []*bqSession) {
	t.Helper()
	ctx := context.Background()
	ok := waitFor(10*time.Second, func() bool {
		all := true
		for _, sid := range findSessions(t, rc) {
			first, err := rc.LIndex(ctx, "lore:s:{"+sid+"}:msgs", 0).Result()
			if err != nil {
				continue
			}
			for _, s := range sessions {
				if strings.Contains(first, "["+s.marker+"]") {
					s.sid = sid
				}
			}
		}
		for _, s := range sessions {
			all = all && s.sid != ""
		}
		return all
	})
	if !ok {
		for _, s := range sessions {
			if s.sid == "" {
				t.Fatalf("session of %s not found in Redis", s.marker)
			}
		}
	}
}

// sessionOf is the session whose marker text contains; "" when none, and
// "?" when several do.
func sessionOf(sessions []*bqSession, text string) *bqSession {
	var found *bqSession
	for _, s := range sessions {
		if strings.Contains(text, "["+s.marker+"]") {
			if found != nil {
				return &bqSession{marker: "?"}
			}
			found = s
		}
	}
	return found
}

// ---------------------------------------------------------------- the queue in Redis

// bqItem is a queued item as stored (batching/enqueue.go), decoded.
type bqItem struct {
	ID   string
	Call llm.Call
}

// readQueueItems returns the items not yet claimed (queued, submitting, in
// flight or sync), by custom_id.
func readQueueItems(t testing.TB, rc *redis.Client) map[string]bqItem {
	t.Helper()
	raw, err := rc.HGetAll(context.Background(), bqItemsKey).Result()
	if err != nil {
		t.Fatalf("HGETALL %s: %v", bqItemsKey, err)
	}
	out := make(map[string]bqItem, len(raw))
	for id, v := range raw {
		var it struct {
			Call llm.Call `json:"call"`
		}
		if err := json.Unmarshal([]byte(v), &it); err != nil {
			t.Fatalf("queue item %s is not JSON: %v", id, err)
		}
		out[id] = bqItem{ID: id, Call: it.Call}
	}
	return out
}

// openQueueStore opens the test's own handle on the gateway's Redis.
func openQueueStore(t testing.TB, e *Env) *store.Store {
	t.Helper()
	st, err := store.Open(store.Config{Addresses: []string{e.Redis.Addr()}}, nil)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func readStats(t testing.TB, st *store.Store) batching.Stats {
	t.Helper()
	s, err := batching.ReadStats(context.Background(), st, time.Now())
	if err != nil {
		t.Fatalf("batching.ReadStats: %v", err)
	}
	return s
}

// idle: nothing queued, no record (submitting, in flight or sync) left.
func queueIdle(s batching.Stats) bool {
	return s.Queued == 0 && s.Submitting == 0 && s.InFlightBatches == 0 && s.SyncPending == 0
}

// waitQueueDone waits until the queue is idle and at least n items were
// resolved (succeeded rows applied), and returns the stats.
func waitQueueDone(t *testing.T, st *store.Store, n int64, d time.Duration, logs ...*Caddy) batching.Stats {
	t.Helper()
	var s batching.Stats
	if !waitFor(d, func() bool { s = readStats(t, st); return queueIdle(s) && s.Resolved >= n }) {
		for _, c := range logs {
			t.Logf("log tail of %s:\n%s", c.LogPath, c.LogTail(30))
		}
		t.Fatalf("queue not done after %s (want %d resolved): %+v", d, n, s)
	}
	return s
}

// leasesReleased reports whether no lease on a record is held beyond now
// (a record a dead instance holds would wait for the 30 s lease TTL).
func leasesReleased(t testing.TB, rc *redis.Client) bool {
	raw, err := rc.HGetAll(context.Background(), bqLeasesKey).Result()
	if err != nil {
		t.Fatalf("HGETALL %s: %v", bqLeasesKey, err)
	}
	now := time.Now().UnixMilli()
	for _, v := range raw {
		_, exp, _ := strings.Cut(v, "|")
		if ms, err := strconv.ParseInt(exp, 10, 64); err != nil || ms > now {
			return false
		}
	}
	return true
}

// checkQueueEmpty: no item, record, location or lease is left in Redis.
func checkQueueEmpty(t *testing.T, rc *redis.Client) {
	t.Helper()
	ctx := context.Background()
	for _, k := range []string{bqItemsKey, bqRecsKey, bqWhereKey} {
		if n := rc.HLen(ctx, k).Val(); n != 0 {
			t.Errorf("%s has %d fields after the queue drained, want 0", k, n)
		}
	}
	// No lease may outlive its record: the lease script refuses (and drops)
	// a lease on a record another instance has finished meanwhile
	// (batching/redis_scripts.go). LORE_E2E_BQ_STRICT_LEASES=0 only logs.
	if leases := rc.HGetAll(ctx, bqLeasesKey).Val(); len(leases) != 0 {
		orphans := 0
		for rec := range leases {
			if rc.HExists(ctx, bqRecsKey, rec).Val() {
				t.Errorf("lease on record %s left after the queue drained", rec)
			} else {
				orphans++
			}
		}
		if orphans > 0 {
			msg := fmt.Sprintf("%d lease(s) %v left in %s for records that no longer exist", orphans, leases, bqLeasesKey)
			if os.Getenv("LORE_E2E_BQ_STRICT_LEASES") != "0" {
				t.Error(msg)
			} else {
				t.Log(msg)
			}
		}
	}
	if n := rc.LLen(ctx, bqQueueKey).Val(); n != 0 {
		t.Errorf("%s has %d entries after the queue drained, want 0", bqQueueKey, n)
	}
}

// ---------------------------------------------------------------- the fake's view

// fakeCreate is one recorded POST /v1/messages/batches.
type fakeCreate struct {
	Index  int
	At     time.Time
	Header http.Header
	IDs    []string
	Users  []string // the user message of each request's params
}

func batchCreates(t testing.TB, e *Env) []fakeCreate {
	t.Helper()
	var out []fakeCreate
	for i, r := range e.Fake.Requests() {
		if r.Method != "POST" || r.Path != "/v1/messages/batches" {
			continue
		}
		var b struct {
			Requests []struct {
				CustomID string `json:"custom_id"`
				Params   struct {
					Messages []struct {
						Content string `json:"content"`
					} `json:"messages"`
				} `json:"params"`
			} `json:"requests"`
		}
		if err := json.Unmarshal(r.Body, &b); err != nil {
			t.Fatalf("batch create %d: body not JSON: %v", i, err)
		}
		c := fakeCreate{Index: i, At: r.At, Header: r.Header}
		for _, rq := range b.Requests {
			c.IDs = append(c.IDs, rq.CustomID)
			u := ""
			if len(rq.Params.Messages) > 0 {
				u = rq.Params.Messages[0].Content
			}
			c.Users = append(c.Users, u)
		}
		out = append(out, c)
	}
	return out
}

var (
	batchGetRe     = regexp.MustCompile(`^/v1/messages/batches/([^/]+)$`)
	batchResultsRe = regexp.MustCompile(`^/v1/messages/batches/([^/]+)/results$`)
)

// batchFetches counts the GETs of each batch (retrieve) and of its results,
// only those received after since.
func batchFetches(e *Env, since time.Time) (gets, results map[string]int) {
	gets, results = map[string]int{}, map[string]int{}
	for _, r := range e.Fake.Requests() {
		if r.Method != "GET" || r.At.Before(since) {
			continue
		}
		if m := batchGetRe.FindStringSubmatch(r.Path); m != nil {
			gets[m[1]]++
		}
		if m := batchResultsRe.FindStringSubmatch(r.Path); m != nil {
			results[m[1]]++
		}
	}
	return gets, results
}

// checkCreatesOnce: no custom_id in two creates (or twice in one), and the
// custom_ids submitted are exactly want (when want is not nil).
func checkCreatesOnce(t *testing.T, creates []fakeCreate, want map[string]bool) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, c := range creates {
		for _, id := range c.IDs {
			seen[id]++
		}
	}
	dups := 0
	for id, n := range seen {
		if n != 1 {
			dups++
			if dups <= 5 {
				t.Errorf("custom_id %s reached the fake in %d batch requests, want 1", id, n)
			}
		}
	}
	if dups > 5 {
		t.Errorf("... %d custom_ids submitted more than once in all", dups)
	}
	if want != nil {
		missing := 0
		for id := range want {
			if seen[id] == 0 {
				missing++
				if missing <= 5 {
					t.Errorf("queued item %s was never submitted", id)
				}
			}
		}
		for id := range seen {
			if !want[id] {
				t.Errorf("submitted custom_id %s was not one of the queued items", id)
			}
		}
	}
	return seen
}

// checkResultsOnce: every batch recorded by the queue had its results
// fetched exactly once (after since), none other.
func checkResultsOnce(t *testing.T, e *Env, rc *redis.Client, since time.Time) []string {
	t.Helper()
	known, err := rc.ZRange(context.Background(), bqKnownKey, 0, -1).Result()
	if err != nil {
		t.Fatalf("ZRANGE %s: %v", bqKnownKey, err)
	}
	_, results := batchFetches(e, since)
	for _, id := range known {
		if results[id] != 1 {
			t.Errorf("results of batch %s fetched %d times, want once", id, results[id])
		}
	}
	if len(results) != len(known) {
		t.Errorf("results of %d batches fetched, the queue recorded %d batches", len(results), len(known))
	}
	return known
}

// checkNoSyncDistill: no distillation went to /v1/messages (synchronous
// fallback), so every item was answered by its batch only.
func checkNoSyncDistill(t *testing.T, e *Env) {
	t.Helper()
	for i, r := range e.Requests("/v1/messages") {
		if _, kind := classifyUpstream(r.Body, testModel); kind != "turn" {
			t.Errorf("upstream request %d on /v1/messages is a %s worker call: batched work ran synchronously", i, kind)
		}
	}
}

// checkRows: each session has exactly as many live distillation rows as it
// had items (one row per applied result: applied, and not twice), and its
// in-flight guard is gone (every call's reference released).
func checkRows(t *testing.T, rc *redis.Client, sessions []*bqSession, perSession map[string]int) {
	t.Helper()
	for _, s := range sessions {
		want := perSession[s.sid]
		var st sessState
		waitFor(5*time.Second, func() bool { st = readSession(t, rc, s.sid); return len(st.Rows) >= want && !st.Guard })
		if len(st.Rows) != want {
			t.Errorf("session %s (%s): %d distillation rows, want %d (one per queued item)", s.sid, s.marker, len(st.Rows), want)
		}
		if st.Guard {
			t.Errorf("session %s (%s): distillation guard still held after its results were applied", s.sid, s.marker)
		}
		if want > 0 && st.Mark < distillMinMsg {
			t.Errorf("session %s (%s): distillation watermark %d after %d applied rows", s.sid, s.marker, st.Mark, want)
		}
	}
}

// itemsBySession maps the queued items to the sessions by their markers.
func itemsBySession(t *testing.T, items map[string]bqItem, sessions []*bqSession) map[string]int {
	t.Helper()
	per := map[string]int{}
	for id, it := range items {
		if it.Call.Kind != "distill" {
			t.Errorf("queued item %s has kind %q, want distill", id, it.Call.Kind)
		}
		s := sessionOf(sessions, it.Call.User)
		switch {
		case s == nil:
			t.Errorf("queued item %s names no session's marker", id)
		case s.marker == "?":
			t.Errorf("queued item %s names several sessions' markers", id)
		case it.Call.SessionID != s.sid:
			t.Errorf("queued item %s is for session %s but renders %s's messages (session %s)", id, it.Call.SessionID, s.marker, s.sid)
		default:
			per[s.sid]++
		}
	}
	return per
}

// ---------------------------------------------------------------- a second Caddy

// startSecondCaddy starts another Caddy process on e's Redis with the same
// credential_key, its own ports and directory, and loreExtra in its lore
// block. Its cleanup stops it and checks its log for credentials.
func startSecondCaddy(t *testing.T, e *Env, loreExtra string) *Caddy {
	t.Helper()
	dir := filepath.Join(e.Dir, "caddy2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	c := &Caddy{
		Bin:        caddyBin,
		Dir:        dir,
		ConfigPath: filepath.Join(dir, "Caddyfile"),
		LogPath:    filepath.Join(dir, "caddy.log"),
		AdminAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		SiteAddr:   fmt.Sprintf("127.0.0.1:%d", port),
		Env:        []string{"LORE_CREDENTIAL_KEY=" + e.Key},
	}
	cf := e.Caddyfile(loreExtra)
	cf = strings.Replace(cf, "admin "+e.Caddy.AdminAddr, "admin "+c.AdminAddr, 1)
	cf = strings.Replace(cf, fmt.Sprintf("http://127.0.0.1:%d {", e.SitePort), fmt.Sprintf("http://127.0.0.1:%d {", port), 1)
	cf = strings.Replace(cf, filepath.Join(e.Dir, "caddy-data"), filepath.Join(dir, "caddy-data"), 1)
	if !strings.Contains(cf, c.AdminAddr) || !strings.Contains(cf, c.SiteAddr) {
		t.Fatalf("second Caddyfile not rewritten:\n%s", cf)
	}
	c.WriteConfig(t, cf)
	t.Cleanup(func() {
		c.Stop(t)
		log := c.Log()
		for _, s := range e.secrets {
			for _, form := range secretForms(s) {
				if strings.Contains(log, form) {
					t.Errorf("second caddy's log %s contains a credential (%s…)", c.LogPath, s[:14])
					break
				}
			}
		}
		if t.Failed() {
			t.Logf("second caddy log tail (%s):\n%s", c.LogPath, c.LogTail(40))
		}
	})
	c.Start(t)
	return c
}

// createdBatches counts the "batch created" lines of a Caddy log.
func createdBatches(c *Caddy) int {
	n := 0
	for _, l := range strings.Split(c.Log(), "\n") {
		if strings.Contains(l, `"batching: batch created"`) {
			n++
		}
	}
	return n
}

// nopRunner satisfies batching.Runner for a queue used only to Enqueue.
type nopRunner struct{}

func (nopRunner) Do(context.Context, llm.Call, auth.Credential) (string, error) {
	return "", fmt.Errorf("nopRunner")
}
func (nopRunner) Params(llm.Call) json.RawMessage               { return nil }
func (nopRunner) ChatParams(llm.Call) json.RawMessage           { return nil }
func (nopRunner) Apply(context.Context, llm.Call, string) error { return nil }
func (nopRunner) Fail(context.Context, llm.Call, error)         {}

// ---------------------------------------------------------------- (1) queued items survive kill -9

func TestBatchQueuedSurvivesKill9(t *testing.T) {
	e := NewEnv(t, EnvOptions{
		// Items sit in Redis: no timer flush within the test, no size flush.
		LoreExtra: batchingExtra("1h", "1h", batching.MaxItemsLimit),
		Fake:      fakeupstream.Options{BatchDelay: 300 * time.Millisecond},
	})
	rc := e.Redis.Client()
	st := openQueueStore(t, e)
	sessions := []*bqSession{
		newBQSession(t, e, e.Creds.Alice, "q1alice-"+randHex(4)),
		newBQSession(t, e, e.Creds.Bob, "q1bob-"+randHex(4)),
		newBQSession(t, e, e.Creds.Carol, "q1carol-"+randHex(4)),
	}
	driveSessions(t, sessions, bqTurns)
	resolveSessions(t, rc, sessions)

	// Every session queued its distillation; nothing was submitted.
	var items map[string]bqItem
	var per map[string]int
	ok := waitFor(10*time.Second, func() bool {
		items = readQueueItems(t, rc)
		covered := map[string]bool{}
		for _, it := range items {
			if s := sessionOf(sessions, it.Call.User); s != nil {
				covered[s.marker] = true
			}
		}
		return len(covered) == len(sessions)
	})
	if !ok {
		t.Fatalf("after %d turns, queued items cover %d of %d sessions", bqTurns, len(items), len(sessions))
	}
	time.Sleep(200 * time.Millisecond) // a trailing background run would show now
	items = readQueueItems(t, rc)
	per = itemsBySession(t, items, sessions)
	before := readStats(t, st)
	if before.Queued != int64(len(items)) || before.Submitting+before.InFlightBatches+before.SyncPending != 0 {
		t.Fatalf("before the kill: %d items in Redis, stats %+v; want all of them queued and no record", len(items), before)
	}
	if n := len(batchCreates(t, e)); n != 0 {
		t.Fatalf("%d batch creates before the kill with flush_interval 1h", n)
	}
	want := map[string]bool{}
	for id := range items {
		want[id] = true
	}

	e.Caddy.Kill9(t)
	killedAt := time.Now()
	e.Caddy.WriteConfig(t, e.Caddyfile(batchingExtra("200ms", "200ms", 0)))
	e.Caddy.Start(t)

	s := waitQueueDone(t, st, int64(len(items)), 30*time.Second, e.Caddy)
	creates := batchCreates(t, e)
	checkCreatesOnce(t, creates, want)
	for _, c := range creates {
		if c.At.Before(killedAt) {
			t.Errorf("batch create %d before the kill", c.Index)
		}
		for i, u := range c.Users {
			if sess := sessionOf(sessions, u); sess == nil || sess.key != c.Header.Get("X-Api-Key") {
				t.Errorf("batch create %d: item %s is not of the credential that sent the create", c.Index, c.IDs[i])
			}
		}
	}
	known := checkResultsOnce(t, e, rc, killedAt)
	checkRows(t, rc, sessions, per)
	checkNoSyncDistill(t, e)
	checkQueueEmpty(t, rc)
	if s.Resolved != int64(len(items)) || s.Submitted != int64(len(items)) || s.Failed+s.Fallback+s.Requeued+s.Dropped != 0 ||
		s.Batches != int64(len(creates)) || s.Batches != int64(len(known)) {
		t.Errorf("stats after the restart: %+v; want %d submitted and resolved in %d batches, nothing failed, requeued or run synchronously",
			s, len(items), len(creates))
	}
	t.Logf("%d items of %d sessions queued before kill -9; after restart %d batch create(s), %d results fetches, stats %+v",
		len(items), len(sessions), len(creates), len(known), s)
}

// ---------------------------------------------------------------- (2) in-flight batch survives kill -9

func TestBatchInFlightSurvivesKill9(t *testing.T) {
	const batchDelay = 3 * time.Second
	e := NewEnv(t, EnvOptions{
		// Flush at once; never poll in the first process (its poll loop
		// runs once at start, before any batch exists), so the batch is
		// still in flight for the gateway when it is killed.
		LoreExtra: batchingExtra("200ms", "1h", 0),
		Fake:      fakeupstream.Options{BatchDelay: batchDelay},
	})
	rc := e.Redis.Client()
	st := openQueueStore(t, e)
	sessions := []*bqSession{
		newBQSession(t, e, e.Creds.Alice, "q2alice-"+randHex(4)),
		newBQSession(t, e, e.Creds.Bob, "q2bob-"+randHex(4)),
	}
	driveSessions(t, sessions, bqTurns)
	resolveSessions(t, rc, sessions)

	// Wait until every session's items are in recorded in-flight batches
	// and their submitter has let go of the leases.
	var items map[string]bqItem
	var s batching.Stats
	ok := waitFor(15*time.Second, func() bool {
		items = readQueueItems(t, rc)
		covered := map[string]bool{}
		for _, it := range items {
			if sess := sessionOf(sessions, it.Call.User); sess != nil {
				covered[sess.marker] = true
			}
		}
		s = readStats(t, st)
		return len(covered) == len(sessions) && s.Queued == 0 && s.Submitting == 0 && s.SyncPending == 0 &&
			s.InFlightItems == int64(len(items)) && s.Enqueued == int64(len(items)) && leasesReleased(t, rc)
	})
	if !ok {
		t.Fatalf("items not all in flight: %d items, stats %+v", len(items), s)
	}
	recs, err := batching.NewRedisQueue(st).Records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	inflight := map[string]bool{}
	for _, r := range recs {
		if r.State == batching.RecordInFlight && r.Batch != "" {
			inflight[r.Batch] = true
		}
	}
	createsBefore := batchCreates(t, e)
	if len(createsBefore) == 0 || len(createsBefore) != len(inflight) {
		t.Fatalf("%d batch creates at the fake, %d in-flight batches in Redis", len(createsBefore), len(inflight))
	}
	if gets, results := batchFetches(e, time.Time{}); len(gets)+len(results) != 0 {
		t.Fatalf("the first process polled before the kill (poll_interval 1h): gets %v results %v", gets, results)
	}
	per := itemsBySession(t, items, sessions)
	want := map[string]bool{}
	for id := range items {
		want[id] = true
	}

	e.Caddy.Kill9(t)
	killedAt := time.Now()
	for _, c := range createsBefore {
		if age := killedAt.Sub(c.At); age >= batchDelay {
			t.Logf("note: batch create %d was %s old at the kill: ended upstream already (still in flight for the gateway)", c.Index, age)
		}
	}
	e.Caddy.WriteConfig(t, e.Caddyfile(batchingExtra("200ms", "200ms", 0)))
	e.Caddy.Start(t)

	s = waitQueueDone(t, st, int64(len(items)), 30*time.Second, e.Caddy)
	creates := batchCreates(t, e)
	if len(creates) != len(createsBefore) {
		t.Errorf("%d batch creates after the restart, %d before: the in-flight items were submitted again", len(creates), len(createsBefore))
	}
	checkCreatesOnce(t, creates, want)
	gets, _ := batchFetches(e, killedAt)
	for id := range inflight {
		if gets[id] == 0 {
			t.Errorf("in-flight batch %s was not polled after the restart", id)
		}
	}
	known := checkResultsOnce(t, e, rc, killedAt)
	if len(known) != len(inflight) {
		t.Errorf("the queue recorded %d batches, %d were in flight at the kill", len(known), len(inflight))
	}
	checkRows(t, rc, sessions, per)
	checkNoSyncDistill(t, e)
	checkQueueEmpty(t, rc)
	if s.Resolved != int64(len(items)) || s.Failed+s.Fallback+s.Requeued+s.Dropped+s.Abandoned != 0 {
		t.Errorf("stats after the restart: %+v; want %d resolved, nothing failed, requeued, abandoned or run synchronously", s, len(items))
	}
	polls := 0
	for _, n := range gets {
		polls += n
	}
	t.Logf("%d items in %d in-flight batch(es) at kill -9; after restart %d poll(s), results fetched once each, stats %+v",
		len(items), len(inflight), polls, s)
}

// ---------------------------------------------------------------- (3) two instances, 1,000 items

func TestBatchTwoInstancesExactlyOnce(t *testing.T) {
	const total = 1000
	extra := batchingExtra("200ms", "200ms", 0)
	e := NewEnv(t, EnvOptions{LoreExtra: extra, Fake: fakeupstream.Options{BatchDelay: 300 * time.Millisecond}})
	rc := e.Redis.Client()
	st := openQueueStore(t, e)
	second := startSecondCaddy(t, e, extra)

	keys, err := auth.NewKeyring(e.Key)
	if err != nil {
		t.Fatal(err)
	}
	q, err := batching.New(batching.Config{
		Keys: keys, Store: st, FlushInterval: time.Hour, MaxItems: batching.MaxItemsLimit, InstanceID: "e2etest",
	}, nopRunner{})
	if err != nil {
		t.Fatal(err)
	}
	// Never started: this queue only enqueues. Three credential groups;
	// made-up sessions, so applying a result fails harmlessly (bad ref).
	creds := []string{e.Creds.Alice, e.Creds.Bob, e.Creds.Carol}
	run := randHex(4)
	token := func(i int) string { return fmt.Sprintf("tok-%s-%04d", run, i) }
	call := func(i int) llm.Call {
		return llm.Call{Kind: "distill", SessionID: fmt.Sprintf("e2e-bq-%s-%02d", run, i%40), Model: workerModel,
			System: "You summarize test items.", User: "Item " + token(i) + " of the two-instance test.", MaxTokens: 64}
	}
	// Ten waves of 100 from four goroutines while both instances flush
	// every 200 ms, so both take items.
	const waves, workers = 10, 4
	for w := 0; w < waves; w++ {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for g := 0; g < workers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w*total/waves + g; i < (w+1)*total/waves; i += workers {
					cred := auth.Credential{Scheme: auth.SchemeAPIKey, Value: creds[i%len(creds)]}
					if err := q.Enqueue(context.Background(), call(i), cred); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("enqueue: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	s := waitQueueDone(t, st, total, 40*time.Second, e.Caddy, second)
	if !e.Caddy.Running() || !second.Running() {
		t.Fatalf("an instance exited: first running %v, second running %v", e.Caddy.Running(), second.Running())
	}

	creates := batchCreates(t, e)
	seen := checkCreatesOnce(t, creates, nil)
	if len(seen) != total {
		t.Errorf("%d distinct custom_ids reached the fake, want %d", len(seen), total)
	}
	// Each item's unique text reached the upstream exactly once, in a
	// create authenticated by its own credential.
	tokRe := regexp.MustCompile(`tok-` + run + `-(\d{4})`)
	count := make([]int, total)
	for _, c := range creates {
		key := c.Header.Values("X-Api-Key")
		for j, u := range c.Users {
			m := tokRe.FindStringSubmatch(u)
			if m == nil {
				t.Errorf("batch create %d: item %s carries no test item", c.Index, c.IDs[j])
				continue
			}
			i, _ := strconv.Atoi(m[1])
			count[i]++
			if len(key) != 1 || key[0] != creds[i%len(creds)] {
				t.Errorf("batch create %d: item %d sent with another credential", c.Index, i)
			}
		}
	}
	for _, r := range e.Requests("/v1/messages") {
		for _, m := range tokRe.FindAllStringSubmatch(string(r.Body), -1) {
			i, _ := strconv.Atoi(m[1])
			count[i]++
		}
	}
	bad := 0
	for i, n := range count {
		if n != 1 {
			bad++
			if bad <= 5 {
				t.Errorf("item %d reached the upstream %d times, want exactly once", i, n)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d items did not reach the upstream exactly once", bad)
	}
	known := checkResultsOnce(t, e, rc, time.Time{})
	checkQueueEmpty(t, rc)
	if s.Enqueued != total || s.Submitted != total || s.Resolved != total ||
		s.Failed+s.Fallback+s.Requeued+s.Dropped != 0 || s.Batches != int64(len(creates)) {
		t.Errorf("stats: %+v; want %d enqueued, submitted and resolved in %d batches, nothing else", s, total, len(creates))
	}
	n1, n2 := createdBatches(e.Caddy), createdBatches(second)
	if n1+n2 != len(creates) {
		t.Errorf("the instances logged %d + %d batch creates, the fake received %d", n1, n2, len(creates))
	}
	t.Logf("%d items in %d batch creates (first instance %d, second %d), %d results fetches; stats %+v",
		total, len(creates), n1, n2, len(known), s)
}

// ---------------------------------------------------------------- (4) 20 credentials, concurrent sessions

func TestBatchCredentialGrouping(t *testing.T) {
	const n = 20
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("sk-ant-api03-e2eK%02d", i) + randHex(20)
	}
	e := NewEnv(t, EnvOptions{
		LoreExtra: batchingExtra("300ms", "200ms", 0),
		Fake:      fakeupstream.Options{APIKeys: keys, BatchDelay: 300 * time.Millisecond},
	})
	for _, k := range keys {
		e.Secret(k)
	}
	rc := e.Redis.Client()
	st := openQueueStore(t, e)
	sessions := make([]*bqSession, n)
	keyIndex := map[string]int{}
	for i := range sessions {
		sessions[i] = newBQSession(t, e, keys[i], fmt.Sprintf("key%02d-%s", i, randHex(4)))
		keyIndex[keys[i]] = i
	}
	driveSessions(t, sessions, bqTurns)
	resolveSessions(t, rc, sessions)

	// Every session's distillation was batched and applied.
	var s batching.Stats
	ok := waitFor(40*time.Second, func() bool {
		s = readStats(t, st)
		if !queueIdle(s) || s.Enqueued < n || s.Resolved+s.Failed+s.Fallback+s.Dropped < s.Enqueued {
			return false
		}
		for _, sess := range sessions {
			if len(readSession(t, rc, sess.sid).Rows) == 0 {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("not every session's batched distillation was applied: stats %+v\n%s", s, e.Caddy.LogTail(30))
	}

	creates := batchCreates(t, e)
	seen := checkCreatesOnce(t, creates, nil)
	if int64(len(seen)) != s.Enqueued {
		t.Errorf("%d custom_ids submitted, %d items enqueued", len(seen), s.Enqueued)
	}
	perKey := map[int]int{}
	for _, c := range creates {
		if c.Header.Get("Authorization") != "" {
			t.Errorf("batch create %d carries an Authorization header besides x-api-key", c.Index)
		}
		vals := c.Header.Values("X-Api-Key")
		if len(vals) != 1 {
			t.Errorf("batch create %d has %d x-api-key values, want 1", c.Index, len(vals))
			continue
		}
		ki, ok := keyIndex[vals[0]]
		if !ok {
			t.Errorf("batch create %d authenticated with an unknown key", c.Index)
			continue
		}
		for j, u := range c.Users {
			sess := sessionOf(sessions, u)
			switch {
			case sess == nil:
				t.Errorf("batch create %d (key %02d): item %s names no session", c.Index, ki, c.IDs[j])
			case sess.marker == "?":
				t.Errorf("batch create %d (key %02d): item %s mixes several sessions' messages", c.Index, ki, c.IDs[j])
			case sess.key != vals[0]:
				t.Errorf("batch create %d authenticated with key %02d carries an item of the session of key %02d",
					c.Index, ki, keyIndex[sess.key])
			default:
				perKey[ki]++
			}
		}
	}
	if len(perKey) != n {
		t.Errorf("batched items of %d credentials reached the fake, want all %d", len(perKey), n)
	}
	// One row per submitted item of each session: applied, and not twice.
	perSession := map[string]int{}
	for _, c := range creates {
		for _, u := range c.Users {
			if sess := sessionOf(sessions, u); sess != nil && sess.sid != "" {
				perSession[sess.sid]++
			}
		}
	}
	checkRows(t, rc, sessions, perSession)
	checkResultsOnce(t, e, rc, time.Time{})
	checkNoSyncDistill(t, e)
	if s.Resolved != s.Enqueued || s.Failed+s.Fallback+s.Requeued+s.Dropped != 0 {
		t.Errorf("stats: %+v; want every enqueued item resolved by its batch", s)
	}
	t.Logf("%d sessions with %d keys: %d items in %d batch creates; stats %+v", n, n, len(seen), len(creates), s)
}
