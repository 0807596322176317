// Evaluates a retrieval checkpoint on a dataset's validation and test splits.
import { createGpu } from '../kernels/gpu/index.js';
import type { Config } from '../model/config.js';
import { createEncoder } from '../model/encoder.js';
import type { CheckpointData } from './checkpoint.js';
import { checkShapes } from './checkpoint_validate.js';
import { itemCounts, itemPopularity, type Interactions, type MetricResult, type Split } from './data/index.js';
import { evaluateRetrieval } from './eval.js';

export async function evaluateCheckpoint(ck: CheckpointData, c: Config, data: Interactions, split: Split): Promise<{ validation: MetricResult; test: MetricResult }> {
  const gpu = await createGpu();
  try {
    checkShapes(ck, 'checkpoint');
    const init = new Map(ck.params.map((b) => [b.name, b.data as Float32Array]));
    const enc = await createEncoder(gpu, c, data.numItems, init);
    const popularity = itemPopularity(itemCounts(split.train));
    try {
      return {
        validation: await evaluateRetrieval(gpu, enc, split.validation, { maxLen: c.maxLen, popularity }),
        test: await evaluateRetrieval(gpu, enc, split.test, { maxLen: c.maxLen, popularity }),
      };
    } finally {
      enc.release();
    }
  } finally {
    gpu.dispose();
  }
}
