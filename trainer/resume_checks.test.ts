// A retrieval resume whose checkpoint step is not inside its epoch for this run's batch count is
// refused (the batches to skip would be the wrong ones), as the ranking trainer already did.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { train } from './train.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

describe('retrieval resume checks', () => {
  it('refuses a checkpoint whose step is outside its epoch for this batch size, with a hint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-resume-'));
    await train({ config: tinyRunConfig(), data: tinyRunData(), outDir: dir, maxSteps: 4, noEval: true, log: () => {}, gpu });
    const resume = join(dir, 'checkpoint.hstu');
    await expect(train({ config: tinyRunConfig({ batchSize: 200 }), data: tinyRunData(), resume, maxSteps: 6, noEval: true, log: () => {}, gpu }))
      .rejects.toThrow(/step 4 is not inside epoch 0 of 1 steps.*HINT: resume with the batchSize/);
  });
});
