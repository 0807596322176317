// Float64 reference of HSTU pointwise attention, written from the math (DESIGN.md §2 and the
// shared semantics), never from the WGSL. Per sequence b (tokens seq_offsets[b] .. +n), head h:
//   S[i,j] = alpha·(Q_i·K_j) + rab_pos[p_j − p_i + N − 1] + rab_time[bucket(qt_i − t_j)]
//   A[i,j] = SiLU(S[i,j]) / normalizer   where visible(i, j), else 0
//   O_i    = Σ_j A[i,j] · V_j
// with k = num_targets[b] (clamped to n), history length hh = n − k:
//   visible(i, j) = j ≤ i for history i < hh; for target i ≥ hh: j < hh or j = i
//   p_i = i (history), hh (targets)
//   qt_i = t_{i+1} (history i < hh − 1); i = hh − 1: the next event's time when given, else t_i;
//   targets: t_i
//   bucket(Δ) = clamp(floor(ln(max(|Δ|, 1)) / 0.301), 0, 128)
// Backward: dS = (dO_i·V_j) · SiLU'(S) / normalizer on visible pairs; dQ_i = alpha Σ_j dS K_j,
// dK_j = alpha Σ_i dS Q_i, dV_j = Σ_i A[i,j] dO_i, dRabPos/dRabTime = Σ dS over the pairs using
// each entry.

export interface RefInputs {
  q: ArrayLike<number>; // [L, H, dqk]
  k: ArrayLike<number>; // [L, H, dqk]
  v: ArrayLike<number>; // [L, H, dv]
  seqOffsets: ArrayLike<number>; // [B + 1]
  timestamps?: ArrayLike<number>; // [L]
  numTargets?: ArrayLike<number>; // [B]
  rabPos?: ArrayLike<number>; // [2N − 1]
  rabTime?: ArrayLike<number>; // [129]
  nextTimestamps?: ArrayLike<number>; // [B] time of the event after each sequence's history
}

export interface RefOptions {
  H: number;
  dqk: number;
  dv: number;
  N: number;
  alpha: number;
  useRab: boolean;
  normalizer?: number;
}

export const NUM_TIME_BUCKETS = 129;

export function timeBucket(delta: number): number {
  const b = Math.floor(Math.log(Math.max(Math.abs(delta), 1)) / 0.301);
  return Math.min(Math.max(b, 0), 128);
}

const silu = (x: number) => x / (1 + Math.exp(-x));
const siluGrad = (x: number) => {
  const s = 1 / (1 + Math.exp(-x));
  return s * (1 + x * (1 - s));
};

/** Per-sequence structure: calls `f(i, j, posIndex, timeBucket)` for every visible pair (token
 *  indices local to the sequence). */
function forEachVisible(x: RefInputs, o: RefOptions, b: number, f: (i: number, j: number, pos: number, tb: number) => void): void {
  const start = x.seqOffsets[b]!;
  const n = x.seqOffsets[b + 1]! - start;
  const k = Math.min(x.numTargets ? x.numTargets[b]! : 0, n);
  const hh = n - k;
  const pos = (i: number) => (i < hh ? i : hh);
  const ts = (i: number) => (x.timestamps ? x.timestamps[start + i]! : 0);
  const next = x.nextTimestamps;
  const qt = (i: number) => (i < hh - 1 ? ts(i + 1) : i === hh - 1 && next ? next[b]! : ts(i));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const visible = i < hh ? true : j < hh || j === i;
      if (!visible) continue;
      const p = pos(j) - pos(i) + o.N - 1;
      const tb = timeBucket(qt(i) - ts(j));
      f(i, j, p, tb);
    }
  }
}

function scores(x: RefInputs, o: RefOptions, row: (t: number) => number, i: number, j: number, h: number, p: number, tb: number): number {
  let s = 0;
  const qi = (row(i) * o.H + h) * o.dqk;
  const kj = (row(j) * o.H + h) * o.dqk;
  for (let d = 0; d < o.dqk; d++) s += x.q[qi + d]! * x.k[kj + d]!;
  s *= o.alpha;
  if (o.useRab) s += x.rabPos![p]! + x.rabTime![tb]!;
  return s;
}

/** O = A·V, [L, H, dv]. */
export function attentionRef(x: RefInputs, o: RefOptions): Float64Array {
  const B = x.seqOffsets.length - 1;
  const L = x.seqOffsets[B]!;
  const norm = o.normalizer ?? o.N;
  const out = new Float64Array(L * o.H * o.dv);
  for (let b = 0; b < B; b++) {
    const start = x.seqOffsets[b]!;
    const row = (t: number) => start + t;
    forEachVisible(x, o, b, (i, j, p, tb) => {
      for (let h = 0; h < o.H; h++) {
        const a = silu(scores(x, o, row, i, j, h, p, tb)) / norm;
        const oi = (row(i) * o.H + h) * o.dv;
        const vj = (row(j) * o.H + h) * o.dv;
        for (let d = 0; d < o.dv; d++) out[oi + d]! += a * x.v[vj + d]!;
      }
    });
  }
  return out;
}

export interface RefGrads {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  dRabPos: Float64Array;
  dRabTime: Float64Array;
}

export function attentionBackwardRef(x: RefInputs, dOut: ArrayLike<number>, o: RefOptions): RefGrads {
  const B = x.seqOffsets.length - 1;
  const L = x.seqOffsets[B]!;
  const norm = o.normalizer ?? o.N;
  const g: RefGrads = {
    dq: new Float64Array(L * o.H * o.dqk),
    dk: new Float64Array(L * o.H * o.dqk),
    dv: new Float64Array(L * o.H * o.dv),
    dRabPos: new Float64Array(2 * o.N - 1),
    dRabTime: new Float64Array(NUM_TIME_BUCKETS),
  };
  for (let b = 0; b < B; b++) {
    const start = x.seqOffsets[b]!;
    const row = (t: number) => start + t;
    forEachVisible(x, o, b, (i, j, p, tb) => {
      for (let h = 0; h < o.H; h++) {
        const s = scores(x, o, row, i, j, h, p, tb);
        const a = silu(s) / norm;
        const oi = (row(i) * o.H + h) * o.dv;
        const vj = (row(j) * o.H + h) * o.dv;
        let dA = 0;
        for (let d = 0; d < o.dv; d++) {
          dA += dOut[oi + d]! * x.v[vj + d]!;
          g.dv[vj + d]! += a * dOut[oi + d]!;
        }
        const dS = (dA * siluGrad(s)) / norm;
        const qi = (row(i) * o.H + h) * o.dqk;
        const kj = (row(j) * o.H + h) * o.dqk;
        for (let d = 0; d < o.dqk; d++) {
          g.dq[qi + d]! += o.alpha * dS * x.k[kj + d]!;
          g.dk[kj + d]! += o.alpha * dS * x.q[qi + d]!;
        }
        if (o.useRab) {
          g.dRabPos[p]! += dS;
          g.dRabTime[tb]! += dS;
        }
      }
    });
  }
  return g;
}
