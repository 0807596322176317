// The jagged batch the reference consumes, its validation, and the per-token facts of the shared
// HSTU semantics (/tmp/semantics.md): positions p_i, query times qt_i, visibility, time buckets.

export interface RefBatch {
  /** [B+1] prefix sums of lengths; token t of sequence b is row seqOffsets[b] + t. */
  seqOffsets: ArrayLike<number>;
  /** [L] item ids in 1..numItems. */
  items: ArrayLike<number>;
  /** [L] u32 seconds; required by HSTU with useRab (ignored otherwise). */
  timestamps?: ArrayLike<number>;
  /** [L] next item to predict, 0 = no loss on this token. */
  targets: ArrayLike<number>;
  /** [L, R] sampled negatives (ids 1..numItems) for every token; rows of tokens without target are ignored. */
  negatives: ArrayLike<number>;
  /** [L, R] subtracted from each negative's logit (after 1/tau); absent = 0. */
  negativeLogitOffsets?: ArrayLike<number>;
  /** [B] candidates appended at the end of each sequence (default 0). */
  numTargets?: ArrayLike<number>;
  /** [B] time of the event each sequence's last history token predicts: that token's query time
   *  (absent: its own time). The model applies it only with lastQueryTime 'next'. */
  nextTimestamps?: ArrayLike<number>;
}

/** Per-sequence and per-token layout facts derived from a batch. */
export interface Layout {
  B: number;
  L: number;
  /** Max sequence length of the model. */
  N: number;
  starts: number[];
  lengths: number[];
  /** num_targets per sequence. */
  ks: number[];
  /** p_i per token (history: local index, or maxLen − n + local index anchored at the 'end';
   *  targets: the history length h). */
  positions: Int32Array;
  /** qt_i per token (see queryTimes). */
  queryTimes: Float64Array;
}

/** bucket(Δ) = clamp(floor(ln(max(|Δ|, 1)) / 0.301), 0, 128), Δ in seconds. */
export function timeBucket(delta: number): number {
  return Math.min(128, Math.max(0, Math.floor(Math.log(Math.max(Math.abs(delta), 1)) / 0.301)));
}

/** Is key j visible from query i (local indices) in a sequence of length n with k targets? */
export function visible(i: number, j: number, n: number, k: number): boolean {
  const h = n - k;
  return i < h ? j <= i : j < h || j === i;
}

/** Throws "expected X, got Y" on any inconsistency; returns the layout. `anchor` is the config's
 *  positionAnchor: 'end' counts positions as a sequence left-padded to maxLen would (the original
 *  SASRec), p_i = maxLen − n + i; it has no place for targets. */
export function batchLayout(batch: RefBatch, maxLen: number, numItems: number, anchor: 'start' | 'end' = 'start'): Layout {
  const off = batch.seqOffsets;
  if (off.length < 1 || off[0] !== 0) throw new Error(`batch: expected seqOffsets of length ≥ 1 starting at 0, got [${Array.from(off).slice(0, 4)}…]`);
  const B = off.length - 1, L = off[B]!;
  for (const [name, arr] of [['items', batch.items], ['targets', batch.targets]] as const)
    if (arr.length !== L) throw new Error(`batch: expected ${name} of length L = ${L}, got ${arr.length}`);
  if (batch.timestamps && batch.timestamps.length !== L) throw new Error(`batch: expected timestamps of length ${L}, got ${batch.timestamps.length}`);
  if (batch.nextTimestamps && batch.nextTimestamps.length !== B) throw new Error(`batch: expected nextTimestamps of length B = ${B}, got ${batch.nextTimestamps.length}`);
  if (batch.numTargets && batch.numTargets.length !== B) throw new Error(`batch: expected numTargets of length B = ${B}, got ${batch.numTargets.length}`);
  if (L > 0 && batch.negatives.length % L !== 0) throw new Error(`batch: expected negatives of length L·R = ${L}·R, got ${batch.negatives.length}`);
  for (let t = 0; t < L; t++) {
    const it = batch.items[t]!, tg = batch.targets[t]!;
    if (!(Number.isInteger(it) && it >= 1 && it <= numItems)) throw new Error(`batch: expected items[${t}] in 1..${numItems}, got ${it}`);
    if (!(Number.isInteger(tg) && tg >= 0 && tg <= numItems)) throw new Error(`batch: expected targets[${t}] in 0..${numItems}, got ${tg}`);
  }
  for (let i = 0; i < batch.negatives.length; i++) {
    const v = batch.negatives[i]!;
    if (!(Number.isInteger(v) && v >= 1 && v <= numItems)) throw new Error(`batch: expected negatives[${i}] in 1..${numItems}, got ${v}`);
  }
  const starts: number[] = [], lengths: number[] = [], ks: number[] = [];
  const positions = new Int32Array(L), queryTimes = new Float64Array(L);
  const ts = batch.timestamps;
  for (let b = 0; b < B; b++) {
    const s = off[b]!, n = off[b + 1]! - s, k = batch.numTargets?.[b] ?? 0;
    if (!(n >= 0 && n <= maxLen)) throw new Error(`batch: expected sequence ${b} length in 0..${maxLen}, got ${n}`);
    if (!(Number.isInteger(k) && k >= 0 && k <= n)) throw new Error(`batch: expected numTargets[${b}] in 0..${n}, got ${k}`);
    if (anchor === 'end' && k > 0) throw new Error(`batch: expected no targets with positions anchored at the end, got numTargets[${b}] = ${k}`);
    starts.push(s); lengths.push(n); ks.push(k);
    const h = n - k, shift = anchor === 'end' ? maxLen - n : 0;
    for (let i = 0; i < n; i++) {
      positions[s + i] = i < h ? shift + i : h;
      if (ts) queryTimes[s + i] = i < h - 1 ? ts[s + i + 1]! : i === h - 1 && batch.nextTimestamps ? batch.nextTimestamps[b]! : ts[s + i]!;
    }
  }
  return { B, L, N: maxLen, starts, lengths, ks, positions, queryTimes };
}
