package batching

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// batchDropScript removes queued items. ARGV: custom_ids. An item that has
// left the queue for a record (it is in WHERE) is left alone: its record
// owns it now. Returns how many were removed.
var batchDropScript = redis.NewScript(batchPrelude + `
local drop = {}
for _, cid in ipairs(ARGV) do
  if not redis.call('HGET', WHERE, cid) then drop[cid] = true end
end
local n = 0
for _, e in ipairs(redis.call('LRANGE', Q, 0, -1)) do
  local cid = string.match(e, ':(.*)$')
  if cid and drop[cid] then
    redis.call('LREM', Q, 1, e)
    redis.call('HDEL', ITEMS, cid)
    n = n + 1
  end
end
if n > 0 then redis.call('HINCRBY', STATS, 'dropped', n) end
return n
`)

// DropQueued removes every queued item whose stored bytes match (package
// batching knows their format), and returns how many it removed. It reads
// the items with HSCAN, then removes the matching ones still queued in one
// script; an item a flush takes in between is its record's to run.
func (b *RedisQueue) DropQueued(ctx context.Context, match func(item []byte) bool) (int, error) {
	var ids []any
	err := b.st.Do(ctx, func(ctx context.Context, c redis.UniversalClient) error {
		it := c.HScan(ctx, b.keys.batchItems(), 0, "", 256).Iterator()
		for it.Next(ctx) {
			id := it.Val()
			if !it.Next(ctx) {
				break
			}
			if match([]byte(it.Val())) {
				ids = append(ids, id)
			}
		}
		return it.Err()
	})
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	out, err := b.run(ctx, batchDropScript, nil, ids...)
	n, _ := out.(int64)
	return int(n), err
}
