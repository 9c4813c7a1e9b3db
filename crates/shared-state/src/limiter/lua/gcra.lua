-- GCRA check with penalty box, in one round trip. Times are integer microseconds from the
-- caller's clock, so tests drive time and every instance shares one notion of "now".
-- KEYS[1] TAT of (client, policy)   KEYS[2] strikes hash {count, since}   KEYS[3] ban deadline
-- ARGV: now, emission interval T, burst, strikes (0 = no penalty box), strike window, ban length
-- Reply {verdict, remaining, reset_after, retry_after}: verdict 0 allowed, 1 limited, 2 banned.
-- Runs after penalty.lua (prepended), which defines strike().
local now = tonumber(ARGV[1])
local t = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local max_strikes = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local ban = tonumber(ARGV[6])

local banned_until = tonumber(redis.call('GET', KEYS[3]))
if banned_until and banned_until > now then
  return {2, 0, banned_until - now, banned_until - now}
end

local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local new_tat = tat + t
local allow_at = new_tat - burst * t
if now < allow_at then
  if max_strikes > 0 and strike(KEYS[2], KEYS[3], now, max_strikes, window, ban) then
    return {2, 0, ban, ban}
  end
  return {1, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms(new_tat - now))
return {0, math.floor((now - allow_at) / t), new_tat - now, 0}
