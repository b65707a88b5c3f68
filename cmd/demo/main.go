// Command demo drives a scripted agent session through a caddy-lore gateway
// that runs examples/demo.Caddyfile in front of the fake upstream, and prints
// what the gateway did. No API key is needed:
//
//	go run ./cmd/fakeupstream -demo                            # terminal 1
//	go run ./cmd/caddy run --config examples/demo.Caddyfile    # terminal 2
//	go run ./cmd/demo                                          # terminal 3
//	curl -s http://127.0.0.1:2019/lore/ > status.html          # then open it
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/caddy-lore/caddy-lore/internal/demo"
)

func main() {
	gateway := flag.String("gateway", "http://127.0.0.1:8080", "the lore site")
	admin := flag.String("admin", "http://127.0.0.1:2019", "Caddy's admin endpoint")
	key := flag.String("key", demo.APIKey, "API key (the fake upstream's -demo key by default)")
	rounds := flag.Int("rounds", 60, "tool-loop rounds (one file read each)")
	fileKB := flag.Int("file-kb", 16, "size of each file the session reads, in KB")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum, err := demo.Run(ctx, demo.Options{
		Gateway: *gateway, Admin: *admin, APIKey: *key, Rounds: *rounds, FileBytes: *fileKB << 10, Log: os.Stdout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		fmt.Fprintln(os.Stderr, "demo: are the fake upstream (go run ./cmd/fakeupstream -demo) and Caddy (examples/demo.Caddyfile) running?")
		stop()
		os.Exit(1) //nolint:gocritic // exitAfterDefer: stop ran just above
	}
	fmt.Printf("\nThe last request carried ~%d tokens of history from the client; the upstream read %d.\n", sum.ClientTokens, sum.UpstreamInput)
	fmt.Printf("Status page: curl -s %s/lore/ > status.html, then open status.html\n", *admin)
	fmt.Printf("(a browser pointed at the admin endpoint itself gets 403: Caddy refuses cross-site requests there)\n")
}
