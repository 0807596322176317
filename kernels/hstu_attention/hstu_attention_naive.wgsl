// Naive HSTU attention (benchmark baseline only): the padded score tensor S [Bc·H, N, N] of a
// chunk of Bc sequences is materialised in global memory and each step is its own kernel.
// This file: the elementwise steps, one invocation per element, {{OP}} picks the step:
//   0 bias:      S[bh,i,j] += rab_pos[p_j − p_i + N − 1] + rab_time[bucket(qt_i − t_j)]   (visible)
//   1 silu_mask: A = visible ? SiLU(S)/norm : 0
//   2 silu_bwd:  dS = visible ? dA · SiLU'(S)/norm : 0           (in place on dA)
//   3 pad:       P[bh,i,d] = i < n ? X[(off_b + i)·H + h, d] : 0   (jagged → padded)
//   4 unpad:     X[(off_b + i)·H + h, d] = P[bh,i,d] for i < n
// Element e = (bh·N + i)·cols + c; b = b0 + bh / H. Grid folded in 2D. Accumulation f32.
struct Params {
  H: u32,
  N: u32,
  cols: u32,
  total: u32,
  b0: u32,
  inv_norm: f32,
  flags: u32,      // bit 0: num_targets given; bit 1: next_ts given (see hstu_attention.wgsl)
  _pad: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> seq_offsets: array<u32>;
@group(0) @binding(2) var<storage, read> timestamps: array<u32>;
@group(0) @binding(3) var<storage, read> num_targets: array<u32>;
@group(0) @binding(4) var<storage, read> rab_pos: array<f32>;
@group(0) @binding(5) var<storage, read> rab_time: array<f32>;
@group(0) @binding(6) var<storage, read> x: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

const OP: u32 = {{OP}}u;
// Time-bucket thresholds (74 u32): a storage buffer, not a WGSL const array (llvmpipe copies a
// dynamically indexed const array into private memory on every call).
@group(0) @binding(8) var<storage, read> bucket_t: array<u32>;
@group(0) @binding(9) var<storage, read> next_ts: array<u32>; // [B], see hstu_attention.wgsl

fn time_bucket(a: u32, b: u32) -> u32 {
  let xx = max(select(a - b, b - a, a < b), 1u);
  var bk = clamp(i32(floor(log(f32(xx)) * (1.0 / 0.301))), 0, 73);
  if (bk < 73 && xx >= bucket_t[bk + 1]) { bk += 1; } else if (bk > 0 && xx < bucket_t[bk]) { bk -= 1; }
  return u32(bk);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  _ = timestamps[0]; _ = num_targets[0]; _ = rab_pos[0]; _ = rab_time[0]; _ = x[0]; _ = bucket_t[0]; _ = next_ts[0];
  let e = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (e >= params.total) { return; }
  let c = e % params.cols;
  let i = (e / params.cols) % params.N;
  let bh = e / params.cols / params.N;
  let h = bh % params.H;
  let b = params.b0 + bh / params.H;
  let start = seq_offsets[b];
  let n = seq_offsets[b + 1u] - start;
  if (OP == 3u) {
    y[e] = select(0.0, x[((start + min(i, max(n, 1u) - 1u)) * params.H + h) * params.cols + c], i < n);
    return;
  }
  if (OP == 4u) {
    if (i < n) { y[((start + i) * params.H + h) * params.cols + c] = x[e]; }
    return;
  }
  var kt = 0u;
  if ((params.flags & 1u) != 0u) { kt = min(num_targets[b], n); }
  let hh = n - kt;
  let j = c;
  let vis = i < n && j <= i && (i < hh || j < hh || j == i);
  if (OP == 0u) {
    if (vis) {
      let p_i = select(i, hh, i >= hh);
      let p_j = select(j, hh, j >= hh);
      var qt = timestamps[start + select(i, i + 1u, i < hh && i + 1u < hh)];
      if ((params.flags & 2u) != 0u && i + 1u == hh) { qt = next_ts[b]; }
      y[e] += rab_pos[params.N - 1u + p_j - p_i] + rab_time[time_bucket(qt, timestamps[start + j])];
    }
  } else if (OP == 1u) {
    let s = x[e];
    y[e] = select(0.0, s / (1.0 + exp(-s)) * params.inv_norm, vis);
  } else {
    let s = x[e];
    let sg = 1.0 / (1.0 + exp(-s));
    y[e] = select(0.0, y[e] * sg * (1.0 + s * (1.0 - sg)) * params.inv_norm, vis);
  }
}
