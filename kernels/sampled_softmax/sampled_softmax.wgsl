// Sampled-softmax loss over cosine logits (forward), negative sampling and the loss reduction.
//
// Per prediction row r (P rows), output vector u_r [d], positive item id pos_r and R negative ids
// neg_{r,j}. Item rows e come either from an item table indexed by id (TABLE = 1: pos_src =
// neg_src = items [numItems, d]) or from pre-gathered rows (TABLE = 0: pos_src = posEmb [P, d]
// indexed by r, neg_src = negEmb [P, R, d] indexed by r·R + j; the ids then only drive masking).
// SHARED = 1: one set of R negatives for all rows (negIds [R], negEmb [R, d] indexed by j): the
// same math with neg_{r,j} = neg_j (a row still masks a negative equal to its own positive).
//
//   n(x)     = max(‖x‖₂, eps)                     (eps clamp, default 1e-6; x̂ = x / n(x))
//   l_0      = (û · ê_pos) / τ                     (τ = temperature)
//   l_j      = (û · ê_{neg j}) / τ,   j ∈ S_r = { j : neg_{r,j} ≠ pos_r }  (collisions masked)
//   CE_r     = log(exp(l_0) + Σ_{j∈S_r} exp(l_j)) − l_0
//   rowLoss  = CE_r where w_r ≠ 0, else 0          (w = weights, all 1 when not given)
//   loss     = Σ_r w_r·CE_r / Σ_r w_r             (0 when Σ w = 0)
//
// Negative sampling (counter-based, no state): s = hash32(seed ^ 0x85ebca6b),
//   neg_{r,j} = hash32(j ^ hash32(r ^ s)) mod numItems
// with hash32 = lowbias32 exactly as in kernels/elementwise/elementwise.wgsl. The mod has a bias
// of at most numItems / 2^32 (< 3e-4 relative for 1M items), documented and accepted.
//
// Decomposition: sample: one invocation per (r, j). fwd: one invocation per row (an online
// log-sum-exp over the R negatives, nothing materialised; on a CPU adapter a row per lane beats
// a workgroup per row with barriers). reduce: ONE workgroup of 256 lanes; lane l sums rows
// l, l+256, ... in order, then a fixed tree — deterministic. naive_logits / naive_softmax: the
// baseline that materialises all logits [P, R+1] in global memory, then a softmax per row.
// Accumulation: f32 throughout (dot products, log-sum-exp with running max, reduction).
// Grids fold into 2D: linear workgroup id = wid.x + wid.y · nwg.x, bounds-checked.

// Similarity (define DOT): 0 = cosine, the normalisation above. 1 = dot, l = (u·e)/τ on the raw
// rows: the normalisation is the identity (n(x) = 1) and its backward's projection term is dropped
// ([‖x‖ > eps] = 0), so every formula below holds as written with x̂ = x and cos = u·e. The cosine
// arithmetic is untouched (nrm is the same max(sqrt, eps) it was).
fn nrm(ss: f32, eps: f32) -> f32 {
  if ({{DOT}}u == 1u) { return 1.0; }
  return max(sqrt(ss), eps);
}
fn kept(ss: f32, eps: f32) -> f32 {
  if ({{DOT}}u == 1u) { return 0.0; }
  return select(0.0, 1.0, sqrt(ss) > eps);
}

fn hash32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u; x *= 0x7feb352du;
  x ^= x >> 15u; x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

// ==== kernel: sample ====
struct Params {
  total: u32,      // P · R
  r: u32,
  num_items: u32,
  seed: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> neg_ids: array<u32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= params.total) { return; }
  let row = i / params.r;
  let j = i - row * params.r;
  let s = hash32(params.seed ^ 0x85ebca6bu);
  neg_ids[i] = hash32(j ^ hash32(row ^ s)) % params.num_items;
}

// ==== kernel: fwd ====
struct Params {
  rows: u32,
  r: u32,
  d: u32,
  has_w: u32,
  inv_temp: f32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> pos_src: array<f32>;
@group(0) @binding(3) var<storage, read> neg_src: array<f32>;
@group(0) @binding(4) var<storage, read> neg_ids: array<u32>;
@group(0) @binding(5) var<storage, read> pos_ids: array<u32>;
@group(0) @binding(6) var<storage, read> weights: array<f32>;
@group(0) @binding(7) var<storage, read_write> row_loss: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (row >= params.rows) { return; }
  var w = 1.0;
  if (params.has_w != 0u) { w = weights[row]; }
  if (w == 0.0) { row_loss[row] = 0.0; return; }
  let d = params.d;
  let ub = row * d;
  let pid = pos_ids[row];
  let pb = select(row, pid, {{TABLE}}u == 1u) * d;
  var uu = 0.0; var up = 0.0; var pp = 0.0;
  for (var i = 0u; i < d; i++) {
    let x = u[ub + i];
    let y = pos_src[pb + i];
    uu += x * x; up += x * y; pp += y * y;
  }
  let nu = nrm(uu, params.eps);
  let lp = up / (nu * nrm(pp, params.eps)) * params.inv_temp;
  var m = lp;
  var s = 1.0;
  for (var j = 0u; j < params.r; j++) {
    let slot = select(row * params.r + j, j, {{SHARED}}u == 1u);
    let nid = neg_ids[slot];
    if (nid == pid) { continue; }
    let eb = select(slot, nid, {{TABLE}}u == 1u) * d;
    var ue = 0.0; var ee = 0.0;
    for (var i = 0u; i < d; i++) {
      let y = neg_src[eb + i];
      ue += u[ub + i] * y; ee += y * y;
    }
    let l = ue / (nu * nrm(ee, params.eps)) * params.inv_temp;
    if (l > m) { s = s * exp(m - l) + 1.0; m = l; } else { s += exp(l - m); }
  }
  row_loss[row] = m + log(s) - lp;
}

// ==== kernel: reduce ====
// MODE 0: out[0] = Σ w·rowLoss / Σ w (0 if Σ w = 0).  MODE 1: out[0] = 1 / Σ w (0 if Σ w = 0)
// — the scale the backward pass needs. Rows with w = 0 contribute nothing (rowLoss is 0 there).
struct Params {
  rows: u32,
  has_w: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> row_loss: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> part_l: array<f32, 256>;
var<workgroup> part_w: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var sl = 0.0;
  var sw = 0.0;
  for (var r = lid; r < params.rows; r += 256u) {
    var w = 1.0;
    if (params.has_w != 0u) { w = weights[r]; }
    if (w != 0.0) {
      if ({{MODE}}u == 0u) { sl += w * row_loss[r]; }
      sw += w;
    }
  }
  part_l[lid] = sl;
  part_w[lid] = sw;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h >>= 1u) {
    if (lid < h) {
      part_l[lid] += part_l[lid + h];
      part_w[lid] += part_w[lid + h];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let tw = part_w[0];
    if ({{MODE}}u == 0u) {
      out[0] = select(0.0, part_l[0] / tw, tw != 0.0);
    } else {
      out[0] = select(0.0, 1.0 / tw, tw != 0.0);
    }
  }
  _ = row_loss[0];
}

// ==== kernel: naive_logits ====
// logits[r, 0] = l_0, logits[r, 1 + j] = l_j, or MASKED (−3e38) for a collision; one invocation
// per (r, k), norms recomputed per logit.
struct Params {
  total: u32,      // P · (R + 1)
  r: u32,
  d: u32,
  inv_temp: f32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> pos_src: array<f32>;
@group(0) @binding(3) var<storage, read> neg_src: array<f32>;
@group(0) @binding(4) var<storage, read> neg_ids: array<u32>;
@group(0) @binding(5) var<storage, read> pos_ids: array<u32>;
@group(0) @binding(6) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= params.total) { return; }
  let row = i / (params.r + 1u);
  let k = i - row * (params.r + 1u);
  let d = params.d;
  let pid = pos_ids[row];
  var uu = 0.0; var ue = 0.0; var ee = 0.0;
  if (k == 0u) {
    let eb = select(row, pid, {{TABLE}}u == 1u) * d;
    for (var c = 0u; c < d; c++) { let x = u[row * d + c]; let y = pos_src[eb + c]; uu += x * x; ue += x * y; ee += y * y; }
  } else {
    let slot = select(row * params.r + k - 1u, k - 1u, {{SHARED}}u == 1u);
    let nid = neg_ids[slot];
    if (nid == pid) { logits[i] = -3.0e38; return; }
    let eb = select(slot, nid, {{TABLE}}u == 1u) * d;
    for (var c = 0u; c < d; c++) { let x = u[row * d + c]; let y = neg_src[eb + c]; uu += x * x; ue += x * y; ee += y * y; }
  }
  logits[i] = ue / (nrm(uu, params.eps) * nrm(ee, params.eps)) * params.inv_temp;
}

// ==== kernel: naive_softmax ====
struct Params {
  rows: u32,
  r: u32,
  has_w: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> row_loss: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (row >= params.rows) { return; }
  var w = 1.0;
  if (params.has_w != 0u) { w = weights[row]; }
  if (w == 0.0) { row_loss[row] = 0.0; return; }
  let base = row * (params.r + 1u);
  var m = logits[base];
  for (var k = 1u; k <= params.r; k++) { m = max(m, logits[base + k]); }
  var s = 0.0;
  for (var k = 0u; k <= params.r; k++) { s += exp(logits[base + k] - m); }
  row_loss[row] = m + log(s) - logits[base];
}
