// Gather rows of a dense row-major matrix by index: out[i, c] = table[ids[i], c].
// Used for the (small, dense, AdamW-trained) position embedding. Ids are validated on the host;
// an out-of-range id reads as NaN, never as another row.
// Decomposition: one invocation per output element, {{WG}} lanes, 2D grid folding. Exact copy.

struct Params {
  count: u32,
  dim: u32,
  rows: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= params.count * params.dim) { return; }
  let r = i / params.dim;
  let c = i - r * params.dim;
  let id = ids[r];
  // NaN built at run time (a constant NaN is a WGSL compile error).
  let nan = bitcast<f32>(0x7fc00000u | (params.rows & 0u));
  out[i] = select(nan, table[min(id, params.rows - 1u) * params.dim + c], id < params.rows);
}
