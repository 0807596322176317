// ReLU over flat f32 arrays (SASRec's position-wise FFN), one variant per OP define:
//   relu:      y  = max(x, 0)                 (NaN stays NaN: nan_relu)
//   relu_bwd:  dx = dy if x > 0 else 0        (subgradient 0 at x = 0; NaN x gives NaN dx)
// Decomposition: one invocation per element, {{WG}} lanes per workgroup, 2D grid folding
// (linear workgroup id = wid.x + wid.y · nwg.x). Exact (no arithmetic beyond a select).

//#include nan

struct Params {
  n: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= params.n) { return; }
  let xi = x[i];
  if ({{OP}}u == 0u) {
    y[i] = nan_relu(xi);
  } else {
    y[i] = nan_relu_grad(xi, dy[i]);
  }
  _ = dy[0];
}
