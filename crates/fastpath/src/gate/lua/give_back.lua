-- Units (and quota) returned after the database released a hold.
-- KEYS[1] state hash, KEYS[2] held hash; ARGV: customer, quantity
-- Reply: available after the call, or -1 when the product is not loaded (the next rebuild
-- reads the database, which already has these units).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local qty = tonumber(ARGV[2])
local available = redis.call('HINCRBY', KEYS[1], 'available', qty)
if redis.call('HINCRBY', KEYS[2], ARGV[1], -qty) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return available
