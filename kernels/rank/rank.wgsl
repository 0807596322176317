// Full-ranking evaluation: the 0-based rank of each query's target among all items.
//   rank_q = #{ i ≠ target, i ≠ 0, i ∉ excl_q : s[q,i] > s[q,t] or (s[q,i] == s[q,t] and i < t) }
// where s = scores [Q, num_items] (row-major), t = target[q], excl_q = exclusion list q (CSR,
// deduplicated, without the target). Item 0 is padding and never ranked.
// Decomposition: one workgroup of {{WG}} lanes per query; lanes stride over items and count, a
// tree reduction in workgroup memory sums the counts, then lane 0 subtracts the excluded items
// that were counted. Exact (integer counts).
// NaN: comparisons with NaN are false, so a NaN target score would rank 0 (a perfect hit) and a
// NaN item would never beat the target. Instead, when the target's score or any eligible item's
// score is NaN, ranks[q] = 0xFFFFFFFF (RANK_NON_FINITE in rank.ts): the caller must refuse it.

//#include nan

struct Params {
  num_queries: u32,
  num_items: u32,
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
  return i != t && i != 0u && nan_is_nan(scores[row + i]);
}

fn beats(row: u32, i: u32, t: u32, st: f32) -> bool {
  let s = scores[row + i];
  return i != t && i != 0u && (s > st || (s == st && i < t));
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = wid.x + wid.y * nwg.x;
  if (q >= params.num_queries) { return; }  // uniform per workgroup: safe before the barriers
  let row = q * params.num_items;
  let t = targets[q];
  let st = scores[row + t];
  var count = 0u;
  var nans = 0u;
  for (var i = lid; i < params.num_items; i += {{WG}}u) {
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
      total -= select(0u, 1u, beats(row, excl_ids[e], t, st));
      total_nan -= select(0u, 1u, eligible_nan(row, excl_ids[e], t));
    }
    ranks[q] = select(total, 0xffffffffu, total_nan != 0u || nan_is_nan(st));
  }
}
