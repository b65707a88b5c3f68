// Command fakeupstream runs the fake Anthropic/OpenAI upstream of
// internal/fakeupstream for end-to-end tests with other processes. It prints
// "listening on http://ADDR" on stdout once it accepts connections and runs
// until interrupted.
//
// With -demo it is the upstream of examples/demo.Caddyfile: it listens on
// 127.0.0.1:9099 (unless -listen says otherwise) and accepts the key that
// cmd/demo sends.
package main

import (
	"flag"
	"fmt"
	"net/http"
	_ "net/http/pprof" // served only on -pprof's own listener, for bench/bench.sh's profiles
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/caddy-lore/caddy-lore/internal/demo"
	"github.com/caddy-lore/caddy-lore/internal/fakeupstream"
)

// demoListen is the upstream address in examples/demo.Caddyfile.
const demoListen = "127.0.0.1:9099"

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	keys := flag.String("keys", "", "accepted API keys, comma-separated")
	oauth := flag.String("oauth", "", "accepted OAuth bearer tokens, comma-separated")
	contextLimit := flag.Int("context-limit", 200000, "maximum input tokens")
	eventDelay := flag.Duration("event-delay", 0, "delay between SSE events")
	batchDelay := flag.Duration("batch-delay", 0, "time a batch stays in_progress")
	refuseBatchBearer := flag.Bool("refuse-batch-bearer", false, "answer 403 to bearer credentials on batch routes")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address (bench profiles)")
	demoMode := flag.Bool("demo", false, "be the upstream of examples/demo.Caddyfile: listen on "+demoListen+" and accept the demo key")
	flag.Parse()
	if *demoMode {
		listenSet := false
		flag.Visit(func(f *flag.Flag) { listenSet = listenSet || f.Name == "listen" })
		if !listenSet {
			*listen = demoListen
		}
		*keys = strings.Join(append(split(*keys), demo.APIKey), ",")
	}

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
	if *pprofAddr != "" {
		// The default mux holds only net/http/pprof's handlers: the fake's own
		// routes are on its own server, so profiling never changes what it answers.
		go func() {
			if err := http.ListenAndServe(*pprofAddr, nil); err != nil {
				fmt.Fprintln(os.Stderr, "fakeupstream: pprof:", err)
			}
		}()
	}
	fmt.Printf("listening on %s\n", s.URL())
	if *demoMode {
		fmt.Printf("demo: accepting the key %s; now run Caddy with examples/demo.Caddyfile, then go run ./cmd/demo\n", demo.APIKey)
	}

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
