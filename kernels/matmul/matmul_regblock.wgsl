// matmul, regblock variant (for CPU adapters such as lavapipe): register blocking, no workgroup
// memory, no barriers. Each invocation computes a 4×4 block of C (4 rows × 4 adjacent columns,
// 16 f32 accumulators held as four vec4); a workgroup of {{WG}} lanes covers 4 rows × 4·{{WG}}
// columns. On lavapipe one workgroup of 8 lanes is one 256-bit SIMD vector, so the A loads (the
// same address in every lane) are scalar loads + broadcasts and only B is gathered.
// Edges: row and column indices are clamped for loads (no branches in the k loop) and checked
// before the store. Grid: workgroup id = wid.x + wid.y·nwg.x → (batch, row tile, column tile).

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let per_batch = params.tiles_m * params.tiles_n;
  if (g >= params.batch * per_batch) { return; }
  let bt = g / per_batch;
  let t = g % per_batch;
  let row0 = (t / params.tiles_n) * 4u;
  let col0 = ((t % params.tiles_n) * {{WG}}u + lid) * 4u;
  let m1 = params.m - 1u;
  let n1 = params.n - 1u;
  let ab = bt * params.a_bs;
  let bb = bt * params.b_bs;
  let ar0 = ab + min(row0, m1) * params.a_rs;
  let ar1 = ab + min(row0 + 1u, m1) * params.a_rs;
  let ar2 = ab + min(row0 + 2u, m1) * params.a_rs;
  let ar3 = ab + min(row0 + 3u, m1) * params.a_rs;
  let bc0 = bb + min(col0, n1) * params.b_js;
  let bc1 = bb + min(col0 + 1u, n1) * params.b_js;
  let bc2 = bb + min(col0 + 2u, n1) * params.b_js;
  let bc3 = bb + min(col0 + 3u, n1) * params.b_js;
  let aps = params.a_ps;
  let bps = params.b_ps;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var p = 0u; p < params.k; p++) {
    let bo = p * bps;
    let bv = vec4<f32>(b[bo + bc0], b[bo + bc1], b[bo + bc2], b[bo + bc3]);
    let ao = p * aps;
    acc0 = fma(vec4<f32>(a[ar0 + ao]), bv, acc0);
    acc1 = fma(vec4<f32>(a[ar1 + ao]), bv, acc1);
    acc2 = fma(vec4<f32>(a[ar2 + ao]), bv, acc2);
    acc3 = fma(vec4<f32>(a[ar3 + ao]), bv, acc3);
  }
  let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
  for (var r = 0u; r < 4u; r++) {
    let i = row0 + r;
    if (i < params.m) {
      for (var q = 0u; q < 4u; q++) {
        if (col0 + q < params.n) { store_out(bt, i, col0 + q, accs[r][q]); }
      }
    }
  }
}
