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
	// Person is whom the session's usage is counted for (package usage): the
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

// MessageLen returns how many messages the session has stored (list
// entries, the index space of marks and watermarks).
func (s *Store) MessageLen(ctx context.Context, sid string) (int, error) {
	if err := CheckID(sid); err != nil {
		return 0, err
	}
	var n int64
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		n, err = c.LLen(ctx, s.keys.msgs(sid)).Result()
		return err
	})
	return int(n), err
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
