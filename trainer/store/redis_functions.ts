// The project's Redis Functions (Lua, one library `hstu_emb`), loaded into every primary by the
// Redis store when missing or outdated (FUNCTION LOAD REPLACE; replicas get them by replication).
// Every function takes the keys of ONE hash-tag bucket (one slot) and runs atomically on that
// shard, so each row it touches is updated atomically. Row layout: trainer/store/row_codec.ts.
//
//   emb_update(keys; dim, storage, lr, beta1, beta2, eps, wd, bc1, bc2, grads)   mode `atomic`
//       row-wise Adam on each row with its gradient row (grads: n·dim f32 LE), in float64 with one
//       rounding when stored: the operations, in order, of row_codec.ts rowwiseAdamRowDouble.
//       Returns the 1-based indices of rows that do not exist (left untouched: the client creates
//       them and retries).
//   emb_cas(keys; rowBytes, versions, rows)     mode `cas`: stores row i only if its version is
//       still versions[i] (n u32 LE); returns the 1-based indices that conflicted. A row already
//       equal to the new value (version included) is not a conflict: retrying a commit whose reply
//       was lost (a failover) does not apply the update twice.
//   emb_create(keys; rowBytes, rows)            creates rows that do not exist (first touch).
//   emb_write(keys; rowBytes, rows)             overwrites payloads (write-back, import); the
//       stored version becomes old version + 1 whatever the blob says, so `cas` stays sound.
// A value of the wrong size is an error naming the key, never silently reinterpreted.
export const FUNCTIONS_LIBRARY = 'hstu_emb';
/** Bumped with any change to the code below; the store reloads when the loaded code differs. */
export const FUNCTIONS_VERSION = 2;

export const FUNCTIONS_CODE = `#!lua name=${FUNCTIONS_LIBRARY}
-- hstu_emb version ${FUNCTIONS_VERSION} (hstu-webgpu trainer/store/redis_functions.ts)
local HEADER = 8

local function bad_size(key, got, want)
  return redis.error_reply('hstu_emb: row ' .. key .. ' has ' .. got .. ' bytes, expected ' .. want ..
    ' (the dim and storage of this run). HINT: the table was written with another dim or storage; use another table name or delete its keys')
end

local function bf16_to_num(h)
  local sign = 1
  if h >= 32768 then sign = -1; h = h - 32768 end
  local e = math.floor(h / 128)
  local mant = h % 128
  if e == 0 then return sign * math.ldexp(mant, -133) end
  if e == 255 then
    if mant == 0 then return sign * math.huge end
    return 0 / 0
  end
  return sign * math.ldexp(128 + mant, e - 134)
end

local function decode(s, pos, d, bf16)
  local t
  if bf16 then
    t = {struct.unpack('<' .. string.rep('H', d), s, pos)}
    for c = 1, d do t[c] = bf16_to_num(t[c]) end
  else
    t = {struct.unpack('<' .. string.rep('f', d), s, pos)}
  end
  t[d + 1] = nil
  return t
end

local function encode(vals, d, bf16)
  local packed = struct.pack('<' .. string.rep('f', d), unpack(vals, 1, d))
  if not bf16 then return packed end
  local bits = {struct.unpack('<' .. string.rep('I4', d), packed)}
  local out = {}
  for c = 1, d do
    local b = bits[c]
    if (b % 2147483648) > 2139095040 then out[c] = 32704
    else out[c] = math.floor((b + 32767 + (math.floor(b / 65536) % 2)) / 65536) % 65536 end
  end
  return struct.pack('<' .. string.rep('H', d), unpack(out, 1, d))
end

local function row_bytes(d, bf16)
  if bf16 then return HEADER + 4 * d end
  return HEADER + 8 * d
end

local function emb_update(keys, args)
  local d = tonumber(args[1])
  local bf16 = args[2] == 'bf16'
  local lr, b1, b2 = tonumber(args[3]), tonumber(args[4]), tonumber(args[5])
  local eps, wd, bc1, bc2 = tonumber(args[6]), tonumber(args[7]), tonumber(args[8]), tonumber(args[9])
  local grads = args[10]
  local rb = row_bytes(d, bf16)
  local eb = bf16 and 2 or 4
  if #grads ~= #keys * d * 4 then
    return redis.error_reply('hstu_emb: emb_update got ' .. #grads .. ' gradient bytes for ' .. #keys .. ' rows of dim ' .. d)
  end
  local gfmt = '<' .. string.rep('f', d)
  local missing = {}
  for i, key in ipairs(keys) do
    local s = redis.call('GET', key)
    if not s then
      missing[#missing + 1] = i
    else
      if #s ~= rb then return bad_size(key, #s, rb) end
      local version, v = struct.unpack('<I4f', s)
      local g = {struct.unpack(gfmt, grads, (i - 1) * d * 4 + 1)}
      local w = decode(s, HEADER + 1, d, bf16)
      local m = decode(s, HEADER + 1 + d * eb, d, bf16)
      local sumsq = 0
      for c = 1, d do sumsq = sumsq + g[c] * g[c] end
      local vnew = b2 * v + (1 - b2) * (sumsq / d)
      local denom = math.sqrt(vnew / bc2) + eps
      for c = 1, d do
        local mn = b1 * m[c] + (1 - b1) * g[c]
        w[c] = w[c] - lr * ((mn / bc1) / denom + wd * w[c])
        m[c] = mn
      end
      redis.call('SET', key, struct.pack('<I4f', (version + 1) % 4294967296, vnew) .. encode(w, d, bf16) .. encode(m, d, bf16))
    end
  end
  return missing
end

local function emb_cas(keys, args)
  local rb = tonumber(args[1])
  local versions, rows = args[2], args[3]
  if #versions ~= 4 * #keys or #rows ~= rb * #keys then
    return redis.error_reply('hstu_emb: emb_cas got ' .. #versions .. ' version bytes and ' .. #rows .. ' row bytes for ' .. #keys .. ' rows of ' .. rb .. ' bytes')
  end
  local conflicts = {}
  for i, key in ipairs(keys) do
    local s = redis.call('GET', key)
    local want = struct.unpack('<I4', versions, (i - 1) * 4 + 1)
    if not s then
      conflicts[#conflicts + 1] = i
    else
      if #s ~= rb then return bad_size(key, #s, rb) end
      local row = string.sub(rows, (i - 1) * rb + 1, i * rb)
      if struct.unpack('<I4', s) == want then
        redis.call('SET', key, row)
      elseif s ~= row then
        -- (equal to our new row: this very commit already landed; a retry after a lost reply)
        conflicts[#conflicts + 1] = i
      end
    end
  end
  return conflicts
end

local function emb_create(keys, args)
  local rb = tonumber(args[1])
  local rows = args[2]
  if #rows ~= rb * #keys then
    return redis.error_reply('hstu_emb: emb_create got ' .. #rows .. ' bytes for ' .. #keys .. ' rows of ' .. rb .. ' bytes')
  end
  local created = 0
  for i, key in ipairs(keys) do
    if redis.call('SET', key, string.sub(rows, (i - 1) * rb + 1, i * rb), 'NX') then created = created + 1 end
  end
  return created
end

local function emb_write(keys, args)
  local rb = tonumber(args[1])
  local rows = args[2]
  if #rows ~= rb * #keys then
    return redis.error_reply('hstu_emb: emb_write got ' .. #rows .. ' bytes for ' .. #keys .. ' rows of ' .. rb .. ' bytes')
  end
  for i, key in ipairs(keys) do
    local s = redis.call('GET', key)
    local version = 0
    if s then
      if #s ~= rb then return bad_size(key, #s, rb) end
      version = struct.unpack('<I4', s)
    end
    redis.call('SET', key, struct.pack('<I4', (version + 1) % 4294967296) .. string.sub(rows, (i - 1) * rb + 5, i * rb))
  end
  return #keys
end

redis.register_function('emb_update', emb_update)
redis.register_function('emb_cas', emb_cas)
redis.register_function('emb_create', emb_create)
redis.register_function('emb_write', emb_write)
`;
