// Out-of-core training: trains from the cache, evaluates a user sample, and resumes bit-exactly
// from the data position in its checkpoint.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { loadCheckpoint } from './checkpoint.js';
import { trainOutOfCore } from './ooc_train.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';

let gpu: Gpu;
let dir = '';
let log = '';
beforeAll(async () => {
  gpu = await createGpu();
  dir = mkdtempSync(join(tmpdir(), 'hstu-ooct-'));
  // The tiny run's synthetic data as a shuffled Parquet log.
  const x = tinyRunData();
  const perm = Array.from({ length: x.count }, (_, i) => i).sort((a, b) => ((a * 7919) % 1009) - ((b * 7919) % 1009) || a - b);
  log = join(dir, 'tiny.parquet');
  const w = new ParquetWriter({
    writer: fileWriter(log),
    schema: [
      { name: 'root', num_children: 3 },
      { name: 'user', type: 'INT32', repetition_type: 'REQUIRED' },
      { name: 'item', type: 'INT32', repetition_type: 'REQUIRED' },
      { name: 'timestamp', type: 'INT64', repetition_type: 'REQUIRED' },
    ],
  });
  w.write({ rowGroupSize: 500, columnData: [
    { name: 'user', data: Int32Array.from(perm, (e) => x.users[e]!) },
    { name: 'item', data: Int32Array.from(perm, (e) => x.items[e]!) },
    { name: 'timestamp', data: BigInt64Array.from(perm, (e) => BigInt(x.timestamps[e]!)) },
  ] });
  w.finish();
});
afterAll(() => {
  gpu?.dispose();
  rmSync(dir, { recursive: true, force: true });
});
const quiet = () => {};

describe('out-of-core training', () => {
  it('trains and evaluates from the cache; 2k steps straight = k steps + resume + k steps, bit-exactly', async () => {
    const ooc = { cacheDir: join(dir, 'cache'), partitions: 3 };
    const c = tinyRunConfig({ oocShuffleBuffer: 8, oocEvalUsers: 40, epochs: 1, evalEvery: 1 });
    const full = await trainOutOfCore({ config: c, data: log, ooc, outDir: join(dir, 'full'), log: quiet, gpu });
    expect(full.losses.length).toBe(6); // 96 users / batch 16
    expect(full.losses.every(Number.isFinite)).toBe(true);
    expect(full.test!.count).toBe(40);
    const k = 4; // crosses into the next epoch when resumed: epochs 2
    const c2 = tinyRunConfig({ oocShuffleBuffer: 8, epochs: 2 });
    const straight = await trainOutOfCore({ config: c2, data: log, ooc, maxSteps: 2 * k, noEval: true, log: quiet, gpu });
    const a = join(dir, 'a');
    await trainOutOfCore({ config: c2, data: log, ooc, maxSteps: k, noEval: true, outDir: a, log: quiet, gpu });
    const ck = loadCheckpoint(join(a, 'checkpoint.hstu'));
    expect(ck.trainerState.dataPosition).toMatchObject({ epoch: 0, batchInEpoch: k });
    const resumed = await trainOutOfCore({ config: c2, data: log, ooc, maxSteps: 2 * k, noEval: true, outDir: a, resume: join(a, 'checkpoint.hstu'), log: quiet, gpu });
    expect(resumed.step).toBe(2 * k);
    expect(resumed.dataPosition).toMatchObject({ epoch: 1, batchInEpoch: 2 });
    expect(resumed.losses).toEqual(straight.losses.slice(k));
    for (const [name, p] of straight.params) {
      const q = resumed.params.get(name)!;
      expect(Buffer.from(q.buffer, q.byteOffset, q.byteLength).equals(Buffer.from(p.buffer, p.byteOffset, p.byteLength)), `param ${name}`).toBe(true);
    }
  });

  it('metrics.jsonl is the run\'s history: resuming a finished run rewrites the same bytes (no duplicate lines)', async () => {
    const ooc = { cacheDir: join(dir, 'cache'), partitions: 3 };
    const c = tinyRunConfig({ oocShuffleBuffer: 8, oocEvalUsers: 40, epochs: 2, evalEvery: 1 });
    const out = join(dir, 'metrics');
    await trainOutOfCore({ config: c, data: log, ooc, outDir: out, log: quiet, gpu });
    const first = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
    const lines = first.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => `${l.split}:${l.epoch}`).slice(0, 2)).toEqual(['validation:1', 'validation:2']);
    expect(lines[lines.length - 1].split).toBe('test');
    await trainOutOfCore({ config: c, data: log, ooc, outDir: out, resume: join(out, 'checkpoint.hstu'), log: quiet, gpu });
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(first);
  });

  it('trains and evaluates with positions anchored at the end (--positionAnchor=end)', async () => {
    const ooc = { cacheDir: join(dir, 'cache'), partitions: 3 };
    const c = tinyRunConfig({ positionAnchor: 'end', oocShuffleBuffer: 8, oocEvalUsers: 40, epochs: 1, evalEvery: 1 });
    const r = await trainOutOfCore({ config: c, data: log, ooc, log: quiet, gpu });
    expect(r.losses.every(Number.isFinite)).toBe(true);
    expect(r.test!.count).toBe(40);
    expect(r.test!['ndcg@10'] >= 0 && r.test!['ndcg@10'] <= 1).toBe(true);
  });
});
