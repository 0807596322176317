// Embedding tables: row gather (forward) and deterministic segmented scatter-add (backward).
// This file holds several kernels; embedding.ts compiles the common prelude (up to the first
// "// ==== kernel:" line) plus one section per kernel.
//
// Storage: a table is `rows × dim` values split into shards (one GPU buffer each) of at most
// `shard_rows` rows. Every shard is bound as array<u32>: f32 tables keep one value per word
// (bitcast), bf16 tables pack two values per word (element 2j in the low half, 2j+1 in the high
// half), row stride `row_words` = dim (f32) or ceil(dim / 2) (bf16), so no word spans two rows.
//
// gather:      out[i, c] = table[ids[i], c]                         i < count, c < dim
//   One dispatch per shard; one invocation per chunk of CH (a define) consecutive columns of one output
//   row (CH = 1: one per element, the naive variant), {{WG}} lanes per workgroup, 2D grid
//   folding. An invocation writes only when ids[i] lies in the bound shard; an id ≥ rows (which
//   host validation rejects before we get here) yields NaN, never another row's data.
// scatter_seg: out[u, c] = Σ_{k = seg[u]}^{seg[u+1]−1} grads[order[k], c]     u < num_unique
//   order = positions stably sorted by row id, seg = segment offsets per unique row (both built on
//   the host). One invocation per chunk of CH columns of one output row sums its segment in
//   ascending k (CH accumulators in registers): a fixed order, so the result is bitwise
//   deterministic. No atomics.
// scatter_naive: the same sums, one invocation per unique row looping over c then k (serial
//   over dim). Same summation order per element, so bitwise equal to scatter_seg.
// Accumulation: f32.

struct Params {
  n: u32,          // gather: count; scatter: num_unique
  dim: u32,
  row_base: u32,   // first table row held by the bound shard
  shard_rows: u32, // rows held by the bound shard
  rows: u32,       // rows of the whole table
  row_words: u32,  // u32 words per row in a shard
  first_shard: u32,// 1 when the bound shard is shard 0 (it writes NaN for out-of-range ids)
}

@group(0) @binding(0) var<uniform> params: Params;

fn linear_id(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
}

// ==== kernel: gather ====
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// A quiet NaN; read from a var because WGSL rejects NaN in constant expressions.
var<private> nan_bits: u32 = 0x7fc00000u;

fn load(row: u32, c: u32) -> f32 {
  if ({{BF16}}) {
    let word = table[row * params.row_words + c / 2u];
    let bits = select(word << 16u, word & 0xffff0000u, (c & 1u) == 1u);
    return bitcast<f32>(bits);
  }
  return bitcast<f32>(table[row * params.row_words + c]);
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = linear_id(wid, nwg, lid);
  let dim = params.dim;
  let chunks = (dim + {{CH}}u - 1u) / {{CH}}u;
  if (e >= params.n * chunks) { return; }
  let i = e / chunks;
  let c0 = (e - i * chunks) * {{CH}}u;
  let c1 = min(c0 + {{CH}}u, dim);
  let id = ids[i];
  if (id >= params.rows) {
    if (params.first_shard == 1u) {
      for (var c = c0; c < c1; c++) { out[i * dim + c] = bitcast<f32>(nan_bits); }
    }
    return;
  }
  if (id < params.row_base || id - params.row_base >= params.shard_rows) { return; }
  let row = id - params.row_base;
  for (var c = c0; c < c1; c++) { out[i * dim + c] = load(row, c); }
}

// ==== kernel: scatter_seg ====
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> seg: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = linear_id(wid, nwg, lid);
  let dim = params.dim;
  let chunks = (dim + {{CH}}u - 1u) / {{CH}}u;
  if (e >= params.n * chunks) { return; }
  let u = e / chunks;
  let c0 = (e - u * chunks) * {{CH}}u;
  let w = min({{CH}}u, dim - c0);
  var acc: array<f32, {{CH}}>;
  for (var k = seg[u]; k < seg[u + 1u]; k++) {
    let src = order[k] * dim + c0;
    for (var j = 0u; j < w; j++) { acc[j] += grads[src + j]; }
  }
  for (var j = 0u; j < w; j++) { out[u * dim + c0 + j] = acc[j]; }
}

// ==== kernel: scatter_naive ====
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> seg: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let u = linear_id(wid, nwg, lid);
  if (u >= params.n) { return; }
  let dim = params.dim;
  for (var c = 0u; c < dim; c++) {
    var acc = 0.0;
    for (var k = seg[u]; k < seg[u + 1u]; k++) {
      acc += grads[order[k] * dim + c];
    }
    out[u * dim + c] = acc;
  }
}

// ==== kernel: add_rows_at ====
// out[at[j], c] = src[j, c] + out[at[j], c]   for j < n, c < dim; the rows at[j] are distinct
// (checked on the host), so every element has one writer: deterministic, no atomics.
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> at: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = linear_id(wid, nwg, lid);
  let dim = params.dim;
  if (e >= params.n * dim) { return; }
  let j = e / dim;
  let c = e - j * dim;
  let o = at[j] * dim + c;
  out[o] = src[e] + out[o];
}

// ==== kernel: add_rows_at_sq ====
// add_rows_at (same additions, same bits), one invocation per row j, which also rewrites that
// row's entry of per-row squared norms: sq[at[j]] = Σ_c out[at[j], c]² (c ascending). Keeps the
// squared norms the item-gradient kernel wrote current for the rows the input gradients join.
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> at: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> sq: array<f32>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = linear_id(wid, nwg, lid);
  if (j >= params.n) { return; }
  let dim = params.dim;
  let r = at[j];
  var s = 0.0;
  for (var c = 0u; c < dim; c++) {
    let o = r * dim + c;
    let v = src[j * dim + c] + out[o];
    out[o] = v;
    s += v * v;
  }
  sq[r] = s;
}
