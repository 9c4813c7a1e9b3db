-- The penalty box's strike, shared by gcra.lua and strike.lua (each is sent with this file in front).
-- Times are integer microseconds from the caller's clock.

-- Key TTLs only collect garbage; deadlines live in the values so a driven clock governs them.
local function ttl_ms(us)
  return math.max(1, math.ceil(us / 1000))
end

-- Counts one strike in the hash {count, since} at strikes_key; one more than max_strikes within
-- window sets the ban deadline at ban_key (now + ban) and returns true.
local function strike(strikes_key, ban_key, now, max_strikes, window, ban)
  local s = redis.call('HMGET', strikes_key, 'count', 'since')
  local count = tonumber(s[1]) or 0
  local since = tonumber(s[2]) or now
  if now - since >= window then
    count = 0
    since = now
  end
  count = count + 1
  if count > max_strikes then
    redis.call('SET', ban_key, string.format('%d', now + ban), 'PX', ttl_ms(ban))
    redis.call('DEL', strikes_key)
    return true
  end
  redis.call('HSET', strikes_key, 'count', count, 'since', string.format('%d', since))
  redis.call('PEXPIRE', strikes_key, ttl_ms(since + window - now))
  return false
end
