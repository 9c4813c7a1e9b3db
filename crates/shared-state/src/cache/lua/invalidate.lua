-- Drop the value and bump the version, so loads already in flight cannot write it back.
-- KEYS[1] value, KEYS[2] version; ARGV: version ttl ms (outlives any load)
redis.call('DEL', KEYS[1])
local v = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return v
