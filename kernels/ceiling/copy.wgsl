// ceiling_copy: dst[i] = src[i] over n4 vec4s — the simplest memory-bound kernel, used to measure
// the device's copy bandwidth. One invocation per vec4, {{WG}} lanes, 2D grid folding
// (linear workgroup id = wid.x + wid.y · nwg.x).

struct Params { n4: u32, }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i < params.n4) { dst[i] = src[i]; }
}
