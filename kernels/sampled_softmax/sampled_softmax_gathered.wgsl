// Sampled-softmax loss over gathered item rows: cost O(P·K·d) for P rows of K = 1 + R slots,
// whatever the size of the catalogue the rows came from. The same function as
// sampled_softmax.wgsl (math and notation there); here the item rows are a compact table E
// [U, d] of the distinct items the rows touch, and every row lists its K slots as local indices
// into E: slot 0 the positive, slots 1..R the negatives (a negative with the positive's index is
// masked). Optional per-item logit offsets o (the log-Q correction of a non-uniform sampler):
// l_j = cos_j / τ − o_j for negatives; the positive's logit carries none.
//
//   norm_pad:  hat[r] = x_r / n(x_r) (zero-padded to D4 vec4s), norm[r] = (n(x_r), [‖x_r‖ > eps])
//   rows:      one invocation per row, ONE pass over its K item rows with an online softmax
//              (running max m, s = Σ exp(l − m), A = Σ exp(l − m) ê; rescaled when m grows):
//                lse = m + log s, rowLoss = lse − l_0, p_k = exp(l_k − lse),
//                coef_k = dL/dcos_k = sc (p_k − [k = 0]) / τ     (sc = dLoss·w_r / Σw; 0 if masked)
//                a = Σ_k coef_k ê_k = sc/τ (A / s − ê_0),  du = (a − k_u (û·a) û) / n(u)
//              The logits go through coef (scratch) so the coefficients need no second dot.
//   item_grad: one invocation per distinct item i, summing over its slots in ascending slot order
//              (CSR built on the host: `order` = slots sorted by item, stable; masked slots and
//              rows with w = 0 left out):  B_i = Σ coef_s û_row(s),
//                dE_i = (B_i − k_i (ê_i·B_i) ê_i) / n(e_i)
//              a fixed order and no atomics: bitwise deterministic. Also row_sq[i] = Σ dE_i²
//              (the divergence guard's squared norm, without re-reading dE).
// Rows run one per lane (on a CPU adapter a lane per row beats a workgroup per row: no
// barriers); vectors are vec4 with d padded to 4·D4 (zeros), accumulators in private arrays.
// Accumulation f32. Grids fold into 2D: linear id = wid.x + wid.y · nwg.x, bounds-checked.

// Similarity (define DOT, read by the normalising kernels only): 0 = cosine. 1 = dot, l = (u·e)/τ
// on the raw rows: hat = x (n = 1) and k = 0, so rows and item_grad run unchanged and give the
// dot product's gradients (du = a, dE_i = B_i). The cosine arithmetic is untouched.
fn nrm(raw: f32, eps: f32) -> f32 {
  if ({{DOT}}u == 1u) { return 1.0; }
  return max(raw, eps);
}
fn kept(raw: f32, eps: f32) -> f32 {
  if ({{DOT}}u == 1u) { return 0.0; }
  return select(0.0, 1.0, raw > eps);
}

// ==== kernel: norm_pad ====
struct Params {
  rows: u32,
  d: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> hat: array<f32>;
@group(0) @binding(3) var<storage, read_write> norm: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (r >= params.rows) { return; }
  let d = params.d;
  let sb = r * d;
  var ss = 0.0;
  for (var i = 0u; i < d; i++) { let x = src[sb + i]; ss += x * x; }
  let raw = sqrt(ss);
  let n = nrm(raw, params.eps);
  for (var i = 0u; i < d; i++) { hat[r * {{STRIDE}}u + i] = src[sb + i] / n; }
  for (var i = d; i < {{STRIDE}}u; i++) { hat[r * {{STRIDE}}u + i] = 0.0; }
  norm[r * 2u] = n;
  norm[r * 2u + 1u] = kept(raw, params.eps);
}

// ==== kernel: rows ====
struct Params {
  rows: u32,
  k: u32,          // slots per row, 1 + R
  d: u32,
  has_w: u32,
  inv_temp: f32,
  dloss: f32,
  has_off: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u_hat: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> norm_u: array<f32>;
@group(0) @binding(3) var<storage, read> e_hat: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> slots: array<u32>;
@group(0) @binding(5) var<storage, read> weights: array<f32>;
@group(0) @binding(6) var<storage, read> inv_w: array<f32>;
@group(0) @binding(7) var<storage, read> offsets: array<f32>;
@group(0) @binding(8) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(9) var<storage, read_write> coef: array<f32>;
@group(0) @binding(10) var<storage, read_write> du: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (row >= params.rows) { return; }
  let K = params.k;
  let d = params.d;
  let sb = row * K;
  var w = 1.0;
  if (params.has_w != 0u) { w = weights[row]; }
  if (w == 0.0) {
    row_loss[row] = 0.0;
    for (var t = 0u; t < K; t++) { coef[sb + t] = 0.0; }
    for (var i = 0u; i < d; i++) { du[row * d + i] = 0.0; }
    return;
  }
  var uh: array<vec4<f32>, {{D4}}>;
  for (var q = 0u; q < {{D4}}u; q++) { uh[q] = u_hat[row * {{D4}}u + q]; }
  let p = slots[sb];
  var acc: array<vec4<f32>, {{D4}}>;
  var dp = 0.0;
  for (var q = 0u; q < {{D4}}u; q++) { let e = e_hat[p * {{D4}}u + q]; acc[q] = e; dp += dot(uh[q], e); }
  let l0 = dp * params.inv_temp;
  var m = l0;
  var s = 1.0;
  for (var t = 1u; t < K; t++) {
    let j = slots[sb + t];
    if (j == p) { continue; }
    let eb = j * {{D4}}u;
    // The row is loaded once: on a CPU adapter both branches below run under a lane mask, so
    // re-reading ê there cost two more gathers of the row per slot (same values, same bits).
    var e: array<vec4<f32>, {{D4}}>;
    var dj = 0.0;
    for (var q = 0u; q < {{D4}}u; q++) { e[q] = e_hat[eb + q]; dj += dot(uh[q], e[q]); }
    var l = dj * params.inv_temp;
    if (params.has_off != 0u) { l -= offsets[j]; }
    coef[sb + t] = l;
    if (l > m) {
      let f = exp(m - l);
      s = s * f + 1.0;
      for (var q = 0u; q < {{D4}}u; q++) { acc[q] = acc[q] * f + e[q]; }
      m = l;
    } else {
      let f = exp(l - m);
      s += f;
      for (var q = 0u; q < {{D4}}u; q++) { acc[q] += f * e[q]; }
    }
  }
  let lse = m + log(s);
  row_loss[row] = lse - l0;
  let sc = params.dloss * w * inv_w[0] * params.inv_temp;
  coef[sb] = sc * (exp(l0 - lse) - 1.0);
  for (var t = 1u; t < K; t++) {
    if (slots[sb + t] == p) { coef[sb + t] = 0.0; continue; }
    coef[sb + t] = sc * exp(coef[sb + t] - lse);
  }
  // a = sc (A / s − ê_0), then the projection through u's normalisation.
  let inv_s = 1.0 / s;
  var ua = 0.0;
  for (var q = 0u; q < {{D4}}u; q++) {
    acc[q] = sc * (acc[q] * inv_s - e_hat[p * {{D4}}u + q]);
    ua += dot(uh[q], acc[q]);
  }
  let nu = norm_u[row * 2u];
  let ku = norm_u[row * 2u + 1u];
  for (var i = 0u; i < d; i++) {
    let q = i / 4u;
    let c = i % 4u;
    du[row * d + i] = (acc[q][c] - ku * ua * uh[q][c]) / nu;
  }
}

// ==== kernel: item_grad ====
struct Params {
  items: u32,
  k: u32,
  d: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u_hat: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> e_hat: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> norm_e: array<f32>;
@group(0) @binding(4) var<storage, read> coef: array<f32>;
@group(0) @binding(5) var<storage, read> order: array<u32>;
@group(0) @binding(6) var<storage, read> seg: array<u32>;
@group(0) @binding(7) var<storage, read_write> de: array<f32>;
@group(0) @binding(8) var<storage, read_write> row_sq: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let it = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (it >= params.items) { return; }
  let K = params.k;
  let d = params.d;
  var acc: array<vec4<f32>, {{D4}}>;
  for (var k = seg[it]; k < seg[it + 1u]; k++) {
    let s = order[k];
    let c = coef[s];
    let ub = (s / K) * {{D4}}u;
    for (var q = 0u; q < {{D4}}u; q++) { acc[q] += c * u_hat[ub + q]; }
  }
  let eb = it * {{D4}}u;
  var eb_dot = 0.0;
  for (var q = 0u; q < {{D4}}u; q++) { eb_dot += dot(e_hat[eb + q], acc[q]); }
  let ne = norm_e[it * 2u];
  let ke = norm_e[it * 2u + 1u];
  var sq = 0.0;
  for (var i = 0u; i < d; i++) {
    let q = i / 4u;
    let c = i % 4u;
    let v = (acc[q][c] - ke * eb_dot * e_hat[eb + q][c]) / ne;
    de[it * d + i] = v;
    sq += v * v;
  }
  row_sq[it] = sq;
}

// ==== kernel: rows_sg ====
// Subgroup variant of `rows`: a workgroup = one subgroup of 8 lanes per row; lane l holds vec4s
// l, l + 8, ... of each row (the row padded to D4 vec4s), dot products via subgroupAdd. Loads
// of scalars every lane needs (slot ids, offsets) are done 8 at a time, one per lane, and shared
// with subgroupShuffle: on lavapipe a storage load costs per lane even at a uniform address.
// Lane i of a batch stores slot (t0 + i)'s logit into coef, and later rewrites only those.
const C4: u32 = ({{D4}}u + 7u) / 8u;
struct Params {
  rows: u32,
  k: u32,
  d: u32,
  has_w: u32,
  inv_temp: f32,
  dloss: f32,
  has_off: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u_hat: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> norm_u: array<f32>;
@group(0) @binding(3) var<storage, read> e_hat: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> slots: array<u32>;
@group(0) @binding(5) var<storage, read> weights: array<f32>;
@group(0) @binding(6) var<storage, read> inv_w: array<f32>;
@group(0) @binding(7) var<storage, read> offsets: array<f32>;
@group(0) @binding(8) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(9) var<storage, read_write> coef: array<f32>;
@group(0) @binding(10) var<storage, read_write> du: array<f32>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= params.rows) { return; }
  let K = params.k;
  let d = params.d;
  let sb = row * K;
  var w = 1.0;
  if (params.has_w != 0u) { w = weights[row]; }
  if (w == 0.0) {
    if (lane == 0u) { row_loss[row] = 0.0; }
    for (var t = lane; t < K; t += 8u) { coef[sb + t] = 0.0; }
    for (var i = lane; i < d; i += 8u) { du[row * d + i] = 0.0; }
    return;
  }
  var live: array<bool, C4>;
  var uh: array<vec4<f32>, C4>;
  for (var c = 0u; c < C4; c++) {
    live[c] = lane + 8u * c < {{D4}}u;
    if (live[c]) { uh[c] = u_hat[row * {{D4}}u + lane + 8u * c]; }
  }
  let p = slots[sb];
  let pb = p * {{D4}}u + lane;
  var acc: array<vec4<f32>, C4>;
  var dp = 0.0;
  for (var c = 0u; c < C4; c++) { if (live[c]) { let e = e_hat[pb + 8u * c]; acc[c] = e; dp += dot(uh[c], e); } }
  let l0 = subgroupAdd(dp) * params.inv_temp;
  var m = l0;
  var s = 1.0;
  for (var t0 = 1u; t0 < K; t0 += 8u) {
    var my_j = p;
    var my_off = 0.0;
    if (t0 + lane < K) {
      my_j = slots[sb + t0 + lane];
      if (params.has_off != 0u) { my_off = offsets[my_j]; }
    }
    let n = min(8u, K - t0);
    for (var i = 0u; i < n; i++) {
      let j = subgroupShuffle(my_j, i);
      // A masked slot (j = p) is computed like any other and then dropped: branching on a
      // shuffled value would leave subgroup-uniform control flow.
      let eb = j * {{D4}}u + lane;
      var e: array<vec4<f32>, C4>;
      var dj = 0.0;
      for (var c = 0u; c < C4; c++) { if (live[c]) { e[c] = e_hat[eb + 8u * c]; dj += dot(uh[c], e[c]); } }
      let l = subgroupAdd(dj) * params.inv_temp - subgroupShuffle(my_off, i);
      if (j != p) {
        if (lane == i) { coef[sb + t0 + i] = l; }
        if (l > m) {
          let f = exp(m - l);
          s = s * f + 1.0;
          for (var c = 0u; c < C4; c++) { acc[c] = acc[c] * f + e[c]; }
          m = l;
        } else {
          let f = exp(l - m);
          s += f;
          for (var c = 0u; c < C4; c++) { acc[c] += f * e[c]; }
        }
      }
    }
  }
  let lse = m + log(s);
  if (lane == 0u) { row_loss[row] = lse - l0; }
  let sc = params.dloss * w * inv_w[0] * params.inv_temp;
  if (lane == 0u) { coef[sb] = sc * (exp(l0 - lse) - 1.0); }
  for (var t = 1u + lane; t < K; t += 8u) {
    if (slots[sb + t] == p) { coef[sb + t] = 0.0; } else { coef[sb + t] = sc * exp(coef[sb + t] - lse); }
  }
  let inv_s = 1.0 / s;
  var ua = 0.0;
  for (var c = 0u; c < C4; c++) {
    if (live[c]) {
      acc[c] = sc * (acc[c] * inv_s - e_hat[pb + 8u * c]);
      ua += dot(uh[c], acc[c]);
    }
  }
  ua = subgroupAdd(ua);
  let nu = norm_u[row * 2u];
  let ku = norm_u[row * 2u + 1u];
  for (var c = 0u; c < C4; c++) {
    let v = (acc[c] - ku * ua * uh[c]) / nu;
    let i0 = 4u * (lane + 8u * c);
    for (var q = 0u; q < 4u; q++) { if (i0 + q < d) { du[row * d + i0 + q] = v[q]; } }
  }
}

// ==== kernel: item_grad_sg ====
// Subgroup variant of `item_grad`: a workgroup of 8 lanes per item, lanes over the vector as in
// rows_sg; each batch of 8 slots is loaded one per lane and shared with subgroupShuffle.
// STORE_DE writes a lane's vec4 of the result: whole vec4s where d % 4 == 0 (DE_T vec4<f32>).
// In place (EHAT_ACCESS read_write, d % 4 == 0): the result overwrites the item's own ê row; each
// lane writes only the vec4s it has itself read, after its last read of them.
const C4: u32 = ({{D4}}u + 7u) / 8u;
struct Params {
  items: u32,
  k: u32,
  d: u32,
  per_wg: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u_hat: array<vec4<f32>>;
@group(0) @binding(2) var<storage, {{EHAT_ACCESS}}> e_hat: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> norm_e: array<f32>;
@group(0) @binding(4) var<storage, read> coef: array<f32>;
@group(0) @binding(5) var<storage, read> order: array<u32>;
@group(0) @binding(6) var<storage, read> seg: array<u32>;
{{DE_DECL}}
@group(0) @binding({{SQ_BINDING}}) var<storage, read_write> row_sq: array<f32>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let g = wid.x + wid.y * nwg.x;
  for (var it = g * params.per_wg; it < min((g + 1u) * params.per_wg, params.items); it++) {
    item_grad(it, lane);
  }
}

fn item_grad(it: u32, lane: u32) {
  let K = params.k;
  let d = params.d;
  var live: array<bool, C4>;
  for (var c = 0u; c < C4; c++) { live[c] = lane + 8u * c < {{D4}}u; }
  var acc: array<vec4<f32>, C4>;
  let k1 = seg[it + 1u];
  for (var k0 = seg[it]; k0 < k1; k0 += 8u) {
    var my_b = 0u;
    var my_c = 0.0;
    if (k0 + lane < k1) {
      let s = order[k0 + lane];
      my_c = coef[s];
      my_b = (s / K) * {{D4}}u;
    }
    let n = min(8u, k1 - k0);
    for (var i = 0u; i < n; i++) {
      let ub = subgroupShuffle(my_b, i) + lane;
      let cf = subgroupShuffle(my_c, i);
      for (var c = 0u; c < C4; c++) { if (live[c]) { acc[c] += cf * u_hat[ub + 8u * c]; } }
    }
  }
  let eb = it * {{D4}}u + lane;
  // ê's vec4s are read once: the stores of the in-place variant alias e_hat, so a second read
  // below could not be merged with the first (one gather per vec4 and lane saved, same bits).
  var e: array<vec4<f32>, C4>;
  var ed = 0.0;
  for (var c = 0u; c < C4; c++) { if (live[c]) { e[c] = e_hat[eb + 8u * c]; ed += dot(e[c], acc[c]); } }
  ed = subgroupAdd(ed);
  let ne = norm_e[it * 2u];
  let ke = norm_e[it * 2u + 1u];
  var sq = 0.0;
  for (var c = 0u; c < C4; c++) {
    if (!live[c]) { continue; }
    let v = (acc[c] - ke * ed * e[c]) / ne;
    store_de(it, lane + 8u * c, v);
    sq += dot(v, v); // components past d are 0 (zero-padded û and ê), or NaN with the row
  }
  sq = subgroupAdd(sq);
  if (lane == 0u) { row_sq[it] = sq; }
}

fn store_de(it: u32, q4: u32, v: vec4<f32>) {
  {{STORE_DE}}
}

// ==== kernel: gather_norm_sg ====
// hat[r] = table[ids[r]] / n(·), norm[r] as norm_pad, for compact rows r in [r0, r1) whose ids
// all lie in the bound shard of an f32 table (the host groups the ids by shard): gather and
// normalisation in one pass. A workgroup of 8 lanes per row (lane l: elements l, l + 8, ...),
// `per_wg` consecutive rows per workgroup (fewer, longer workgroups when U is large).
struct Params {
  r0: u32,
  r1: u32,
  d: u32,
  row_base: u32,
  per_wg: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> shard: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> hat: array<f32>;
@group(0) @binding(4) var<storage, read_write> norm: array<f32>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let g = wid.x + wid.y * nwg.x;
  let first = params.r0 + g * params.per_wg;
  let last = min(first + params.per_wg, params.r1);
  let d = params.d;
  for (var r = first; r < last; r++) {
    let sb = (ids[r] - params.row_base) * d;
    var x: array<f32, {{C}}>;
    var ss = 0.0;
    for (var c = 0u; c < {{C}}u; c++) {
      let i = lane + 8u * c;
      if (i < d) { x[c] = shard[sb + i]; ss += x[c] * x[c]; }
    }
    let raw = sqrt(subgroupAdd(ss));
    let n = nrm(raw, params.eps);
    for (var c = 0u; c < {{C}}u; c++) {
      let i = lane + 8u * c;
      if (i < {{STRIDE}}u) { hat[r * {{STRIDE}}u + i] = select(0.0, x[c] / n, i < d); }
    }
    if (lane == 0u) {
      norm[r * 2u] = n;
      norm[r * 2u + 1u] = kept(raw, params.eps);
    }
  }
}

// ==== kernel: gather_norm_sg4 ====
// gather_norm_sg for d % 4 == 0 (STRIDE = d): lane l moves whole vec4s l, l + 8, ... of the row
// (on lavapipe a storage access costs per lane: a quarter of the accesses). Same result up to
// the order of the squared norm's partial sums.
const C4: u32 = ({{D4}}u + 7u) / 8u;
struct Params {
  r0: u32,
  r1: u32,
  d: u32,
  row_base: u32,
  per_wg: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> shard: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> hat: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> norm: array<f32>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let g = wid.x + wid.y * nwg.x;
  let first = params.r0 + g * params.per_wg;
  let last = min(first + params.per_wg, params.r1);
  for (var r = first; r < last; r++) {
    let sb = (ids[r] - params.row_base) * {{D4}}u;
    var x: array<vec4<f32>, C4>;
    var ss = 0.0;
    for (var c = 0u; c < C4; c++) {
      let i = lane + 8u * c;
      if (i < {{D4}}u) { x[c] = shard[sb + i]; ss += dot(x[c], x[c]); }
    }
    let raw = sqrt(subgroupAdd(ss));
    let n = nrm(raw, params.eps);
    for (var c = 0u; c < C4; c++) {
      let i = lane + 8u * c;
      if (i < {{D4}}u) { hat[r * {{D4}}u + i] = x[c] / n; }
    }
    if (lane == 0u) {
      norm[r * 2u] = n;
      norm[r * 2u + 1u] = kept(raw, params.eps);
    }
  }
}
