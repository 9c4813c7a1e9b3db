-- Admission in one atomic step.
-- KEYS[1] state hash {available, limit?, starts?, ends?, epoch}
-- KEYS[2] held hash  customer -> units held
-- KEYS[3] idempotency key (string "epoch:qty", with TTL)
-- KEYS[4] buyers set: every customer ever admitted (or found holding at a load)
-- ARGV: customer, quantity, now_ms, idempotency_ttl_ms
-- Reply {code, available, epoch, holder}: 0 admitted, 1 sold out, 2 limit exceeded, 3 sale not
-- active, 4 duplicate, 5 not loaded. `available` is what is left after this call; `epoch` the
-- state's epoch (a decimal string, '' when not loaded); `holder` 1 when the customer bought the
-- product before this call (holds units, or is among its buyers): a retry of theirs after a
-- sell-out may be a sale to replay.
local customer = ARGV[1]
local qty = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])

local state = redis.call('HMGET', KEYS[1], 'available', 'limit', 'starts', 'ends', 'epoch')
local available = tonumber(state[1])
local epoch = state[5] or ''
if not available then
  return {5, 0, '', 0}
end
local held = tonumber(redis.call('HGET', KEYS[2], customer)) or 0
local holder = 0
if held > 0 or redis.call('SISMEMBER', KEYS[4], customer) == 1 then
  holder = 1
end
-- A retry of an admitted request is a duplicate whatever happened since (even a sell-out).
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {4, available, epoch, holder}
end
local starts = tonumber(state[3])
local ends = tonumber(state[4])
if (starts and now < starts) or (ends and now >= ends) then
  return {3, available, epoch, holder}
end
if available < qty then
  return {1, available, epoch, holder}
end
local limit = tonumber(state[2])
if limit and held + qty > limit then
  return {2, available, epoch, holder}
end
local remaining = redis.call('HINCRBY', KEYS[1], 'available', -qty)
redis.call('HINCRBY', KEYS[2], customer, qty)
redis.call('SET', KEYS[3], epoch .. ':' .. qty, 'PX', ttl)
redis.call('SADD', KEYS[4], customer)
return {0, remaining, epoch, holder}
