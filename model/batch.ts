// A jagged batch on the GPU: what the model's forward needs, uploaded once per step.
import type { Gpu, Tensor } from '../kernels/gpu/index.js';
import type { PositionAnchor } from './config.js';

export interface HostBatch {
  /** [B+1] prefix sums of sequence lengths. */
  seqOffsets: Uint32Array;
  /** [L] item ids (dense, ≥ 1). */
  items: Uint32Array;
  /** [L] u32 seconds. */
  timestamps: Uint32Array;
  /** [B] candidates appended to each sequence (ranking); absent = none. */
  numTargets?: Uint32Array;
  /** [B] time of the event each sequence's last history token predicts (retrieval: the target's,
   *  serving: the request's); HSTU with lastQueryTime 'next' uses it in rab_time. */
  nextTimestamps?: Uint32Array;
}

export interface GpuBatch {
  B: number;
  L: number;
  maxLen: number;
  host: HostBatch;
  /** [L] positions p_i (positionsOf: history: index in the sequence, or maxLen − n + index
   *  anchored at the end; targets: the history length). */
  hostPositions: Uint32Array;
  /** How hostPositions were counted: the encoder checks it is its own (config positionAnchor). */
  positionAnchor: PositionAnchor;
  seqOffsets: Tensor<'u32'>;
  items: Tensor<'u32'>;
  timestamps: Tensor<'u32'>;
  positions: Tensor<'u32'>;
  numTargets?: Tensor<'u32'>;
  nextTimestamps?: Tensor<'u32'>;
  /** [L, d] rows added to the input embeddings before dropout (ranking: action embeddings, zero
   *  rows for candidates; model/ranking.ts). Owned and released by whoever set it. */
  extraInput?: Tensor<'f32'>;
  release(): void;
}

/**
 * p_i per /tmp/semantics: i for history tokens, h (the history length) for every target.
 * Anchored at the 'end' (config positionAnchor; retrieval only): p_i = maxLen − n + i for a
 * sequence of n ≤ maxLen tokens, the index a left-padded [maxLen] array gives (original SASRec):
 * the most recent token at maxLen − 1 whatever n is.
 */
export function positionsOf(b: HostBatch, anchor: PositionAnchor = 'start', maxLen = 0): Uint32Array {
  const B = b.seqOffsets.length - 1;
  const pos = new Uint32Array(b.items.length);
  for (let s = 0; s < B; s++) {
    const start = b.seqOffsets[s]!, n = b.seqOffsets[s + 1]! - start;
    const k = b.numTargets?.[s] ?? 0, h = n - k;
    if (anchor === 'end') {
      if (k > 0) throw new Error(`batch: sequence ${s} has ${k} targets, which end-anchored positions cannot place (they would sit at maxLen). HINT: positionAnchor 'end' is for retrieval; use 'start' for ranking.`);
      if (n > maxLen) throw new Error(`batch: sequence ${s} has ${n} tokens, over maxLen ${maxLen}. HINT: truncate histories to maxLen.`);
      for (let i = 0; i < n; i++) pos[start + i] = maxLen - n + i;
    } else if (anchor === 'start') {
      for (let i = 0; i < n; i++) pos[start + i] = Math.min(i, h);
    } else throw new Error(`batch: expected position anchor 'start' | 'end', got ${JSON.stringify(anchor)}`);
  }
  return pos;
}

/** Throws when batch `b` counted its positions from another anchor than `enc` was built with
 *  (a caller that did not pass the config's positionAnchor to uploadBatch). */
export function checkBatchAnchor(who: string, anchor: PositionAnchor, b: GpuBatch): void {
  if (b.positionAnchor !== anchor) throw new Error(`${who}: expected a batch with positions anchored at the '${anchor}' (config positionAnchor), got '${b.positionAnchor}'. HINT: pass the config's positionAnchor to uploadBatch.`);
}

/** Uploads a batch; `maxLen` and `anchor` are the config's maxLen and positionAnchor. */
export function uploadBatch(gpu: Gpu, b: HostBatch, maxLen: number, numItems: number, anchor: PositionAnchor): GpuBatch {
  const B = b.seqOffsets.length - 1;
  const L = b.seqOffsets[B]!;
  if (b.items.length !== L || b.timestamps.length !== L) throw new Error(`batch: expected ${L} items and timestamps, got ${b.items.length} and ${b.timestamps.length}`);
  let longest = 0;
  for (let s = 0; s < B; s++) {
    const n = b.seqOffsets[s + 1]! - b.seqOffsets[s]!;
    if (n > maxLen) throw new Error(`batch: sequence ${s} has ${n} tokens, over maxLen ${maxLen}. HINT: truncate histories to maxLen.`);
    if (b.numTargets && b.numTargets[s]! > n) throw new Error(`batch: sequence ${s} has ${b.numTargets[s]} targets but only ${n} tokens`);
    longest = Math.max(longest, n);
  }
  if (b.nextTimestamps && b.nextTimestamps.length !== B) throw new Error(`batch: expected ${B} next-event timestamps, got ${b.nextTimestamps.length}`);
  for (let i = 0; i < L; i++) {
    if (b.items[i]! >= numItems) throw new Error(`batch: item id ${b.items[i]} at token ${i} is out of range (catalogue has ${numItems} ids)`);
  }
  const positions = positionsOf(b, anchor, maxLen);
  const nonEmpty = (a: Uint32Array) => (a.length ? a : Uint32Array.of(0));
  const t = {
    seqOffsets: gpu.u32(b.seqOffsets, [B + 1], 'batch:seq_offsets'),
    items: gpu.u32(nonEmpty(b.items), [Math.max(L, 1)], 'batch:items'),
    timestamps: gpu.u32(nonEmpty(b.timestamps), [Math.max(L, 1)], 'batch:timestamps'),
    positions: gpu.u32(nonEmpty(positions), [Math.max(L, 1)], 'batch:positions'),
    numTargets: b.numTargets ? gpu.u32(nonEmpty(b.numTargets), [Math.max(B, 1)], 'batch:num_targets') : undefined,
    nextTimestamps: b.nextTimestamps ? gpu.u32(nonEmpty(b.nextTimestamps), [Math.max(B, 1)], 'batch:next_timestamps') : undefined,
  };
  return {
    B,
    L,
    maxLen: longest,
    host: b,
    hostPositions: positions,
    positionAnchor: anchor,
    ...t,
    release() {
      t.seqOffsets.release();
      t.items.release();
      t.timestamps.release();
      t.positions.release();
      t.numTargets?.release();
      t.nextTimestamps?.release();
    },
  };
}
