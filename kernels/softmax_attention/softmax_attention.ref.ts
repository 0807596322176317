// Float64 reference for causal multi-head softmax attention over jagged batches, written from the
// math (direct softmax over each score row, no online rescaling), forward and backward.
// Optional target mask (ranking, M-FALCON): a sequence of n tokens whose last k = numTargets[b] are
// candidates; history tokens (i < h = n − k) see keys j ≤ i, candidate i sees the whole history
// and itself (j < h or j = i), never another candidate. k = 0 is plain causal attention.

export interface AttnShape { seqOffsets: ArrayLike<number>; H: number; dk: number; dv: number; scale: number; numTargets?: ArrayLike<number> }

/** Is key j visible from query i (indices inside one sequence, h = history length)? */
export function visibleKey(i: number, j: number, h: number): boolean {
  return j <= i && (j < h || j === i);
}

/** Visits every (sequence start, token i, head h, history end hEnd as a row index). */
function forEachRow(s: AttnShape, fn: (start: number, i: number, h: number, hEnd: number) => void): void {
  for (let b = 0; b + 1 < s.seqOffsets.length; b++) {
    const start = s.seqOffsets[b]!, end = s.seqOffsets[b + 1]!;
    const k = Math.min(s.numTargets?.[b] ?? 0, end - start);
    for (let i = start; i < end; i++) for (let h = 0; h < s.H; h++) fn(start, i, h, end - k);
  }
}

/** Softmax weights P_ij for j = start..i of query (i, h) (0 where masked), and the row's logsumexp. */
function probs(s: AttnShape, q: ArrayLike<number>, k: ArrayLike<number>, start: number, i: number, h: number, hEnd: number): { p: Float64Array; lse: number } {
  const { H, dk } = s;
  const sc = new Float64Array(i - start + 1).fill(-Infinity);
  for (let j = start; j <= i; j++) {
    if (!visibleKey(i - start, j - start, hEnd - start)) continue;
    let dot = 0;
    for (let c = 0; c < dk; c++) dot += q[(i * H + h) * dk + c]! * k[(j * H + h) * dk + c]!;
    sc[j - start] = s.scale * dot;
  }
  const m = Math.max(...sc);
  let z = 0;
  for (const x of sc) z += Math.exp(x - m);
  return { p: sc.map((x) => Math.exp(x - m) / z), lse: m + Math.log(z) };
}

export function softmaxAttentionRef(s: AttnShape, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>): { out: Float64Array; lse: Float64Array } {
  const L = s.seqOffsets[s.seqOffsets.length - 1]!;
  const { H, dv } = s;
  const out = new Float64Array(L * H * dv), lse = new Float64Array(L * H);
  forEachRow(s, (start, i, h, hEnd) => {
    const r = probs(s, q, k, start, i, h, hEnd);
    lse[i * H + h] = r.lse;
    for (let j = start; j <= i; j++) for (let c = 0; c < dv; c++) out[(i * H + h) * dv + c] = out[(i * H + h) * dv + c]! + r.p[j - start]! * v[(j * H + h) * dv + c]!;
  });
  return { out, lse };
}

/** Gradients of Σ dOut ⊙ out w.r.t. q, k, v (softmax Jacobian applied row by row). */
export function softmaxAttentionBackwardRef(s: AttnShape, q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dOut: ArrayLike<number>): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const L = s.seqOffsets[s.seqOffsets.length - 1]!;
  const { H, dk: dK, dv: dV } = s;
  const dq = new Float64Array(L * H * dK), dk = new Float64Array(L * H * dK), dv = new Float64Array(L * H * dV);
  forEachRow(s, (start, i, h, hEnd) => {
    const { p } = probs(s, q, k, start, i, h, hEnd);
    const n = i - start + 1;
    // g_j = dL/dP_ij = dO_i · V_j; dL/ds_ij = P_ij (g_j − Σ_l P_il g_l).
    const g = new Float64Array(n);
    for (let j = start; j <= i; j++) {
      let dot = 0;
      for (let c = 0; c < dV; c++) dot += dOut[(i * H + h) * dV + c]! * v[(j * H + h) * dV + c]!;
      g[j - start] = dot;
    }
    let pg = 0;
    for (let x = 0; x < n; x++) pg += p[x]! * g[x]!;
    for (let j = start; j <= i; j++) {
      const pj = p[j - start]!;
      for (let c = 0; c < dV; c++) dv[(j * H + h) * dV + c] = dv[(j * H + h) * dV + c]! + pj * dOut[(i * H + h) * dV + c]!;
      const ds = pj * (g[j - start]! - pg) * s.scale;
      for (let c = 0; c < dK; c++) {
        dq[(i * H + h) * dK + c] = dq[(i * H + h) * dK + c]! + ds * k[(j * H + h) * dK + c]!;
        dk[(j * H + h) * dK + c] = dk[(j * H + h) * dK + c]! + ds * q[(i * H + h) * dK + c]!;
      }
    }
  });
  return { dq, dk, dv };
}
