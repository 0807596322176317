//#sg: enable subgroups;
//#sg: diagnostic(off, subgroup_uniformity);
// HSTU pointwise attention, backward (FlashAttention-2 style, deterministic, no atomics).
// Recomputes S[i,j] (see hstu_attention.wgsl for the math and visibility), then on visible pairs
//   A = SiLU(S)/norm,  dA = dO_i·V_j,  dS = dA · SiLU'(S)/norm,  SiLU'(s) = σ(s)(1 + s(1 − σ(s)))
//   dV_j = Σ_i A dO_i      dK_j = alpha Σ_i dS Q_i      dQ_i = alpha Σ_j dS K_j
//   dRabPos[p_j − p_i + N − 1] += dS,   dRabTime[bucket(qt_i − t_j)] += dS
// Three entry points sharing one binding layout (every binding statically used by each):
//  dkdv:   one workgroup (8 lanes) per (sequence, block of 8 keys, head); lane = key j holding
//          K_j, V_j, dK_j, dV_j in registers; loops over queries i ≥ j (uniform loads of Q_i, dO_i).
//  dq:     one workgroup per (sequence, block of 8 queries), looping over heads; lane = query i
//          holding Q_i, dO_i, dQ_i; loops over keys j in tiles of 8. With USE_RAB and N ≤ 512
//          (LANE_HIST) each lane adds its dS values to its own histogram row in workgroup memory
//          and the 8 rows are summed in lane order at the end; for larger N each tile's dS values
//          (8 lanes × 8 keys) are staged and lane 0 adds them, in a fixed order, into wg_pos[N]
//          and wg_time[129]. The workgroup writes its sums to scratch row w: scratch[w·(N + 129) + e].
// Subgroups (when the device has them, the //#sg: lines): the rows read at a uniform address in
// the inner loops (Q_i, dO_i in dkdv; K_j, V_j in dq) are loaded cooperatively, lane l reading
// elements l, l + 8, ..., and broadcast with subgroupBroadcast: llvmpipe executes a storage load
// inside a loop lane by lane (~8× the cost), a broadcast is a register shuffle (4-5× faster passes).
//  reduce: one lane per output entry sums scratch over workgroups w = 0, 1, ... in order
//          (dRabPos entries ≥ N are never used by a visible pair and are written as 0).
// Per-lane vectors are scalar registers: the host unrolls each `//#for d in DQK:` line (llvmpipe
// lowers dynamically indexed private arrays into branch ladders). Dot products use 4 partial
// sums. Accumulation: f32 everywhere; results are bitwise reproducible run to run.

struct Params {
  H: u32,
  nb: u32,         // blocks of 8 tokens per sequence
  total: u32,      // workgroups (dkdv: B·nb·H, dq: B·nb) or lanes (reduce: 2N − 1 + 129)
  N: u32,
  alpha: f32,
  inv_norm: f32,
  flags: u32,      // bit 0: num_targets given; bit 1: next_ts given (see hstu_attention.wgsl); bit 2: reduce adds
  rows: u32,       // reduce: scratch rows (dq workgroups of the chunk); dq: the chunk's first workgroup
}

const DQK: u32 = {{DQK}}u;
const DV: u32 = {{DV}}u;
const WG: u32 = 8u;
const USE_RAB: bool = {{USE_RAB}};
const POS_CAP: u32 = {{POS_CAP}}u;
const NT: u32 = 129u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> seq_offsets: array<u32>;
@group(0) @binding(6) var<storage, read> timestamps: array<u32>;
@group(0) @binding(7) var<storage, read> num_targets: array<u32>;
@group(0) @binding(8) var<storage, read> rab_pos: array<f32>;
@group(0) @binding(9) var<storage, read> rab_time: array<f32>;
@group(0) @binding(10) var<storage, read_write> out_a: array<f32>;   // dk | dq | dRabPos
@group(0) @binding(11) var<storage, read_write> out_b: array<f32>;   // dv | (unused) | dRabTime
@group(0) @binding(12) var<storage, read_write> scratch: array<f32>; // per-workgroup rab partials

// Time-bucket thresholds (74 u32): a storage buffer, not a WGSL const array (llvmpipe copies a
// dynamically indexed const array into private memory on every call).
@group(0) @binding(13) var<storage, read> bucket_t: array<u32>;
@group(0) @binding(14) var<storage, read> next_ts: array<u32>; // [B], see hstu_attention.wgsl

fn time_bucket(a: u32, b: u32) -> u32 {
  let x = max(select(a - b, b - a, a < b), 1u);
  var bk = clamp(i32(floor(log(f32(x)) * (1.0 / 0.301))), 0, 73);
  if (bk < 73 && x >= bucket_t[bk + 1]) { bk += 1; } else if (bk > 0 && x < bucket_t[bk]) { bk -= 1; }
  return u32(bk);
}

fn touch_all() {
  _ = q[0]; _ = k[0]; _ = v[0]; _ = dout[0]; _ = seq_offsets[0]; _ = timestamps[0];
  _ = num_targets[0]; _ = rab_pos[0]; _ = rab_time[0]; _ = out_a[0]; _ = out_b[0]; _ = scratch[0]; _ = bucket_t[0]; _ = next_ts[0];
}

struct Seq { b: u32, start: u32, n: u32, hh: u32 }

fn seq_info(b: u32) -> Seq {
  let start = seq_offsets[b];
  let n = seq_offsets[b + 1u] - start;
  var kt = 0u;
  if ((params.flags & 1u) != 0u) { kt = min(num_targets[b], n); }
  return Seq(b, start, n, n - kt);
}

// Bias of pair (i, j) and its rab indices (pos index, time bucket); i, j local token indices.
fn rab_pos_index(i: u32, j: u32, hh: u32) -> u32 {
  let base = params.N - 1u;
  let p_i = select(i, hh, i >= hh);
  let p_j = select(j, hh, j >= hh);
  return min(base + p_j - min(p_i, base + p_j), 2u * base);
}
fn query_time(sq: Seq, i: u32) -> u32 {
  if ((params.flags & 2u) != 0u && i + 1u == sq.hh) { return next_ts[sq.b]; }
  let idx = select(i, i + 1u, i < sq.hh && i + 1u < sq.hh);
  return timestamps[sq.start + min(idx, max(sq.n, 1u) - 1u)];
}
fn is_visible(i: u32, j: u32, hh: u32) -> bool {
  return j <= i && (i < hh || j < hh || j == i);
}
fn sigmoid(x: f32) -> f32 { return 1.0 / (1.0 + exp(-x)); }

@compute @workgroup_size(8)
fn dkdv(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  touch_all();
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= params.total) { return; }
  let H = params.H;
  let h = lin % H;
  let kb = (lin / H) % params.nb;
  let b = lin / H / params.nb;
  let sq = seq_info(b);
  let j0 = kb * WG;
  if (j0 >= sq.n) { return; }
  let j = j0 + lid;
  let valid = j < sq.n;
  let jr = sq.start + min(j, sq.n - 1u);
  var tj = 0u;
  if (USE_RAB) { tj = timestamps[jr]; }

  let kbase = (jr * H + h) * DQK;
  let vbase = (jr * H + h) * DV;
  //#for d in DQK: let kr_{d} = k[kbase + {d}u]; var dk_{d} = 0.0;
  //#for d in DV: let vr_{d} = v[vbase + {d}u]; var dv_{d} = 0.0;

  // Targets only see target keys on the diagonal: a block of target keys needs queries < j0 + 8.
  let iend = select(sq.n, min(sq.n, j0 + WG), j0 >= sq.hh);
  let alpha = params.alpha;
  for (var i = j0; i < iend; i++) {
    let qb = ((sq.start + i) * H + h) * DQK;
    let ob = ((sq.start + i) * H + h) * DV;
    // Subgroups: the 8 lanes load Q_i, dO_i cooperatively (lane l: elements l, l + 8, ...) and
    // broadcast them (llvmpipe runs loads inside loops lane by lane; broadcasts are shuffles).
    //#sg: //#for d in DQK8: let qc_{d} = q[qb + min(lid + {d}u * 8u, DQK - 1u)];
    //#sg: //#for d in DV8: let oc_{d} = dout[ob + min(lid + {d}u * 8u, DV - 1u)];
    //#sg: //#for d in DQK: let qi_{d} = subgroupBroadcast(qc_{d8q}, {d8r}u);
    //#sg: //#for d in DV: let oi_{d} = subgroupBroadcast(oc_{d8q}, {d8r}u);
    //#nosg: //#for d in DQK: let qi_{d} = q[qb + {d}u];
    //#nosg: //#for d in DV: let oi_{d} = dout[ob + {d}u];
    var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
    //#for d in DQK: s{d4} += qi_{d} * kr_{d};
    var s = ((s0 + s1) + (s2 + s3)) * alpha;
    if (USE_RAB) {
      s += rab_pos[rab_pos_index(i, j, sq.hh)] + rab_time[time_bucket(query_time(sq, i), tj)];
    }
    var a0 = 0.0; var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
    //#for d in DV: a{d4} += oi_{d} * vr_{d};
    let da = (a0 + a1) + (a2 + a3);
    let vis = valid && is_visible(i, j, sq.hh);
    let sg = sigmoid(s);
    // Masked pairs are skipped (select on the product), never multiplied by zero: 0 · Inf = NaN
    // would leak an invisible token's non-finite values into this key's gradients.
    let a = s * sg * params.inv_norm;
    let ds = da * sg * (1.0 + s * (1.0 - sg)) * params.inv_norm * alpha;
    //#for d in DV: dv_{d} += select(0.0, a * oi_{d}, vis);
    //#for d in DQK: dk_{d} += select(0.0, ds * qi_{d}, vis);
  }
  if (valid) {
    //#for d in DQK: out_a[kbase + {d}u] = dk_{d};
    //#for d in DV: out_b[vbase + {d}u] = dv_{d};
  }
}

// LANE_HIST (POS_CAP ≤ 512): each lane owns a private histogram row (pos | time) in workgroup
// memory and adds its dS values to it directly (no conflicts, no barriers in the key loop); the
// rows are summed in lane order at the end. Otherwise (large N, the rows would not fit in 32 KiB)
// dS tiles are staged and lane 0 adds them serially.
const LANE_HIST: bool = {{LANE_HIST}};
// GLOBAL_HIST (N > 4096: wg_pos would not fit in workgroup memory): lane 0 adds the staged dS
// values straight into the workgroup's own scratch row (zeroed first; no other workgroup touches
// it), in the same fixed order, so results stay deterministic.
const GLOBAL_HIST: bool = {{GLOBAL_HIST}};
const LH_STRIDE: u32 = POS_CAP + NT;
var<workgroup> lane_hist: array<f32, {{LH_SIZE}}>;
var<workgroup> wg_pos: array<f32, POS_CAP>;
var<workgroup> wg_time: array<f32, NT>;
var<workgroup> st_ds: array<f32, 64>;
var<workgroup> st_pi: array<u32, 64>;
var<workgroup> st_tb: array<u32, 64>;

@compute @workgroup_size(8)
fn dq(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  touch_all();
  // dq runs in chunks of workgroups (the rab scratch of all of them may exceed a binding):
  // params.rows = this chunk's first workgroup, `row` = its scratch row within the chunk.
  let row = wid.x + wid.y * nwg.x;
  let lin = params.rows + row;
  if (lin >= params.total) { return; }
  let H = params.H;
  let qblk = lin % params.nb;
  let b = lin / params.nb;
  let sq = seq_info(b);
  let i0 = qblk * WG;
  let i = i0 + lid;
  let valid = i < sq.n;
  let ir = sq.start + min(i, max(sq.n, 1u) - 1u);
  let row_len = params.N + NT;
  let pos_cap = select(POS_CAP, params.N, GLOBAL_HIST);
  if (USE_RAB && GLOBAL_HIST) {
    for (var e = lid; e < row_len; e += WG) { scratch[row * row_len + e] = 0.0; }
    storageBarrier();
  }
  if (i0 < sq.n) {
    var qt = 0u;
    if (USE_RAB) { qt = query_time(sq, min(i, sq.n - 1u)); }
    let jend = min(sq.n, i0 + WG);
    let alpha = params.alpha;
    for (var h = 0u; h < H; h++) {
      let qbase = (ir * H + h) * DQK;
      let obase = (ir * H + h) * DV;
      //#for d in DQK: let qr_{d} = q[qbase + {d}u]; var dq_{d} = 0.0;
      //#for d in DV: let dor_{d} = dout[obase + {d}u];
      for (var j0 = 0u; j0 < jend; j0 += WG) {
        for (var mm = 0u; mm < WG; mm++) {
          let j = j0 + mm;
          var ds = 0.0;
          var pidx = 0u;
          var tb = 0u;
          if (j < jend) {
            let kb = ((sq.start + j) * H + h) * DQK;
            let vb = ((sq.start + j) * H + h) * DV;
            //#sg: //#for d in DQK8: let kc_{d} = k[kb + min(lid + {d}u * 8u, DQK - 1u)];
            //#sg: //#for d in DV8: let vc_{d} = v[vb + min(lid + {d}u * 8u, DV - 1u)];
            //#sg: //#for d in DQK: let kj_{d} = subgroupBroadcast(kc_{d8q}, {d8r}u);
            //#sg: //#for d in DV: let vj_{d} = subgroupBroadcast(vc_{d8q}, {d8r}u);
            //#nosg: //#for d in DQK: let kj_{d} = k[kb + {d}u];
            //#nosg: //#for d in DV: let vj_{d} = v[vb + {d}u];
            var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
            //#for d in DQK: s{d4} += qr_{d} * kj_{d};
            var s = ((s0 + s1) + (s2 + s3)) * alpha;
            if (USE_RAB) {
              pidx = rab_pos_index(i, j, sq.hh);
              tb = time_bucket(qt, timestamps[sq.start + j]);
              s += rab_pos[pidx] + rab_time[tb];
            }
            var a0 = 0.0; var a1 = 0.0; var a2 = 0.0; var a3 = 0.0;
            //#for d in DV: a{d4} += dor_{d} * vj_{d};
            let da = (a0 + a1) + (a2 + a3);
            let vis = valid && is_visible(i, j, sq.hh);
            let sg = sigmoid(s);
            ds = select(0.0, da * sg * (1.0 + s * (1.0 - sg)) * params.inv_norm, vis);
            let dsa = ds * alpha;
            // Masked keys skipped (not 0 · K_j, which is NaN for a non-finite K_j).
            //#for d in DQK: dq_{d} += select(0.0, dsa * kj_{d}, vis);
          }
          if (USE_RAB && LANE_HIST) {
            if (j < jend) {
              let lb = lid * LH_STRIDE;
              lane_hist[lb + min(pidx, POS_CAP - 1u)] += ds;
              lane_hist[lb + POS_CAP + min(tb, NT - 1u)] += ds;
            }
          } else if (USE_RAB) {
            st_ds[mm * WG + lid] = ds;
            st_pi[mm * WG + lid] = min(pidx, pos_cap - 1u);
            st_tb[mm * WG + lid] = min(tb, NT - 1u);
          }
        }
        if (USE_RAB && !LANE_HIST) {
          workgroupBarrier();
          if (lid == 0u && GLOBAL_HIST) {
            let rb = row * row_len;
            for (var e = 0u; e < WG * WG; e++) {
              let g = st_ds[e];
              scratch[rb + st_pi[e]] += g;
              scratch[rb + params.N + st_tb[e]] += g;
            }
          } else if (lid == 0u) {
            for (var e = 0u; e < WG * WG; e++) {
              let g = st_ds[e];
              wg_pos[st_pi[e]] += g;
              wg_time[st_tb[e]] += g;
            }
          }
          workgroupBarrier();
        }
      }
      if (valid) {
        //#for d in DQK: out_a[qbase + {d}u] = dq_{d};
      }
    }
  }
  if (USE_RAB) {
    workgroupBarrier();
    let base = row * row_len;
    if (LANE_HIST) {
      // Sum the 8 lane histograms in lane order (deterministic).
      for (var e = lid; e < params.N; e += WG) {
        var acc = 0.0;
        for (var l = 0u; l < WG; l++) { acc += lane_hist[l * LH_STRIDE + e]; }
        scratch[base + e] = acc;
      }
      for (var e = lid; e < NT; e += WG) {
        var acc = 0.0;
        for (var l = 0u; l < WG; l++) { acc += lane_hist[l * LH_STRIDE + POS_CAP + e]; }
        scratch[base + params.N + e] = acc;
      }
    } else if (!GLOBAL_HIST) {
      for (var e = lid; e < params.N; e += WG) { scratch[base + e] = wg_pos[e]; }
      for (var e = lid; e < NT; e += WG) { scratch[base + params.N + e] = wg_time[e]; }
    }
  }
}

@compute @workgroup_size(64)
fn reduce(@builtin(global_invocation_id) gid: vec3u) {
  touch_all();
  let e = gid.x;
  let npos = 2u * params.N - 1u;
  if (e >= npos + NT) { return; }
  let row_len = params.N + NT;
  var col = 0u;
  var used = true;
  if (e < npos) { col = e; used = e < params.N; } else { col = params.N + (e - npos); }
  var acc = 0.0;
  if (used) {
    for (var w = 0u; w < params.rows; w++) { acc += scratch[w * row_len + col]; }
  }
  // flags bit 2: a later chunk of dq workgroups, added to the earlier chunks' sums (in order).
  let more = (params.flags & 4u) != 0u;
  if (e < npos) { out_a[e] = select(acc, out_a[e] + acc, more); } else { out_b[e - npos] = select(acc, out_b[e - npos] + acc, more); }
}
