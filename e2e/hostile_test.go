package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddy-lore/caddy-lore/internal/hostiletest"
)

// The memory bound under attack (docs/benchmarks.md, Targets: "hostile bodies"): rounds of 8
// concurrent bodies of one hostile shape at the size limit, each beside 8
// concurrent real conversation turns of about 30 MB, through the built
// Caddy at the default max_body. Every hostile one gets 400, every real one
// its answer, Caddy stays up, and its peak RSS (VmHWM) stays within 1 GB.
//
// LORE_HOSTILE_SCALE (default 1) scales the body sizes down for a quick run
// while developing (e.g. 0.1); the RSS bound is only checked at full size.

const hostileRSSLimit = 1 << 30

func hostileScale() float64 {
	if v, err := strconv.ParseFloat(os.Getenv("LORE_HOSTILE_SCALE"), 64); err == nil && v > 0 && v <= 1 {
		return v
	}
	return 1
}

// realConversation is a Claude-Code-shaped conversation of at least size
// bytes of messages: prompts, each followed by eight tool calls with 6–20 KB
// outputs and a short answer.
type realConversation struct {
	id   int
	gen  *outputGen
	msgs []json.RawMessage
	head []byte
}

func newRealConversation(id, size int) *realConversation {
	c := &realConversation{id: id, gen: newOutputGen(int64(100 + id))}
	tools, _ := json.Marshal(ccTools())
	c.head = []byte(`{"model":"claude-sonnet-4-5","max_tokens":32000,"stream":false,"system":` + string(ccSystemJSON()) +
		`,"tools":` + string(tools) + `,"metadata":{"user_id":"user_` + randHex(32) + `_account__session_` + fmt.Sprintf("%08d-0000-4000-8000-000000000000", id) + `"},"messages":[`)
	first, _ := json.Marshal(fmt.Sprintf("Find and fix the flaky test in the scheduler (hostile-bodies session %d).", id))
	c.msgs = append(c.msgs, json.RawMessage(`{"role":"user","content":`+string(first)+`}`))
	n := 0
	for total := 0; total < size; {
		total += c.addTurn(n)
		n++
	}
	return c
}

// addTurn appends a tool call and its result (after every eighth, the
// answer and the user's next prompt) and returns their size.
func (c *realConversation) addTurn(n int) int {
	size := 0
	if n > 0 && n%8 == 0 {
		answer := fmt.Sprintf(`{"role":"assistant","content":[{"type":"text","text":"Done with part %d; the tests pass."}]}`, n/8)
		prompt := fmt.Sprintf(`{"role":"user","content":"Now part %d: look at the next failing package."}`, n/8+1)
		c.msgs = append(c.msgs, json.RawMessage(answer), json.RawMessage(prompt))
		size += len(answer) + len(prompt)
	}
	tool := []string{"Bash", "Read", "Grep"}[n%3]
	call := fmt.Sprintf(`{"role":"assistant","content":[{"type":"text","text":"Checking step %d."},{"type":"tool_use","id":"toolu_%d_%06d","name":%q,"input":{"command":"step %d"}}]}`, n, c.id, n, tool, n)
	out, _ := json.Marshal(c.gen.Output(tool))
	result := fmt.Sprintf(`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_%d_%06d","content":%s}]}`, c.id, n, out)
	c.msgs = append(c.msgs, json.RawMessage(call), json.RawMessage(result))
	return size + len(call) + len(result)
}

func (c *realConversation) body() []byte {
	var b bytes.Buffer
	b.Write(c.head)
	for i, m := range c.msgs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// vmHWM returns the peak resident set size of pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

func postBody(url string, hdr http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header = hdr.Clone()
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func TestHostileBodiesMemoryBound(t *testing.T) {
	scale := hostileScale()
	e := NewEnv(t, EnvOptions{})
	// The soft memory limit docs/hostile-input.md recommends for a public gateway: without
	// it Go's collector lets the heap grow to twice what is live (GOGC=100).
	// LORE_HOSTILE_GOMEMLIMIT=off measures without it.
	limit := os.Getenv("LORE_HOSTILE_GOMEMLIMIT")
	if limit == "" {
		limit = "600MiB"
	}
	if limit != "off" {
		e.Caddy.Stop(t)
		e.Caddy.Env = append(e.Caddy.Env, "GOMEMLIMIT="+limit)
		e.Caddy.Start(t)
	}
	pid := e.Caddy.cmd.Process.Pid
	maxBody := int(float64(32<<20) * scale)
	realSize := int(float64(30_000_000) * scale)
	hostileSize := maxBody - 1024
	const concurrent = 8

	convs := make([]*realConversation, concurrent)
	for i := range convs {
		convs[i] = newRealConversation(i, realSize)
	}
	realHdr := http.Header{"Content-Type": {"application/json"}, "Anthropic-Version": {"2023-06-01"}, "X-Api-Key": {e.Creds.Alice}}
	idle := vmHWM(t, pid)
	var report strings.Builder
	fmt.Fprintf(&report, "| shape | hostile body | real body | hostile 400s | real 200s | peak RSS after the round |\n|---|---|---|---|---|---|\n")
	shapes := []string{"empty messages", "empty blocks", "empty string messages", "deep nesting", "many fields", "chat empty messages"}
	if n, err := strconv.Atoi(os.Getenv("LORE_HOSTILE_ROUNDS")); err == nil && n > 0 && n < len(shapes) {
		shapes = shapes[:n]
	}
	// LORE_HOSTILE_REAL_ONLY=1 sends only the real turns: their own peak,
	// to tell what the hostile bodies add.
	realOnly := os.Getenv("LORE_HOSTILE_REAL_ONLY") == "1"
	for round, shape := range shapes {
		path, hostile := hostiletest.Body(shape, hostileSize)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var realOK, hostileOK int
		var failures []string
		fail := func(f string, args ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf(f, args...))
			mu.Unlock()
		}
		for i := 0; i < concurrent; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if realOnly {
					mu.Lock()
					hostileOK++ // not sent: the real turns' own peak is measured
					mu.Unlock()
					return
				}
				hdr := realHdr.Clone()
				if strings.Contains(path, "chat") {
					hdr.Del("X-Api-Key")
					hdr.Set("Authorization", "Bearer "+e.Creds.Bob)
				}
				status, resp, err := postBody(e.URL+path, hdr, hostile)
				switch {
				case err != nil:
					fail("hostile %q: %v", shape, err)
				case status != 400 || !bytes.Contains(resp, []byte("invalid_request_error")):
					fail("hostile %q: %d %.200s", shape, status, resp)
				default:
					mu.Lock()
					hostileOK++
					mu.Unlock()
				}
			}()
			go func(c *realConversation) {
				defer wg.Done()
				if round > 0 {
					c.addTurn(100000 + round) // the client's next turn
				}
				status, resp, err := postBody(e.URL+"/v1/messages", realHdr, c.body())
				switch {
				case err != nil:
					fail("real %d: %v", c.id, err)
				case status != 200:
					fail("real %d: %d %.300s", c.id, status, resp)
				default:
					mu.Lock()
					realOK++
					mu.Unlock()
				}
			}(convs[i])
		}
		wg.Wait()
		if !e.Caddy.Running() {
			t.Fatalf("round %q: Caddy died; log tail:\n%s", shape, e.Caddy.LogTail(40))
		}
		peak := vmHWM(t, pid)
		fmt.Fprintf(&report, "| %s | %.1f MB | %.1f MB | %d/%d | %d/%d | %.0f MB |\n", shape, float64(len(hostile))/1e6,
			float64(len(convs[0].body()))/1e6, hostileOK, concurrent, realOK, concurrent, float64(peak)/1e6)
		for _, f := range failures {
			t.Error(f)
		}
		if scale == 1 && peak > hostileRSSLimit {
			t.Errorf("round %q: peak RSS %d bytes over the bound", shape, peak)
		}
	}
	if out := os.Getenv("LORE_HOSTILE_PPROF"); out != "" { // where the memory went
		if resp, err := http.Get("http://" + e.Caddy.AdminAddr + "/debug/pprof/allocs"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			_ = os.WriteFile(out, b, 0o644)
		}
	}
	t.Logf("idle peak RSS before the rounds: %.0f MB\n%s", float64(idle)/1e6, report.String())
}
