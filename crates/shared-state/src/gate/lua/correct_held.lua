-- Lowers a customer's count to what the database holds, only if nothing moved it since it was read:
-- same epoch, same count. Stock is left alone (units of admissions never written are found by the
-- keeper's sold-out check).
-- KEYS[1] state hash, KEYS[2] held hash
-- ARGV: customer, expected count, corrected count, epoch
-- Reply: 1 corrected, 0 left alone.
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[4] then
  return 0
end
if (tonumber(redis.call('HGET', KEYS[2], ARGV[1])) or 0) ~= tonumber(ARGV[2]) then
  return 0
end
if tonumber(ARGV[3]) > 0 then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
