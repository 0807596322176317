//#sg: enable subgroups;
//#sg: diagnostic(off, subgroup_uniformity);
// HSTU pointwise attention, forward (fused: scores never leave registers).
// Per sequence b (n tokens from seq_offsets[b]) and head h, for query tokens i:
//   S[i,j] = alpha·(Q_i·K_j) + rab_pos[p_j − p_i + N − 1] + rab_time[bucket(qt_i − t_j)]
//   O_i    = Σ_{j visible from i} SiLU(S[i,j]) / norm · V_j   (masked j skipped: NaN/Inf in an
//            invisible K_j or V_j never reach O_i)
// visible: history i (< hh = n − num_targets) sees j ≤ i; target i sees history j < hh and itself.
// p_i = i for history, hh for targets; qt_i = t_{i+1} for history i < hh − 1; for i = hh − 1 the
// next event's time next_ts[b] when given (flags bit 1), else t_i; targets t_i.
// Queries are the LAST m_b = q_offsets[b+1] − q_offsets[b] tokens of each sequence, read from rows
// q_offsets[b] .. of q and written to the same rows of out (full pass: q_offsets = seq_offsets,
// m_b = n_b; cached/serving pass: only the new tokens, K/V cover the whole sequence).
// Decomposition: one workgroup of 8 lanes (one lavapipe subgroup) per (sequence, block of 8
// queries, head); lane = query row: Q_i·alpha and the DV accumulators live in registers (the
// host unrolls the `//#for d in DQK:` lines: no private arrays, which llvmpipe lowers badly), the loop
// over keys j reads K_j, V_j at workgroup-uniform addresses (broadcast loads, no workgroup memory,
// no barriers). Linear workgroup id = wid.x + wid.y·nwg.x = (b·nqb + qblock)·H + h.
// Accumulation: f32. The time bucket is exact: an f32 log estimate corrected with bucket_t (the
// smallest |Δ| of each bucket, computed on the host in float64 with the reference's formula).

struct Params {
  H: u32,
  nqb: u32,        // query blocks per sequence
  total: u32,      // B · nqb · H workgroups
  N: u32,
  alpha: f32,
  inv_norm: f32,
  flags: u32,      // bit 0: num_targets given; bit 1: next_ts given
  _pad: u32,
}

const DQK: u32 = {{DQK}}u;
const DV: u32 = {{DV}}u;
const WG: u32 = 8u;
const USE_RAB: bool = {{USE_RAB}};

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> q_offsets: array<u32>;
@group(0) @binding(5) var<storage, read> seq_offsets: array<u32>;
@group(0) @binding(6) var<storage, read> timestamps: array<u32>;
@group(0) @binding(7) var<storage, read> num_targets: array<u32>;
@group(0) @binding(8) var<storage, read> rab_pos: array<f32>;
@group(0) @binding(9) var<storage, read> rab_time: array<f32>;
@group(0) @binding(10) var<storage, read_write> out: array<f32>;

// Time-bucket thresholds (74 u32): a storage buffer, not a WGSL const array (llvmpipe copies a
// dynamically indexed const array into private memory on every call).
@group(0) @binding(11) var<storage, read> bucket_t: array<u32>;
// [B] time of the event the last history token predicts (retrieval: the target's; serving: the
// request's), read only when flags bit 1 is set.
@group(0) @binding(12) var<storage, read> next_ts: array<u32>;

fn time_bucket(a: u32, b: u32) -> u32 {
  let x = max(select(a - b, b - a, a < b), 1u);
  var bk = clamp(i32(floor(log(f32(x)) * (1.0 / 0.301))), 0, 73);
  if (bk < 73 && x >= bucket_t[bk + 1]) { bk += 1; } else if (bk > 0 && x < bucket_t[bk]) { bk -= 1; }
  return u32(bk);
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  _ = timestamps[0]; _ = num_targets[0]; _ = rab_pos[0]; _ = rab_time[0]; _ = bucket_t[0]; _ = next_ts[0];
  let lin = wid.x + wid.y * nwg.x;
  if (lin >= params.total) { return; }
  let H = params.H;
  let h = lin % H;
  let qb = (lin / H) % params.nqb;
  let b = lin / H / params.nqb;
  let start = seq_offsets[b];
  let n = seq_offsets[b + 1u] - start;
  let qs = q_offsets[b];
  let m = q_offsets[b + 1u] - qs;
  let r0 = qb * WG;
  if (r0 >= m) { return; }
  let r = r0 + lid;
  let valid = r < m;
  let i = n - m + r;                 // token index of this lane's query within the sequence
  var kt = 0u;
  if ((params.flags & 1u) != 0u) { kt = min(num_targets[b], n); }
  let hh = n - kt;
  let is_target = i >= hh;
  let p_i = select(i, hh, is_target);
  let qt_idx = select(i, i + 1u, !is_target && i + 1u < hh);
  var qt = 0u;
  if (USE_RAB && valid) {
    qt = timestamps[start + qt_idx];
    if ((params.flags & 2u) != 0u && i + 1u == hh) { qt = next_ts[b]; }
  }

  let qbase = ((qs + min(r, m - 1u)) * H + h) * DQK;
  //#for d in DQK: let q_{d} = params.alpha * q[qbase + {d}u];
  //#for d in DV: var acc_{d} = 0.0;

  let jend = min(n, n - m + r0 + WG);   // keys beyond the block's last query are never visible
  let pos_base = params.N - 1u;
  for (var j = 0u; j < jend; j++) {
    let kb = ((start + j) * H + h) * DQK;
    let vb = ((start + j) * H + h) * DV;
    // Subgroups: the 8 lanes load K_j, V_j cooperatively and broadcast them (llvmpipe runs loads
    // inside loops lane by lane; broadcasts are shuffles).
    //#sg: //#for d in DQK8: let kc_{d} = k[kb + min(lid + {d}u * 8u, DQK - 1u)];
    //#sg: //#for d in DV8: let vc_{d} = v[vb + min(lid + {d}u * 8u, DV - 1u)];
    //#sg: //#for d in DQK: let kj_{d} = subgroupBroadcast(kc_{d8q}, {d8r}u);
    //#sg: //#for d in DV: let vj_{d} = subgroupBroadcast(vc_{d8q}, {d8r}u);
    //#nosg: //#for d in DQK: let kj_{d} = k[kb + {d}u];
    //#nosg: //#for d in DV: let vj_{d} = v[vb + {d}u];
    var s0 = 0.0; var s1 = 0.0; var s2 = 0.0; var s3 = 0.0;
    //#for d in DQK: s{d4} += q_{d} * kj_{d};
    var s = (s0 + s1) + (s2 + s3);
    let vis = valid && j <= i && (!is_target || j < hh || j == i);
    if (USE_RAB) {
      let p_j = select(j, hh, j >= hh);
      let pidx = min(pos_base + p_j - min(p_i, pos_base + p_j), 2u * pos_base);
      s += rab_pos[pidx] + rab_time[time_bucket(qt, timestamps[start + j])];
    }
    // Masked keys are skipped, never multiplied by zero: 0 · Inf = NaN would leak one token's
    // non-finite V into every other query's output (M-FALCON: candidate into candidate).
    let a = s / (1.0 + exp(-s)) * params.inv_norm;
    //#for d in DV: acc_{d} += select(0.0, a * vj_{d}, vis);
  }
  if (valid) {
    let ob = ((qs + r) * H + h) * DV;
    //#for d in DV: out[ob + {d}u] = acc_{d};
  }
}
