package fakeupstream

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
)

func TestConcurrentStreams(t *testing.T) {
	const n = 512
	s, _ := newServer(t, Options{EventDelay: time.Millisecond})
	c := client(s)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// i+1 user turns → "ok (turn i%4+1)".
			var msgs []anthropic.MessageParam
			for k := 0; k <= i%4; k++ {
				if k > 0 {
					msgs = append(msgs, anthropic.NewAssistantMessage(anthropic.NewTextBlock("ok")))
				}
				msgs = append(msgs, userText(fmt.Sprintf("stream %d turn %d", i, k)))
			}
			p := params(msgs...)
			p.System = []anthropic.TextBlockParam{{Text: "shared system prompt", CacheControl: anthropic.NewCacheControlEphemeralParam()}}
			stream := c.Messages.NewStreaming(context.Background(), p)
			var acc anthropic.Message
			for stream.Next() {
				if err := acc.Accumulate(stream.Current()); err != nil {
					errs <- err
					return
				}
			}
			if err := stream.Err(); err != nil {
				errs <- err
				return
			}
			if want := fmt.Sprintf("ok (turn %d)", i%4+1); len(acc.Content) != 1 || acc.Content[0].Text != want {
				errs <- fmt.Errorf("stream %d: %+v", i, acc.Content)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := len(s.Requests()); got != n {
		t.Fatalf("recorded %d", got)
	}
}
