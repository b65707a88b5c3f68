package handler

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/caddy-lore/caddy-lore/auth"
	"github.com/caddy-lore/caddy-lore/msg"
)

// A session's turns through a gateway that takes decoded messages over from
// the previous turn reach the upstream and Redis exactly as through one that
// decodes every turn afresh: the same bytes (the prompt cache depends on
// them), unknown fields kept, the same stored messages.
func TestDecodeCacheChangesNothingUpstream(t *testing.T) {
	var bodies [][]byte
	c := newBenchConversation(7)
	for count := 15; count <= 41; count += 2 {
		bodies = append(bodies, c.body(count))
	}
	// The client edits a tool output far back (one byte), then continues.
	edited := bytes.Replace(bodies[len(bodies)-1], []byte(`// file 6\n`), []byte(`// file 7\n`), 1)
	if bytes.Equal(edited, bodies[len(bodies)-1]) {
		t.Fatal("the edit did not apply")
	}
	bodies = append(bodies, edited, append(edited[:len(edited)-2:len(edited)-2], []byte(`,{"role":"user","content":"go on"}]}`)...))
	for i, b := range bodies { // a field the gateway does not know, after the messages
		bodies[i] = append(b[:len(b)-1:len(b)-1], []byte(`,"future_field":{"x":[1,2]}}`)...)
	}

	run := func(cache int64) (*env, [][]byte, string) {
		e := newEnv(t, func(c *Config) { c.DecodeCacheBytes = cache; c.MaxBody = 8 << 20 })
		for i, b := range bodies {
			if status, _, resp := e.post("/v1/messages", string(b), "x-api-key", keyA); status != 200 {
				t.Fatalf("turn %d: status %d: %s", i, status, resp)
			}
		}
		var sent [][]byte
		for _, r := range e.fake.Requests() {
			if r.Path == "/v1/messages" {
				sent = append(sent, r.Body)
			}
		}
		ids := e.sessionIDs()
		if len(ids) != 1 {
			t.Fatalf("%d sessions", len(ids))
		}
		var stored strings.Builder
		for _, m := range e.messages(ids[0]) {
			stored.WriteString(m.ID + " " + m.Role + " " + string(m.Content) + "\n")
		}
		return e, sent, stored.String()
	}
	warm, warmSent, warmStored := run(0)
	_, coldSent, coldStored := run(-1)
	if len(warmSent) != len(bodies) || len(coldSent) != len(bodies) {
		t.Fatalf("upstream got %d and %d requests for %d turns", len(warmSent), len(coldSent), len(bodies))
	}
	for i := range bodies {
		if !bytes.Equal(warmSent[i], coldSent[i]) {
			t.Fatalf("turn %d: the upstream body differs with the cache:\n%.300s\n%.300s", i, warmSent[i], coldSent[i])
		}
		if !bytes.Contains(warmSent[i], []byte(`"future_field":{"x":[1,2]}`)) {
			t.Fatalf("turn %d: unknown field not forwarded", i)
		}
	}
	if warmStored != coldStored {
		t.Fatal("the stored messages differ with the cache")
	}
	if n, _ := warm.h.decoded.stats(); n != 1 {
		t.Fatalf("%d cached conversations, want 1", n)
	}
}

// parseMessages with the previous turn cached takes the unchanged messages
// over and gives what a cold parse gives; a change inside the prefix is
// found and decoded.
func TestParseMessagesTakesOverThePreviousTurn(t *testing.T) {
	keys, _ := auth.NewKeyring(secret)
	h := New(Config{Keys: keys})
	cold := New(Config{Keys: keys, DecodeCacheBytes: -1})
	cred := auth.Credential{Scheme: auth.SchemeAPIKey, Value: keyA}
	c := newBenchConversation(1)

	check := func(body []byte, wantReused int) {
		t.Helper()
		req, msgs, derr, err := h.parseMessages(body, cred)
		creq, cmsgs, cderr, cerr := cold.parseMessages(append([]byte(nil), body...), cred)
		if err != nil || derr != nil || cerr != nil || cderr != nil {
			t.Fatal(err, derr, cerr, cderr)
		}
		if !reflect.DeepEqual(msgs, cmsgs) {
			t.Fatal("the messages differ from a cold parse")
		}
		if req.MessageCount != creq.MessageCount || req.Model != creq.Model || !bytes.Equal(req.System, creq.System) ||
			!bytes.Equal(req.Messages, creq.Messages) || req.ToolCount != creq.ToolCount {
			t.Fatalf("envelope %+v, cold %+v", req, creq)
		}
		if got := reusedBy(h, cred, &msgs[0]); got != wantReused {
			t.Fatalf("reused %d, want %d", got, wantReused)
		}
		// What the transform sends is the same bytes either way.
		elements, _ := messageElements(msgs)
		out, _ := req.Rebuild(elements, nil)
		celements, _ := messageElements(cmsgs)
		cout, _ := creq.Rebuild(celements, nil)
		if !bytes.Equal(out.Bytes(), cout.Bytes()) || !bytes.Equal(out.Bytes(), body) {
			t.Fatal("the rebuilt body differs")
		}
	}
	check(c.body(21), 0)
	check(c.body(23), 19) // 1..19; 20 lost its marker
	check(c.body(25), 21)
	b := c.body(27)
	i := bytes.Index(b, []byte(`Reading file 5.`))
	b[i+len("Reading file ")] = '6' // same length, inside message 5
	check(b, 4)
	check(c.body(27), 4) // back to the original: message 5 differs from the edited one
	check(c.body(29), 25)

	// Another credential never sees this conversation's entry.
	other := auth.Credential{Scheme: auth.SchemeAPIKey, Value: keyB}
	_, msgs, _, _ := h.parseMessages(c.body(31), other)
	if got := reusedBy(h, other, &msgs[0]); got != 0 {
		t.Fatalf("a second credential's first turn reused %d messages", got)
	}
	if h.decodedKey(other, &msgs[0]) == h.decodedKey(cred, &msgs[0]) {
		t.Fatal("credentials share a cache key")
	}
}

// reusedBy is how many messages the conversation's last parse took over, -1
// when it is not cached.
func reusedBy(h *Handler, cred auth.Credential, first *msg.Message) int {
	d := h.decoded.get(h.decodedKey(cred, first))
	if d == nil {
		return -1
	}
	return d.Reused
}

// Short conversations (utility calls) and unparsable messages are not kept.
func TestParseMessagesCachesOnlyConversations(t *testing.T) {
	keys, _ := auth.NewKeyring(secret)
	h := New(Config{Keys: keys})
	cred := auth.Credential{Scheme: auth.SchemeAPIKey, Value: keyA}
	for _, body := range []string{
		`{"model":"m","messages":[{"role":"user","content":"title this"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":5}]}`,
		`{"model":"m"}`,
	} {
		_, _, _, err := h.parseMessages([]byte(body), cred)
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := h.decoded.stats(); n != 0 {
		t.Fatalf("%d entries", n)
	}
	// Messages that do not decode report the error they always have.
	_, _, derr, _ := h.parseMessages([]byte(`{"model":"m","messages":[{"role":"user","content":5}]}`), cred)
	_, werr := msg.Decode([]byte(`[{"role":"user","content":5}]`))
	if derr == nil || derr.Error() != werr.Error() {
		t.Fatalf("decode error %v, want %v", derr, werr)
	}
	if _, _, _, err := h.parseMessages([]byte(`{"model":"m"} x`), cred); err == nil {
		t.Fatal("a body that is not one JSON object must fail")
	}
}

func TestDecodedCacheBounds(t *testing.T) {
	d := &msg.Decoded{}
	// The entry bound evicts the least recently used.
	c := newDecodedCache(1000, 3)
	c.put("a", d, 100)
	c.put("b", d, 100)
	c.put("c", d, 100)
	c.get("a") // a is now more recent than b
	c.put("d", d, 100)
	if c.get("b") != nil || c.get("a") == nil || c.get("c") == nil || c.get("d") == nil {
		t.Fatal("the entry bound must evict the least recently used")
	}
	if n, size := c.stats(); n != 3 || size != 300 {
		t.Fatalf("%d entries, %d bytes", n, size)
	}

	// The byte bound too.
	c = newDecodedCache(1000, 10)
	for _, k := range []string{"a", "b", "c", "d"} {
		c.put(k, d, 250)
	}
	c.get("a")
	c.put("e", d, 200) // 1200 bytes: b (then least recently used) goes
	if n, size := c.stats(); n != 4 || size != 950 || c.get("b") != nil || c.get("a") == nil {
		t.Fatalf("byte bound: %d entries, %d bytes", n, size)
	}
	c.put("a", d, 100) // replacing an entry counts its new size only
	if _, size := c.stats(); size != 800 {
		t.Fatalf("%d bytes after a replacement", size)
	}
	c.put("c", d, 251) // over a quarter of the bound: not kept, the old c gone
	if c.get("c") != nil {
		t.Fatal("an oversized entry must not be kept")
	}
	if n, size := c.stats(); n != 3 || size != 550 {
		t.Fatalf("%d entries, %d bytes", n, size)
	}
}

// Turns of one conversation parsed at once share cached messages; run with
// -race, this shows nobody writes what others read.
func TestParseMessagesConcurrently(t *testing.T) {
	keys, _ := auth.NewKeyring(secret)
	h := New(Config{Keys: keys})
	cred := auth.Credential{Scheme: auth.SchemeAPIKey, Value: keyA}
	c := newBenchConversation(2)
	var bodies [][]byte
	for count := 21; count <= 61; count += 2 {
		bodies = append(bodies, c.body(count))
	}
	want := make([][]msg.Message, len(bodies))
	for i, b := range bodies {
		want[i], _ = msg.Decode(b[bytes.Index(b, []byte(`"messages":`))+len(`"messages":`) : len(b)-1])
	}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for k := range 40 {
				i := (g*7 + k) % len(bodies)
				_, msgs, _, _ := h.parseMessages(bodies[i], cred)
				elements, _ := messageElements(msgs) // reads every message's bytes
				if len(elements) != len(want[i]) || !reflect.DeepEqual(msgs, want[i]) {
					t.Errorf("body %d parsed differently", i)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
