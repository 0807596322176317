// Evaluates a retrieval checkpoint on a dataset's validation and test splits. A checkpoint of the
// host tier (item rows in a .rows file beside it) is evaluated through the host store and a
// device cache, by streamed exact full ranking (trainer/store).
import { createGpu } from '../kernels/gpu/index.js';
import type { Config } from '../model/config.js';
import { createEncoder } from '../model/encoder.js';
import type { CheckpointData } from './checkpoint.js';
import { checkShapes } from './checkpoint_validate.js';
import { itemCounts, itemPopularity, type Interactions, type MetricResult, type Split } from './data/index.js';
import { HostTier, createHostItemStore } from './store/host_tier.js';
import { itemRowsRef, restoreItemRows } from './store/item_checkpoint.js';
import { evaluateRetrievalOver } from './store/train_eval.js';

export async function evaluateCheckpoint(ck: CheckpointData, c: Config, data: Interactions, split: Split, path = 'checkpoint'): Promise<{ validation: MetricResult; test: MetricResult }> {
  const gpu = await createGpu();
  try {
    checkShapes(ck, 'checkpoint');
    const init = new Map(ck.params.map((b) => [b.name, b.data as Float32Array]));
    const rowsRef = itemRowsRef(ck);
    const host = rowsRef ? createHostItemStore({ ...c, embeddingBf16: rowsRef.storage === 'bf16' }, data.numItems, { restoring: true }) : undefined;
    if (host) init.set('item_emb', new Float32Array(host.cacheRows * c.dim));
    const enc = await createEncoder(gpu, c, host ? host.cacheRows : data.numItems, init);
    const popularity = itemPopularity(itemCounts(split.train));
    try {
      let tier: HostTier | undefined;
      if (host) {
        await restoreItemRows(ck, path, host.store);
        tier = await HostTier.attach(host.store, enc);
      }
      return {
        validation: await evaluateRetrievalOver(gpu, enc, split.validation, c, tier, popularity),
        test: await evaluateRetrievalOver(gpu, enc, split.test, c, tier, popularity),
      };
    } finally {
      enc.release();
      await host?.store.close();
    }
  } finally {
    gpu.dispose();
  }
}
