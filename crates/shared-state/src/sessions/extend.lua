-- Slides a session's idle expiry forward, never back, and only while the session exists (a revoked one
-- stays revoked). KEYS[1] the session; ARGV[1] the new idle expiry (Unix µs); ARGV[2] the key's TTL (ms).
local current = redis.call('HGET', KEYS[1], 'idle')
if not current then
  return 0
end
if tonumber(ARGV[1]) > tonumber(current) then
  redis.call('HSET', KEYS[1], 'idle', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
