// Exact top-k by inner product with per-query exclusion lists.
//
// Math: for query q and item i, s[q, i] = Σ_c queries[q, c] · items[i, c] (f32 accumulation in
// c order). Item i is a candidate unless it is listed in exclIds[exclOffsets[q] .. exclOffsets[q+1])
// (ids ≥ numItems are ignored) or its score is NaN. Candidates are ordered by the 64-bit key
//   key(q, i) = (hi, lo) = (ord(s[q, i]), ~i)        (lexicographic, larger first)
// ord = the order-preserving map of f32 bits to u32 (−0 folded onto +0, NaN → 0 = "not a
// candidate"), so larger score first and, among equal scores, smaller id first. All keys of a
// query are distinct, so the top k is unique. Output row q holds the kEff = min(k, #candidates)
// best items sorted by key; slots kEff..k−1 are padding: id 0xFFFFFFFF, score −Infinity.
//
// Decomposition (a chunk of `qc` queries at a time; scores live in a scratch buffer [qc, n]):
//   scores:  one invocation per (item, group of 4 queries): the item row is read once per 4 dots.
//   exclude: one invocation per query, writes NaN over its excluded items' scores.
//   hist p / scan p, p = 0..7: exact radix select of the kEff-th largest key, 8 bits per pass
//            (passes 0–3 the score bits, 4–7 the id bits; they stop as soon as the bin that
//            crosses kEff is taken whole, usually after 2–3 passes). hist: a workgroup per
//            (query, segment of SEG items) counts the items that match the prefix so far in 256
//            bins (workgroup atomics) → hist [qc, segs, 257] (bin 256 of pass 0 counts the
//            non-candidates). scan: a workgroup per query sums bins over segments in a fixed
//            order and walks bins from the top to pick the digit; state [qc, 8] holds
//            (prefix_hi, prefix_lo, remaining, done, kEff, counter).
//   select:  a workgroup per (query, segment): every candidate with key ≥ the threshold prefix
//            (exactly kEff of them) is appended to cand [qc, k] through an atomic counter.
//   sort:    one invocation per (query, slot): rank = #candidates with a larger key; writes
//            topIds/topScores at the rank (deterministic whatever order select appended in).
//   naive_select: one invocation per query scans all n scores keeping a sorted list of the best
//            k directly in the output (insertion), the baseline.
// Precision: f32 dot products; selection and sort are exact on the f32 scores.

fn ord(s: f32) -> u32 {
  var b = bitcast<u32>(s);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0u; }   // NaN: not a candidate
  if (b == 0x80000000u) { b = 0u; }                       // −0 → +0
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// key (h1, l1) > (h2, l2)
fn key_gt(h1: u32, l1: u32, h2: u32, l2: u32) -> bool {
  return h1 > h2 || (h1 == h2 && l1 > l2);
}

// ==== kernel: scores ====
struct Params {
  q_base: u32,
  qc: u32,
  n: u32,
  d: u32,
  item_base: u32,
  rows: u32,
  item_groups: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> queries: array<f32>;
@group(0) @binding(2) var<storage, read> items: array<f32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gid = wid.x + wid.y * nwg.x;
  let qg = gid / params.item_groups;
  let i = (gid - qg * params.item_groups) * {{WG}}u + lid;
  let q0 = qg * 4u;
  if (i >= params.rows || q0 >= params.qc) { return; }
  let d = params.d;
  let last = params.qc - 1u;
  let b0 = (params.q_base + q0) * d;
  let b1 = (params.q_base + min(q0 + 1u, last)) * d;
  let b2 = (params.q_base + min(q0 + 2u, last)) * d;
  let b3 = (params.q_base + min(q0 + 3u, last)) * d;
  let ib = i * d;
  var a0 = 0.0; var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
  for (var c = 0u; c < d; c++) {
    let x = items[ib + c];
    a0 += queries[b0 + c] * x;
    a1 += queries[b1 + c] * x;
    a2 += queries[b2 + c] * x;
    a3 += queries[b3 + c] * x;
  }
  let o = params.item_base + i;
  scores[q0 * params.n + o] = a0;
  if (q0 + 1u < params.qc) { scores[(q0 + 1u) * params.n + o] = a1; }
  if (q0 + 2u < params.qc) { scores[(q0 + 2u) * params.n + o] = a2; }
  if (q0 + 3u < params.qc) { scores[(q0 + 3u) * params.n + o] = a3; }
}

// ==== kernel: exclude ====
struct Params {
  q_base: u32,
  qc: u32,
  n: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> excl_offsets: array<u32>;
@group(0) @binding(2) var<storage, read> excl_ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> scores: array<u32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ql = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (ql >= params.qc) { return; }
  let q = params.q_base + ql;
  let end = min(excl_offsets[q + 1u], arrayLength(&excl_ids));
  for (var e = excl_offsets[q]; e < end; e++) {
    let id = excl_ids[e];
    if (id < params.n) { scores[ql * params.n + id] = 0x7fc00000u; }
  }
}

// ==== kernel: hist ====
struct Params {
  qc: u32,
  n: u32,
  seg: u32,
  segs: u32,
  pass_: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<u32>;

var<workgroup> bins: array<atomic<u32>, 257>;
var<workgroup> done: u32;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gid = wid.x + wid.y * nwg.x;
  let ql = gid / params.segs;
  let seg = gid - ql * params.segs;
  if (ql >= params.qc) { return; }   // uniform per workgroup
  let p = params.pass_;
  let st = ql * 8u;
  if (lid == 0u) { done = select(0u, 1u, p > 0u && state[st + 3u] != 0u); }
  if (workgroupUniformLoad(&done) != 0u) { return; }   // selection already finished
  let phi = state[st];
  let plo = state[st + 1u];
  for (var b = lid; b < 257u; b += {{WG}}u) { atomicStore(&bins[b], 0u); }
  workgroupBarrier();
  let start = seg * params.seg;
  let end = min(start + params.seg, params.n);
  let base = ql * params.n;
  for (var i = start + lid; i < end; i += {{WG}}u) {
    let hi = ord(scores[base + i]);
    let lo = ~i;
    if (p == 0u) {
      atomicAdd(&bins[hi >> 24u], 1u);
      if (hi == 0u) { atomicAdd(&bins[256], 1u); }
    } else if (p < 4u) {
      let shift = 24u - 8u * p;
      if ((hi >> (shift + 8u)) == (phi >> (shift + 8u))) { atomicAdd(&bins[(hi >> shift) & 255u], 1u); }
    } else if (hi == phi) {
      let shift = 24u - 8u * (p - 4u);
      if (p == 4u || (lo >> (shift + 8u)) == (plo >> (shift + 8u))) { atomicAdd(&bins[(lo >> shift) & 255u], 1u); }
    }
  }
  workgroupBarrier();
  let out = (ql * params.segs + seg) * 257u;
  for (var b = lid; b < 257u; b += {{WG}}u) { hist[out + b] = atomicLoad(&bins[b]); }
}

// ==== kernel: scan ====
struct Params {
  qc: u32,
  n: u32,
  k: u32,
  segs: u32,
  pass_: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> hist: array<u32>;
@group(0) @binding(2) var<storage, read_write> state: array<u32>;

var<workgroup> tot: array<u32, 257>;
var<workgroup> skip: u32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ql = wid.x + wid.y * nwg.x;
  if (ql >= params.qc) { return; }
  let p = params.pass_;
  let st = ql * 8u;
  if (lid == 0u) { skip = select(0u, 1u, p > 0u && state[st + 3u] != 0u); }
  workgroupBarrier();
  if (workgroupUniformLoad(&skip) != 0u) { return; }
  for (var b = lid; b < 257u; b += 256u) {
    var t = 0u;
    for (var s = 0u; s < params.segs; s++) { t += hist[(ql * params.segs + s) * 257u + b]; }
    tot[b] = t;
  }
  workgroupBarrier();
  if (lid != 0u) { return; }
  var rem = 0u;
  if (p == 0u) {
    let k_eff = min(params.k, params.n - tot[256]);
    state[st] = 0u; state[st + 1u] = 0u; state[st + 2u] = k_eff;
    state[st + 3u] = select(0u, 1u, k_eff == 0u);
    state[st + 4u] = k_eff; state[st + 5u] = 0u;
    if (k_eff == 0u) { return; }
    rem = k_eff;
  } else {
    rem = state[st + 2u];
  }
  var cum = 0u;
  var digit = 0u;
  for (var b = 255i; b >= 0i; b--) {
    let t = tot[u32(b)];
    if (cum + t >= rem) { digit = u32(b); break; }
    cum += t;
  }
  let left = rem - cum;
  if (p < 4u) { state[st] |= digit << (24u - 8u * p); }
  else { state[st + 1u] |= digit << (24u - 8u * (p - 4u)); }
  state[st + 2u] = left;
  if (tot[digit] == left) { state[st + 3u] = 1u; }
}

// ==== kernel: select ====
struct Params {
  qc: u32,
  n: u32,
  k: u32,
  seg: u32,
  segs: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> state: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read_write> cand_ids: array<u32>;
@group(0) @binding(4) var<storage, read_write> cand_scores: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let gid = wid.x + wid.y * nwg.x;
  let ql = gid / params.segs;
  let seg = gid - ql * params.segs;
  if (ql >= params.qc) { return; }
  let st = ql * 8u;
  let k_eff = atomicLoad(&state[st + 4u]);
  if (k_eff == 0u) { return; }
  let thi = atomicLoad(&state[st]);
  let tlo = atomicLoad(&state[st + 1u]);
  let start = seg * params.seg;
  let end = min(start + params.seg, params.n);
  let base = ql * params.n;
  for (var i = start + lid; i < end; i += {{WG}}u) {
    let s = scores[base + i];
    let hi = ord(s);
    if (hi > thi || (hi == thi && ~i >= tlo)) {
      let slot = atomicAdd(&state[st + 5u], 1u);
      if (slot < k_eff) {
        cand_ids[ql * params.k + slot] = i;
        cand_scores[ql * params.k + slot] = s;
      }
    }
  }
}

// ==== kernel: sort ====
struct Params {
  q_base: u32,
  qc: u32,
  k: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> cand_ids: array<u32>;
@group(0) @binding(3) var<storage, read> cand_scores: array<f32>;
@group(0) @binding(4) var<storage, read_write> top_ids: array<u32>;
@group(0) @binding(5) var<storage, read_write> top_scores: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (t >= params.qc * params.k) { return; }
  let ql = t / params.k;
  let slot = t - ql * params.k;
  let k_eff = state[ql * 8u + 4u];
  let out = (params.q_base + ql) * params.k;
  if (slot >= k_eff) {
    top_ids[out + slot] = 0xffffffffu;
    top_scores[out + slot] = bitcast<f32>(0xff800000u | (params.k & 0u));  // −Infinity (a const −inf is rejected)
    return;
  }
  let cb = ql * params.k;
  let id = cand_ids[cb + slot];
  let s = cand_scores[cb + slot];
  let hi = ord(s);
  let lo = ~id;
  var rank = 0u;
  for (var j = 0u; j < k_eff; j++) {
    if (key_gt(ord(cand_scores[cb + j]), ~cand_ids[cb + j], hi, lo)) { rank++; }
  }
  top_ids[out + rank] = id;
  top_scores[out + rank] = s;
}

// ==== kernel: naive_select ====
struct Params {
  q_base: u32,
  qc: u32,
  n: u32,
  k: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> top_ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> top_scores: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let ql = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (ql >= params.qc) { return; }
  let out = (params.q_base + ql) * params.k;
  let k = params.k;
  var c = 0u;
  for (var i = 0u; i < params.n; i++) {
    let s = scores[ql * params.n + i];
    let hi = ord(s);
    if (hi == 0u) { continue; }
    // ids arrive in increasing order, so an equal score ranks after what is already there
    if (c == k && !(hi > ord(top_scores[out + k - 1u]))) { continue; }
    var pos = min(c, k - 1u);
    while (pos > 0u && hi > ord(top_scores[out + pos - 1u])) {
      top_ids[out + pos] = top_ids[out + pos - 1u];
      top_scores[out + pos] = top_scores[out + pos - 1u];
      pos--;
    }
    top_ids[out + pos] = i;
    top_scores[out + pos] = s;
    c = min(c + 1u, k);
  }
  for (var j = c; j < k; j++) {
    top_ids[out + j] = 0xffffffffu;
    top_scores[out + j] = bitcast<f32>(0xff800000u | (params.k & 0u));  // −Infinity (a const −inf is rejected)
  }
}
