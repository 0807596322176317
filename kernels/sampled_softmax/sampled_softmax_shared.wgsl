// Sampled-softmax loss with ONE set of R negatives shared by all P rows, as GEMMs (math and
// notation in sampled_softmax.wgsl and sampled_softmax_bwd.wgsl; this is the same function).
// With û = u / n(u), ê_j = e_j / n(e_j), cos [P, R] = Û·Êᵀ and, in the backward,
// G [P, R] = c_rj (0 where masked or w_r = 0), GC = G ⊙ cos:
//   a_r      = c_r0 ê_pos(r) + (G·Ê)_r                 du_r = (a_r − [‖u_r‖ > eps](û_r·a_r) û_r) / n(u_r)
//   dNeg_j   = ((Gᵀ·Û)_j − [‖e_j‖ > eps] ê_j Σ_r GC_rj) / n(e_j)
// The three products (cos, G·Ê, Gᵀ·Û) run on kernels/matmul; the kernels here are the per-row
// and per-negative glue: norm_rows (û or ê with their norms), fwd (log-sum-exp over a row of cos),
// bwd_rows (G, GC, the positive's terms), du_project, dneg_finish. A row per invocation on a
// CPU adapter beats a workgroup per row (no barriers). Accumulation f32, fixed order:
// bitwise deterministic. Grids fold into 2D: linear id = wid.x + wid.y · nwg.x, bounds-checked.
// SAMPLED = 1 (per-row sampled negatives over shared columns): row r's negatives are the multiset
// {column samples[r, t] : t < S} of the R shared columns, so a column drawn twice counts twice and
// an undrawn one not at all; fwd and bwd_rows read only those columns of cos, and G/GC stay 0 at
// undrawn columns. The GEMMs are unchanged: they run over all R columns (the sampled loss's
// gradient is simply zero at the rest).

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

// ==== kernel: norm_rows ====
// hat[r] = src[row(r)] / max(‖src[row(r)]‖, eps), norm[r] = (max(‖·‖, eps), [‖·‖ > eps]) with
// row(r) = ids[r] when USE_IDS = 1 (negatives gathered from the item table) else r.
struct Params {
  rows: u32,
  d: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> hat: array<f32>;
@group(0) @binding(4) var<storage, read_write> norm: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (r >= params.rows) { return; }
  let d = params.d;
  let sb = select(r, ids[r], {{USE_IDS}}u == 1u) * d;
  var ss = 0.0;
  for (var i = 0u; i < d; i++) { let x = src[sb + i]; ss += x * x; }
  let n = nrm(ss, params.eps);
  for (var i = 0u; i < d; i++) { hat[r * d + i] = src[sb + i] / n; }
  norm[r * 2u] = n;
  norm[r * 2u + 1u] = kept(ss, params.eps);
}

// ==== kernel: fwd ====
// rowLoss_r = log(exp(l_0) + Σ_{j unmasked} exp(cos_rj / τ)) − l_0, l_0 = (û_r·ê_pos) / τ.
struct Params {
  rows: u32,
  r: u32,
  d: u32,
  has_w: u32,
  inv_temp: f32,
  eps: f32,
  s: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u_hat: array<f32>;
@group(0) @binding(2) var<storage, read> pos_src: array<f32>;
@group(0) @binding(3) var<storage, read> pos_ids: array<u32>;
@group(0) @binding(4) var<storage, read> neg_ids: array<u32>;
@group(0) @binding(5) var<storage, read> weights: array<f32>;
@group(0) @binding(6) var<storage, read> cos: array<f32>;
@group(0) @binding(7) var<storage, read_write> row_loss: array<f32>;
@group(0) @binding(8) var<storage, read> samples: array<u32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (row >= params.rows) { return; }
  var w = 1.0;
  if (params.has_w != 0u) { w = weights[row]; }
  if (w == 0.0) { row_loss[row] = 0.0; return; }
  let d = params.d;
  let pid = pos_ids[row];
  let pb = select(row, pid, {{TABLE}}u == 1u) * d;
  var up = 0.0; var pp = 0.0;
  for (var i = 0u; i < d; i++) {
    let y = pos_src[pb + i];
    up += u_hat[row * d + i] * y; pp += y * y;
  }
  let lp = up / nrm(pp, params.eps) * params.inv_temp;
  var m = lp;
  var s = 1.0;
  let count = select(params.r, params.s, {{SAMPLED}}u == 1u);
  for (var t = 0u; t < count; t++) {
    var j = t;
    if ({{SAMPLED}}u == 1u) { j = samples[row * params.s + t]; }
    if (neg_ids[j] == pid) { continue; }
    let l = cos[row * params.r + j] * params.inv_temp;
    if (l > m) { s = s * exp(m - l) + 1.0; m = l; } else { s += exp(l - m); }
  }
  row_loss[row] = m + log(s) - lp;
}

// ==== kernel: bwd_rows ====
// s_r = dLoss·w_r/Σw, lse_r = rowLoss_r + l_0; G_rj = s_r exp(cos_rj/τ − lse_r)/τ (0 if masked),
// GC_rj = G_rj cos_rj; the positive: c_0 = s_r (exp(l_0 − lse_r) − 1)/τ, du_r = c_0 ê_pos (the
// matmul then adds G·Ê), dPos_r = c_0 / n(e_pos) (û − [‖e_pos‖ > eps] cos_0 ê_pos).
struct Params {
  rows: u32,
  r: u32,
  d: u32,
  has_w: u32,
  inv_temp: f32,
  eps: f32,
  dloss: f32,
  s: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u_hat: array<f32>;
@group(0) @binding(2) var<storage, read> pos_src: array<f32>;
@group(0) @binding(3) var<storage, read> pos_ids: array<u32>;
@group(0) @binding(4) var<storage, read> neg_ids: array<u32>;
@group(0) @binding(5) var<storage, read> weights: array<f32>;
@group(0) @binding(6) var<storage, read> row_loss: array<f32>;
@group(0) @binding(7) var<storage, read> inv_w: array<f32>;
@group(0) @binding(8) var<storage, read> cos: array<f32>;
@group(0) @binding(9) var<storage, read_write> du: array<f32>;
@group(0) @binding(10) var<storage, read_write> dpos: array<f32>;
@group(0) @binding(11) var<storage, read_write> g: array<f32>;
@group(0) @binding(12) var<storage, read_write> gc: array<f32>;
@group(0) @binding(13) var<storage, read> samples: array<u32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (row >= params.rows) { return; }
  let d = params.d;
  let R = params.r;
  let ub = row * d;
  var w = 1.0;
  if (params.has_w != 0u) { w = weights[row]; }
  if (w == 0.0) {
    for (var i = 0u; i < d; i++) { du[ub + i] = 0.0; dpos[ub + i] = 0.0; }
    for (var j = 0u; j < R; j++) { g[row * R + j] = 0.0; gc[row * R + j] = 0.0; }
    return;
  }
  let scale = params.dloss * w * inv_w[0];
  let pid = pos_ids[row];
  let pb = select(row, pid, {{TABLE}}u == 1u) * d;
  var up = 0.0; var pp = 0.0;
  for (var i = 0u; i < d; i++) {
    let y = pos_src[pb + i];
    up += u_hat[ub + i] * y; pp += y * y;
  }
  let np = nrm(pp, params.eps);
  let kp = kept(pp, params.eps);
  let cosp = up / np;
  let lp = cosp * params.inv_temp;
  let lse = row_loss[row] + lp;
  let cp = scale * (exp(lp - lse) - 1.0) * params.inv_temp;
  for (var i = 0u; i < d; i++) {
    let eh = pos_src[pb + i] / np;
    du[ub + i] = cp * eh;
    dpos[ub + i] = cp / np * (u_hat[ub + i] - kp * cosp * eh);
  }
  if ({{SAMPLED}}u == 1u) {
    // Undrawn columns get 0; a column drawn n times accumulates n equal terms (in draw order).
    for (var j = 0u; j < R; j++) { g[row * R + j] = 0.0; gc[row * R + j] = 0.0; }
    for (var t = 0u; t < params.s; t++) {
      let j = samples[row * params.s + t];
      if (neg_ids[j] == pid) { continue; }
      let k = row * R + j;
      let cs = cos[k];
      let c = scale * exp(cs * params.inv_temp - lse) * params.inv_temp;
      g[k] += c;
      gc[k] += c * cs;
    }
    return;
  }
  for (var j = 0u; j < R; j++) {
    let k = row * R + j;
    if (neg_ids[j] == pid) { g[k] = 0.0; gc[k] = 0.0; continue; }
    let cs = cos[k];
    let c = scale * exp(cs * params.inv_temp - lse) * params.inv_temp;
    g[k] = c;
    gc[k] = c * cs;
  }
}

// ==== kernel: du_project ====
// du_r = (a_r − [‖u_r‖ > eps] (û_r·a_r) û_r) / n(u_r), in place (a_r = du_r on entry).
struct Params {
  rows: u32,
  d: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u_hat: array<f32>;
@group(0) @binding(2) var<storage, read> norm_u: array<f32>;
@group(0) @binding(3) var<storage, read_write> du: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (row >= params.rows) { return; }
  let d = params.d;
  let ub = row * d;
  var ua = 0.0;
  for (var i = 0u; i < d; i++) { ua += u_hat[ub + i] * du[ub + i]; }
  let nu = norm_u[row * 2u];
  let ku = norm_u[row * 2u + 1u];
  for (var i = 0u; i < d; i++) { du[ub + i] = (du[ub + i] - ku * ua * u_hat[ub + i]) / nu; }
}

// ==== kernel: dneg_finish ====
// dNeg_j = (B_j − [‖e_j‖ > eps] ê_j b_j) / n(e_j), in place (B = Gᵀ·Û on entry, b = colsum(GC)).
struct Params {
  r: u32,
  d: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> neg_hat: array<f32>;
@group(0) @binding(2) var<storage, read> norm_e: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> dneg: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= params.r * params.d) { return; }
  let j = i / params.d;
  dneg[i] = (dneg[i] - norm_e[j * 2u + 1u] * neg_hat[i] * b[j]) / norm_e[j * 2u];
}
