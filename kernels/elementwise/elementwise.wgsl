// Elementwise ops over flat f32 arrays, one variant per OP define:
//   silu:       y  = x · σ(x)
//   silu_bwd:   dx = dy · σ(x) · (1 + x · (1 − σ(x)))          (a = x, b = dy)
//   axpby:      y  = alpha · a + beta · b                       (add: 1,1; scale: b unused, beta 0)
//   dropout:    y  = keep(seed, i) ? x / (1 − p) : 0            (same mask forward and backward;
//               a dropped NaN/Inf gives NaN, never 0: nan_zeroed)
//   fill:       y  = alpha
// keep(seed, i) = hash(i, seed) / 2^32 ≥ p, hash = counter-based (no state), see dropout_keep below
// and its twin in elementwise.ref.ts — the RNG's definition, not an implementation detail.
// Decomposition: one invocation per element, {{WG}} lanes per workgroup, 2D grid folding
// (linear workgroup id = wid.x + wid.y · nwg.x). Accumulation: f32.

//#include nan

struct Params {
  n: u32,
  seed: u32,
  alpha: f32,
  beta: f32,
  p: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

// "lowbias32" integer hash (Chris Wellons), applied to i ^ mix(seed).
fn hash32(v: u32) -> u32 {
  var x = v;
  x ^= x >> 16u; x *= 0x7feb352du;
  x ^= x >> 15u; x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn dropout_keep(i: u32, seed: u32, p: f32) -> bool {
  let r = hash32(i ^ hash32(seed ^ 0x9e3779b9u));
  // Compare in integers: keep iff r ≥ p · 2^32, exact and identical to the reference.
  return f32(r >> 8u) >= p * 16777216.0;
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * {{WG}}u + lid;
  if (i >= params.n) { return; }
  let OP = {{OP}}u;
  if (OP == 0u) {            // silu
    let x = a[i];
    y[i] = x * sigmoid(x);
  } else if (OP == 1u) {     // silu_bwd
    let x = a[i];
    let s = sigmoid(x);
    y[i] = b[i] * s * (1.0 + x * (1.0 - s));
  } else if (OP == 2u) {     // axpby
    y[i] = params.alpha * a[i] + params.beta * b[i];
  } else if (OP == 4u) {     // fill
    y[i] = params.alpha;
  } else {                   // dropout (forward and backward are the same op on x or dy)
    let keep = dropout_keep(i, params.seed, params.p);
    y[i] = select(nan_zeroed(a[i]), a[i] / (1.0 - params.p), keep);
  }
  _ = a[0];
  _ = b[0];
}
