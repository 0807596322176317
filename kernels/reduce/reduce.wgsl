// Row and column reductions of a row-major [rows, cols] f32 tensor x.
//   row_sum:       out[r]  = Σ_c x[r, c]
//   row_mean_var:  mean[r] = Σ_c x[r, c] / cols,  var[r] = Σ_c (x[r, c] − mean[r])² / cols
//                  (population variance, two passes over the row: no cancellation; computed as
//                  mean = k + Σ(x − k)/cols with k = x[r, 0], so a large common offset costs no
//                  precision)
//   column_sum:    out[k, c] = Σ_{r in chunk k} x[r, c],  chunk k = rows [k·chunk, (k+1)·chunk)
//                  (the host runs it twice when there is more than one chunk: partials, then
//                  their column sum; a fixed order, no atomics, so results are deterministic)
// Decomposition (rows), two layouts (compile-time LANE_ROWS, chosen by the host):
//   LANE_ROWS = true (CPU adapters such as lavapipe, where barriers and workgroup memory cost
//     more than they save): one lane per row, {{WG}} rows per workgroup, a serial blocked loop.
//   LANE_ROWS = false (GPUs, or very long rows): one workgroup per row ({{WG}} lanes, 2D-folded
//     grid); lane l sums the columns l, l+WG, ... then ONE barrier and every lane adds the WG
//     partials in the same fixed order (an all-reduce with a single barrier). Decomposition (columns): one lane per column,
// workgroups (x) over column blocks of {{WG}}, (y) over row chunks.
// Accumulation: f32, blocked: each lane adds BLOCK terms into an inner sum that is then added
// to an outer sum, so the error grows like (BLOCK + n/BLOCK)·eps instead of n·eps (1e5-column
// rows stay at ~1e-6 relative). No Kahan: compilers may legally re-associate it away.

struct Params {
  rows: u32,
  cols: u32,
  chunk: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_a: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_b: array<f32>;

const WG: u32 = {{WG}}u;
const BLOCK: u32 = 32u;
const LANE_ROWS: bool = {{LANE_ROWS}};

var<workgroup> red_a: array<f32, {{WG}}>;
var<workgroup> red_b: array<f32, {{WG}}>;

// Lane lid's blocked partial sum of x[base + c] − k for c = lid, lid + stride, ... < n.
fn lane_sum(base: u32, n: u32, lid: u32, stride: u32, k: f32) -> f32 {
  var outer = 0.0;
  for (var c0 = lid; c0 < n; c0 += stride * BLOCK) {
    let c1 = min(c0 + stride * BLOCK, n);
    var inner = 0.0;
    for (var c = c0; c < c1; c += stride) { inner += x[base + c] - k; }
    outer += inner;
  }
  return outer;
}

// Same, of ((x − k) − m)².
fn lane_sq_dev(base: u32, n: u32, lid: u32, stride: u32, k: f32, m: f32) -> f32 {
  var outer = 0.0;
  for (var c0 = lid; c0 < n; c0 += stride * BLOCK) {
    let c1 = min(c0 + stride * BLOCK, n);
    var inner = 0.0;
    for (var c = c0; c < c1; c += stride) { let d = (x[base + c] - k) - m; inner += d * d; }
    outer += inner;
  }
  return outer;
}

// Fixed-order sum of the WG partials, identical in every lane. Pairs of 8 keep it pairwise-ish.
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

fn lane_row_sum(row: u32) {
  if (row >= params.rows) { return; }
  out_a[row] = lane_sum(row * params.cols, params.cols, 0u, 1u, 0.0);
}

fn lane_row_mean_var(row: u32) {
  if (row >= params.rows) { return; }
  let base = row * params.cols;
  let n = f32(params.cols);
  let k = x[base];
  let m = lane_sum(base, params.cols, 0u, 1u, k) / n;
  out_a[row] = k + m;
  out_b[row] = lane_sq_dev(base, params.cols, 0u, 1u, k, m) / n;
}

@compute @workgroup_size({{WG}})
fn row_sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (LANE_ROWS) {
    lane_row_sum(g * WG + lid);
    return;
  }
  if (g >= params.rows) { return; }
  red_a[lid] = lane_sum(g * params.cols, params.cols, lid, WG, 0.0);
  workgroupBarrier();
  if (lid == 0u) { out_a[g] = sum_a(); }
}

@compute @workgroup_size({{WG}})
fn row_mean_var(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  if (LANE_ROWS) {
    lane_row_mean_var(g * WG + lid);
    return;
  }
  if (g >= params.rows) { return; }
  let base = g * params.cols;
  let n = f32(params.cols);
  let k = x[base];
  red_a[lid] = lane_sum(base, params.cols, lid, WG, k);
  workgroupBarrier();
  let m = sum_a() / n;
  red_b[lid] = lane_sq_dev(base, params.cols, lid, WG, k, m);
  workgroupBarrier();
  if (lid == 0u) {
    out_a[g] = k + m;
    out_b[g] = sum_b() / n;
  }
}

@compute @workgroup_size({{WG}})
fn column_sum(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let col = wid.x * WG + lid;
  let cols = params.cols;
  if (col >= cols) { return; }
  let r0 = wid.y * params.chunk;
  let r1 = min(r0 + params.chunk, params.rows);
  var outer = 0.0;
  for (var b0 = r0; b0 < r1; b0 += BLOCK) {
    let b1 = min(b0 + BLOCK, r1);
    var inner = 0.0;
    for (var r = b0; r < b1; r++) { inner += x[r * cols + col]; }
    outer += inner;
  }
  out_a[wid.y * cols + col] = outer;
}
