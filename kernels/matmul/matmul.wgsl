// matmul: the uniform block and epilogue shared by every variant (prepended to each of
// matmul_naive.wgsl, matmul_regblock.wgsl, matmul_vec4.wgsl, matmul_subgroup.wgsl, matmul_tiled.wgsl;
// vec4 and subgroup rebind A and/or B as vec4 arrays where their layout allows). The math:
//   C[b, i, j] = (accumulate ? C[b, i, j] : 0) + alpha · Σ_p A[b, i, p] · B[b', p, j] + bias[j]
// with A(i, p) = a[b·a_bs + i·a_rs + p·a_ps] and B(p, j) = b[b'·b_bs + p·b_ps + j·b_js]: the host
// encodes transA/transB as strides (transA: a_rs = 1, a_ps = m) and broadcastB as b_bs = 0, so one
// pipeline per variant serves every shape and layout. Accumulation: f32.

struct Params {
  m: u32, n: u32, k: u32, batch: u32,
  a_bs: u32, a_rs: u32, a_ps: u32,
  b_bs: u32, b_ps: u32, b_js: u32,
  tiles_m: u32, tiles_n: u32,
  has_bias: u32, accumulate: u32,
  alpha: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;   // a dummy (A) when has_bias = 0
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// Writes one finished output element (i < m, j < n checked by the caller).
fn store_out(batch: u32, i: u32, j: u32, acc: f32) {
  let idx = (batch * params.m + i) * params.n + j;
  var v = params.alpha * acc;
  if (params.has_bias != 0u) { v += bias[j]; }
  if (params.accumulate != 0u) { v += c[idx]; }
  c[idx] = v;
}
