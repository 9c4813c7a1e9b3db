-- One strike for a client outside the rate limit itself (e.g. a callback that failed verification).
-- KEYS[1] strikes hash {count, since}   KEYS[2] ban deadline
-- ARGV: now, strikes, strike window, ban length. Reply: 1 when the client is now banned, else 0.
-- Runs after penalty.lua (prepended), which defines strike().
if strike(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])) then
  return 1
end
return 0
