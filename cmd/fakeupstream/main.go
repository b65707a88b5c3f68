// Command fakeupstream runs the fake Anthropic/OpenAI upstream of
// internal/fakeupstream for end-to-end tests with other processes. It prints
// "listening on http://ADDR" on stdout once it accepts connections and runs
// until interrupted.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	keys := flag.String("keys", "", "accepted API keys, comma-separated")
	oauth := flag.String("oauth", "", "accepted OAuth bearer tokens, comma-separated")
	contextLimit := flag.Int("context-limit", 200000, "maximum input tokens")
	eventDelay := flag.Duration("event-delay", 0, "delay between SSE events")
	batchDelay := flag.Duration("batch-delay", 0, "time a batch stays in_progress")
	refuseBatchBearer := flag.Bool("refuse-batch-bearer", false, "answer 403 to bearer credentials on batch routes")
	flag.Parse()

	s, err := fakeupstream.Start(fakeupstream.Options{
		APIKeys:           split(*keys),
		OAuthTokens:       split(*oauth),
		ContextLimit:      *contextLimit,
		EventDelay:        *eventDelay,
		BatchDelay:        *batchDelay,
		RefuseBatchBearer: *refuseBatchBearer,
	}, *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", s.URL())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	s.Close()
}

func split(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
