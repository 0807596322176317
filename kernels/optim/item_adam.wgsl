// The gathered sampled softmax's item gradient fused with the row-wise Adam step (host:
// item_adam.ts). For each distinct item u of the step (compact row u, table row rows[u].x):
//   acc  = Σ_{slots s of u} coef[s] · û[row of s]                 (sampled_softmax_gathered item_grad)
//   ê    = w / n_u                                               (w: the table row before the step)
//   g    = (acc − k_u·(ê·acc)·ê) / n_u  (+ the input rows' gradient in_sum[j] when rows[u].y = j + 1)
//   then row-wise Adam on w, m, v with g (optim.wgsl rowwise_fused_vec4), and row_sq[u] = Σ g².
// The unfused path writes g to memory (item_grad), adds the input rows (add_rows_at) and reads it
// back twice (rowwise_fused_vec4): 26M stores and 52M loads of g per step at 1M items, plus the
// 26M loads of ê, which here is recomputed from the w the update loads anyway. Every value is
// computed with the same operations in the same order as that path (acc over the slots in CSR
// order and lanes over the vec4s as item_grad_sg; ê = w / n as gather_norm_sg4 writes it; Σg² in
// optim.wgsl's row_sumsq order, which a butterfly over the 8 lanes gives), so w, m and v get the
// same bits. Measured on lavapipe: 5–15% less CPU than the unfused passes (per-item work, not the
// saved traffic, dominates there; BENCHMARKS.md "Fifth pass"); on a GPU the saved traffic is the
// point (unmeasured: no GPU run yet).
// Gate: a row whose Σg² is not finite (a NaN or ±Inf gradient element, or an overflowing norm)
// is left as it was (w, m, v unchanged); its row_sq carries the non-finite value so the
// divergence guard reading row_sq after the step stops the run (trainer/divergence.ts).
// Layout: a workgroup of 8 lanes (one subgroup) per item, lane l holding vec4s l, l + 8, ...;
// `per_wg` consecutive items per workgroup; one dispatch per table shard over its items.
enable subgroups;
const D4: u32 = {{D4}}u;
const C4: u32 = (D4 + 7u) / 8u;
struct Params {
  n: u32,        // items in this dispatch
  u_begin: u32,  // first compact item of the dispatch
  k: u32,        // slots per row
  per_wg: u32,
  row_base: u32, // first table row of the bound shard
  order_base: u32, // csr: segment offsets at [0, U], the slot order from order_base = U + 1
  beta1: f32,
  beta2: f32,
  lr: f32,
  eps: f32,
  wd: f32,
  bc1: f32,      // 1 − β1^t
  bc2: f32,      // 1 − β2^t
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u_hat: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> coef: array<f32>;
@group(0) @binding(3) var<storage, read> csr: array<u32>;
@group(0) @binding(4) var<storage, read> norm_e: array<f32>;
@group(0) @binding(5) var<storage, read> rows: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read> in_sum: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read_write> v: array<f32>;
@group(0) @binding(10) var<storage, read_write> row_sq: array<f32>;

// optim.wgsl's sq4: one vec4 group's Σx², in the order every row-wise Adam kernel uses.
fn sq4(g: vec4f) -> f32 {
  return ((g.x * g.x + g.y * g.y) + g.z * g.z) + g.w * g.w;
}

// optim.wgsl's adam_elem: (new m, new w) of one element given the row's denominator.
fn adam_elem(wx: f32, mx: f32, gx: f32, denom: f32) -> vec2f {
  let m_new = params.beta1 * mx + (1.0 - params.beta1) * gx;
  let w_new = wx - params.lr * ((m_new / params.bc1) / denom + params.wd * wx);
  return vec2f(m_new, w_new);
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let g = wid.x + wid.y * nwg.x;
  for (var k = g * params.per_wg; k < min((g + 1u) * params.per_wg, params.n); k++) {
    update_item(params.u_begin + k, lane);
  }
}

fn update_item(it: u32, lane: u32) {
  let K = params.k;
  var live: array<bool, C4>;
  for (var c = 0u; c < C4; c++) { live[c] = lane + 8u * c < D4; }
  // The slot loop of sampled_softmax_gathered.wgsl item_grad_sg, kept identical (same bits).
  var acc: array<vec4<f32>, C4>;
  let k1 = csr[it + 1u];
  for (var k0 = csr[it]; k0 < k1; k0 += 8u) {
    var my_b = 0u;
    var my_c = 0.0;
    if (k0 + lane < k1) {
      let s = csr[params.order_base + k0 + lane];
      my_c = coef[s];
      my_b = (s / K) * D4;
    }
    let n = min(8u, k1 - k0);
    for (var i = 0u; i < n; i++) {
      let ub = subgroupShuffle(my_b, i) + lane;
      let cf = subgroupShuffle(my_c, i);
      for (var c = 0u; c < C4; c++) { if (live[c]) { acc[c] += cf * u_hat[ub + 8u * c]; } }
    }
  }
  let info = rows[it];
  let wb = (info.x - params.row_base) * D4 + lane;
  let ne = norm_e[it * 2u];
  let ke = norm_e[it * 2u + 1u];
  var wr: array<vec4<f32>, C4>;
  var e: array<vec4<f32>, C4>;
  var ed = 0.0;
  for (var c = 0u; c < C4; c++) {
    if (live[c]) { wr[c] = w[wb + 8u * c]; e[c] = wr[c] / ne; ed += dot(e[c], acc[c]); }
  }
  ed = subgroupAdd(ed);
  var gr: array<vec4<f32>, C4>;
  for (var c = 0u; c < C4; c++) {
    if (live[c]) {
      gr[c] = (acc[c] - ke * ed * e[c]) / ne;
      if (info.y != 0u) { gr[c] = gr[c] + in_sum[(info.y - 1u) * D4 + lane + 8u * c]; }
    }
  }
  // Σg² in optim.wgsl's row_sumsq order: this lane's partial over its vec4s (q = lane + 8c,
  // ascending), then the butterfly whose result is combine8 of the 8 partials, on every lane.
  var part = 0.0;
  for (var c = 0u; c < C4; c++) { if (live[c]) { part += sq4(gr[c]); } }
  var s = part + subgroupShuffleXor(part, 4u);
  s = s + subgroupShuffleXor(s, 2u);
  let sumsq = s + subgroupShuffleXor(s, 1u);
  if (lane == 0u) { row_sq[it] = sumsq; }
  let r = info.x - params.row_base;
  // v[r] read by lane 0 only and shared: lane 0 rewrites it below.
  var v_old = 0.0;
  if (lane == 0u) { v_old = v[r]; }
  let vr = params.beta2 * subgroupBroadcast(v_old, 0u) + (1.0 - params.beta2) * (sumsq / f32(4u * D4));
  let denom = sqrt(vr / params.bc2) + params.eps;
  // Not finite (exponent bits all set: NaN or ±Inf): the row keeps its w, m and v.
  if ((bitcast<u32>(sumsq) & 0x7f800000u) == 0x7f800000u) { return; }
  for (var c = 0u; c < C4; c++) {
    if (!live[c]) { continue; }
    let mv = m[wb + 8u * c];
    let e0 = adam_elem(wr[c].x, mv.x, gr[c].x, denom);
    let e1 = adam_elem(wr[c].y, mv.y, gr[c].y, denom);
    let e2 = adam_elem(wr[c].z, mv.z, gr[c].z, denom);
    let e3 = adam_elem(wr[c].w, mv.w, gr[c].w, denom);
    m[wb + 8u * c] = vec4f(e0.x, e1.x, e2.x, e3.x);
    w[wb + 8u * c] = vec4f(e0.y, e1.y, e2.y, e3.y);
  }
  if (lane == 0u) { v[r] = vr; }
}
