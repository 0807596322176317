// metrics.jsonl is exactly the run's history after kills and resumes (issue 16, item 5), for the
// retrieval and the ranking trainer on the tiny synthetic run. A kill is simulated by what it
// leaves on disk: either by making the next checkpoint save fail (a directory where the save's
// temp file goes) after the validation line was written, or by writing the file a kill between
// two closing lines left. Before metrics.jsonl was rewritten from the checkpoint's history, each
// of these left a duplicated, a missing or an extra line.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { loadCheckpoint } from './checkpoint.js';
import { trainRanking } from './ranking_train.js';
import { train } from './train.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());
const quiet = () => {};
const read = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
/** The file's lines without the measured throughput (which differs between two runs). */
const content = (dir: string) => read(dir).split('\n').filter(Boolean).map((l) => {
  const { train_tokens_per_s: _, ...rest } = JSON.parse(l) as Record<string, unknown>;
  return rest;
});

/** Makes this process's next saves of best.hstu and checkpoint.hstu in `dir` fail (as a kill right
 *  before them would leave the disk); returns the undo. */
function blockSaves(dir: string): () => void {
  const tmps = ['best.hstu', 'checkpoint.hstu'].map((n) => join(dir, `.${n}.tmp-${process.pid}`));
  tmps.forEach((t) => mkdirSync(t));
  return () => tmps.forEach((t) => rmdirSync(t));
}

describe('metrics.jsonl after kills and resumes: retrieval', () => {
  // The tiny run: 6 steps an epoch, validation after epochs 1 and 2.
  const config = () => tinyRunConfig({ epochs: 2, evalEvery: 1 });
  let straightDir: string;
  beforeAll(async () => {
    straightDir = mkdtempSync(join(tmpdir(), 'hstu-mr-a-'));
    await train({ config: config(), data: tinyRunData(), outDir: straightDir, log: quiet, gpu });
  });

  it('resuming a finished run leaves the file byte-identical', async () => {
    const before = read(straightDir);
    expect(content(straightDir).map((l) => l.split)).toEqual(['validation', 'validation', 'test']);
    await train({ config: config(), data: tinyRunData(), outDir: straightDir, resume: join(straightDir, 'checkpoint.hstu'), log: quiet, gpu });
    expect(read(straightDir)).toBe(before);
  });

  it('a kill after a validation line but before the checkpoint save leaves no duplicate after resume', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-mr-b-'));
    await train({ config: config(), data: tinyRunData(), outDir: dir, maxSteps: 8, log: quiet, gpu });
    expect(loadCheckpoint(join(dir, 'checkpoint.hstu')).step).toBe(8);
    const unblock = blockSaves(dir);
    await expect(train({ config: config(), data: tinyRunData(), outDir: dir, resume: join(dir, 'checkpoint.hstu'), log: quiet, gpu })).rejects.toThrow(/EISDIR/);
    unblock();
    expect(content(dir).filter((l) => l.split === 'validation').map((l) => l.epoch)).toEqual([1, 2]); // 2: the line the "killed" run wrote
    expect(loadCheckpoint(join(dir, 'checkpoint.hstu')).step).toBe(8);
    await train({ config: config(), data: tinyRunData(), outDir: dir, resume: join(dir, 'checkpoint.hstu'), log: quiet, gpu });
    expect(content(dir)).toEqual(content(straightDir));
  });
});

describe('metrics.jsonl after kills and resumes: ranking', () => {
  const config = () => tinyRunConfig({ task: 'ranking', epochs: 2, evalEvery: 1, rankingCandidates: 4, rankingWindows: 1, lr: 0.01 });
  let straightDir: string;
  beforeAll(async () => {
    straightDir = mkdtempSync(join(tmpdir(), 'hstu-mr-c-'));
    await trainRanking({ config: config(), data: tinyRunData(), outDir: straightDir, log: quiet, gpu });
  });

  it('a kill between the model test line and the baseline lines loses no baseline line after resume', async () => {
    const full = read(straightDir);
    const models = content(straightDir).map((l) => `${l.split}:${l.model}`);
    expect(models).toEqual(['validation:hstu', 'validation:hstu', 'test:hstu', 'test:item-mean', 'test:user-item-bias']);
    const dir = mkdtempSync(join(tmpdir(), 'hstu-mr-d-'));
    for (const f of ['checkpoint.hstu', 'best.hstu']) copyFileSync(join(straightDir, f), join(dir, f));
    writeFileSync(join(dir, 'metrics.jsonl'), full.split('\n').slice(0, 3).join('\n') + '\n'); // killed after the model's test line
    await trainRanking({ config: config(), data: tinyRunData(), outDir: dir, resume: join(dir, 'checkpoint.hstu'), log: quiet, gpu });
    expect(read(dir)).toBe(full);
    // And resuming the finished run again changes nothing.
    await trainRanking({ config: config(), data: tinyRunData(), outDir: dir, resume: join(dir, 'checkpoint.hstu'), log: quiet, gpu });
    expect(read(dir)).toBe(full);
  });

  it('a kill after a validation line but before the checkpoint save leaves no duplicate after resume', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-mr-e-'));
    await trainRanking({ config: config(), data: tinyRunData(), outDir: dir, maxSteps: 8, log: quiet, gpu });
    const unblock = blockSaves(dir);
    await expect(trainRanking({ config: config(), data: tinyRunData(), outDir: dir, resume: join(dir, 'checkpoint.hstu'), log: quiet, gpu })).rejects.toThrow(/EISDIR/);
    unblock();
    expect(content(dir).filter((l) => l.split === 'validation').map((l) => l.epoch)).toEqual([1, 2]);
    await trainRanking({ config: config(), data: tinyRunData(), outDir: dir, resume: join(dir, 'checkpoint.hstu'), log: quiet, gpu });
    expect(content(dir)).toEqual(content(straightDir));
  });
});
