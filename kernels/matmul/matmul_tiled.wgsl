// matmul, tiled variant (for real GPUs): classic workgroup-memory tiling. A workgroup of 16×16
// invocations computes a 64×64 tile of C, each invocation a 4×4 block (rows ly + 16·r, columns
// lx + 16·q, so neighbouring lanes touch neighbouring columns). The k dimension advances in steps
// of 16: the workgroup stages a 64×16 slab of A and a 16×64 slab of B in workgroup memory
// (zero-filled past the edges), barriers, then accumulates from it. Accumulation: f32.
// Grid: workgroup id = wid.x + wid.y·nwg.x → (batch, row tile, column tile).

const TILE = 64u;
const TK = 16u;
var<workgroup> as_: array<f32, 1024>;   // [TK][TILE]: as_[p * TILE + i]
var<workgroup> bs_: array<f32, 1024>;   // [TK][TILE]: bs_[p * TILE + j]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid3: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let per_batch = params.tiles_m * params.tiles_n;
  // Uniform across the workgroup, so returning here keeps barriers in uniform control flow.
  let valid = g < params.batch * per_batch;
  let gg = select(0u, g, valid);
  let bt = gg / per_batch;
  let t = gg % per_batch;
  let row0 = (t / params.tiles_n) * TILE;
  let col0 = (t % params.tiles_n) * TILE;
  let ab = bt * params.a_bs;
  let bb = bt * params.b_bs;
  let lx = lid3.x;
  let ly = lid3.y;
  var acc: array<f32, 16>;
  for (var p0 = 0u; p0 < params.k; p0 += TK) {
    for (var e = 0u; e < 4u; e++) {
      let s = lid + e * 256u;          // 0..1023 over the [TK][TILE] slab
      let pp = s / TILE;
      let ii = s % TILE;
      let p = p0 + pp;
      var av = 0.0;
      if (p < params.k && row0 + ii < params.m) { av = a[ab + (row0 + ii) * params.a_rs + p * params.a_ps]; }
      as_[s] = av;
      var bv = 0.0;
      if (p < params.k && col0 + ii < params.n) { bv = b[bb + p * params.b_ps + (col0 + ii) * params.b_js]; }
      bs_[s] = bv;
    }
    workgroupBarrier();
    for (var pp = 0u; pp < TK; pp++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var r = 0u; r < 4u; r++) { av[r] = as_[pp * TILE + ly + 16u * r]; }
      for (var q = 0u; q < 4u; q++) { bv[q] = bs_[pp * TILE + lx + 16u * q]; }
      for (var r = 0u; r < 4u; r++) {
        for (var q = 0u; q < 4u; q++) { acc[r * 4u + q] = fma(av[r], bv[q], acc[r * 4u + q]); }
      }
    }
    workgroupBarrier();
  }
  if (!valid) { return; }
  for (var r = 0u; r < 4u; r++) {
    let i = row0 + ly + 16u * r;
    for (var q = 0u; q < 4u; q++) {
      let j = col0 + lx + 16u * q;
      if (i < params.m && j < params.n) { store_out(bt, i, j, acc[r * 4u + q]); }
    }
  }
}
