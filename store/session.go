package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-lore/caddy-lore/pricing"
)

// Session is a session's state, stored as one Redis hash.
type Session struct {
	ID          string
	Namespace   string // keyed hash of the credential (auth.Keyring.Namespace)
	Fingerprint string // short credential fingerprint for admin output
	Lineage     string // see session.Lineage
	// Person is whom the session's usage is counted for (usage.go): the
	// identity when the operator configured one, else Fingerprint. ""
	// for sessions stored before it existed (Fingerprint is used then).
	Person string
	// Origin is the lineage without its namespace (session.Lineage with
	// an empty namespace), set only for sessions with a client session id
	// and no configured identity: where a refreshed token looks for the
	// session it may continue by proof of history. "" when not indexed.
	Origin string
	// ContinuedFrom names the session (under another credential) whose
	// history this new session continues; CommitTurn copies that history
	// first. Never stored: set by the handler on the first turn only.
	ContinuedFrom string
	Model         string
	// Project names the project the session works on inside its
	// namespace (knowledge.ProjectOf), "" when unknown.
	Project      string
	CreatedAt    time.Time
	LastRequest  time.Time
	MessageCount int // messages in the last request
	Stored       int // messages stored so far, i.e. the next position
	Turns        int
	// TurnsSinceCuration is maintained by Redis alone: CommitTurn adds one
	// (sets 1 for a Turn.New session) and knowledge.CurationDone subtracts
	// what a curation covered; the value written with a session is ignored.
	TurnsSinceCuration int
	Usage              pricing.Usage // totals over the session
	// CostMicroUSD and CounterfactualMicroUSD sum the answered turns' actual
	// cost and their cost without the gateway, in micro-dollars (see
	// handler.turnCost). Batched worker calls are kept apart (s:{sid}:batch).
	CostMicroUSD           int64
	CounterfactualMicroUSD int64
	// Knowledge is the knowledge block chosen for the session's system
	// prompt (knowledge.Curator.Block); KnowledgeChosen says one was ("" is
	// a choice: none). KnowledgeChanged makes the next CommitTurn write
	// them; otherwise the stored block is left as it is.
	Knowledge        string
	KnowledgeChosen  bool
	KnowledgeChanged bool
	// RecallPending holds recall results for the session's next request
	// (the model called recall beside the client's own tools, so they could
	// not be answered in that response); every commit rewrites it.
	RecallPending string
	// Gradient is the session's context-layering state (gradient.State as
	// JSON), opaque to the store.
	Gradient []byte
}

// StoredMessage is one stored conversation message.
type StoredMessage struct {
	ID       string          `json:"id"`
	Role     string          `json:"role"`
	Position int             `json:"pos"`
	Content  json.RawMessage `json:"content"`
	At       int64           `json:"at"` // unix ms
	Model    string          `json:"model,omitempty"`
	Usage    *pricing.Usage  `json:"usage,omitempty"` // assistant replies
}

// Turn is everything one answered turn writes.
type Turn struct {
	Session    *Session        // written whole
	Messages   []StoredMessage // appended
	Credential []byte          // sealed credential blob; nil (or empty) leaves the stored one
	Retention  time.Duration   // TTL of every key of the session; 0 or less: DefaultRetention
	// New says the session has nothing stored yet (its first turn, not a
	// continuation): its curation counter is set to 1 in its HSET instead
	// of incremented, one command fewer. A New commit onto an existing hash
	// would reset the counter: set it only for a session identify created.
	New bool
	// Counters are other features' counters the turn adds to, in the
	// same round trip (its per-person usage, usage.Queue); a group commit
	// adds up its turns' (counters.go). On a cluster they follow with the
	// lineage writes, outside the session's slot and its MULTI.
	Counters []Increments
}

// Session hash field names. Explicit and short rather than derived from the
// Go names, so renaming a field in Go never orphans stored data; adding a
// field means a name here, a line in sessionFields and a case in
// decodeSession.
const (
	fID          = "id"
	fNamespace   = "ns"
	fFingerprint = "fp"
	fLineage     = "lineage"
	fPerson      = "person"
	fOrigin      = "origin"
	fModel       = "model"
	fProject     = "project"
	fRecall      = "recall_pending"
	fKnowledge   = "ltm"
	fCreated     = "created_ms"
	fLast        = "last_ms"
	fMsgCount    = "msg_count"
	fStored      = "stored"
	fTurns       = "turns"
	fCuration    = "turns_since_curation"
	fIn          = "in_tokens"
	fOut         = "out_tokens"
	fCacheRead   = "cache_read_tokens"
	fCacheWrite  = "cache_write_tokens"
	fGradient    = "gradient"
	fCost        = "cost_micro_usd"
	fCostWithout = "counterfactual_micro_usd"
)

// unixMs stores a time as unix milliseconds, 0 for the zero time.
func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromUnixMs is unixMs's inverse, in UTC so decoded sessions compare equal
// whatever the process's time zone.
func fromUnixMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// sessionFields is the HSET argument list of a session. The origin is
// written only when there is one: most sessions (identity configured, or no
// client session id) have none.
func sessionFields(s *Session) []any {
	f := baseFields(s)
	if s.Origin != "" {
		f = append(f, fOrigin, s.Origin)
	}
	if s.Person != "" {
		f = append(f, fPerson, s.Person)
	}
	return f
}

func baseFields(s *Session) []any {
	return []any{
		fID, s.ID,
		fNamespace, s.Namespace,
		fFingerprint, s.Fingerprint,
		fLineage, s.Lineage,
		fModel, s.Model,
		fCreated, unixMs(s.CreatedAt),
		fLast, unixMs(s.LastRequest),
		fMsgCount, s.MessageCount,
		fStored, s.Stored,
		fTurns, s.Turns,
		fProject, s.Project,
		fRecall, s.RecallPending,
		fIn, s.Usage.InputTokens,
		fOut, s.Usage.OutputTokens,
		fCacheRead, s.Usage.CacheReadTokens,
		fCacheWrite, s.Usage.CacheWriteTokens,
		fCost, s.CostMicroUSD,
		fCostWithout, s.CounterfactualMicroUSD,
		fGradient, s.Gradient,
	}
}

// decodeSession reads a session hash. Unknown fields are ignored, so a field
// written by a newer version does not break an older instance during a
// rolling upgrade.
func decodeSession(id string, h map[string]string) (*Session, error) {
	s := &Session{ID: id}
	ints := map[string]*int64{}
	var created, last, msgCount, stored, turns, curation int64
	ints[fCreated], ints[fLast] = &created, &last
	ints[fMsgCount], ints[fStored], ints[fTurns], ints[fCuration] = &msgCount, &stored, &turns, &curation
	ints[fIn], ints[fOut] = &s.Usage.InputTokens, &s.Usage.OutputTokens
	ints[fCacheRead], ints[fCacheWrite] = &s.Usage.CacheReadTokens, &s.Usage.CacheWriteTokens
	ints[fCost], ints[fCostWithout] = &s.CostMicroUSD, &s.CounterfactualMicroUSD
	for name, v := range h {
		switch name {
		case fID:
			if v != "" {
				s.ID = v
			}
		case fNamespace:
			s.Namespace = v
		case fFingerprint:
			s.Fingerprint = v
		case fLineage:
			s.Lineage = v
		case fPerson:
			s.Person = v
		case fOrigin:
			s.Origin = v
		case fModel:
			s.Model = v
		case fProject:
			s.Project = v
		case fRecall:
			s.RecallPending = v
		case fKnowledge:
			s.Knowledge, s.KnowledgeChosen = v, true
		case fGradient:
			if v != "" {
				s.Gradient = []byte(v)
			}
		default:
			p, ok := ints[name]
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("store: session %s: field %s is not a number", id, name)
			}
			*p = n
		}
	}
	s.CreatedAt, s.LastRequest = fromUnixMs(created), fromUnixMs(last)
	s.MessageCount, s.Stored, s.Turns, s.TurnsSinceCuration = int(msgCount), int(stored), int(turns), int(curation)
	return s, nil
}

// LoadSession returns the session or (nil, nil) when it does not exist.
func (s *Store) LoadSession(ctx context.Context, id string) (*Session, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	raw, err := s.hashAll(ctx, func(k keys) string { return k.state(id) })
	if err != nil || len(raw) == 0 {
		return nil, err
	}
	return decodeSession(id, raw)
}

// CommitTurn writes the session hash, appends the messages, stores the
// credential blob, indexes the session under its lineage and arms its idle
// work (the active set of keys_idle.go, at t.Session.LastRequest), in one
// pipelined round trip, refreshing every TTL to t.Retention.
//
// On a single node or sentinel the whole write is one MULTI/EXEC: a turn is
// stored completely or not at all, and the hash's Stored never disagrees with
// the message list. In cluster mode the session's keys (one slot, thanks to
// the hash tag) are still one MULTI/EXEC, and the lineage key and the active
// set, which live in other slots, follow in a second pipeline.
//
// On success t.Session.TurnsSinceCuration is the curation counter as this
// commit left it (HINCRBY's answer; 1 for a Turn.New session, whose HSET
// sets it), not as the turn read it. When ctx ends
// while the commit waits for its group, CommitTurn returns ctx's error but
// the group may still store the turn (and set the counter) afterwards: the
// caller must not reuse t.Session then.
func (s *Store) CommitTurn(ctx context.Context, t Turn) error {
	if t.Session == nil {
		return errors.New("store: CommitTurn without a session")
	}
	sid := t.Session.ID
	if err := CheckID(sid); err != nil {
		return err
	}
	for _, l := range []string{t.Session.Lineage, t.Session.Origin} {
		if l != "" {
			if err := CheckID(l); err != nil {
				return err
			}
		}
	}
	msgs, err := encodeMessages(t.Messages)
	if err != nil {
		return fmt.Errorf("store: session %s: %w", sid, err)
	}
	// The encoded copies are all the commit needs: the messages may point
	// into a request body of tens of MB, which need not live on while the
	// commit waits for its group and Redis.
	t.Messages = nil
	ttl := t.Retention
	if ttl <= 0 {
		ttl = DefaultRetention
	}

	var curation *redis.IntCmd
	sessionWrites := func(ctx context.Context, p redis.Pipeliner) {
		fields := sessionFields(t.Session)
		if t.Session.KnowledgeChanged { // else the stored block stays
			fields = append(fields, fKnowledge, t.Session.Knowledge)
		}
		if t.New { // no hash yet: the curation counter starts at 1 in the HSET
			fields = append(fields, fCuration, 1)
		}
		p.HSet(ctx, s.keys.state(sid), fields...)
		if !t.New {
			curation = p.HIncrBy(ctx, s.keys.state(sid), fCuration, 1) // a counter, see Session
		}
		p.Expire(ctx, s.keys.state(sid), ttl)
		if len(msgs) > 0 {
			p.RPush(ctx, s.keys.msgs(sid), msgs...)
		}
		p.Expire(ctx, s.keys.msgs(sid), ttl)
		if len(t.Credential) > 0 {
			p.Set(ctx, s.keys.cred(sid), t.Credential, ttl)
		} else {
			p.Expire(ctx, s.keys.cred(sid), ttl)
		}
	}
	// The lineage and the idle set live in other slots than the session.
	otherSlotWrites := func(ctx context.Context, p redis.Pipeliner) {
		if l := t.Session.Lineage; l != "" {
			p.HSet(ctx, s.keys.lineage(l), sid, t.Session.MessageCount)
			p.Expire(ctx, s.keys.lineage(l), ttl)
		}
		if o := t.Session.Origin; o != "" {
			p.HSet(ctx, s.keys.origin(o), sid, t.Session.MessageCount)
			p.Expire(ctx, s.keys.origin(o), ttl)
		}
		s.idleWrites(ctx, p, t.Session, ttl)
	}
	if !s.e.cluster {
		err = s.commitGrouped(ctx, func(ctx context.Context, p redis.Pipeliner) {
			sessionWrites(ctx, p)
			otherSlotWrites(ctx, p)
		}, t.Counters)
	} else {
		err = s.commitCluster(ctx, sessionWrites, func(ctx context.Context, p redis.Pipeliner) {
			otherSlotWrites(ctx, p)
			QueueIncrements(ctx, p, t.Counters...)
		})
	}
	if err == nil && t.New {
		t.Session.TurnsSinceCuration = 1
	} else if err == nil && curation != nil {
		// The counter as this very commit left it: a curation that reset
		// it after this turn's state was read is already counted.
		t.Session.TurnsSinceCuration = int(curation.Val())
	}
	return err
}

// commitGrouped sends a commit's writes and counters in the next group
// commit.
func (s *Store) commitGrouped(ctx context.Context, write func(context.Context, redis.Pipeliner), counters []Increments) error {
	if s == nil || s.isClosed() {
		return ErrClosed
	}
	return s.e.commits.run(ctx, write, counters, s.e.sender(true))
}

// commitCluster writes the session's keys (one slot) in one MULTI/EXEC and
// then, in a second pipeline, the keys of other slots.
func (s *Store) commitCluster(ctx context.Context, sessionWrites, otherSlotWrites func(context.Context, redis.Pipeliner)) error {
	return s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			sessionWrites(ctx, p)
			return nil
		}); err != nil {
			return err
		}
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			otherSlotWrites(ctx, p)
			return nil
		})
		return err
	})
}

// SessionPerson returns whom session id's usage is counted for: its Person,
// else its credential fingerprint; "" when there is no such session
// (deleted, or expired before its batch came back).
func (s *Store) SessionPerson(ctx context.Context, id string) (string, error) {
	if err := CheckID(id); err != nil {
		return "", err
	}
	var who []any
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		who, err = c.HMGet(ctx, s.keys.state(id), fPerson, fFingerprint).Result()
		return err
	})
	if err != nil {
		return "", err
	}
	for _, v := range who {
		if str, ok := v.(string); ok && str != "" {
			return str, nil
		}
	}
	return "", nil
}

// Messages returns stored messages [start, stop] (LRANGE semantics).
func (s *Store) Messages(ctx context.Context, id string, start, stop int64) ([]StoredMessage, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	var raw []string
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		raw, err = c.LRange(ctx, s.keys.msgs(id), start, stop).Result()
		return err
	})
	if err != nil || len(raw) == 0 {
		return nil, err
	}
	out := make([]StoredMessage, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			return nil, fmt.Errorf("store: session %s: a stored message is not valid JSON", id)
		}
	}
	return out, nil
}

// CredentialBlob returns the sealed credential of a session, nil if none.
func (s *Store) CredentialBlob(ctx context.Context, id string) ([]byte, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	var blob []byte
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		blob, err = c.Get(ctx, s.keys.cred(id)).Bytes()
		if errors.Is(err, redis.Nil) {
			blob, err = nil, nil
		}
		return err
	})
	return blob, err
}
