// Backward of layer norm and of the fused HSTU gate, from the saved per-row mean and rstd.
//   n = (x − mean) · rstd  (recomputed, never stored)
//   OP = 0 (layer_norm):  dn = dy · gamma[c] (AFFINE) or dy
//   OP = 1 (gate):        g = keep(seed, i) ? dz / (1 − p) : 0  (i = r·cols + c),
//                         dU = g · n  (written to da),  dn = g · u
//   both:  dx = rstd · (dn − Σ_c dn / cols − n · Σ_c (dn · n) / cols)
//   OP = 2 (param partials of the affine layer norm): for row chunk k and column c,
//          pg[k, c] = Σ_{r in chunk k} dy · n,  pb[k, c] = Σ_{r in chunk k} dy
//          (then summed over chunks by kernels/reduce column_sum: dgamma, dbeta; deterministic)
// keep() is the counter-based mask of kernels/elementwise (hash32, dropout_keep copied verbatim).
// Decomposition: OP 0/1 either one lane per row ({{WG}} rows per workgroup, no barriers:
// LANE_ROWS, for CPU adapters) or one workgroup per row ({{WG}} lanes, 2D-folded grid) with both
// row sums in one all-reduce of vec2 partials and ONE barrier; then a second pass writes.
// OP 2: one lane per column, workgroups (x) over column blocks, (y) over row chunks.
// Accumulation: f32, blocked (BLOCK terms per inner sum).

struct Params {
  rows: u32,
  cols: u32,
  p: f32,
  seed: u32,
  chunk: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;        // x (layer_norm) or O (gate)
@group(0) @binding(2) var<storage, read> dy: array<f32>;       // dy or dz
@group(0) @binding(3) var<storage, read> a: array<f32>;        // gamma [cols] or u [rows, cols]
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>; // dx / dO / pg
@group(0) @binding(7) var<storage, read_write> da: array<f32>; // dU / pb (unused by OP 0)

//#include nan

const WG: u32 = {{WG}}u;
const BLOCK: u32 = 32u;
const OP: u32 = {{OP}}u;
const AFFINE: bool = {{AFFINE}};
const LANE_ROWS: bool = {{LANE_ROWS}};

var<workgroup> red: array<vec2f, {{WG}}>;

fn hash32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u; x *= 0x7feb352du;
  x ^= x >> 15u; x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn dropout_keep(i: u32, seed: u32, p: f32) -> bool {
  let r = hash32(i ^ hash32(seed ^ 0x9e3779b9u));
  return f32(r >> 8u) >= p * 16777216.0;
}

// Upstream gradient of n at flat index i (column c): dy·gamma, dy, or the gate's g·u.
fn grad_n(i: u32, c: u32) -> f32 {
  if (OP == 1u) {
    let g = select(nan_zeroed(dy[i]), dy[i] / (1.0 - params.p), dropout_keep(i, params.seed, params.p));
    return g * a[i];
  }
  if (AFFINE) { return dy[i] * a[c]; }
  return dy[i];
}

fn row_partial(row: u32, lid: u32, stride: u32) -> vec2f {
  let cols = params.cols;
  let base = row * cols;
  let mu = mean[row];
  let rs = rstd[row];
  var outer = vec2f(0.0);
  for (var c0 = lid; c0 < cols; c0 += stride * BLOCK) {
    let c1 = min(c0 + stride * BLOCK, cols);
    var inner = vec2f(0.0);
    for (var c = c0; c < c1; c += stride) {
      let i = base + c;
      let dn = grad_n(i, c);
      inner += vec2f(dn, dn * (x[i] - mu) * rs);
    }
    outer += inner;
  }
  return outer;
}

fn row_write(row: u32, lid: u32, stride: u32, s: vec2f) {
  let cols = params.cols;
  let base = row * cols;
  let mu = mean[row];
  let rs = rstd[row];
  let m1 = s.x / f32(cols);
  let m2 = s.y / f32(cols);
  for (var c = lid; c < cols; c += stride) {
    let i = base + c;
    let n = (x[i] - mu) * rs;
    dx[i] = rs * (grad_n(i, c) - m1 - n * m2);
    if (OP == 1u) {
      let g = select(nan_zeroed(dy[i]), dy[i] / (1.0 - params.p), dropout_keep(i, params.seed, params.p));
      da[i] = g * n;
    }
  }
}

fn lane_row(row: u32) {
  if (row >= params.rows) { return; }
  row_write(row, 0u, 1u, row_partial(row, 0u, 1u));
}

fn workgroup_row(row: u32, lid: u32) {
  red[lid] = row_partial(row, lid, WG);
  workgroupBarrier();
  var s = vec2f(0.0);
  for (var k = 0u; k < WG; k += 8u) {
    var t = vec2f(0.0);
    for (var j = k; j < min(k + 8u, WG); j++) { t += red[j]; }
    s += t;
  }
  row_write(row, lid, WG, s);
}

fn param_partials(col: u32, chunk: u32) {
  let cols = params.cols;
  if (col >= cols) { return; }
  let r0 = chunk * params.chunk;
  let r1 = min(r0 + params.chunk, params.rows);
  var og = 0.0;
  var ob = 0.0;
  for (var b0 = r0; b0 < r1; b0 += BLOCK) {
    let b1 = min(b0 + BLOCK, r1);
    var ig = 0.0;
    var ib = 0.0;
    for (var r = b0; r < b1; r++) {
      let i = r * cols + col;
      let g = dy[i];
      ig += g * (x[i] - mean[r]) * rstd[r];
      ib += g;
    }
    og += ig;
    ob += ib;
  }
  dx[chunk * cols + col] = og;
  da[chunk * cols + col] = ob;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (OP == 2u) {
    param_partials(wid.x * WG + lid, wid.y);
  } else if (LANE_ROWS) {
    lane_row((wid.x + wid.y * nwg.x) * WG + lid);
  } else {
    let row = wid.x + wid.y * nwg.x;
    if (row < params.rows) { workgroup_row(row, lid); }
  }
  _ = a[0];
  _ = da[0];
}
