// Softmax attention backward, preprocessing: D_i = Σ_c dO[i, h, c] · O[i, h, c] per (token, head),
// stored in the first slot of dq's row, dq[(i·H + h)·dk] (read by the dK/dV pass, then overwritten
// by the dQ pass; see softmax_attention_bwd.wgsl). Saves a scratch buffer.
// Decomposition: one invocation per (token, head) row, {{WG}} lanes, 2D grid folding.
// Accumulation: f32.

struct Params {
  rows: u32,   // L · H
  dv: u32,
  dk: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> out: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> dq: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (r >= params.rows) { return; }
  var d = 0.0;
  for (var c = 0u; c < params.dv; c++) { d += dout[r * params.dv + c] * out[r * params.dv + c]; }
  dq[r * params.dk] = d;
}
