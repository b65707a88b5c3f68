package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTricklingClientIsCutOff: with the read timeouts docs/hostile-input.md recommends
// for a public gateway (examples/team.Caddyfile), a client that announces a
// body and trickles it a byte at a time holds its connection only until
// read_body, not forever, and the gateway keeps answering others meanwhile.
func TestTricklingClientIsCutOff(t *testing.T) {
	e := NewEnv(t, EnvOptions{Global: "\tservers {\n\t\ttimeouts {\n\t\t\tread_header 2s\n\t\t\tread_body 3s\n\t\t}\n\t}"})
	trickle := func(headerOnly bool) (time.Duration, string) {
		conn, err := net.Dial("tcp", e.Caddy.SiteAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		start := time.Now()
		done := make(chan string, 1)
		go func() { // what the server answers, if anything, when it gives up
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				done <- "closed: " + err.Error()
				return
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			_ = resp.Body.Close()
			done <- resp.Status + " " + string(b)
		}()
		head := "POST /v1/messages HTTP/1.1\r\nHost: " + e.Caddy.SiteAddr + "\r\nContent-Type: application/json\r\n" +
			"x-api-key: " + e.Creds.Alice + "\r\nContent-Length: 1000000\r\n"
		if !headerOnly {
			head += "\r\n"
		}
		for i := 0; i < len(head); i++ {
			if headerOnly || i == 0 {
				if _, err := conn.Write([]byte{head[i]}); err != nil {
					break
				}
				if headerOnly {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				if _, err := conn.Write([]byte(head[1:])); err != nil {
					break
				}
				break
			}
		}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case got := <-done:
				return time.Since(start), got
			case <-tick.C:
				if time.Since(start) > 20*time.Second {
					return time.Since(start), "still open"
				}
				_, _ = conn.Write([]byte(" ")) // one byte of body (or header) at a time
			}
		}
	}
	// Meanwhile other requests are answered.
	stop := make(chan struct{})
	served := make(chan int, 1)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				served <- n
				return
			default:
			}
			if resp, err := http.Get(e.URL + "/v1/models"); err == nil {
				_ = resp.Body.Close()
				n++
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	for _, c := range []struct {
		name       string
		headerOnly bool
		limit      time.Duration
	}{{"body", false, 3 * time.Second}, {"headers", true, 2 * time.Second}} {
		took, got := trickle(c.headerOnly)
		t.Logf("trickling %s: cut off after %s (%s)", c.name, took.Round(100*time.Millisecond), got)
		if got == "still open" || took > c.limit+3*time.Second {
			t.Errorf("trickling %s held its connection %s (%s), want about %s", c.name, took, got, c.limit)
		}
		if !c.headerOnly && (!strings.HasPrefix(got, "408") || !strings.Contains(got, `"invalid_request_error"`)) {
			t.Errorf("trickled body answered %q, want 408 in the API's error shape", got)
		}
		if took < c.limit-500*time.Millisecond {
			t.Errorf("trickling %s cut off after %s, before the %s timeout: %s", c.name, took, c.limit, got)
		}
	}
	close(stop)
	if n := <-served; n == 0 {
		t.Error("no other request was answered meanwhile")
	}
	if !e.Caddy.Running() {
		t.Error("Caddy died")
	}
}
