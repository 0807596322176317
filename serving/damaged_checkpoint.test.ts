// Every loader refuses a damaged checkpoint with the checksum error (issue 16, item 2): eval
// (trainer/cli evalCommand), resume (train, trainRanking) and serve (Retriever.load,
// loadRankingModel). One flipped bit in a tensor of a real tiny-run checkpoint of each task.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { evalCommand } from '../trainer/cli.js';
import { loadRankingModel } from '../trainer/ranking_checkpoint.js';
import { trainRanking } from '../trainer/ranking_train.js';
import { tinyRunConfig, tinyRunData } from '../trainer/tiny_run.js';
import { train } from '../trainer/train.js';
import { Retriever } from './retrieval.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());
const quiet = () => {};
const CHECKSUM = /checkpoint is damaged: tensor item_emb \[\d+,16\] fails its checksum.*HINT/;

/** Flips one bit in the middle of `name`'s item_emb data and writes the result beside it. */
function damage(dir: string, name: string): string {
  const bytes = readFileSync(join(dir, name));
  const at = bytes.indexOf(Buffer.from('item_emb')) + 400; // inside the [61, 16] f32 table
  bytes[at]! ^= 0x04;
  const out = join(dir, `damaged-${name}`);
  writeFileSync(out, bytes);
  return out;
}

describe('a damaged checkpoint is refused by every loader', () => {
  const rankingConfig = () => tinyRunConfig({ task: 'ranking', rankingCandidates: 4, rankingWindows: 1 });

  it('retrieval: eval, resume and serve', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-damaged-r-'));
    await train({ config: tinyRunConfig(), data: tinyRunData(), outDir: dir, maxSteps: 1, noEval: true, log: quiet, gpu });
    const bad = damage(dir, 'checkpoint.hstu');
    await expect(evalCommand(['--checkpoint', bad])).rejects.toThrow(CHECKSUM);
    await expect(train({ config: tinyRunConfig(), data: tinyRunData(), resume: bad, maxSteps: 2, noEval: true, log: quiet, gpu })).rejects.toThrow(CHECKSUM);
    await expect(Retriever.load(gpu, bad)).rejects.toThrow(CHECKSUM);
    // The undamaged file still loads.
    const ok = await Retriever.load(gpu, join(dir, 'checkpoint.hstu'));
    ok.release();
  });

  it('ranking: eval, resume and serve', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-damaged-k-'));
    await trainRanking({ config: rankingConfig(), data: tinyRunData(), outDir: dir, maxSteps: 1, noEval: true, log: quiet, gpu });
    const bad = damage(dir, 'checkpoint.hstu');
    await expect(evalCommand(['--checkpoint', bad])).rejects.toThrow(CHECKSUM);
    await expect(trainRanking({ config: rankingConfig(), data: tinyRunData(), resume: bad, maxSteps: 2, noEval: true, log: quiet, gpu })).rejects.toThrow(CHECKSUM);
    await expect(loadRankingModel(gpu, bad)).rejects.toThrow(CHECKSUM);
    const ok = await loadRankingModel(gpu, join(dir, 'checkpoint.hstu'));
    ok.model.release();
  });
});
