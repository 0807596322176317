// Which full-ranking evaluation the trainer runs: the one-matrix path of trainer/eval.ts when the
// catalogue fits one device buffer and lives on the device (unchanged numbers), else the
// streamed one (streamed_eval.ts) over the host store, or over the device table read back in
// chunks. `evalMaxUsers` restricts either to a fixed sample of users.
import type { Gpu } from '../../kernels/gpu/index.js';
import type { Config } from '../../model/config.js';
import type { Encoder } from '../../model/encoder.js';
import type { EvalExamples, ItemPopularity, MetricResult } from '../data/index.js';
import { evaluateRetrieval } from '../eval.js';
import { DeviceEmbeddingStore } from './device_store.js';
import type { HostTier } from './host_tier.js';
import { evaluateStreamed, firstExamples } from './streamed_eval.js';

/** True when the [items, d] normalised table fits one storage binding (the one-matrix path). */
export function fitsOneBuffer(gpu: Gpu, rows: number, dim: number): boolean {
  const limit = Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize);
  return rows * dim * 4 <= limit && rows * 4 <= limit;
}

/** `popularity` (training item popularity) adds coverage and popularity bias of the top-10 lists
 *  (trainer/data/beyond_accuracy.ts) on either path (the streamed one scans the store once more
 *  for exact top-10 lists). */
export async function evaluateRetrievalOver(gpu: Gpu, enc: Encoder, examples: EvalExamples, c: Config, tier?: HostTier, popularity?: ItemPopularity): Promise<MetricResult> {
  const ex = firstExamples(examples, c.evalMaxUsers);
  if (!tier && fitsOneBuffer(gpu, enc.items.rows, enc.items.dim)) return evaluateRetrieval(gpu, enc, ex, { maxLen: c.maxLen, popularity, similarity: c.similarity });
  const store = tier ? tier.store : new DeviceEmbeddingStore(enc.items);
  return evaluateStreamed(gpu, enc, ex, store, {
    maxLen: c.maxLen,
    encoderRows: enc.items.rows,
    mapItems: tier && ((ids) => tier.slotsFor(ids)),
    beforeScan: tier && (() => tier.cache.writeBack()),
    // Host tier: one batch's history rows must fit the cache at once.
    queryBatch: tier ? Math.max(1, Math.min(256, Math.floor((tier.cache.capacity - 1) / c.maxLen))) : undefined,
    popularity,
    similarity: c.similarity,
  });
}
