// matmul, B packing for the subgroup variant's uniform-buffer path (B = ubo in
// matmul_subgroup.wgsl): copies B, in any layout, into 64 KiB windows of 512 k × 32 columns,
//   bp[w · 4096 + kk · 8 + l] = vec4(B(c·512 + kk, j·32 + 4l + 0..3)),  w = (bt · panels + j) · chunks + c,
// with zeros past k and n, so that a dispatch binds one window as `array<vec4<f32>, 4096>`.
// B(bt, p, col) = b[bt·b_bs + p·b_ps + col·b_js] (transB and broadcastB are strides, as in
// matmul.wgsl). One invocation per vec4; {{WG}} lanes per workgroup, 2D grid folding.

struct PackParams {
  n: u32, k: u32,
  b_bs: u32, b_ps: u32, b_js: u32,
  panels: u32, chunks: u32, total: u32,
}

@group(0) @binding(0) var<uniform> params: PackParams;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> bp: array<vec4<f32>>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (e >= params.total) { return; }
  let w = e / 4096u;
  let kk = (e % 4096u) / 8u;
  let l = e % 8u;
  let c = w % params.chunks;
  let j = (w / params.chunks) % params.panels;
  let bt = w / (params.chunks * params.panels);
  let p = c * 512u + kk;
  let col = j * 32u + 4u * l;
  var v = vec4<f32>(0.0);
  if (p < params.k) {
    let base = bt * params.b_bs + p * params.b_ps;
    for (var q = 0u; q < 4u; q++) {
      if (col + q < params.n) { v[q] = b[base + (col + q) * params.b_js]; }
    }
  }
  bp[e] = v;
}
