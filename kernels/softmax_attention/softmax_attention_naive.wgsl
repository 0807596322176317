// Naive causal softmax attention (the baseline the fast kernel is measured against): the padded
// score tensor S [B·H, N, N] is materialised, in three dispatches selected by OP:
//   OP 0 scores:  S[bh, i, j] = scale · Q_{off_b + i, h} · K_{off_b + j, h}   (j ≤ i < len_b; else −big)
//   OP 1 softmax: S[bh, i, :] ← softmax(S[bh, i, :]) in place (all-masked rows → 0)
//   OP 2 pv:      O_{off_b + i, h, c} = Σ_{j < len_b} S[bh, i, j] · V_{off_b + j, h, c}   (matmul; no causal skipping)
// Decomposition: one invocation per output element (OP 0: per score, OP 1: per row, OP 2: per
// (bh, i, c)), {{WG}} lanes, 2D grid folding. Accumulation: f32.

struct Params {
  B: u32,
  H: u32,
  N: u32,
  dk: u32,
  dv: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> seq_offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const NEG_BIG: f32 = -3.0e38;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let x = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  let N = params.N;
  let H = params.H;
  if ({{OP}}u == 0u) {
    if (x >= params.B * H * N * N) { return; }
    let j = x % N;
    let i = (x / N) % N;
    let bh = x / (N * N);
    let b = bh / H;
    let h = bh % H;
    let off = seq_offsets[b];
    let len = seq_offsets[b + 1u] - off;
    var s = NEG_BIG;
    if (i < len && j <= i) {
      var dot = 0.0;
      for (var c = 0u; c < params.dk; c++) {
        dot += q[((off + i) * H + h) * params.dk + c] * k[((off + j) * H + h) * params.dk + c];
      }
      s = params.scale * dot;
    }
    scores[x] = s;
  } else if ({{OP}}u == 1u) {
    if (x >= params.B * H * N) { return; }
    let base = x * N;
    var m = NEG_BIG;
    for (var j = 0u; j < N; j++) { m = max(m, scores[base + j]); }
    if (m == NEG_BIG) {
      for (var j = 0u; j < N; j++) { scores[base + j] = 0.0; }
      return;
    }
    var z = 0.0;
    for (var j = 0u; j < N; j++) {
      let e = select(exp(scores[base + j] - m), 0.0, scores[base + j] == NEG_BIG);
      scores[base + j] = e;
      z += e;
    }
    for (var j = 0u; j < N; j++) { scores[base + j] /= z; }
  } else {
    if (x >= params.B * H * N * params.dv) { return; }
    let c = x % params.dv;
    let i = (x / params.dv) % N;
    let bh = x / (params.dv * N);
    let b = bh / H;
    let h = bh % H;
    let off = seq_offsets[b];
    let len = seq_offsets[b + 1u] - off;
    if (i >= len) { return; }
    var acc = 0.0;
    for (var j = 0u; j < len; j++) {
      acc += scores[(bh * N + i) * N + j] * v[((off + j) * H + h) * params.dv + c];
    }
    out[((off + i) * H + h) * params.dv + c] = acc;
  }
  _ = q[0]; _ = k[0]; _ = v[0]; _ = out[0];
}
