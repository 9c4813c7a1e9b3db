-- Customers' counts of units, with the epoch they belong to.
-- KEYS[1] state hash, KEYS[2] held hash
-- ARGV: customers
-- Reply {epoch, {held, ...}} with a count per customer in ARGV's order; epoch '' when the product is
-- not loaded.
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  return {'', {}}
end
local held = {}
if #ARGV == 0 then
  return {epoch, held}
end
local counts = redis.call('HMGET', KEYS[2], unpack(ARGV))
for i = 1, #ARGV do
  held[i] = tonumber(counts[i]) or 0
end
return {epoch, held}
