// Backward of silu_split.wgsl (math and decomposition there):
//   dh = [da | db | dc | de] · SiLU'(h),  SiLU'(x) = σ(x)·(1 + x·(1 − σ(x))).

struct Params {
  rows: u32,
  wa: u32,
  wb: u32,
  wc: u32,
  we: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> h: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> c: array<f32>;
@group(0) @binding(5) var<storage, read> e: array<f32>;
@group(0) @binding(6) var<storage, read_write> dh: array<f32>;

// As in kernels/elementwise/elementwise.wgsl (identical expression: identical rounding).
fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

fn silu_grad(x: f32, dy: f32) -> f32 {
  let s = sigmoid(x);
  return dy * s * (1.0 + x * (1.0 - s));
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
      dh[hb + j] = silu_grad(h[hb + j], a[row * w + j]);
    }
  } else if (blk == 1u) {
    let w = params.wb;
    let o = hb + params.wa;
    for (var j = 0u; j < w; j++) {
      dh[o + j] = silu_grad(h[o + j], b[row * w + j]);
    }
  } else if (blk == 2u) {
    let w = params.wc;
    let o = hb + params.wa + params.wb;
    for (var j = 0u; j < w; j++) {
      dh[o + j] = silu_grad(h[o + j], c[row * w + j]);
    }
  } else {
    let w = params.we;
    let o = hb + params.wa + params.wb + params.wc;
    for (var j = 0u; j < w; j++) {
      dh[o + j] = silu_grad(h[o + j], e[row * w + j]);
    }
  }
}
