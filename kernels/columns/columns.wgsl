// Strided column-block copy between row-major matrices (split / concatenate along columns):
//   dst[r, dst_col + c] = src[r, src_col + c]            for r < rows, c < width
// Used to split SiLU(n·W_uvqk) into U, V, Q, K and to concatenate their gradients back.
// Decomposition: one invocation per copied element, {{WG}} lanes, 2D grid folding. Exact copy.

struct Params {
  rows: u32,
  width: u32,
  src_cols: u32,
  src_col: u32,
  dst_cols: u32,
  dst_col: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= params.rows * params.width) { return; }
  let r = i / params.width;
  let c = i - r * params.width;
  dst[r * params.dst_cols + params.dst_col + c] = src[r * params.src_cols + params.src_col + c];
}
