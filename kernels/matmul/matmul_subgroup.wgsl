// matmul, subgroup variant (for CPU adapters with subgroups of at least 8 lanes, e.g. lavapipe).
// A workgroup is one subgroup of 8 lanes and computes an 8-row × 32-column block of C; lane s owns
// columns col0 = 4·s … 4·s + 3 of the block and holds 8 vec4 accumulators (one per row).
// Why it is fast on lavapipe (Mesa 25.0): a storage load inside a loop runs lane by lane with a
// bounds check per component (~8 instructions per float), even when the address is the same in
// every lane, while subgroupBroadcast is a register shuffle. So every float of A and B is loaded
// exactly once per workgroup: the 8 lanes load 8 different pieces of the A block and share them
// with subgroupBroadcast; B is loaded as one vec4 per lane (4 adjacent columns) per k step.
// Per 4 k steps a lane does 128 FMAs against 5 vector loads (20 floats); ~2.5× fewer instructions
// per FMA than the vec4 variant, whose "uniform" A loads also run lane by lane in the k loop.
//
// The loads depend on the layout, chosen by the host (compile-time facts A, B below):
//   A = k4:     A untransposed, k % 4 == 0: lane s loads A[row0 + s, p … p+3] as one vec4;
//               A(row0 + r, p + q) = broadcast(av[q], lane r).
//   A = m4:     A transposed ([k, m]), m % 4 == 0: lane s loads A[row0 + 4·(s & 1) … +3] at
//               k = p + (s >> 1) as one vec4; A(row0 + r, p + q) = broadcast(av[r & 3], lane 2q + (r >> 2)).
//   A = scalar: any strides: lane s loads A[row0 + s, p + q] for q = 0..3; broadcast as for k4.
//   B = n4:     B untransposed, n % 4 == 0: B[p + q, col0 … col0+3] is one vec4 per q.
//   B = k4:     B transposed ([n, k]), k % 4 == 0: B[p … p+3, col0 + c] is one vec4 per column c.
//   B = scalar: any strides: 16 scalar loads per 4 k steps.
// Edges: indices are clamped for loads (no branches in the k loop); k steps ≥ k are zeroed on both
// sides (so clamped duplicates never add, and Inf/NaN in them cannot leak); rows ≥ m and columns
// ≥ n are computed on clamped data and never stored. Accumulation: f32, k in order.
// Lines `//#if A=<mode>:` / `//#if B=<mode>:` are kept only for that mode and `//#for r:` / `q:` /
// `c:` lines are repeated for r = 0..7, q = 0..3, c = 0..3 by matmul_subgroup.ts ({r}, {r4} = r & 3,
// {rh} = r >> 2, {q}, {c}). Grid: workgroup id = wid.x + wid.y·nwg.x → (batch, row tile, column tile).

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) s: u32) {
  let g = wid.x + wid.y * nwg.x;
  let per_batch = params.tiles_m * params.tiles_n;
  if (g >= params.batch * per_batch) { return; }
  let bt = g / per_batch;
  let t = g % per_batch;
  let row0 = (t / params.tiles_n) * 8u;
  let col0 = ((t % params.tiles_n) * 8u + s) * 4u;
  let m1 = params.m - 1u;
  let n1 = params.n - 1u;
  let k1 = max(params.k, 1u) - 1u;
  let ab = bt * params.a_bs;
  let bb = bt * params.b_bs;
  //#if A=k4: let a_lane = (ab + min(row0 + s, m1) * params.k) / 4u;
  //#if A=m4: let a_lane = ab + min(row0 + 4u * (s & 1u), params.m - 4u);
  //#if A=scalar: let a_lane = ab + min(row0 + s, m1) * params.a_rs;
  //#if B=n4: let b_lane = (bb + min(col0, params.n - 4u)) / 4u;
  //#if B=n4: let b_row4 = params.n / 4u;
  //#if B=k4: //#for c: let b_col{c} = (bb + min(col0 + {c}u, n1) * params.k) / 4u;
  //#if B=scalar: //#for c: let b_col{c} = bb + min(col0 + {c}u, n1) * params.b_js;
  //#for r: var acc{r} = vec4<f32>(0.0);
  for (var p = 0u; p < params.k; p += 4u) {
    // k steps past the end (only when k % 4 != 0) contribute exactly zero.
    let live = vec4<u32>(p, p + 1u, p + 2u, p + 3u) < vec4<u32>(params.k);
    // This lane's piece of the A block (vec4 over 4 k steps, or over 4 rows for m4).
    //#if A=k4: let av = a[a_lane + p / 4u];
    //#if A=m4: let ak = p + (s >> 1u);
    //#if A=m4: let av = select(vec4<f32>(0.0), a[(a_lane + min(ak, k1) * params.m) / 4u], ak < params.k);
    //#if A=scalar: let av = select(vec4<f32>(0.0), vec4<f32>(a[a_lane + min(p, k1) * params.a_ps], a[a_lane + min(p + 1u, k1) * params.a_ps], a[a_lane + min(p + 2u, k1) * params.a_ps], a[a_lane + min(p + 3u, k1) * params.a_ps]), live);
    //#if B=n4: //#for q: let bv{q} = select(vec4<f32>(0.0), b[b_lane + min(p + {q}u, k1) * b_row4], live[{q}]);
    //#if B=k4: //#for c: let bt{c} = b[b_col{c} + p / 4u];
    //#if B=k4: //#for q: let bv{q} = vec4<f32>(bt0[{q}], bt1[{q}], bt2[{q}], bt3[{q}]);
    //#if B=scalar: //#for q: let bv{q} = select(vec4<f32>(0.0), vec4<f32>(b[b_col0 + min(p + {q}u, k1) * params.b_ps], b[b_col1 + min(p + {q}u, k1) * params.b_ps], b[b_col2 + min(p + {q}u, k1) * params.b_ps], b[b_col3 + min(p + {q}u, k1) * params.b_ps]), live[{q}]);
    // A(row0 + r, p + q) for q = 0..3, from the lane that loaded it.
    //#if A=k4: //#for r: let ar{r} = subgroupBroadcast(av, {r}u);
    //#if A=scalar: //#for r: let ar{r} = subgroupBroadcast(av, {r}u);
    //#if A=m4: //#for r: let ar{r} = vec4<f32>(subgroupBroadcast(av[{r4}], {rh}u), subgroupBroadcast(av[{r4}], {rh}u + 2u), subgroupBroadcast(av[{r4}], {rh}u + 4u), subgroupBroadcast(av[{r4}], {rh}u + 6u));
    // One write per accumulator per iteration (lavapipe blends every loop-carried write with the
    // execution mask, so the 4 k steps are chained in one expression).
    //#for r: acc{r} = fma(vec4<f32>(ar{r}.w), bv3, fma(vec4<f32>(ar{r}.z), bv2, fma(vec4<f32>(ar{r}.y), bv1, fma(vec4<f32>(ar{r}.x), bv0, acc{r}))));
  }
  if (col0 < params.n) {
    //#for r: if (row0 + {r}u < params.m) { for (var q = 0u; q < 4u; q++) { if (col0 + q < params.n) { store_out(bt, row0 + {r}u, col0 + q, acc{r}[q]); } } }
  }
}
