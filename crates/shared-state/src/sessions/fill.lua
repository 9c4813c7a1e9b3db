-- Stores a session's copy unless the key holds one already or a revocation: a copy read from the
-- database just before a revocation must not land after it. KEYS[1] the session; ARGV[1] the
-- customer, ARGV[2] and ARGV[3] the idle and absolute expiries (Unix µs), ARGV[4] the key's TTL (ms).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'customer', ARGV[1], 'idle', ARGV[2], 'expires', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
