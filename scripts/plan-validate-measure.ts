// What the validation rows measure, shared by the one-process rows (plan-validate.ts) and the
// 2-worker Redis row's workers (plan-validate-worker.ts): live device bytes and the batches.
import type { Gpu } from '../kernels/gpu/index.js';
import type { Config } from '../model/config.js';
import { batchTrainSequences, type Interactions } from '../trainer/data/index.js';
import { prepareSplit, type HostTrainBatch } from '../trainer/train.js';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Tracks live pool bytes (requested sizes) while `fn` runs; returns the peak. */
export async function withLiveBytes<T>(gpu: Gpu, fn: () => Promise<T>): Promise<{ value: T; peak: number }> {
  const pool = gpu.pool as unknown as { take: (bytes: number, label: string) => GPUBuffer; give: (b: GPUBuffer) => void };
  const origTake = pool.take.bind(pool), origGive = pool.give.bind(pool);
  const sizes = new Map<GPUBuffer, number>();
  let live = 0, peak = 0;
  pool.take = (bytes: number, label: string) => {
    const b = origTake(bytes, label);
    sizes.set(b, bytes);
    live += bytes;
    peak = Math.max(peak, live);
    return b;
  };
  pool.give = (b: GPUBuffer) => {
    live -= sizes.get(b) ?? 0;
    sizes.delete(b);
    origGive(b);
  };
  try {
    return { value: await fn(), peak };
  } finally {
    pool.take = origTake;
    pool.give = origGive;
  }
}

/** Epoch 0's training batches, largest first (the warm-up step then sizes every buffer: the
 *  loss's scratch grows, and the buffers it outgrows are not given back, see BENCHMARKS.md, so
 *  the peak is the steady one), and the full ones (B sequences) that the timed steps use. */
export function validationBatches(data: Interactions, c: Config): { all: HostTrainBatch[]; full: HostTrainBatch[] } {
  const split = prepareSplit(data, c);
  const all = [...batchTrainSequences(split.train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch: 0 })].sort((a, b) => b.items.length - a.items.length);
  if (all.length < 2) throw new Error(`validate: the data gives ${all.length} batch(es); need ≥ 2. HINT: more users in the row's data options`);
  const full = all.filter((b) => b.seqOffsets.length - 1 === c.batchSize);
  if (full.length === 0) throw new Error(`validate: no full batch of ${c.batchSize} sequences. HINT: more users in the row's data options`);
  return { all, full };
}

export const lengthsOf = (tb: HostTrainBatch): number[] => Array.from({ length: tb.seqOffsets.length - 1 }, (_, i) => tb.seqOffsets[i + 1]! - tb.seqOffsets[i]!);
