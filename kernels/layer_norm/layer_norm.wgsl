// Layer norm forward and the fused HSTU gate forward, over rows of a row-major [rows, cols] f32.
//   mean = k + Σ_c (x[r, c] − k) / cols (k = x[r, 0], a shift that keeps offset rows exact),  var = Σ_c (x[r, c] − mean)² / cols (population, two passes),
//   rstd = 1 / sqrt(var + eps),  n[r, c] = (x[r, c] − mean) · rstd
//   GATE = 0 (layer_norm):  y = n               (AFFINE = 1: y = n · gamma[c] + beta[c])
//   GATE = 1 (gate):        z = keep(seed, i) ? u[i] · n / (1 − p) : 0,   i = r · cols + c
//                           (HSTU's Dropout(U ⊙ LayerNorm(O)) in one pass; x is O; no affine;
//                           a dropped non-finite u·n gives NaN, not 0: nan_zeroed)
//   SAVE = 1: mean[r] and rstd[r] are stored for the backward pass.
// keep(seed, i) is the counter-based dropout mask of kernels/elementwise (hash32, dropout_keep
// copied verbatim below), so the mask equals dropout() applied to the flat [rows·cols] tensor.
// Decomposition, two layouts (compile-time LANE_ROWS):
//   LANE_ROWS = true (CPU adapters, lavapipe): one lane per row, {{WG}} rows per workgroup, no
//     barriers and no workgroup memory (measured 2–3× faster than a workgroup per row there).
//   LANE_ROWS = false (GPUs): one workgroup per row ({{WG}} lanes, 2D-folded grid); lane l
//     handles the columns l, l+WG, ...; the two row sums are all-reduces with ONE barrier each
//     (every lane adds the WG partials in the same fixed order, see kernels/reduce).
// The row is read three times (sum, squared deviations, output); rows of a few KiB stay in cache.
// Accumulation: f32, blocked (BLOCK terms per inner sum) as in kernels/reduce.

//#include nan

struct Params {
  rows: u32,
  cols: u32,
  eps: f32,
  p: f32,
  seed: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;       // gamma [cols] (layer_norm) or u [rows, cols] (gate)
@group(0) @binding(3) var<storage, read> b: array<f32>;       // beta [cols] (layer_norm; unused by gate)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> rstd_out: array<f32>;

const WG: u32 = {{WG}}u;
const BLOCK: u32 = 32u;
const GATE: bool = {{GATE}};
const AFFINE: bool = {{AFFINE}};
const SAVE: bool = {{SAVE}};
const LANE_ROWS: bool = {{LANE_ROWS}};

var<workgroup> red_a: array<f32, {{WG}}>;
var<workgroup> red_b: array<f32, {{WG}}>;

// "lowbias32" integer hash (Chris Wellons) — copied from kernels/elementwise/elementwise.wgsl.
fn hash32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u; x *= 0x7feb352du;
  x ^= x >> 15u; x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

// Copied from kernels/elementwise/elementwise.wgsl: the definition of our dropout masks.
fn dropout_keep(i: u32, seed: u32, p: f32) -> bool {
  let r = hash32(i ^ hash32(seed ^ 0x9e3779b9u));
  return f32(r >> 8u) >= p * 16777216.0;
}

fn sum_a() -> f32 {
  var s = 0.0;
  for (var i = 0u; i < WG; i += 8u) {
    var t = 0.0;
    for (var j = i; j < min(i + 8u, WG); j++) { t += red_a[j]; }
    s += t;
  }
  return s;
}
fn sum_b() -> f32 {
  var s = 0.0;
  for (var i = 0u; i < WG; i += 8u) {
    var t = 0.0;
    for (var j = i; j < min(i + 8u, WG); j++) { t += red_b[j]; }
    s += t;
  }
  return s;
}

// Lane lid's blocked partial sum over the columns lid, lid + stride, ... of row `base`, of
// v = x − k or, with sq, of (v − m)². k = the row's first element: sums of shifted values keep
// their f32 precision for rows with a large common offset (mean = k + Σ v / cols).
fn row_part(base: u32, cols: u32, lid: u32, stride: u32, sq: bool, k: f32, m: f32) -> f32 {
  var outer = 0.0;
  for (var c0 = lid; c0 < cols; c0 += stride * BLOCK) {
    let c1 = min(c0 + stride * BLOCK, cols);
    var inner = 0.0;
    for (var c = c0; c < c1; c += stride) {
      let v = x[base + c] - k;
      if (sq) { let d = v - m; inner += d * d; } else { inner += v; }
    }
    outer += inner;
  }
  return outer;
}

fn finish_row(row: u32, lid: u32, stride: u32, k: f32, m: f32, rstd: f32) {
  let base = row * params.cols;
  let scale = 1.0 / (1.0 - params.p);
  for (var c = lid; c < params.cols; c += stride) {
    let i = base + c;
    var v = ((x[i] - k) - m) * rstd;
    if (GATE) {
      v = select(nan_zeroed(a[i] * v), a[i] * v * scale, dropout_keep(i, params.seed, params.p));
    } else if (AFFINE) {
      v = v * a[c] + b[c];
    }
    y[i] = v;
  }
  if (SAVE && lid == 0u) {
    mean_out[row] = k + m;
    rstd_out[row] = rstd;
  }
}

fn lane_row(row: u32) {
  if (row >= params.rows) { return; }
  let cols = params.cols;
  let n = f32(cols);
  let k = x[row * cols];
  let m = row_part(row * cols, cols, 0u, 1u, false, k, 0.0) / n;
  let rstd = 1.0 / sqrt(row_part(row * cols, cols, 0u, 1u, true, k, m) / n + params.eps);
  finish_row(row, 0u, 1u, k, m, rstd);
}

fn workgroup_row(row: u32, lid: u32) {
  let cols = params.cols;
  let n = f32(cols);
  let k = x[row * cols];
  red_a[lid] = row_part(row * cols, cols, lid, WG, false, k, 0.0);
  workgroupBarrier();
  let m = sum_a() / n;
  red_b[lid] = row_part(row * cols, cols, lid, WG, true, k, m);
  workgroupBarrier();
  let rstd = 1.0 / sqrt(sum_b() / n + params.eps);
  finish_row(row, lid, WG, k, m, rstd);
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (LANE_ROWS) {
    lane_row(g * WG + lid);
  } else if (g < params.rows) {
    workgroup_row(g, lid);
  }
  // Every binding must be statically used (layout 'auto'), whichever variant this is.
  _ = a[0];
  _ = b[0];
  _ = mean_out[0];
  _ = rstd_out[0];
}
