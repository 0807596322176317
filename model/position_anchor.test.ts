// Config positionAnchor ('start' | 'end'): the positions themselves (positionsOf and the float64
// reference's independent layout), the config and checkpoint rules, and the GPU forward of HSTU
// and SASRec against the reference under both anchors (so 'end' is shown to change the output).
// Gradients under 'end': trainer/gradients.test.ts; training, evaluation and serving:
// trainer/train_position_anchor.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { expectClose } from '../kernels/testing/compare.js';
import { Rng } from '../kernels/testing/rng.js';
import { runDeltaPass, type PaddedRab } from '../serving/delta_pass.js';
import { MODEL_KEYS, checkResumeConfig, type CheckpointData } from '../trainer/checkpoint.js';
import { positionsOf, uploadBatch, type HostBatch } from './batch.js';
import { applyOverrides, defaultConfig, parseOverrides, validateConfig, type Config } from './config.js';
import { createEncoder } from './encoder.js';
import type { RankingModel } from './ranking.js';
import { batchLayout } from './reference/batch.js';
import { randomBatch, randomParams, tinyConfig } from './reference/fixtures.js';
import { referenceLoss } from './reference/model.js';

const hostBatch = (lengths: number[], numTargets?: number[]): HostBatch => {
  const seqOffsets = Uint32Array.from([0, ...lengths.map((_, i) => lengths.slice(0, i + 1).reduce((a, b) => a + b, 0))]);
  const L = seqOffsets[lengths.length]!;
  return { seqOffsets, items: new Uint32Array(L).fill(1), timestamps: new Uint32Array(L), ...(numTargets ? { numTargets: Uint32Array.from(numTargets) } : {}) };
};

describe('positionsOf', () => {
  it("'start' counts from the sequence start, 'end' puts the last token at maxLen − 1 (n = 1, n = maxLen, empty, mixed)", () => {
    const b = hostBatch([1, 5, 0, 3]);
    expect(Array.from(positionsOf(b))).toEqual([0, 0, 1, 2, 3, 4, 0, 1, 2]);
    expect(Array.from(positionsOf(b, 'start', 5))).toEqual([0, 0, 1, 2, 3, 4, 0, 1, 2]);
    expect(Array.from(positionsOf(b, 'end', 5))).toEqual([4, 0, 1, 2, 3, 4, 2, 3, 4]);
    // Left padding to maxLen 7 in the original SASRec: the same indices.
    expect(Array.from(positionsOf(b, 'end', 7))).toEqual([6, 2, 3, 4, 5, 6, 4, 5, 6]);
    expect(Array.from(positionsOf(hostBatch([1]), 'end', 200))).toEqual([199]);
    expect(Array.from(positionsOf(hostBatch([0]), 'end', 4))).toEqual([]);
  });

  it("keeps targets at the history length under 'start' and refuses them under 'end'", () => {
    const b = hostBatch([5, 2], [2, 0]);
    expect(Array.from(positionsOf(b, 'start', 5))).toEqual([0, 1, 2, 3, 3, 0, 1]);
    expect(() => positionsOf(b, 'end', 5)).toThrow(/sequence 0 has 2 targets.*HINT: positionAnchor 'end' is for retrieval/);
    expect(() => positionsOf(hostBatch([6]), 'end', 5)).toThrow(/6 tokens, over maxLen 5. HINT/);
    expect(() => positionsOf(hostBatch([1]), 'middle' as never, 5)).toThrow(/expected position anchor 'start' \| 'end'/);
  });

  it('the float64 reference layout (written apart) gives the same positions for either anchor', () => {
    const lengths = [3, 0, 1, 8, 4, 2];
    for (const anchor of ['start', 'end'] as const) {
      const rb = randomBatch(new Rng(1), lengths, 9, 1);
      expect(Array.from(batchLayout(rb, 8, 9, anchor).positions)).toEqual(Array.from(positionsOf(hostBatch(lengths), anchor, 8)));
    }
    expect(() => batchLayout(randomBatch(new Rng(1), [3], 9, 1, [1]), 8, 9, 'end')).toThrow(/no targets with positions anchored at the end, got numTargets\[0\] = 1/);
  });
});

describe('config positionAnchor', () => {
  it("defaults to 'start', parses 'end', rejects other values with the allowed ones", () => {
    expect(defaultConfig.positionAnchor).toBe('start');
    expect(parseOverrides(['--positionAnchor=end'])).toEqual({ positionAnchor: 'end' });
    expect(() => parseOverrides(['--positionAnchor=middle'])).toThrow(/'positionAnchor': expected one of 'start' \| 'end', got 'middle'/);
    expect(() => validateConfig({ ...defaultConfig, positionAnchor: 'left' as never })).toThrow(/'positionAnchor': expected 'start' \| 'end', got "left". HINT/);
  });

  it("refuses 'end' for ranking, with a HINT", () => {
    expect(() => applyOverrides(defaultConfig, { task: 'ranking', positionAnchor: 'end' })).toThrow(/positionAnchor': expected 'start' with task 'ranking', got 'end'. HINT: .*--positionAnchor=start/);
    expect(applyOverrides(defaultConfig, { task: 'ranking' }).positionAnchor).toBe('start');
  });

  it("is a model key: a checkpoint without it is 'start', and a resume may not change it", () => {
    expect(MODEL_KEYS).toContain('positionAnchor');
    const old = { config: { dim: 8 } } as unknown as CheckpointData;
    expect(checkResumeConfig(old, applyOverrides(defaultConfig, { dim: 8 }), 'ck')).toEqual([]);
    expect(() => checkResumeConfig(old, applyOverrides(defaultConfig, { dim: 8, positionAnchor: 'end' }), 'ck')).toThrow(/positionAnchor \(checkpoint "start", now "end"\).*HINT/);
  });

  it("the M-FALCON delta pass refuses 'end' (appending a token would move every cached one)", async () => {
    const model = { gpu: {}, config: { ...defaultConfig, positionAnchor: 'end' } } as unknown as RankingModel;
    await expect(runDeltaPass(model, {} as PaddedRab, [])).rejects.toThrow(/expected positionAnchor 'start', got "end". HINT/);
  });
});

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

const NUM_ITEMS = 9;

/** GPU encoder output rows, L2-normalised (what the reference's outputs are). */
async function gpuOutputs(c: Config, params: Map<string, Float32Array>, hb: HostBatch): Promise<Float64Array> {
  const enc = await createEncoder(gpu, c, NUM_ITEMS + 1, params);
  const b = uploadBatch(gpu, hb, c.maxLen, NUM_ITEMS + 1, c.positionAnchor);
  try {
    const rec = gpu.recorder();
    const f = enc.forward(rec, b, { train: false, seed: 0 });
    await rec.submit();
    const out = Float64Array.from(await gpu.read(f.out));
    f.release();
    for (let t = 0; t < hb.items.length; t++) {
      const row = out.subarray(t * c.dim, (t + 1) * c.dim);
      const norm = Math.hypot(...row);
      row.forEach((x, j) => (row[j] = x / norm));
    }
    return out;
  } finally {
    b.release();
    enc.release();
  }
}

describe.each([
  ['HSTU with rab', { model: 'hstu', attnAlpha: -1 }],
  ['SASRec', { model: 'sasrec', numHeads: 2, dim: 6 }],
] as [string, Record<string, unknown>][])('GPU forward equals the float64 reference under both anchors: %s', (_name, overrides) => {
  it("and 'end' changes the output of short sequences", async () => {
    const lengths = [2, 1, 8, 5];
    const rng = new Rng(5);
    const base = tinyConfig({ ...overrides, maxLen: 8 });
    const params64 = randomParams(base, NUM_ITEMS, rng);
    const params = new Map([...params64].map(([k, v]) => [k, Float32Array.from(v)]));
    const rounded = new Map([...params].map(([k, v]) => [k, Float64Array.from(v)]));
    const rb = randomBatch(rng, lengths, NUM_ITEMS, 1);
    const hb: HostBatch = { seqOffsets: Uint32Array.from(rb.seqOffsets), items: Uint32Array.from(rb.items), timestamps: Uint32Array.from(rb.timestamps!) };
    const got = new Map<string, Float64Array>();
    for (const anchor of ['start', 'end'] as const) {
      const c = { ...base, positionAnchor: anchor };
      const want = referenceLoss(c, rounded, rb).outputs;
      const out = await gpuOutputs(c, params, hb);
      expectClose(`outputs (${anchor})`, out, want, { atol: 1e-4, rtol: 1e-3 });
      got.set(anchor, out);
    }
    // Per sequence, the largest change of an output between the anchors: every sequence shorter
    // than maxLen moves (its positions shift by maxLen − n); the full one (n = maxLen) does not.
    const d = base.dim;
    const change = lengths.map((_, s) => {
      let m = 0;
      for (let i = rb.seqOffsets[s]! * d; i < rb.seqOffsets[s + 1]! * d; i++) m = Math.max(m, Math.abs(got.get('start')![i]! - got.get('end')![i]!));
      return m;
    });
    expect(change[0]).toBeGreaterThan(1e-2);
    expect(change[1]).toBeGreaterThan(1e-2);
    expect(change[3]).toBeGreaterThan(1e-2);
    expect(change[2]).toBeLessThan(1e-6);
  });

  it('the encoder refuses a batch counted at the other anchor', async () => {
    const c = tinyConfig({ ...overrides, positionAnchor: 'end' });
    const params = new Map([...randomParams(c, NUM_ITEMS, new Rng(2))].map(([k, v]) => [k, Float32Array.from(v)]));
    const enc = await createEncoder(gpu, c, NUM_ITEMS + 1, params);
    const b = uploadBatch(gpu, hostBatch([2]), c.maxLen, NUM_ITEMS + 1, 'start');
    try {
      expect(enc.positionAnchor).toBe('end');
      expect(() => enc.forward(gpu.recorder(), b, { train: false, seed: 0 })).toThrow(/expected a batch with positions anchored at the 'end' \(config positionAnchor\), got 'start'. HINT/);
    } finally {
      b.release();
      enc.release();
    }
  });
});
