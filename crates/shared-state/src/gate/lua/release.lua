-- Undo one admission whose database write failed. Idempotent: the idempotency key is the proof
-- of admission, and it is deleted by the first release.
-- KEYS[1] state hash, KEYS[2] held hash, KEYS[3] idempotency key
-- ARGV: customer, expected epoch ('' = whatever epoch the admission was made under)
-- Reply: available after the release, or -1 when nothing was given back.
local v = redis.call('GET', KEYS[3])
if not v then
  return -1
end
local sep = string.find(v, ':', 1, true)
if not sep then
  redis.call('DEL', KEYS[3])
  return -1
end
local admitted_epoch = string.sub(v, 1, sep - 1)
-- The key belongs to a later admission of the same request: it is not ours to undo.
if ARGV[2] and ARGV[2] ~= '' and ARGV[2] ~= admitted_epoch then
  return -1
end
redis.call('DEL', KEYS[3])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
-- Admitted before the last rebuild: the snapshot already counts these units as available.
if (not epoch) or epoch ~= admitted_epoch then
  return -1
end
local qty = tonumber(string.sub(v, sep + 1))
local available = redis.call('HINCRBY', KEYS[1], 'available', qty)
if redis.call('HINCRBY', KEYS[2], ARGV[1], -qty) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return available
