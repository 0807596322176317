// Naive batched matmul (benchmark baseline only): C[b] = alpha · op(A[b]) · op(B[b]),
// op(A) [M, K] (TRANS_A: A stored [K, M]), op(B) [K, N] (TRANS_B: B stored [N, K]).
// One invocation per output element, 64 lanes per workgroup, 2D grid folding. f32 accumulation.
struct Params { M: u32, N: u32, K: u32, total: u32, alpha: f32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
const TRANS_A: bool = {{TRANS_A}};
const TRANS_B: bool = {{TRANS_B}};

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (e >= params.total) { return; }
  let M = params.M; let N = params.N; let K = params.K;
  let n = e % N;
  let m = (e / N) % M;
  let bt = e / N / M;
  let ab = bt * M * K;
  let bb = bt * K * N;
  var acc = 0.0;
  for (var k = 0u; k < K; k++) {
    var av: f32;
    var bv: f32;
    if (TRANS_A) { av = a[ab + k * M + m]; } else { av = a[ab + m * K + k]; }
    if (TRANS_B) { bv = b[bb + n * K + k]; } else { bv = b[bb + k * N + n]; }
    acc += av * bv;
  }
  c[e] = params.alpha * acc;
}
