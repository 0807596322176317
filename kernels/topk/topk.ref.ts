// Float64 reference for exact top-k with exclusions, written from the math: score every item,
// drop excluded ids and NaN scores, sort by (score desc, id asc), keep k, pad.
export const PAD_ID_REF = 0xffffffff;

export interface TopKRef {
  ids: Uint32Array;
  scores: Float64Array;
}

export function topKRef(
  queries: ArrayLike<number>,
  items: ArrayLike<number>,
  Q: number,
  n: number,
  d: number,
  k: number,
  exclOffsets?: ArrayLike<number>,
  exclIds?: ArrayLike<number>,
): TopKRef {
  const ids = new Uint32Array(Q * k).fill(PAD_ID_REF);
  const scores = new Float64Array(Q * k).fill(-Infinity);
  for (let q = 0; q < Q; q++) {
    const excluded = new Set<number>();
    if (exclOffsets && exclIds) for (let e = exclOffsets[q]!; e < exclOffsets[q + 1]!; e++) excluded.add(exclIds[e]!);
    const cand: { id: number; s: number }[] = [];
    for (let i = 0; i < n; i++) {
      if (excluded.has(i)) continue;
      let s = 0;
      for (let c = 0; c < d; c++) s += queries[q * d + c]! * items[i * d + c]!;
      if (!Number.isNaN(s)) cand.push({ id: i, s });
    }
    cand.sort((a, b) => b.s - a.s || a.id - b.id);
    for (let j = 0; j < Math.min(k, cand.length); j++) {
      ids[q * k + j] = cand[j]!.id;
      scores[q * k + j] = cand[j]!.s;
    }
  }
  return { ids, scores };
}
