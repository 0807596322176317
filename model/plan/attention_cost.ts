// Cost of the HSTU attention kernels (kernels/hstu_attention) as they run, for the planner's
// local (calibrated) device: not per FLOP but per loop iteration of an 8-lane workgroup, the
// unit of work of every pass.
//
// What the kernels do (one workgroup of 8 lanes = 8 rows of one sequence; a lane per row):
//   forward  (hstu_attention.wgsl)  one workgroup per (sequence, block of 8 queries, head); it
//            loops over keys j < min(n, 8·(block + 1)): Σ_blocks min(n, 8(qb + 1)) iterations;
//   dK, dV   (bwd `dkdv`)           one per (sequence, block of 8 keys, head), looping over
//            queries i ∈ [8kb, n): Σ_blocks (n − 8kb) iterations;
//   dQ       (bwd `dq`)             one per (sequence, block of 8 queries), looping over the heads
//            and over keys in tiles of 8 (all 8 of the last tile run): Σ_blocks 8(qb + 1);
// each iteration loads one row of each operand (the subgroup path: ⌈dqk/8⌉ + ⌈dv/8⌉ cooperative
// loads and dqk + dv broadcasts per lane) and does dqk + dv (fwd) to 2dqk + 2dv (bwd) multiply-adds,
// plus the mask, the relative bias (two table reads, the time bucket's log) and SiLU (exp). So an
// iteration costs a + b·(dqk + dv); a width that is not a multiple of 8 keeps a clamped (gathered)
// load in its last chunk of 8: + g per unaligned operand; and for N > 512 (LANE_HIST_MAX_N) the
// dQ pass no longer adds its relative-bias gradients to per-lane histograms in workgroup memory but
// stages each 8 × 8 tile and lets lane 0 add the 64 values (two barriers per tile): + h per dQ
// iteration. Workgroups past a short sequence's end (the grid is sized by the batch's longest)
// return at once and are not counted. The four coefficients are fitted to the calibration's
// attention cases (fitAttentionCost), which cover both regimes and an unaligned width.

/** Seconds per iteration: base, per unit of width (dqk + dv), per unaligned operand, per staged dQ iteration. */
export interface AttentionCost {
  baseNs: number;
  perWidthNs: number;
  unalignedNs: number;
  stagedHistNs: number;
  /** How the coefficients were obtained (fit, points, worst residual). */
  fit: string;
}

/** Threshold of the backward's per-lane histograms (kernels/hstu_attention LANE_HIST_MAX_N). */
export const LANE_HIST_MAX_N = 512;

/** Loop iterations of one head of one sequence of n tokens, per pass (see the header). */
export function attentionIterations(n: number): { fwd: number; dkdv: number; dq: number } {
  let fwd = 0, dkdv = 0, dq = 0;
  for (let qb = 0; 8 * qb < n; qb++) {
    fwd += Math.min(n, 8 * (qb + 1));
    dkdv += n - 8 * qb;
    dq += 8 * (qb + 1);
  }
  return { fwd, dkdv, dq };
}

/** The features the coefficients multiply, for one layer's attention over a batch's sequences. */
export interface AttentionFeatures {
  /** Iterations of all three passes × heads. */
  iterations: number;
  /** Iterations × (dqk + dv). */
  widthIterations: number;
  /** Iterations × (number of operands among dqk, dv that are not a multiple of 8). */
  unalignedIterations: number;
  /** dQ iterations × heads when N > 512 (staged histograms), else 0. */
  stagedIterations: number;
}

export function attentionFeatures(lengths: readonly number[], shape: { H: number; dqk: number; dv: number; N: number }): AttentionFeatures {
  let it = 0, dq = 0;
  for (const n of lengths) {
    const x = attentionIterations(n);
    it += x.fwd + x.dkdv + x.dq;
    dq += x.dq;
  }
  const { H, dqk, dv, N } = shape;
  const unaligned = (dqk % 8 ? 1 : 0) + (dv % 8 ? 1 : 0);
  return { iterations: H * it, widthIterations: H * it * (dqk + dv), unalignedIterations: H * it * unaligned, stagedIterations: N > LANE_HIST_MAX_N ? H * dq : 0 };
}

const vec = (f: AttentionFeatures): number[] => [f.iterations, f.widthIterations, f.unalignedIterations, f.stagedIterations];

/** Seconds of one layer's attention fwd + bwd. */
export function attentionSeconds(f: AttentionFeatures, c: AttentionCost): number {
  const k = [c.baseNs, c.perWidthNs, c.unalignedNs, c.stagedHistNs];
  return vec(f).reduce((a, x, i) => a + x * k[i]!, 0) * 1e-9;
}

/** Least squares of A·x ≈ y restricted to the columns in `cols` (normal equations, Gauss). */
function solveOn(A: number[][], y: number[], cols: number[]): number[] | null {
  const m = cols.length;
  const M = Array.from({ length: m }, (_, i) => Array.from({ length: m + 1 }, (_, j) => {
    let s = 0;
    for (let r = 0; r < A.length; r++) s += A[r]![cols[i]!]! * (j < m ? A[r]![cols[j]!]! : y[r]!);
    return s;
  }));
  for (let i = 0; i < m; i++) {
    let p = i;
    for (let r = i + 1; r < m; r++) if (Math.abs(M[r]![i]!) > Math.abs(M[p]![i]!)) p = r;
    [M[i], M[p]] = [M[p]!, M[i]!];
    const piv = M[i]![i]!;
    if (!(Math.abs(piv) > 1e-300)) return null;
    for (let r = 0; r < m; r++) {
      if (r === i) continue;
      const f = M[r]![i]! / piv;
      for (let j = i; j <= m; j++) M[r]![j]! -= f * M[i]![j]!;
    }
  }
  return cols.map((_, i) => M[i]![m]! / M[i]![i]!);
}

/**
 * Non-negative least squares in relative error (each point's row divided by its time, so a 10 ms
 * and a 300 ms case weigh alike), by trying every subset of the four coefficients (16) and
 * keeping the feasible one with the smallest residual. A coefficient whose feature is zero at
 * every point (no unaligned or no long case) stays 0.
 */
export function fitAttentionCost(points: { features: AttentionFeatures; seconds: number }[]): AttentionCost {
  if (points.length === 0) throw new Error('fitAttentionCost: no calibration points. HINT: the calibration has no attention cases');
  const A = points.map((p) => vec(p.features).map((x) => (x * 1e-9) / p.seconds));
  const y = points.map(() => 1);
  let best: { k: number[]; res: number } | null = null;
  for (let mask = 1; mask < 16; mask++) {
    const cols = [0, 1, 2, 3].filter((i) => mask & (1 << i));
    if (cols.some((c) => A.every((row) => row[c] === 0))) continue;
    const x = solveOn(A, y, cols);
    if (!x || x.some((v) => !(v >= 0))) continue;
    const k = [0, 0, 0, 0];
    cols.forEach((c, i) => (k[c] = x[i]!));
    const res = A.reduce((s, row, r) => s + (row.reduce((a, v, i) => a + v * k[i]!, 0) - y[r]!) ** 2, 0);
    if (!best || res < best.res - 1e-15) best = { k, res };
  }
  if (!best) throw new Error('fitAttentionCost: no non-negative fit. HINT: the attention timings are degenerate (all zero?)');
  const k = best.k;
  const c: AttentionCost = { baseNs: k[0]!, perWidthNs: k[1]!, unalignedNs: k[2]!, stagedHistNs: k[3]!, fit: '' };
  const worst = Math.max(...points.map((p) => Math.abs(attentionSeconds(p.features, c) / p.seconds - 1)));
  c.fit = `non-negative least squares (relative) over ${points.length} cases, worst residual ${(100 * worst).toFixed(1)}%`;
  return c;
}
