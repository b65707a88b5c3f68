package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

func TestOutageAndRecovery(t *testing.T) {
	b := backends(t)[0]
	ctx := context.Background()
	log, logs := observed()
	s, err := Open(b.cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	hook := &countingHook{}
	s.e.client.AddHook(hook)

	sess := sampleSession("S1")
	if err := s.CommitTurn(ctx, Turn{Session: sess}); err != nil {
		t.Fatal(err)
	}
	if !s.Available() {
		t.Fatal("unavailable while up")
	}

	b.mini.Close()
	_, err = s.LoadSession(ctx, "S1")
	if !errors.Is(err, ErrUnavailable) || err == ErrUnavailable || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("first failure = %v, want ErrUnavailable with its cause", err)
	}
	if s.Available() {
		t.Fatal("available after a connection failure")
	}

	// While down, operations fail at once without touching the network.
	dials, cmds := hook.dials.Load(), hook.cmds.Load()
	ops := []struct {
		name string
		run  func() error
	}{
		{"LoadSession", func() error { _, err := s.LoadSession(ctx, "S1"); return err }},
		{"CommitTurn", func() error { return s.CommitTurn(ctx, Turn{Session: sess}) }},
		{"Messages", func() error { _, err := s.Messages(ctx, "S1", 0, -1); return err }},
		{"CredentialBlob", func() error { _, err := s.CredentialBlob(ctx, "S1"); return err }},
		{"Candidates", func() error { _, err := s.Candidates(ctx, sess.Lineage); return err }},
		{"ConnectedClients", func() error { _, err := s.ConnectedClients(ctx); return err }},
	}
	for _, op := range ops {
		if err := op.run(); err != ErrUnavailable {
			t.Fatalf("%s while down = %v, want ErrUnavailable itself", op.name, err)
		}
	}
	if hook.dials.Load() != dials || hook.cmds.Load() != cmds {
		t.Fatalf("ops reached the network while down: %d dials, %d commands",
			hook.dials.Load()-dials, hook.cmds.Load()-cmds)
	}

	// Probes run at most once a second and fail while the server is away.
	time.Sleep(probeInterval + 100*time.Millisecond)
	if s.Available() { // starts a probe, which fails
		t.Fatal("available while the server is down")
	}

	if err := b.mini.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * probeInterval)
	for !s.Available() {
		if time.Now().After(deadline) {
			t.Fatal("store did not come back after Redis did")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, err := s.LoadSession(ctx, "S1"); err != nil || got == nil {
		t.Fatalf("after recovery: %v, %v", got, err) // miniredis keeps its data across Restart
	}

	down := logs.FilterMessage("redis unreachable; turns are proxied without state").All()
	if len(down) != 1 || down[0].Level != zap.ErrorLevel || down[0].ContextMap()["error"] == nil {
		t.Fatalf("outage logged %d times: %+v", len(down), down)
	}
	if up := logs.FilterMessage("redis reachable again").All(); len(up) != 1 {
		t.Fatalf("recovery logged %d times", len(up))
	}
}

func TestPingUpdatesAvailability(t *testing.T) {
	b := backends(t)[0]
	ctx := context.Background()
	s := open(t, b.cfg)
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	b.mini.Close()
	if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping while down = %v", err)
	}
	if s.Available() {
		t.Fatal("available after a failed Ping")
	}
	if err := b.mini.Restart(); err != nil {
		t.Fatal(err)
	}
	// Ping bypasses the short-circuit, so recovery needs no probe interval.
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.Available() {
		t.Fatal("unavailable after a successful Ping")
	}
}

func TestUnreachableAtStartup(t *testing.T) {
	// Open never dials: a Redis that is down at startup is an outage, not a
	// config error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := open(t, Config{Addresses: []string{addr}})
	if _, err := s.LoadSession(context.Background(), "S"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("LoadSession = %v", err)
	}
	if s.Available() {
		t.Fatal("available")
	}
}

func TestCallerCancellationIsNoOutage(t *testing.T) {
	b := backends(t)[0]
	s := open(t, b.cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.LoadSession(ctx, "S"); err == nil || errors.Is(err, ErrUnavailable) {
		t.Fatalf("cancelled call = %v", err)
	}
	if !s.Available() {
		t.Fatal("a caller's cancellation marked Redis down")
	}
}

type redisReply string

func (e redisReply) Error() string { return string(e) }
func (redisReply) RedisError()     {}

func TestIsOutage(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		caller context.Context
		err    error
		want   bool
	}{
		{"nil", live, nil, false},
		{"redis.Nil", live, redis.Nil, false},
		{"server reply", live, redisReply("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"wrapped reply", live, fmt.Errorf("x: %w", redisReply("NOPERM")), false},
		{"closed client", live, redis.ErrClosed, false},
		{"pool timeout", live, redis.ErrPoolTimeout, false},
		{"caller cancelled", cancelled, context.Canceled, false},
		{"refused", live, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"eof", live, io.EOF, true},
		{"our timeout", live, context.DeadlineExceeded, true},
	}
	for _, tt := range tests {
		if got := isOutage(tt.caller, tt.err); got != tt.want {
			t.Errorf("%s: isOutage = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWrongPasswordIsNoOutageAndNotEchoed(t *testing.T) {
	b := backends(t)[0]
	b.mini.RequireAuth("right-password")
	const wrong = "wrong-PASSWORD-value"
	s := open(t, Config{Addresses: b.cfg.Addresses, Password: wrong})
	_, err := s.LoadSession(context.Background(), "S")
	if err == nil || errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), wrong) {
		t.Fatalf("wrong password = %v", err)
	}
	if !s.Available() {
		t.Fatal("an authentication refusal marked Redis unreachable")
	}
	ok := open(t, Config{Addresses: b.cfg.Addresses, Password: "right-password"})
	if _, err := ok.LoadSession(context.Background(), "S"); err != nil {
		t.Fatal(err)
	}
}
