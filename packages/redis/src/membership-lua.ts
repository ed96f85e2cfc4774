// The membership hash's Lua scripts: each one atomic, and timed by the Redis server's clock.

// Server time in ms, inside a script (Redis >= 5 replicates script effects, so TIME is allowed).
const NOW_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

// KEYS[2] holds when a script last ran. A longer gap than \`outage\` ms (but at most a minute: a
// restart, not a network started again) means Redis was away and no member could heartbeat: every
// announcement gets that time back, so a Redis restart is not taken for every member leaving.
const SERVED_LUA = (outageArg: string) => `
local served = tonumber(redis.call('GET', KEYS[2]))
redis.call('SET', KEYS[2], now)
local gap = served and (now - served) or 0
if gap > tonumber(${outageArg}) and gap <= 60000 then
  local held = redis.call('HGETALL', KEYS[1])
  for i = 1, #held, 2 do
    local ok, entry = pcall(cjson.decode, held[i + 1])
    if ok and type(entry) == 'table' and tonumber(entry.expiresAt) then
      entry.expiresAt = tonumber(entry.expiresAt) + gap
      redis.call('HSET', KEYS[1], held[i], cjson.encode(entry))
    end
  end
end
`;

// KEYS: the hash, its served key. ARGV: field, announcement JSON (no expiresAt), expiry ms, channel, outage ms.
// Publishes when the member is new to the others: absent, expired, or at another endpoint/key,
// or its rank reports changed.
export const HEARTBEAT_LUA = `${NOW_LUA}${SERVED_LUA('ARGV[5]')}
local entry = cjson.decode(ARGV[2])
entry.expiresAt = now + tonumber(ARGV[3])
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
local changed = 1
if old then
  local ok, prev = pcall(cjson.decode, old)
  if ok and type(prev) == 'table' and tonumber(prev.expiresAt) and tonumber(prev.expiresAt) > now
    and prev.endpoint == entry.endpoint and prev.publicKey == entry.publicKey and prev.ranks == entry.ranks then
    changed = 0
  end
end
if changed == 1 then redis.call('PUBLISH', ARGV[4], ARGV[1]) end
return changed
`;

// KEYS: the hash, its served key. ARGV: channel, outage ms. Returns the live announcements; removes the
// expired (and unreadable) ones atomically, and publishes if it removed any so every watcher learns at once.
export const LIST_LUA = `${NOW_LUA}${SERVED_LUA('ARGV[2]')}
local all = redis.call('HGETALL', KEYS[1])
local live = {}
local removed = 0
for i = 1, #all, 2 do
  local ok, entry = pcall(cjson.decode, all[i + 1])
  local expiresAt = ok and type(entry) == 'table' and tonumber(entry.expiresAt)
  if expiresAt and expiresAt > now then
    live[#live + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[1], all[i])
    removed = removed + 1
  end
end
if removed > 0 then redis.call('PUBLISH', ARGV[1], 'expired') end
return live
`;

// KEYS[1]: the hash. ARGV: field, channel.
export const LEAVE_LUA = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then redis.call('PUBLISH', ARGV[2], ARGV[1]) end
return 1
`;
