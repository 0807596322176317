// Float64 reference for full-ranking evaluation, from the definition: the number of eligible
// items (not padding 0, not the target, not excluded) scoring higher than the target, ties
// broken in favour of the smaller item id.

/** The rank of a query whose target or an eligible item scores NaN (no rank exists). */
export const RANK_NON_FINITE_REF = 0xffffffff;

export function rankRef(scores: ArrayLike<number>, numItems: number, q: number, target: number, excluded: Iterable<number>): number {
  const excl = new Set(excluded);
  const st = scores[q * numItems + target]!;
  if (Number.isNaN(st)) return RANK_NON_FINITE_REF;
  let rank = 0;
  for (let i = 1; i < numItems; i++) {
    if (i === target || excl.has(i)) continue;
    const s = scores[q * numItems + i]!;
    if (Number.isNaN(s)) return RANK_NON_FINITE_REF;
    if (s > st || (s === st && i < target)) rank++;
  }
  return rank;
}
