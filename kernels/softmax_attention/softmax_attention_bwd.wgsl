// Causal multi-head softmax attention over a jagged batch, backward (see softmax_attention.wgsl).
// With P_ij = exp(s_ij − lse_i) (recomputed from Q, K and the saved lse, j ≤ i in one sequence),
// dO the incoming gradient and D_i = Σ_c dO_ic · O_ic (written by softmax_attention_bwd_dot.wgsl
// into dq[(i·H + h)·dk], the first slot of dq's row, which the dQ pass then overwrites):
//   dV_j = Σ_{i ≥ j} P_ij · dO_i
//   dS_ij = P_ij · (dO_i · V_j − D_i)
//   dK_j = scale · Σ_{i ≥ j} dS_ij · Q_i
//   dQ_i = scale · Σ_{j ≤ i} dS_ij · K_j
// Visibility ("j ≤ i" above) includes the optional target mask of softmax_attention.wgsl:
// vis(i, j) = j ≤ i && (j < hend || j == i).
// Deterministic, no atomics. One workgroup per (head, sequence, block of {{WG}}·{{QB}} tokens), grid
// H · B · ceil(N / (WG·QB)); each lane owns QB = {{QB}} tokens (first + a·WG + lid): register
// blocking, every streamed row load feeds QB tokens. PASS 2 (dK, dV): lanes own keys, all walk the
// same queries i = first key of the block .. sequence end (mask i ≥ j by select). PASS 1 (dQ):
// lanes own queries, all walk keys j = start .. last query of the block (mask j ≤ i). Each
// lane keeps its rows' operands and accumulators in registers as vectors of VW = {{VW}} floats
// (dk = {{DK}}, dv = {{DV}} compile-time; `vt`, `vdot`, `vfirst` from the host prelude); no
// workgroup memory, no barriers. Lanes past the sequence end compute its last
// row and store nothing. Host order: dot pass, PASS 2, PASS 1. Accumulation: f32.
// Masked pairs are skipped by select on the product (never 0 · x: 0 · Inf = NaN would leak a
// masked token's non-finite values into other rows' gradients).

struct Params {
  B: u32,
  H: u32,
  nqb: u32,    // token blocks per sequence: ceil(N / (WG · QB))
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
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read> dout: array<vt>;
@group(0) @binding(7) var<storage, read_write> dq: array<vt>;
@group(0) @binding(8) var<storage, read_write> dk: array<vt>;
@group(0) @binding(9) var<storage, read_write> dv: array<vt>;
@group(0) @binding(10) var<storage, read> num_targets: array<u32>;   // [B]; a dummy when has_targets = 0

/** Is key j visible from query i (row indices of one sequence whose history ends at hend)? */
fn vis(i: u32, j: u32, hend: u32) -> bool { return j <= i && (j < hend || j == i); }

// dQ for the lane's queries t[a]; keys j = start .. last (uniform), contributing iff vis(t[a], j).
fn grad_q(t: array<u32, {{QB}}>, live: array<bool, {{QB}}>, h: u32, start: u32, last: u32, hend: u32) {
  let HDK = params.H * {{NK}}u;
  let HDV = params.H * {{NV}}u;
  var qr: array<vt, {{QB}} * {{NK}}>;
  var dor: array<vt, {{QB}} * {{NV}}>;
  var acc: array<vt, {{QB}} * {{NK}}>;
  var d_i: array<f32, {{QB}}>;
  var lse_i: array<f32, {{QB}}>;
  for (var a = 0u; a < {{QB}}u; a++) {
    let row = t[a] * params.H + h;
    d_i[a] = vfirst(dq[row * {{NK}}u]);
    lse_i[a] = lse[row];
    let qb = t[a] * HDK + h * {{NK}}u;
    let ob = t[a] * HDV + h * {{NV}}u;
    for (var c = 0u; c < {{NK}}u; c++) { qr[a * {{NK}}u + c] = q[qb + c] * params.scale; acc[a * {{NK}}u + c] = vt(0.0); }
    for (var c = 0u; c < {{NV}}u; c++) { dor[a * {{NV}}u + c] = dout[ob + c]; }
  }
  for (var j = start; j <= last; j++) {
    let kb = j * HDK + h * {{NK}}u;
    let vb = j * HDV + h * {{NV}}u;
    var s: array<f32, {{QB}}>;
    var dp: array<f32, {{QB}}>;
    for (var a = 0u; a < {{QB}}u; a++) { s[a] = 0.0; dp[a] = 0.0; }
    for (var c = 0u; c < {{NK}}u; c++) {
      let kv = k[kb + c];
      for (var a = 0u; a < {{QB}}u; a++) { s[a] += vdot(qr[a * {{NK}}u + c], kv); }
    }
    for (var c = 0u; c < {{NV}}u; c++) {
      let vv = v[vb + c];
      for (var a = 0u; a < {{QB}}u; a++) { dp[a] += vdot(dor[a * {{NV}}u + c], vv); }
    }
    var ds: array<f32, {{QB}}>;
    var va: array<bool, {{QB}}>;
    for (var a = 0u; a < {{QB}}u; a++) {
      va[a] = vis(t[a], j, hend);
      ds[a] = select(0.0, exp(s[a] - lse_i[a]) * (dp[a] - d_i[a]), va[a]);
    }
    for (var c = 0u; c < {{NK}}u; c++) {
      let kv = k[kb + c];
      for (var a = 0u; a < {{QB}}u; a++) { acc[a * {{NK}}u + c] += select(vt(0.0), ds[a] * kv, va[a]); }
    }
  }
  for (var a = 0u; a < {{QB}}u; a++) {
    if (live[a]) {
      let qb = t[a] * HDK + h * {{NK}}u;
      for (var c = 0u; c < {{NK}}u; c++) { dq[qb + c] = params.scale * acc[a * {{NK}}u + c]; }
    }
  }
}

// dK, dV for the lane's keys t[a]; queries i = first .. end − 1 (uniform), contributing iff vis(i, t[a]).
fn grad_kv(t: array<u32, {{QB}}>, live: array<bool, {{QB}}>, h: u32, first: u32, end: u32, hend: u32) {
  let HDK = params.H * {{NK}}u;
  let HDV = params.H * {{NV}}u;
  var kr: array<vt, {{QB}} * {{NK}}>;
  var vr: array<vt, {{QB}} * {{NV}}>;
  var dka: array<vt, {{QB}} * {{NK}}>;
  var dva: array<vt, {{QB}} * {{NV}}>;
  for (var a = 0u; a < {{QB}}u; a++) {
    let kb = t[a] * HDK + h * {{NK}}u;
    let vb = t[a] * HDV + h * {{NV}}u;
    for (var c = 0u; c < {{NK}}u; c++) { kr[a * {{NK}}u + c] = k[kb + c] * params.scale; dka[a * {{NK}}u + c] = vt(0.0); }
    for (var c = 0u; c < {{NV}}u; c++) { vr[a * {{NV}}u + c] = v[vb + c]; dva[a * {{NV}}u + c] = vt(0.0); }
  }
  for (var i = first; i < end; i++) {
    let row = i * params.H + h;
    let qb = i * HDK + h * {{NK}}u;
    let ob = i * HDV + h * {{NV}}u;
    let lse_i = lse[row];
    let d_i = vfirst(dq[row * {{NK}}u]);
    var s: array<f32, {{QB}}>;
    var dp: array<f32, {{QB}}>;
    for (var a = 0u; a < {{QB}}u; a++) { s[a] = 0.0; dp[a] = 0.0; }
    for (var c = 0u; c < {{NK}}u; c++) {
      let qv = q[qb + c];
      for (var a = 0u; a < {{QB}}u; a++) { s[a] += vdot(qv, kr[a * {{NK}}u + c]); }
    }
    var p: array<f32, {{QB}}>;
    var va: array<bool, {{QB}}>;
    for (var a = 0u; a < {{QB}}u; a++) { va[a] = vis(i, t[a], hend); p[a] = exp(s[a] - lse_i); }
    for (var c = 0u; c < {{NV}}u; c++) {
      let gv = dout[ob + c];
      for (var a = 0u; a < {{QB}}u; a++) {
        dp[a] += vdot(gv, vr[a * {{NV}}u + c]);
        dva[a * {{NV}}u + c] += select(vt(0.0), p[a] * gv, va[a]);
      }
    }
    var ds: array<f32, {{QB}}>;
    for (var a = 0u; a < {{QB}}u; a++) { ds[a] = p[a] * (dp[a] - d_i); }
    for (var c = 0u; c < {{NK}}u; c++) {
      let qv = q[qb + c];
      for (var a = 0u; a < {{QB}}u; a++) { dka[a * {{NK}}u + c] += select(vt(0.0), ds[a] * qv, va[a]); }
    }
  }
  for (var a = 0u; a < {{QB}}u; a++) {
    if (live[a]) {
      let kb = t[a] * HDK + h * {{NK}}u;
      let vb = t[a] * HDV + h * {{NV}}u;
      for (var c = 0u; c < {{NK}}u; c++) { dk[kb + c] = params.scale * dka[a * {{NK}}u + c]; }
      for (var c = 0u; c < {{NV}}u; c++) { dv[vb + c] = dva[a * {{NV}}u + c]; }
    }
  }
}

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
  let last = min(first + {{WG}}u * {{QB}}u, end) - 1u;
  var hend = end;
  if (params.has_targets == 1u) { hend = end - min(num_targets[b], end - start); }
  var t: array<u32, {{QB}}>;
  var live: array<bool, {{QB}}>;
  for (var a = 0u; a < {{QB}}u; a++) {
    live[a] = first + a * {{WG}}u + lid <= last;
    t[a] = min(first + a * {{WG}}u + lid, last);
  }
  if ({{PASS}}u == 1u) {
    grad_q(t, live, h, start, last, hend);
    _ = dk[0];
    _ = dv[0];
  } else {
    grad_kv(t, live, h, first, end, hend);
  }
}
