// HSTU's SiLU + column split and its backward, fused (DESIGN.md §2: U,V,Q,K = split(SiLU(h))):
//   silu_split:       [a | b | c | e] = SiLU(h)            h [rows, wa+wb+wc+we], blocks row-major
//   silu_concat_bwd:  dh = [da | db | dc | de] · SiLU'(h)
// with SiLU(x) = x·σ(x), SiLU'(x) = σ(x)·(1 + x·(1 − σ(x))) — the same expressions as
// kernels/elementwise (so the fused and unfused paths agree). The unfused path wrote SiLU(h) to a
// temporary and then copied each block with one dispatch (5 passes over the data; 4 + 1 backward).
// This file: the forward; silu_concat_bwd.wgsl: the backward.
// Decomposition: one invocation per (block, row) pair (block-major), {{WG}} lanes, 2D grid folding
// (linear id = wid.x + wid.y · nwg.x), a loop over the block's columns (contiguous in both the
// wide matrix and the block). Exact f32 elementwise math, no accumulation.

struct Params {
  rows: u32,
  wa: u32,
  wb: u32,
  wc: u32,
  we: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> h: array<f32>;
@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read_write> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read_write> e: array<f32>;

// As in kernels/elementwise/elementwise.wgsl (identical expression: identical rounding).
fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

fn silu(x: f32) -> f32 {
  return x * sigmoid(x);
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= params.rows * 4u) { return; }
  // Block-major lane order: neighbouring lanes (one SIMD group on a CPU adapter) take the same
  // branch; row-major (i >> 2) would run all four branches masked.
  let blk = i / params.rows;
  let row = i - blk * params.rows;
  let cols = params.wa + params.wb + params.wc + params.we;
  let hb = row * cols;
  if (blk == 0u) {
    let w = params.wa;
    for (var j = 0u; j < w; j++) {
      a[row * w + j] = silu(h[hb + j]);
    }
  } else if (blk == 1u) {
    let w = params.wb;
    let o = hb + params.wa;
    for (var j = 0u; j < w; j++) {
      b[row * w + j] = silu(h[o + j]);
    }
  } else if (blk == 2u) {
    let w = params.wc;
    let o = hb + params.wa + params.wb;
    for (var j = 0u; j < w; j++) {
      c[row * w + j] = silu(h[o + j]);
    }
  } else {
    let w = params.we;
    let o = hb + params.wa + params.wb + params.wc;
    for (var j = 0u; j < w; j++) {
      e[row * w + j] = silu(h[o + j]);
    }
  }
}
