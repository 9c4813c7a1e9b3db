-- A customer's count of units, with the epoch it belongs to.
-- KEYS[1] state hash, KEYS[2] held hash
-- ARGV: customer
-- Reply {epoch, held}: epoch '' when the product is not loaded.
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  return {'', 0}
end
return {epoch, tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0}
