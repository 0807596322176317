// Sampled-softmax loss, backward (math and notation in sampled_softmax.wgsl).
//
// With s_r = dLoss · w_r / Σ w (the gradient of the weighted mean), p_k = softmax over the
// unmasked logits of row r, lse_r = rowLoss_r + l_0 (the forward's per-row CE for the SAME
// inputs: the backward reads it instead of recomputing the log-sum-exp):
//   g_0 = s_r (p_0 − 1),   g_j = s_r p_j (j unmasked),   g_j = 0 (masked)
//   c_k = g_k / τ          (gradient w.r.t. the cosine)
// Through x̂ = x / max(‖x‖, eps): ∂x̂/∂x = (I − x̂ x̂ᵀ)/‖x‖ when ‖x‖ > eps, I/eps when clamped, so
//   de_k = c_k / n(e_k) · (û − [‖e_k‖ > eps] cos_k ê_k)
//   a    = Σ_k c_k ê_k,   du = (a − [‖u‖ > eps] (û·a) û) / n(u)
// Outputs cover rows [row_start, row_start + rows): dU [rows, d], dPos [rows, d] (gradient of
// the positive's item row), dNeg [rows, R, d] (gradient of each negative slot's item row; zero
// for masked slots); rows with w = 0 get zeros. The caller scatter-adds dPos/dNeg into the table.
//
// SHARED = 1 (one negative set [R] for all rows): bwd writes, instead of dNeg, the per-(r, j)
// pair coef [P, R, 2] = (c_rj / n(u_r), c_rj · cos_rj), and shared_dneg reduces over rows in
// order (deterministic): dNeg[j] = (Σ_r coef0 u_r − [‖e_j‖ > eps] ê_j Σ_r coef1) / n(e_j) [R, d].
//
// Decomposition (bwd): one invocation per row; dU's row doubles as the accumulator of a (the
// row is private to its invocation). Accumulation f32. naive_*: the baseline that materialises
// dlogits [P, R+1] (naive_dlogits, a row per invocation), then item gradients one invocation per
// (r, k) (naive_ditem) and dU one invocation per row (naive_du), norms recomputed everywhere.
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

// ==== kernel: bwd ====
struct Params {
  row_start: u32,
  rows: u32,
  r: u32,
  d: u32,
  has_w: u32,
  inv_temp: f32,
  eps: f32,
  dloss: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> pos_src: array<f32>;
@group(0) @binding(3) var<storage, read> neg_src: array<f32>;
@group(0) @binding(4) var<storage, read> neg_ids: array<u32>;
@group(0) @binding(5) var<storage, read> pos_ids: array<u32>;
@group(0) @binding(6) var<storage, read> weights: array<f32>;
@group(0) @binding(7) var<storage, read> row_loss: array<f32>;
@group(0) @binding(8) var<storage, read> inv_w: array<f32>;
@group(0) @binding(9) var<storage, read_write> du: array<f32>;
@group(0) @binding(10) var<storage, read_write> dpos: array<f32>;
@group(0) @binding(11) var<storage, read_write> dneg: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (t >= params.rows) { return; }
  let row = params.row_start + t;
  let d = params.d;
  let R = params.r;
  let ub = row * d;
  let ob = t * d;
  var w = 1.0;
  if (params.has_w != 0u) { w = weights[row]; }
  if (w == 0.0) {
    for (var i = 0u; i < d; i++) { du[ob + i] = 0.0; dpos[ob + i] = 0.0; }
    let per = select(R * d, R * 2u, {{SHARED}}u == 1u);
    for (var i = 0u; i < per; i++) { dneg[t * per + i] = 0.0; }
    return;
  }
  let scale = params.dloss * w * inv_w[0];
  let pid = pos_ids[row];
  let pb = select(row, pid, {{TABLE}}u == 1u) * d;
  var uu = 0.0; var up = 0.0; var pp = 0.0;
  for (var i = 0u; i < d; i++) {
    let x = u[ub + i];
    let y = pos_src[pb + i];
    uu += x * x; up += x * y; pp += y * y;
  }
  let nu = nrm(uu, params.eps);
  let ku = kept(uu, params.eps);
  let np = nrm(pp, params.eps);
  let kp = kept(pp, params.eps);
  let cosp = up / (nu * np);
  let lp = cosp * params.inv_temp;
  let lse = row_loss[row] + lp;
  let cp = scale * (exp(lp - lse) - 1.0) * params.inv_temp;
  for (var i = 0u; i < d; i++) {
    let uh = u[ub + i] / nu;
    let eh = pos_src[pb + i] / np;
    du[ob + i] = cp * eh;
    dpos[ob + i] = cp / np * (uh - kp * cosp * eh);
  }
  for (var j = 0u; j < R; j++) {
    let slot = select(row * R + j, j, {{SHARED}}u == 1u);
    let gb = (t * R + j) * d;
    let nid = neg_ids[slot];
    if (nid == pid) {
      if ({{SHARED}}u == 1u) { dneg[(t * R + j) * 2u] = 0.0; dneg[(t * R + j) * 2u + 1u] = 0.0; continue; }
      for (var i = 0u; i < d; i++) { dneg[gb + i] = 0.0; }
      continue;
    }
    let eb = select(slot, nid, {{TABLE}}u == 1u) * d;
    var ue = 0.0; var ee = 0.0;
    for (var i = 0u; i < d; i++) {
      let y = neg_src[eb + i];
      ue += u[ub + i] * y; ee += y * y;
    }
    let ne = nrm(ee, params.eps);
    let ke = kept(ee, params.eps);
    let cs = ue / (nu * ne);
    let c = scale * exp(cs * params.inv_temp - lse) * params.inv_temp;
    if ({{SHARED}}u == 1u) {
      dneg[(t * R + j) * 2u] = c / nu;
      dneg[(t * R + j) * 2u + 1u] = c * cs;
      for (var i = 0u; i < d; i++) { du[ob + i] += c * neg_src[eb + i] / ne; }
    } else {
      for (var i = 0u; i < d; i++) {
        let eh = neg_src[eb + i] / ne;
        du[ob + i] += c * eh;
        dneg[gb + i] = c / ne * (u[ub + i] / nu - ke * cs * eh);
      }
    }
  }
  var ua = 0.0;
  for (var i = 0u; i < d; i++) { ua += u[ub + i] * du[ob + i]; }
  ua /= nu;
  for (var i = 0u; i < d; i++) {
    du[ob + i] = (du[ob + i] - ku * ua * u[ub + i] / nu) / nu;
  }
}

// ==== kernel: shared_dneg ====
struct Params {
  rows: u32,
  r: u32,
  d: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> neg_src: array<f32>;
@group(0) @binding(3) var<storage, read> neg_ids: array<u32>;
@group(0) @binding(4) var<storage, read> coef: array<f32>;
@group(0) @binding(5) var<storage, read_write> dneg: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  let d = params.d;
  if (i >= params.r * d) { return; }
  let j = i / d;
  let col = i - j * d;
  let eb = select(j, neg_ids[j], {{TABLE}}u == 1u) * d;
  var ee = 0.0;
  for (var q = 0u; q < d; q++) { let y = neg_src[eb + q]; ee += y * y; }
  let ne = nrm(ee, params.eps);
  let ke = kept(ee, params.eps);
  var a = 0.0;
  var b = 0.0;
  for (var r = 0u; r < params.rows; r++) {
    let cb = (r * params.r + j) * 2u;
    a += coef[cb] * u[r * d + col];
    b += coef[cb + 1u];
  }
  dneg[i] = (a - ke * neg_src[eb + col] / ne * b) / ne;
}

// ==== kernel: naive_dlogits ====
// G[r, k] = dLoss/dl_k / τ = c_k, from the materialised logits (masked entries hold −3e38).
struct Params {
  rows: u32,
  r: u32,
  has_w: u32,
  inv_temp: f32,
  dloss: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read> inv_w: array<f32>;
@group(0) @binding(4) var<storage, read_write> g: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (row >= params.rows) { return; }
  let base = row * (params.r + 1u);
  var w = 1.0;
  if (params.has_w != 0u) { w = weights[row]; }
  let scale = params.dloss * w * inv_w[0];
  var m = logits[base];
  for (var k = 1u; k <= params.r; k++) { m = max(m, logits[base + k]); }
  var s = 0.0;
  for (var k = 0u; k <= params.r; k++) { s += exp(logits[base + k] - m); }
  for (var k = 0u; k <= params.r; k++) {
    let p = exp(logits[base + k] - m) / s;
    g[base + k] = select(0.0, scale * (p - select(0.0, 1.0, k == 0u)) * params.inv_temp, w != 0.0);
  }
}

// ==== kernel: naive_ditem ====
struct Params {
  total: u32,      // P · (R + 1)
  r: u32,
  d: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> pos_src: array<f32>;
@group(0) @binding(3) var<storage, read> neg_src: array<f32>;
@group(0) @binding(4) var<storage, read> neg_ids: array<u32>;
@group(0) @binding(5) var<storage, read> pos_ids: array<u32>;
@group(0) @binding(6) var<storage, read> g: array<f32>;
@group(0) @binding(7) var<storage, read_write> dpos: array<f32>;
@group(0) @binding(8) var<storage, read_write> dneg: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= params.total) { return; }
  let row = i / (params.r + 1u);
  let k = i - row * (params.r + 1u);
  let d = params.d;
  let ub = row * d;
  let c = g[i];
  var eb = 0u;
  var ob = 0u;
  if (k == 0u) {
    eb = select(row, pos_ids[row], {{TABLE}}u == 1u) * d;
    ob = row * d;
  } else {
    let slot = row * params.r + k - 1u;
    eb = select(slot, neg_ids[slot], {{TABLE}}u == 1u) * d;
    ob = slot * d;
    // A masked slot (the positive drawn as a negative) is skipped, not scaled by its zero
    // gradient: 0 · Inf = NaN would put its embedding's non-finite values into the gradient.
    if (neg_ids[slot] == pos_ids[row]) {
      for (var q = 0u; q < d; q++) { dneg[ob + q] = 0.0; }
      return;
    }
  }
  var uu = 0.0; var ue = 0.0; var ee = 0.0;
  for (var q = 0u; q < d; q++) {
    let x = u[ub + q];
    var y = 0.0;
    if (k == 0u) { y = pos_src[eb + q]; } else { y = neg_src[eb + q]; }
    uu += x * x; ue += x * y; ee += y * y;
  }
  let nu = nrm(uu, params.eps);
  let ne = nrm(ee, params.eps);
  let ke = kept(ee, params.eps);
  let cs = ue / (nu * ne);
  for (var q = 0u; q < d; q++) {
    var y = 0.0;
    if (k == 0u) { y = pos_src[eb + q]; } else { y = neg_src[eb + q]; }
    let v = c / ne * (u[ub + q] / nu - ke * cs * y / ne);
    if (k == 0u) { dpos[ob + q] = v; } else { dneg[ob + q] = v; }
  }
}

// ==== kernel: naive_du ====
struct Params {
  rows: u32,
  r: u32,
  d: u32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> pos_src: array<f32>;
@group(0) @binding(3) var<storage, read> neg_src: array<f32>;
@group(0) @binding(4) var<storage, read> neg_ids: array<u32>;
@group(0) @binding(5) var<storage, read> pos_ids: array<u32>;
@group(0) @binding(6) var<storage, read> g: array<f32>;
@group(0) @binding(7) var<storage, read_write> du: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (row >= params.rows) { return; }
  let d = params.d;
  let ub = row * d;
  var uu = 0.0;
  for (var q = 0u; q < d; q++) { uu += u[ub + q] * u[ub + q]; du[ub + q] = 0.0; }
  let nu = nrm(uu, params.eps);
  let ku = kept(uu, params.eps);
  for (var k = 0u; k <= params.r; k++) {
    let c = g[row * (params.r + 1u) + k];
    var eb = 0u;
    if (k == 0u) { eb = select(row, pos_ids[row], {{TABLE}}u == 1u) * d; }
    else {
      let slot = row * params.r + k - 1u;
      if (neg_ids[slot] == pos_ids[row]) { continue; }   // masked: skipped, never 0 · embedding
      eb = select(slot, neg_ids[slot], {{TABLE}}u == 1u) * d;
    }
    var ee = 0.0;
    for (var q = 0u; q < d; q++) {
      var y = 0.0;
      if (k == 0u) { y = pos_src[eb + q]; } else { y = neg_src[eb + q]; }
      ee += y * y;
    }
    let ne = nrm(ee, params.eps);
    for (var q = 0u; q < d; q++) {
      var y = 0.0;
      if (k == 0u) { y = pos_src[eb + q]; } else { y = neg_src[eb + q]; }
      du[ub + q] += c * y / ne;
    }
  }
  var ua = 0.0;
  for (var q = 0u; q < d; q++) { ua += u[ub + q] * du[ub + q]; }
  ua /= nu;
  for (var q = 0u; q < d; q++) { du[ub + q] = (du[ub + q] - ku * ua * u[ub + q] / nu) / nu; }
}
