package store

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Recall results waiting for a session's next request (keys_knowledge.go):
// when the model calls recall beside the client's own tools, the answer
// cannot be given in the same response, so it rides along with the next.

// SetRecallPending stores text for the session's next request, replacing
// anything pending.
func (s *Store) SetRecallPending(ctx context.Context, sid, text string, ttl time.Duration) error {
	if err := checkID(sid); err != nil {
		return err
	}
	return s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		return c.Set(ctx, s.keys.recallPending(sid), text, ttl).Err()
	})
}

// TakeRecallPending returns and removes what is pending ("" when nothing).
func (s *Store) TakeRecallPending(ctx context.Context, sid string) (string, error) {
	if err := checkID(sid); err != nil {
		return "", err
	}
	var text string
	err := s.do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		text, err = c.GetDel(ctx, s.keys.recallPending(sid)).Result()
		if errors.Is(err, redis.Nil) {
			text, err = "", nil
		}
		return err
	})
	return text, err
}
