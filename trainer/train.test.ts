// End-to-end training tests on the tiny seeded run: golden losses, bit-exact resume, and the
// metrics.jsonl contract.
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { loadCheckpoint } from './checkpoint.js';
import { train } from './train.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());
const quiet = () => {};

describe('training', () => {
  it('reproduces the golden first 10 losses (trainer/golden/tiny-retrieval.json)', async () => {
    const golden = JSON.parse(readFileSync(new URL('./golden/tiny-retrieval.json', import.meta.url), 'utf8')) as { losses: number[] };
    const r = await train({ config: tinyRunConfig(), data: tinyRunData(), maxSteps: 10, noEval: true, log: quiet, gpu });
    expect(r.losses).toHaveLength(10);
    r.losses.forEach((l, i) => expect(Math.abs(l - golden.losses[i]!), `loss ${i}: ${l} vs golden ${golden.losses[i]}`).toBeLessThan(1e-3 * Math.abs(golden.losses[i]!)));
    // Training makes progress: the last losses are below the first.
    expect(r.losses.slice(-3).reduce((a, b) => a + b) / 3).toBeLessThan(r.losses[0]!);
  });

  it('the gathered loss path trains the same: the golden first 10 losses on either path', async () => {
    // Same draws, same math: only float rounding differs between the catalogue path (what the
    // tiny run's 60 items pick) and the gathered one, so 10 steps stay within the golden's 1e-3.
    const golden = JSON.parse(readFileSync(new URL('./golden/tiny-retrieval.json', import.meta.url), 'utf8')) as { losses: number[] };
    const config = tinyRunConfig({ sampledSoftmaxPath: 'gathered' });
    const r = await train({ config, data: tinyRunData(), maxSteps: 10, noEval: true, log: quiet, gpu });
    r.losses.forEach((l, i) => expect(Math.abs(l - golden.losses[i]!), `loss ${i}: ${l} vs golden ${golden.losses[i]}`).toBeLessThan(1e-3 * Math.abs(golden.losses[i]!)));
  });

  it('is reproducible and resumes bit-exactly: 2k steps straight = k steps + resume + k steps', async () => {
    const k = 4; // the tiny run has 6 batches an epoch, so the resume lands mid-epoch
    const dirA = mkdtempSync(join(tmpdir(), 'hstu-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'hstu-b-'));
    const straight = await train({ config: tinyRunConfig(), data: tinyRunData(), maxSteps: 2 * k, noEval: true, outDir: dirA, log: quiet, gpu });
    await train({ config: tinyRunConfig(), data: tinyRunData(), maxSteps: k, noEval: true, outDir: dirB, log: quiet, gpu });
    expect(loadCheckpoint(join(dirB, 'checkpoint.hstu')).step).toBe(k);
    const resumed = await train({ config: tinyRunConfig(), data: tinyRunData(), maxSteps: 2 * k, noEval: true, outDir: dirB, resume: join(dirB, 'checkpoint.hstu'), log: quiet, gpu });
    expect(resumed.step).toBe(2 * k);
    expect([...straight.params.keys()].sort()).toEqual([...resumed.params.keys()].sort());
    for (const [name, a] of straight.params) {
      const b = resumed.params.get(name)!;
      expect(Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength)), `param ${name} differs`).toBe(true);
    }
    expect(resumed.losses).toEqual(straight.losses.slice(k));
  });

  it('writes metrics.jsonl whose last line is the test result at the best validation epoch, and checkpoints', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-m-'));
    const r = await train({ config: tinyRunConfig({ epochs: 2, evalEvery: 1 }), data: tinyRunData(), outDir: dir, log: quiet, gpu });
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.split)).toEqual(['validation', 'validation', 'test']);
    const last = lines[2]!;
    for (const key of ['split', 'epoch', 'hr@10', 'hr@50', 'hr@200', 'ndcg@10', 'ndcg@200', 'mrr', 'train_tokens_per_s', 'coverage@10', 'pop_pct@10', 'arp@10']) expect(last, key).toHaveProperty(key);
    expect(last.epoch).toBe(r.best!.epoch);
    for (const key of ['hr@10', 'hr@50', 'hr@200', 'ndcg@10', 'ndcg@200', 'mrr', 'coverage@10', 'pop_pct@10']) {
      const v = last[key] as number;
      expect(v >= 0 && v <= 1, `${key} = ${v}`).toBe(true);
    }
    expect(last['hr@10'] as number).toBeLessThanOrEqual(last['hr@50'] as number);
    expect(last['hr@50'] as number).toBeLessThanOrEqual(last['hr@200'] as number);
    expect(r.popularity!.test['coverage@10']).toBeGreaterThan(0); // the baseline's lists too
    const pop = last.popularity as Record<string, number>; // …and its test metrics on the test line
    for (const key of ['hr@10', 'ndcg@10', 'coverage@10', 'pop_pct@10']) expect(pop[key], key).toBe(r.popularity!.test[key]);
    expect(existsSync(join(dir, 'best.hstu')) && existsSync(join(dir, 'checkpoint.hstu'))).toBe(true);
    const ck = loadCheckpoint(join(dir, 'best.hstu'));
    expect(ck.task).toBe('retrieval');
    expect(ck.itemRawIds.length).toBe(tinyRunData().numItems);
  });
});
