// matmul, vec4 variant (for CPU adapters such as lavapipe; the host uses it only when B is not
// transposed and n % 4 == 0, otherwise it runs regblock). B is bound as array<vec4<f32>> (the
// header's declaration is rewritten by the host), so one load brings 4 adjacent columns of one
// row of B. Each invocation computes a {{R}}×4 block of C ({{R}} rows × 4 adjacent columns, held
// as {{R}} vec4 accumulators); a workgroup of {{WG}} lanes covers {{R}} rows × 4·{{WG}} columns.
// Why: lavapipe loads a storage buffer lane by lane unless the address is uniform. Here every
// lane of a workgroup shares the same {{R}} rows of A (uniform address: one scalar load +
// broadcast each) and only B is per lane, one vec4 per k step, amortised over 4·{{R}} FMAs.
// Measured best at R = 8, WG = 8 (one 256-bit SIMD vector per workgroup); accumulation in f32.
// Edges: rows and columns are clamped for loads (no branches in the k loop) and checked before
// the store. Grid: workgroup id = wid.x + wid.y·nwg.x → (batch, row tile, column tile).

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let per_batch = params.tiles_m * params.tiles_n;
  if (g >= params.batch * per_batch) { return; }
  let bt = g / per_batch;
  let t = g % per_batch;
  let row0 = (t / params.tiles_n) * {{R}}u;
  let col0 = ((t % params.tiles_n) * {{WG}}u + lid) * 4u;
  let ab = bt * params.a_bs;
  var ar: array<u32, {{R}}>;
  for (var r = 0u; r < {{R}}u; r++) { ar[r] = ab + min(row0 + r, params.m - 1u) * params.a_rs; }
  // In vec4 units: b_bs = k·n (or 0) and n are multiples of 4, b_ps = n, b_js = 1.
  let bc = (bt * params.b_bs + min(col0, params.n - 4u)) / 4u;
  let bps4 = params.b_ps / 4u;
  let aps = params.a_ps;
  var acc: array<vec4<f32>, {{R}}>;
  for (var r = 0u; r < {{R}}u; r++) { acc[r] = vec4<f32>(0.0); }
  for (var p = 0u; p < params.k; p++) {
    let bv = b[bc + p * bps4];
    let ao = p * aps;
    for (var r = 0u; r < {{R}}u; r++) { acc[r] = fma(vec4<f32>(a[ar[r] + ao]), bv, acc[r]); }
  }
  if (col0 < params.n) {
    for (var r = 0u; r < {{R}}u; r++) {
      if (row0 + r < params.m) {
        for (var q = 0u; q < 4u; q++) { store_out(bt, row0 + r, col0 + q, acc[r][q]); }
      }
    }
  }
}
