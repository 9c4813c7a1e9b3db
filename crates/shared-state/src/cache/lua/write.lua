-- Fill L2 only if the key was not invalidated since the loader read its version; otherwise a
-- slow load would put back the value an invalidation just removed.
-- KEYS[1] value, KEYS[2] version; ARGV: version seen before loading, encoded value, ttl ms
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
