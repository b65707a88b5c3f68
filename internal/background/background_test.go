package background

import (
	"context"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestGroup(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	g := New(context.Background(), zap.New(core))
	var ran atomic.Int32
	g.Go("counts", func(context.Context) { ran.Add(1) })
	g.Go("panics", func(context.Context) { panic("boom") })
	g.Wait()
	if ran.Load() != 1 || logs.FilterMessage("background work panicked").Len() != 1 {
		t.Fatalf("ran %d, logs %v", ran.Load(), logs.All())
	}
	release := make(chan struct{})
	var canceled atomic.Bool
	g.Go("waits", func(ctx context.Context) {
		<-ctx.Done()
		canceled.Store(true)
		close(release)
	})
	g.Stop() // cancels, then waits
	<-release
	if !canceled.Load() {
		t.Fatal("Stop returned before its goroutine saw the cancellation")
	}
	started := g.Go("after stop", func(context.Context) { ran.Add(1) })
	g.Wait()
	if started || ran.Load() != 1 {
		t.Fatal("work started after Stop")
	}
}

// Close refuses new work from outside but lets running work finish and
// start its follow-ups (GoWithin), with the context still live; Wait waits
// for all of it.
func TestGroupClose(t *testing.T) {
	g := New(context.Background(), nil)
	release := make(chan struct{})
	var followUp, liveCtx atomic.Bool
	g.Go("step", func(ctx context.Context) {
		<-release
		g.GoWithin("follow-up", func(ctx context.Context) {
			followUp.Store(true)
			liveCtx.Store(ctx.Err() == nil)
		})
	})
	g.Close()
	if g.Go("after close", func(context.Context) { t.Error("ran after Close") }) {
		t.Fatal("Go accepted work after Close")
	}
	close(release)
	g.Wait()
	if !followUp.Load() || !liveCtx.Load() {
		t.Fatalf("follow-up ran %v with a live context %v", followUp.Load(), liveCtx.Load())
	}
	g.Stop()
	if g.GoWithin("after stop", func(context.Context) { t.Error("ran after Stop") }) {
		t.Fatal("GoWithin accepted work after the context ended")
	}
}
