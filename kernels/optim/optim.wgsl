// Optimizers. This file holds several kernels; optim.ts compiles the common prelude (up to the
// first "// ==== kernel:" line) plus one section per kernel.
//
// Row-wise Adam (embedding tables; DESIGN §2). For a touched row r with summed gradient row g
// (from scatterAddRows), at step t (bc1 = 1 − β1^t, bc2 = 1 − β2^t computed on the host):
//   m_r[c] = β1·m_r[c] + (1 − β1)·g[c]                  per element
//   v_r    = β2·v_r    + (1 − β2)·mean_c(g[c]²)          ONE scalar per row
//   w_r[c] = w_r[c] − lr·( (m_r[c]/bc1) / (sqrt(v_r/bc2) + eps) + wd·w_r[c] )
// Only touched rows are read or written: the dispatch covers a contiguous range of the plan's
// (ascending) unique rows that falls in the bound shard; `row_base` maps table rows to shard rows.
// Storage: shards are array<u32>; f32 tables hold one value per word (bitcast); bf16 tables
// (define BF16) pack w and m two per word (element 2j low half, 2j+1 high half), row stride
// `row_words`; v is always f32. bf16 rounding points: w and m are widened exactly to f32, the
// update runs in f32 with the UNROUNDED new m, and the new m and new w are each rounded to
// nearest even when stored. No shader-f16 needed.
//   rowwise_fused: one invocation per touched row (loops over the row twice: Σg², then update).
//   Σg² is summed in the fixed order of row_sumsq below (shared with item_adam.wgsl).
//   rowwise_v + rowwise_w ("split"): pass 1, one invocation per touched row, updates v; pass 2,
//     one invocation per (row, u32 word) updates m and w reading the new v. More parallelism for
//     wide rows on a real GPU; two dispatches.
// Dense AdamW over flat f32 tensors (decoupled weight decay, same update with v per element):
//   adamw: one invocation per element; adamw_vec4: one per 4 elements (n % 4 == 0).
// Decomposition everywhere: {{WG}} lanes per workgroup, 2D grid folding
// (linear id = (wid.x + wid.y·nwg.x)·WG + lid). Accumulation: f32.

struct Params {
  n: u32,          // rowwise: touched rows in this dispatch; adamw: elements (or vec4s)
  u_begin: u32,    // rowwise: first index into unique_rows / grads rows
  dim: u32,
  row_base: u32,   // rowwise: first table row of the bound shard
  row_words: u32,  // rowwise: u32 words per row in the shard
  beta1: f32,
  beta2: f32,
  lr: f32,
  eps: f32,
  wd: f32,
  bc1: f32,        // 1 − β1^t
  bc2: f32,        // 1 − β2^t
}

@group(0) @binding(0) var<uniform> params: Params;

fn linear_id(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
}

fn bf16_round_bits(x: f32) -> u32 {
  let bits = bitcast<u32>(x);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0u) { return 0x7fc0u; }
  return (bits + 0x7fffu + ((bits >> 16u) & 1u)) >> 16u;
}
fn bf16_lo(word: u32) -> f32 { return bitcast<f32>(word << 16u); }
fn bf16_hi(word: u32) -> f32 { return bitcast<f32>(word & 0xffff0000u); }

// Σg² of one gradient row, in the one order every row-wise Adam kernel here and
// item_adam.wgsl (whose 8 lanes each hold every 8th vec4 of a row) use, so they give the same v:
// the row as vec4 groups q (elements 4q..4q+3, zero past dim), s_q = sq4(group q), eight
// partials p_l = Σ s_q over q ≡ l (mod 8), q ascending, from 0, then combine8 (the result of a
// butterfly over 8 lanes: shuffle-xor 4, 2, 1).
fn sq4(g: vec4f) -> f32 {
  return ((g.x * g.x + g.y * g.y) + g.z * g.z) + g.w * g.w;
}
fn combine8(p: array<f32, 8>) -> f32 {
  return ((p[0] + p[4]) + (p[2] + p[6])) + ((p[1] + p[5]) + (p[3] + p[7]));
}

// Σg² of the row at g[g0 .. g0 + dim) (f32, any dim) in that order.
fn row_sumsq(g: ptr<storage, array<f32>, read>, g0: u32, dim: u32) -> f32 {
  var p: array<f32, 8>;
  for (var q = 0u; 4u * q < dim; q++) {
    var x = vec4f(0.0);
    for (var e = 0u; e < 4u; e++) { if (4u * q + e < dim) { x[e] = (*g)[g0 + 4u * q + e]; } }
    p[q % 8u] += sq4(x);
  }
  return combine8(p);
}

// One element: returns (new m, new w) in f32 given the row's denominator sqrt(v/bc2) + eps.
fn adam_elem(w: f32, m: f32, g: f32, denom: f32) -> vec2f {
  let m_new = params.beta1 * m + (1.0 - params.beta1) * g;
  let w_new = w - params.lr * ((m_new / params.bc1) / denom + params.wd * w);
  return vec2f(m_new, w_new);
}

// ==== kernel: rowwise_fused ====
@group(0) @binding(1) var<storage, read> unique_rows: array<u32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> m: array<u32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = linear_id(wid, nwg, lid);
  if (k >= params.n) { return; }
  let u = params.u_begin + k;
  let r = unique_rows[u] - params.row_base;
  let dim = params.dim;
  let g0 = u * dim;
  let sumsq = row_sumsq(&grads, g0, dim);
  let vr = params.beta2 * v[r] + (1.0 - params.beta2) * (sumsq / f32(dim));
  v[r] = vr;
  let denom = sqrt(vr / params.bc2) + params.eps;
  let w0 = r * params.row_words;
  if ({{BF16}}) {
    for (var j = 0u; j < params.row_words; j++) {
      let ww = w[w0 + j];
      let mw = m[w0 + j];
      let lo = adam_elem(bf16_lo(ww), bf16_lo(mw), grads[g0 + 2u * j], denom);
      var m_word = bf16_round_bits(lo.x);
      var w_word = bf16_round_bits(lo.y);
      if (2u * j + 1u < dim) {
        let hi = adam_elem(bf16_hi(ww), bf16_hi(mw), grads[g0 + 2u * j + 1u], denom);
        m_word |= bf16_round_bits(hi.x) << 16u;
        w_word |= bf16_round_bits(hi.y) << 16u;
      } else {
        m_word |= mw & 0xffff0000u; // padding half of an odd-width row: keep as is
        w_word |= ww & 0xffff0000u;
      }
      m[w0 + j] = m_word;
      w[w0 + j] = w_word;
    }
  } else {
    for (var c = 0u; c < dim; c++) {
      let e = adam_elem(bitcast<f32>(w[w0 + c]), bitcast<f32>(m[w0 + c]), grads[g0 + c], denom);
      m[w0 + c] = bitcast<u32>(e.x);
      w[w0 + c] = bitcast<u32>(e.y);
    }
  }
}

// ==== kernel: rowwise_fused_vec4 ====
// rowwise_fused for f32 tables with dim % 4 == 0, reading and writing whole vec4s (on lavapipe a
// storage access costs per lane, so 4 elements per access quarter the row's memory ops). Same
// operations in the same order per element (Σg² as row_sumsq, then adam_elem): same bits.
@group(0) @binding(1) var<storage, read> unique_rows: array<u32>;
@group(0) @binding(2) var<storage, read> grads: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> w: array<vec4u>;
@group(0) @binding(4) var<storage, read_write> m: array<vec4u>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = linear_id(wid, nwg, lid);
  if (k >= params.n) { return; }
  let u = params.u_begin + k;
  let r = unique_rows[u] - params.row_base;
  let d4 = params.dim / 4u;
  let g0 = u * d4;
  var p: array<f32, 8>;
  for (var c = 0u; c < d4; c++) { p[c % 8u] += sq4(grads[g0 + c]); }
  let sumsq = combine8(p);
  let vr = params.beta2 * v[r] + (1.0 - params.beta2) * (sumsq / f32(params.dim));
  v[r] = vr;
  let denom = sqrt(vr / params.bc2) + params.eps;
  let w0 = r * d4;
  for (var c = 0u; c < d4; c++) {
    let g = grads[g0 + c];
    let wv = bitcast<vec4f>(w[w0 + c]);
    let mv = bitcast<vec4f>(m[w0 + c]);
    let e0 = adam_elem(wv.x, mv.x, g.x, denom);
    let e1 = adam_elem(wv.y, mv.y, g.y, denom);
    let e2 = adam_elem(wv.z, mv.z, g.z, denom);
    let e3 = adam_elem(wv.w, mv.w, g.w, denom);
    m[w0 + c] = bitcast<vec4u>(vec4f(e0.x, e1.x, e2.x, e3.x));
    w[w0 + c] = bitcast<vec4u>(vec4f(e0.y, e1.y, e2.y, e3.y));
  }
}

// ==== kernel: rowwise_v ====
@group(0) @binding(1) var<storage, read> unique_rows: array<u32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = linear_id(wid, nwg, lid);
  if (k >= params.n) { return; }
  let u = params.u_begin + k;
  let r = unique_rows[u] - params.row_base;
  let dim = params.dim;
  v[r] = params.beta2 * v[r] + (1.0 - params.beta2) * (row_sumsq(&grads, u * dim, dim) / f32(dim));
}

// ==== kernel: rowwise_w ====
@group(0) @binding(1) var<storage, read> unique_rows: array<u32>;
@group(0) @binding(2) var<storage, read> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> w: array<u32>;
@group(0) @binding(4) var<storage, read_write> m: array<u32>;
@group(0) @binding(5) var<storage, read> v: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = linear_id(wid, nwg, lid);
  let row_words = params.row_words;
  if (e >= params.n * row_words) { return; }
  let k = e / row_words;
  let j = e - k * row_words;
  let u = params.u_begin + k;
  let r = unique_rows[u] - params.row_base;
  let dim = params.dim;
  let denom = sqrt(v[r] / params.bc2) + params.eps;
  let idx = r * row_words + j;
  if ({{BF16}}) {
    let ww = w[idx];
    let mw = m[idx];
    let lo = adam_elem(bf16_lo(ww), bf16_lo(mw), grads[u * dim + 2u * j], denom);
    var m_word = bf16_round_bits(lo.x);
    var w_word = bf16_round_bits(lo.y);
    if (2u * j + 1u < dim) {
      let hi = adam_elem(bf16_hi(ww), bf16_hi(mw), grads[u * dim + 2u * j + 1u], denom);
      m_word |= bf16_round_bits(hi.x) << 16u;
      w_word |= bf16_round_bits(hi.y) << 16u;
    } else {
      m_word |= mw & 0xffff0000u;
      w_word |= ww & 0xffff0000u;
    }
    m[idx] = m_word;
    w[idx] = w_word;
  } else {
    let r2 = adam_elem(bitcast<f32>(w[idx]), bitcast<f32>(m[idx]), grads[u * dim + j], denom);
    m[idx] = bitcast<u32>(r2.x);
    w[idx] = bitcast<u32>(r2.y);
  }
}

// ==== kernel: adamw ====
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= params.n) { return; }
  let gi = g[i];
  let mi = params.beta1 * m[i] + (1.0 - params.beta1) * gi;
  let vi = params.beta2 * v[i] + (1.0 - params.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  let wi = w[i];
  w[i] = wi - params.lr * ((mi / params.bc1) / (sqrt(vi / params.bc2) + params.eps) + params.wd * wi);
}

// ==== kernel: adamw_vec4 ====
@group(0) @binding(1) var<storage, read_write> w: array<vec4f>;
@group(0) @binding(2) var<storage, read> g: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> m: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> v: array<vec4f>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = linear_id(wid, nwg, lid);
  if (i >= params.n) { return; }
  let gi = g[i];
  let mi = params.beta1 * m[i] + (1.0 - params.beta1) * gi;
  let vi = params.beta2 * v[i] + (1.0 - params.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  let wi = w[i];
  w[i] = wi - params.lr * ((mi / params.bc1) / (sqrt(vi / params.bc2) + params.eps) + params.wd * wi);
}
