// Central finite differences (float64, h = 1e-6; fd_check.ts) against the tape's gradients of the whole
// reference loss, on a random sample of entries of EVERY parameter tensor.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../kernels/testing/rng.js';
import type { Config } from '../config.js';
import { paramLayout } from '../params.js';
import type { RefBatch } from './batch.js';
import { randomBatch, randomParams, tinyConfig } from './fixtures.js';
import { referenceLoss, referenceLossValue } from './model.js';
import { finiteDifferenceCheck, type FdReport } from './fd_check.js';

const NUM_ITEMS = 7, R = 3, TOL = 1e-5;

function gradCheck(c: Config, params: Map<string, Float64Array>, batch: RefBatch, rng: Rng, perTensor = 4): FdReport[] {
  const { grads } = referenceLoss(c, params, batch);
  return finiteDifferenceCheck(paramLayout(c, NUM_ITEMS), params, grads, () => referenceLossValue(c, params, batch), rng, perTensor);
}

function expectPasses(report: ReturnType<typeof gradCheck>, unused: (name: string) => boolean = () => false) {
  for (const r of report) {
    expect(r.worst, `${r.name}: relative error`).toBeLessThan(TOL);
    if (!unused(r.name)) expect(r.nonzero, `${r.name}: some gradient is non-zero`).toBeGreaterThan(0);
  }
}

// Lengths include 0 and 1 and N; sequence 3 has 2 targets (candidates).
const LENGTHS = [3, 0, 1, 5, 4];
const NUM_TARGETS = [0, 0, 0, 2, 0];

describe('reference gradients = central finite differences', () => {
  it('HSTU with rab, H=2, dqk≠dv, num_targets, alpha=1/sqrt(dqk)', () => {
    const rng = new Rng(11);
    const c = tinyConfig({ attnAlpha: -1 });
    const params = randomParams(c, NUM_ITEMS, rng);
    const batch = randomBatch(rng, LENGTHS, NUM_ITEMS, R, NUM_TARGETS);
    const { loss, grads } = referenceLoss(c, params, batch);
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    // The padding row is never read: its gradient is exactly zero.
    expect(Array.from(grads.get('item_emb')!.subarray(0, c.dim))).toEqual(new Array(c.dim).fill(0));
    expectPasses(gradCheck(c, params, batch, rng));
  });

  it('HSTU without rab (rab tables present, zero gradient)', () => {
    const rng = new Rng(12);
    const c = tinyConfig({ useRab: false });
    const params = randomParams(c, NUM_ITEMS, rng);
    const batch = randomBatch(rng, LENGTHS, NUM_ITEMS, R, NUM_TARGETS);
    const { grads } = referenceLoss(c, params, batch);
    for (const l of [0, 1]) for (const n of ['rab_pos', 'rab_time']) expect(grads.get(`layers.${l}.${n}`)!.every((v) => v === 0)).toBe(true);
    expectPasses(gradCheck(c, params, batch, rng), (name) => name.includes('rab_'));
  });

  it('HSTU options: SiLU on U only, [U, O, U⊙LN(O)] output, normalise by length', () => {
    const rng = new Rng(13);
    const c = tinyConfig({ siluOnUOnly: true, outputFromUOAndGate: true, normalizeByLength: true, attnAlpha: 0.7 });
    const params = randomParams(c, NUM_ITEMS, rng);
    const batch = randomBatch(rng, LENGTHS, NUM_ITEMS, R, NUM_TARGETS);
    expectPasses(gradCheck(c, params, batch, rng, 3));
  });

  it('SASRec (H=2)', () => {
    const rng = new Rng(14);
    const c = tinyConfig({ model: 'sasrec', dqk: 0, dv: 0 });
    const params = randomParams(c, NUM_ITEMS, rng);
    const batch = randomBatch(rng, LENGTHS, NUM_ITEMS, R);
    expectPasses(gradCheck(c, params, batch, rng));
  });

  // Dot-product logits (similarity 'dot'): no normalisation of u or the item rows; with the
  // in-batch log-Q offsets too (they shift the logits after the 1/τ scale either way).
  it.each([
    ['HSTU', { attnAlpha: -1, similarity: 'dot', temperature: 0.5 }],
    ['SASRec', { model: 'sasrec', dqk: 0, dv: 0, similarity: 'dot', temperature: 1 }],
  ] as const)('%s with dot-product logits', (_name, o) => {
    const rng = new Rng(16);
    const c = tinyConfig(o);
    const params = randomParams(c, NUM_ITEMS, rng);
    const batch = randomBatch(rng, LENGTHS, NUM_ITEMS, R, c.model === 'hstu' ? NUM_TARGETS : undefined);
    batch.negativeLogitOffsets = Float64Array.from(batch.negatives, (id) => (id % 3) / 4);
    const cosine = referenceLoss({ ...c, similarity: 'cosine' }, params, batch).loss;
    expect(Math.abs(referenceLoss(c, params, batch).loss - cosine)).toBeGreaterThan(1e-3); // really another loss
    expectPasses(gradCheck(c, params, batch, rng));
  });

  it('a batch with no targets has loss 0 and zero gradients', () => {
    const rng = new Rng(15);
    const c = tinyConfig();
    const params = randomParams(c, NUM_ITEMS, rng);
    const batch = randomBatch(rng, [2, 0, 1], NUM_ITEMS, R);
    batch.targets = Array.from(batch.targets, () => 0);
    const { loss, grads } = referenceLoss(c, params, batch);
    expect(loss).toBe(0);
    for (const g of grads.values()) expect(g.every((v) => v === 0)).toBe(true);
  });
});
