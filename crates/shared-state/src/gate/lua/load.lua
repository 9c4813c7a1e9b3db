-- Replace a product's gate state with a database snapshot, atomically, so no admission ever sees
-- half a rebuild. Idempotency keys are separate keys and survive.
-- KEYS[1] state hash, KEYS[2] held hash, KEYS[3] buyers set (kept: it only ever grows)
-- ARGV: epoch, available, limit, starts, ends ('' = none), then customer, units pairs
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'available', ARGV[2], 'epoch', ARGV[1])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'limit', ARGV[3]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'starts', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'ends', ARGV[5]) end
-- Every customer of the snapshot bought once, even those who hold nothing now: their retry after a
-- sell-out may be a sale to replay.
for i = 6, #ARGV, 2 do
  if tonumber(ARGV[i + 1]) > 0 then
    redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
  end
  redis.call('SADD', KEYS[3], ARGV[i])
end
return tonumber(ARGV[2])
