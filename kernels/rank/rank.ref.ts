// Float64 reference for full-ranking evaluation, from the definition: the number of eligible
// items (not padding 0, not the target, not excluded) scoring higher than the target, ties
// broken in favour of the smaller item id.

export function rankRef(scores: ArrayLike<number>, numItems: number, q: number, target: number, excluded: Iterable<number>): number {
  const excl = new Set(excluded);
  const st = scores[q * numItems + target]!;
  let rank = 0;
  for (let i = 1; i < numItems; i++) {
    if (i === target || excl.has(i)) continue;
    const s = scores[q * numItems + i]!;
    if (s > st || (s === st && i < target)) rank++;
  }
  return rank;
}
