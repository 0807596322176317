// Stochastic Length: the subsampling probability is Eq. 4 (checked by counting over many draws),
// the subsequence keeps the most recent events and samples the earlier ones uniformly, and the
// batcher trains on it.
import { describe, expect, it } from 'vitest';
import { batchTrainSequences } from './batching.js';
import { stochasticLengthSelect, stochasticLengthTarget, subsampleProbability } from './stochastic_length.js';
import type { Sequences } from './types.js';

describe('Stochastic Length (Eq. 4)', () => {
  it('probability is 1 − N^α/n² above N^{α/2} tokens, 0 below and when off', () => {
    expect(stochasticLengthTarget(1024, 2)).toBe(1024);
    expect(stochasticLengthTarget(1024, 1.6)).toBe(256);
    expect(stochasticLengthTarget(2048, 1.8)).toBe(Math.floor(2048 ** 0.9));
    expect(subsampleProbability(256, 1024, 1.6)).toBe(0);
    expect(subsampleProbability(257, 1024, 1.6)).toBeCloseTo(1 - 1024 ** 1.6 / 257 ** 2, 12);
    expect(subsampleProbability(5000, 1024, 2)).toBeCloseTo(1 - (1024 / 5000) ** 2, 12);
    expect(subsampleProbability(5000, 1024, 0)).toBe(0);
  });

  it.each([
    [64, 1.6, 40],
    [64, 1.6, 200],
    [64, 1.8, 60],
    [64, 2.0, 100],
    [64, 2.0, 1000],
  ])('N=%i α=%f n=%i: the subsampled share over 20000 draws matches Eq. 4 (±4σ)', (N, alpha, n) => {
    const draws = 20000;
    let hits = 0;
    let wrongLength = 0;
    const m = stochasticLengthTarget(N, alpha);
    for (let u = 0; u < draws; u++) {
      const sel = stochasticLengthSelect(n + 1, N, alpha, 7, 3, u);
      if (sel) {
        hits++;
        if (sel.length !== m + 1) wrongLength++;
      }
    }
    expect(wrongLength).toBe(0);
    const p = 1 - N ** alpha / (n * n);
    expect(p).toBeGreaterThan(0);
    const sigma = Math.sqrt((draws * p * (1 - p)) || 1);
    expect(Math.abs(hits - draws * p), `hits ${hits}, expected ${draws * p}`).toBeLessThan(4 * sigma);
  });

  it('keeps the most recent half and samples earlier events uniformly, in time order', () => {
    const N = 64;
    const events = 401; // n = 400 tokens, α = 2 → 64 tokens = 65 events
    const counts = new Float64Array(events);
    let picked = 0;
    let bad = 0;
    for (let u = 0; u < 4000; u++) {
      const sel = stochasticLengthSelect(events, N, 2, 1, 0, u);
      if (!sel) continue;
      picked++;
      for (let i = 1; i < sel.length; i++) if (!(sel[i]! > sel[i - 1]!)) bad++;
      for (let i = 0; i < 33; i++) if (sel[sel.length - 33 + i] !== events - 33 + i) bad++; // last ⌈65/2⌉ = 33 kept
      for (const i of sel) counts[i]!++;
    }
    expect(bad).toBe(0);
    expect(picked).toBeGreaterThan(3000);
    // Each of the 368 earlier events is picked with probability 32/368 per subsample.
    const earlier = events - 33;
    const expectEach = (picked * 32) / earlier;
    const sd = Math.sqrt(expectEach * (1 - 32 / earlier));
    let chi = 0;
    for (let i = 0; i < earlier; i++) chi += (counts[i]! - expectEach) ** 2 / (sd * sd);
    // chi² with ~368 dof: mean 368, sd ≈ 27; far tails only.
    expect(chi).toBeLessThan(368 + 6 * 27);
    expect(chi).toBeGreaterThan(368 - 6 * 27);
  });

  it('batchTrainSequences trains on the subsequence (next picked item as target); α = 0 changes nothing', () => {
    const lens = [300, 5, 120];
    const offsets = Uint32Array.from([0, 300, 305, 425]);
    const n = 425;
    const train: Sequences = { numUsers: 3, numItems: 1000, offsets, items: Uint32Array.from({ length: n }, (_, i) => 1 + i), timestamps: Uint32Array.from({ length: n }, (_, i) => i), ratings: new Float32Array(n) };
    const base = { batchSize: 3, maxLen: 16, shuffleSeed: 1, epoch: 0 };
    const plain = [...batchTrainSequences(train, base)];
    const off = [...batchTrainSequences(train, { ...base, stochasticLengthAlpha: 0 })];
    expect(off.map((b) => Array.from(b.items))).toEqual(plain.map((b) => Array.from(b.items)));
    let sub = 0;
    for (let epoch = 0; epoch < 30; epoch++) {
      const [b] = [...batchTrainSequences(train, { ...base, epoch, stochasticLengthAlpha: 1.6 })];
      for (let k = 0; k < 3; k++) {
        const u = b!.users[k]!;
        const len = b!.seqOffsets[k + 1]! - b!.seqOffsets[k]!;
        const items = b!.items.subarray(b!.seqOffsets[k]!, b!.seqOffsets[k + 1]!);
        const targets = b!.targets.subarray(b!.seqOffsets[k]!, b!.seqOffsets[k + 1]!);
        for (let q = 0; q + 1 < len; q++) expect(targets[q]).toBe(items[q + 1]);
        expect(targets[len - 1]).toBe(offsets[u + 1]!); // the user's last event (item id = index + 1)
        if (len === stochasticLengthTarget(16, 1.6) && lens[u]! - 1 > 16) sub++;
        else expect(len).toBe(Math.min(lens[u]! - 1, 16));
      }
    }
    expect(sub).toBeGreaterThan(0);
  });
});
