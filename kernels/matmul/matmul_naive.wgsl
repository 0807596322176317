// matmul, naive variant: one invocation per output element C[b, i, j], a plain k loop.
// Decomposition: {{WG}} lanes per workgroup over the flat index (b·m + i)·n + j, 2D grid folding
// (linear workgroup id = wid.x + wid.y · nwg.x). Kept as the baseline the fast variants are timed against.

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let flat = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  let mn = params.m * params.n;
  if (flat >= params.batch * mn) { return; }
  let bt = flat / mn;
  let rem = flat % mn;
  let i = rem / params.n;
  let j = rem % params.n;
  let abase = bt * params.a_bs + i * params.a_rs;
  let bbase = bt * params.b_bs + j * params.b_js;
  var acc = 0.0;
  for (var p = 0u; p < params.k; p++) {
    acc = fma(a[abase + p * params.a_ps], b[bbase + p * params.b_ps], acc);
  }
  store_out(bt, i, j, acc);
}
