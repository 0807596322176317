// Full-ranking evaluation over a catalogue streamed in chunks: adds to each query's rank the
// items of one chunk that beat its target, so the sum over chunks is rank.wgsl's rank without
// ever holding [queries × items]. Scores are [Q, n + Q]: columns 0..n−1 are the chunk's items
// (global ids base + i), column n + q is query q's own target row scored by the same matmul
// (the target's score is compared within one call, whatever chunk the target falls in).
//   ranks[q] += #{ i < n : g = base + i, g ≠ t, g ≠ 0, g ∉ excl_q, s[q,i] > st or (s[q,i] == st and g < t) }
// with st = s[q, n + q]; exclusions are global ids (deduplicated, without the target).
// Decomposition as rank.wgsl: one workgroup of {{WG}} lanes per query, a tree reduction, lane 0
// subtracts the excluded items of this chunk that were counted. Exact (integer counts).
// NaN, as rank.wgsl: when the target's score or any eligible item's score in the chunk is NaN,
// ranks[q] becomes 0xFFFFFFFF (RANK_NON_FINITE) and stays so over later chunks.

//#include nan

struct Params {
  num_queries: u32,
  n: u32,        // items in the chunk
  cols: u32,     // n + num_queries (row stride of scores)
  base: u32,     // global id of the chunk's first item
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> excl_offsets: array<u32>;
@group(0) @binding(4) var<storage, read> excl_ids: array<u32>;
@group(0) @binding(5) var<storage, read_write> ranks: array<u32>;

var<workgroup> partial: array<u32, {{WG}}>;
var<workgroup> nan_partial: array<u32, {{WG}}>;

fn eligible_nan(row: u32, i: u32, t: u32) -> bool {
  let g = params.base + i;
  return g != t && g != 0u && nan_is_nan(scores[row + i]);
}

fn beats(row: u32, i: u32, t: u32, st: f32) -> bool {
  let g = params.base + i;
  let s = scores[row + i];
  return g != t && g != 0u && (s > st || (s == st && g < t));
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = wid.x + wid.y * nwg.x;
  if (q >= params.num_queries) { return; }  // uniform per workgroup: safe before the barriers
  let row = q * params.cols;
  let t = targets[q];
  let st = scores[row + params.n + q];
  var count = 0u;
  var nans = 0u;
  for (var i = lid; i < params.n; i += {{WG}}u) {
    count += select(0u, 1u, beats(row, i, t, st));
    nans += select(0u, 1u, eligible_nan(row, i, t));
  }
  partial[lid] = count;
  nan_partial[lid] = nans;
  workgroupBarrier();
  for (var stride = {{WG}}u / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      partial[lid] += partial[lid + stride];
      nan_partial[lid] += nan_partial[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    var total = partial[0];
    var total_nan = nan_partial[0];
    for (var e = excl_offsets[q]; e < excl_offsets[q + 1u]; e++) {
      let g = excl_ids[e];
      if (g >= params.base && g < params.base + params.n) {
        total -= select(0u, 1u, beats(row, g - params.base, t, st));
        total_nan -= select(0u, 1u, eligible_nan(row, g - params.base, t));
      }
    }
    let poisoned = ranks[q] == 0xffffffffu || total_nan != 0u || nan_is_nan(st);
    ranks[q] = select(ranks[q] + total, 0xffffffffu, poisoned);
  }
}
