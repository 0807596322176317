// Causal multi-head softmax attention over a jagged batch (SASRec), forward.
// Within each sequence b (rows seq_offsets[b] .. seq_offsets[b+1]), per head h:
//   s_ij  = scale · (Q_i · K_j)                       for visible j, same sequence only
// Visible: j ≤ i (causal); with has_targets, the last num_targets[b] tokens of sequence b are
// candidates (M-FALCON target mask): a candidate i sees the history (j < hend) and itself only,
// hend = end − min(num_targets[b], length). Without targets hend = end: plain causal.
//   O_i   = Σ_{j ≤ i} softmax_j(s_ij) · V_j
//   lse_i = log Σ_{j ≤ i} exp(s_ij)                   saved [L, H] for the backward pass
// Online softmax (FlashAttention): per query a running max m, running sum l and unnormalised
// accumulator acc, rescaled by exp(m_old − m_new) at each key. No score matrix is written.
// Decomposition: one workgroup per (head h, sequence b, block of {{WG}}·{{QB}} queries); grid
// H · B · ceil(N / (WG·QB)), N = max length; blocks past a sequence's end exit at once. Each lane
// owns QB = {{QB}} queries (first + a·WG + lid, a < QB): register blocking, so every K_j / V_j
// load (the expensive part on lavapipe, which loads per lane) feeds QB queries. All lanes walk the
// same keys j = start .. last query of the block; the causal mask is a select. Q (pre-scaled) and
// acc live in registers as vectors of VW = {{VW}} floats (`vt`, `vdot` from the host prelude;
// dk = {{DK}}, dv = {{DV}} compile-time so the loops unroll); no workgroup memory, no barriers.
// Queries past the sequence end recompute its last row and store nothing.
// Linear workgroup id = wid.x + wid.y·nwg.x. Accumulation: f32.
// Non-finite values: masked keys are skipped by select (never p = 0 times V_j: 0 · Inf = NaN
// would leak a masked token into this query), and the running max is NaN-aware (nan_max).

//#include nan

struct Params {
  B: u32,
  H: u32,
  nqb: u32,    // query blocks per sequence: ceil(N / (WG · QB))
  scale: f32,
  has_targets: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<vt>;
@group(0) @binding(2) var<storage, read> k: array<vt>;
@group(0) @binding(3) var<storage, read> v: array<vt>;
@group(0) @binding(4) var<storage, read> seq_offsets: array<u32>;
@group(0) @binding(5) var<storage, read_write> out: array<vt>;
@group(0) @binding(6) var<storage, read_write> lse: array<f32>;
@group(0) @binding(7) var<storage, read> num_targets: array<u32>;   // [B]; a dummy when has_targets = 0

const NEG_BIG: f32 = -3.0e38;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x + wid.y * nwg.x;
  let per_head = params.B * params.nqb;
  if (g >= params.H * per_head) { return; }
  let h = g / per_head;
  let r = g - h * per_head;
  let b = r / params.nqb;
  let start = seq_offsets[b];
  let end = seq_offsets[b + 1u];
  let first = start + (r - b * params.nqb) * ({{WG}}u * {{QB}}u);
  if (first >= end) { return; }
  let last = min(first + {{WG}}u * {{QB}}u, end) - 1u;      // uniform: the block's last query
  var hend = end;
  if (params.has_targets == 1u) { hend = end - min(num_targets[b], end - start); }
  let HDK = params.H * {{NK}}u;   // row strides in vectors
  let HDV = params.H * {{NV}}u;

  var t: array<u32, {{QB}}>;
  var qr: array<vt, {{QB}} * {{NK}}>;
  var acc: array<vt, {{QB}} * {{NV}}>;
  var m: array<f32, {{QB}}>;
  var l: array<f32, {{QB}}>;
  for (var a = 0u; a < {{QB}}u; a++) {
    t[a] = min(first + a * {{WG}}u + lid, last);
    let qb = t[a] * HDK + h * {{NK}}u;
    for (var c = 0u; c < {{NK}}u; c++) { qr[a * {{NK}}u + c] = q[qb + c] * params.scale; }
    for (var c = 0u; c < {{NV}}u; c++) { acc[a * {{NV}}u + c] = vt(0.0); }
    m[a] = NEG_BIG;
    l[a] = 0.0;
  }

  for (var j = start; j <= last; j++) {
    let kb = j * HDK + h * {{NK}}u;
    var s: array<f32, {{QB}}>;
    for (var a = 0u; a < {{QB}}u; a++) { s[a] = 0.0; }
    for (var c = 0u; c < {{NK}}u; c++) {
      let kv = k[kb + c];
      for (var a = 0u; a < {{QB}}u; a++) { s[a] += vdot(qr[a * {{NK}}u + c], kv); }
    }
    var corr: array<f32, {{QB}}>;
    var p: array<f32, {{QB}}>;
    var visa: array<bool, {{QB}}>;
    for (var a = 0u; a < {{QB}}u; a++) {
      // Masked keys are skipped: m, l and acc unchanged (explicitly: under the target mask a
      // candidate's first visible key may come after masked ones, while m is still −big).
      let vis = j <= t[a] && (j < hend || j == t[a]);
      visa[a] = vis;
      let mn = select(m[a], nan_max(m[a], s[a]), vis);
      corr[a] = select(1.0, exp(m[a] - mn), vis);
      p[a] = select(0.0, exp(s[a] - mn), vis);
      l[a] = select(l[a], l[a] * corr[a] + p[a], vis);
      m[a] = mn;
    }
    let vb = j * HDV + h * {{NV}}u;
    for (var c = 0u; c < {{NV}}u; c++) {
      let vv = v[vb + c];
      for (var a = 0u; a < {{QB}}u; a++) {
        let o = acc[a * {{NV}}u + c];
        acc[a * {{NV}}u + c] = select(o, o * corr[a] + p[a] * vv, visa[a]);
      }
    }
  }

  for (var a = 0u; a < {{QB}}u; a++) {
    if (first + a * {{WG}}u + lid <= last) {
      let inv = 1.0 / l[a];        // l ≥ 1: the key with the running max contributes exp(0)
      let ob = t[a] * HDV + h * {{NV}}u;
      for (var c = 0u; c < {{NV}}u; c++) { out[ob + c] = acc[a * {{NV}}u + c] * inv; }
      lse[t[a] * params.H + h] = m[a] + log(l[a]);
    }
  }
}
