package store

import (
	"context"
	"sort"

	"github.com/redis/go-redis/v9"
)

// MaxListLimit bounds one ListSessions page.
const MaxListLimit = 500

// ListSessions pages through every session by SCAN over the state hashes
// (admin view; O(keys) in Redis over the whole listing, never blocking it).
// cursor is "" to start, else a previous page's Cursor. Like SCAN, a page
// may hold fewer than limit sessions (or none) while Cursor is not "", and a
// session may appear twice across pages. On Redis Cluster SCAN covers a
// single node, so the listing is partial there (docs/operations.md, Admin API and status page).
func (s *Store) ListSessions(ctx context.Context, cursor uint64, limit int) ([]*Session, uint64, error) {
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	var ids []string
	var next uint64
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		ids, next = nil, cursor
		for len(ids) < limit {
			keys, cur, err := c.Scan(ctx, next, s.keys.stateScanPattern(), int64(limit)).Result()
			if err != nil {
				return err
			}
			for _, k := range keys {
				if id := s.keys.sessionIDOfState(k); id != "" {
					ids = append(ids, id)
				}
			}
			next = cur
			if next == 0 {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	sort.Strings(ids)
	out := make([]*Session, 0, len(ids))
	for _, id := range ids {
		sess, err := s.LoadSession(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		if sess != nil { // expired between SCAN and read
			out = append(out, sess)
		}
	}
	return out, next, nil
}

// DeleteSession removes every key of a session (see keys_admin.go). It
// reports whether the session existed.
func (s *Store) DeleteSession(ctx context.Context, id string) (bool, error) {
	if err := CheckID(id); err != nil {
		return false, err
	}
	sess, err := s.LoadSession(ctx, id)
	if err != nil || sess == nil {
		return false, err
	}
	err = s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		if err := c.Del(ctx, s.keys.sessionKeys(id)...).Err(); err != nil {
			return err
		}
		if sess.Lineage != "" && CheckID(sess.Lineage) == nil {
			if err := c.HDel(ctx, s.keys.lineage(sess.Lineage), id).Err(); err != nil {
				return err
			}
		}
		if sess.Origin != "" && CheckID(sess.Origin) == nil {
			if err := c.HDel(ctx, s.keys.origin(sess.Origin), id).Err(); err != nil {
				return err
			}
		}
		return c.ZRem(ctx, s.keys.idleActive(), id).Err()
	})
	return err == nil, err
}
