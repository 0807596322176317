// Sum of squares of a flat f32 array, one result per dispatch:
//   out[slot] = Σ_{i < n} x[i]²
// Used as a divergence probe (trainer/divergence.ts): it is NaN when any x[i] is NaN and +Inf
// when any is ±Inf (or the sum overflows), so one value per tensor tells whether it is finite.
// Decomposition: workgroup g of a dispatch sums the span [g·span, min((g+1)·span, n)) into
// out[slot + g]; lane l sums the span's elements base + l, base + l + WG, ... in blocks of BLOCK
// (as in reduce.wgsl), then a tree reduction in workgroup memory in a fixed order:
// deterministic. Small tensors take one workgroup (span = n). A large one (the item table's
// gradient: ~26M elements at 1M items, where one workgroup ran on one CPU core for over a
// second) takes G workgroups writing G partials, then one more one-workgroup dispatch over the
// partials (SQUARE false: a plain sum); G and the spans depend on n only, so the result is
// still deterministic. ELEM vec4f (n % 4 == 0; n, span and spans then count vec4s): each lane
// adds x·x of whole vec4s (a quarter of the loads: on lavapipe a storage access costs per lane).
// Additions and squares propagate NaN/Inf (no max, no select): nothing here can turn a non-finite value into a finite one. Accumulation: f32.

struct Params {
  n: u32,
  slot: u32,
  span: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<{{ELEM}}>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = {{WG}}u;
const BLOCK: u32 = 32u;
var<workgroup> part: array<f32, {{WG}}>;

fn term(v: {{ELEM}}) -> f32 { return {{TERM}}; }

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let base = wid.x * params.span;
  let end = min(base + params.span, params.n);
  var outer = 0.0;
  for (var c0 = base + lid; c0 < end; c0 += WG * BLOCK) {
    let c1 = min(c0 + WG * BLOCK, end);
    var inner = 0.0;
    for (var c = c0; c < c1; c += WG) { inner += term(x[c]); }
    outer += inner;
  }
  part[lid] = outer;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { part[lid] += part[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[params.slot + wid.x] = part[0]; }
}
