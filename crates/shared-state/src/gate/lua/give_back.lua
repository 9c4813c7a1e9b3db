-- Units (and quota) returned after the database released a hold.
-- KEYS[1] state hash, KEYS[2] held hash
-- ARGV: customer, quantity, expected epoch ('' = any)
-- Reply: available after the call, or -1 when nothing was given back: the product is not loaded
-- (the next rebuild reads the database, which already has these units) or was rebuilt since the
-- caller read its epoch (the snapshot may already count them).
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  return -1
end
if ARGV[3] and ARGV[3] ~= '' and ARGV[3] ~= epoch then
  return -1
end
local qty = tonumber(ARGV[2])
local available = redis.call('HINCRBY', KEYS[1], 'available', qty)
if redis.call('HINCRBY', KEYS[2], ARGV[1], -qty) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return available
