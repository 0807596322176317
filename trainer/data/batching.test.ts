import { describe, expect, it } from 'vitest';
import { batchEvalExamples, batchTrainSequences, countTrainBatches, type TrainBatch } from './batching.js';
import { buildSequences } from './sequences.js';
import { leaveLastOut } from './split.js';
import { generateSynthetic } from './synthetic.js';
import { DataRng } from './rng.js';
import { fromTriples } from './testing.js';

function randomLog(seed: number, users: number): ReturnType<typeof fromTriples> {
  const rng = new DataRng(seed);
  const rows: [number, number, number][] = [];
  for (let u = 0; u < users; u++) {
    const n = rng.int(1, 14); // includes users with 1–2 events (train only) and 3 (1 train event)
    for (let k = 0; k < n; k++) rows.push([u, rng.int(1, 25), rng.int(0, 1000)]);
  }
  return fromTriples(rows);
}

function collect(gen: Generator<TrainBatch>): TrainBatch[] {
  return Array.from(gen);
}

describe('batchTrainSequences', () => {
  const x = randomLog(3, 57);
  const { train } = leaveLastOut(buildSequences(x));
  const opts = { batchSize: 8, maxLen: 5, shuffleSeed: 11, epoch: 0 };

  it('every eligible user once per epoch; inputs/targets are the shifted recent maxLen+1 events', () => {
    const batches = collect(batchTrainSequences(train, opts));
    expect(batches.length).toBe(countTrainBatches(train, opts));
    const seen: number[] = [];
    for (const b of batches) {
      const B = b.users.length;
      expect(B).toBeGreaterThan(0);
      expect(B).toBeLessThanOrEqual(8);
      expect(b.seqOffsets.length).toBe(B + 1);
      const L = b.seqOffsets[B]!;
      for (const a of [b.items, b.timestamps, b.ratings, b.targets, b.targetTimestamps]) expect(a.length).toBe(L);
      for (let k = 0; k < B; k++) {
        const u = b.users[k]!;
        seen.push(u);
        const full = Array.from(train.items.subarray(train.offsets[u]!, train.offsets[u + 1]!));
        const fullT = Array.from(train.timestamps.subarray(train.offsets[u]!, train.offsets[u + 1]!));
        const recent = full.slice(-(opts.maxLen + 1));
        const recentT = fullT.slice(-(opts.maxLen + 1));
        const s = b.seqOffsets[k]!;
        const e = b.seqOffsets[k + 1]!;
        expect(e - s).toBe(Math.min(full.length - 1, opts.maxLen));
        expect(Array.from(b.items.subarray(s, e))).toEqual(recent.slice(0, -1));
        expect(Array.from(b.targets.subarray(s, e))).toEqual(recent.slice(1));
        expect(Array.from(b.timestamps.subarray(s, e))).toEqual(recentT.slice(0, -1));
        expect(Array.from(b.targetTimestamps.subarray(s, e))).toEqual(recentT.slice(1));
        expect(Array.from(b.targets.subarray(s, e)).every((t) => t !== 0)).toBe(true);
      }
    }
    const eligible = Array.from({ length: train.numUsers }, (_, u) => u).filter((u) => train.offsets[u + 1]! - train.offsets[u]! >= 2);
    expect(eligible.length).toBeLessThan(train.numUsers); // the fixture has users without a target
    expect([...seen].sort((a, b) => a - b)).toEqual(eligible);
  });

  it('reproducible per (seed, epoch), different across epochs and seeds', () => {
    const order = (o: typeof opts) => collect(batchTrainSequences(train, o)).flatMap((b) => Array.from(b.users));
    expect(order(opts)).toEqual(order(opts));
    expect(collect(batchTrainSequences(train, opts))).toEqual(collect(batchTrainSequences(train, opts)));
    expect(order({ ...opts, epoch: 1 })).not.toEqual(order(opts));
    expect(order({ ...opts, shuffleSeed: 12 })).not.toEqual(order(opts));
  });

  it('dropLast and bad options', () => {
    const n = countTrainBatches(train, { batchSize: 8, dropLast: true });
    const batches = collect(batchTrainSequences(train, { ...opts, dropLast: true }));
    expect(batches.length).toBe(n);
    expect(batches.every((b) => b.users.length === 8)).toBe(true);
    expect(() => batchTrainSequences(train, { ...opts, maxLen: 0 }).next()).toThrow(/expected maxLen to be an integer ≥ 1, got 0/);
  });
});

describe('batchEvalExamples', () => {
  it('histories, targets and exclusion lists (full prior history, minus target, distinct, ascending)', () => {
    const x = randomLog(5, 40);
    const s = buildSequences(x);
    const sp = leaveLastOut(s, { maxHistory: 4 });
    for (const ex of [sp.validation, sp.test]) {
      let k0 = 0;
      for (const b of batchEvalExamples(ex, 7)) {
        expect(b.exampleStart).toBe(k0);
        const B = b.users.length;
        for (let k = 0; k < B; k++) {
          const e = k0 + k;
          const u = ex.users[e]!;
          const full = Array.from(s.items.subarray(s.offsets[u]!, s.offsets[u + 1]!));
          const pos = ex.targetPositions[e]!;
          expect(b.targets[k]).toBe(full[pos]);
          expect(Array.from(b.items.subarray(b.seqOffsets[k]!, b.seqOffsets[k + 1]!))).toEqual(full.slice(Math.max(0, pos - 4), pos));
          const want = [...new Set(full.slice(0, pos))].filter((i) => i !== full[pos]).sort((a, c) => a - c);
          expect(Array.from(b.excludeItems.subarray(b.excludeOffsets[k]!, b.excludeOffsets[k + 1]!))).toEqual(want);
        }
        k0 += B;
      }
      expect(k0).toBe(ex.count);
    }
  });

  it('maxTokens: batches stay within the token budget, are as full as it allows, and hold the same examples', () => {
    const sp = leaveLastOut(buildSequences(randomLog(5, 40)), { maxHistory: 9 });
    const ex = sp.test;
    const hist = (e: number) => ex.historyOffsets[e + 1]! - ex.historyOffsets[e]!;
    const flat = (bs: ReturnType<typeof batchEvalExamples>) => {
      const o = { users: [] as number[], items: [] as number[], targets: [] as number[], excl: [] as number[][] };
      for (const b of bs) {
        o.users.push(...b.users);
        o.items.push(...b.items);
        o.targets.push(...b.targets);
        for (let k = 0; k < b.users.length; k++) o.excl.push(Array.from(b.excludeItems.subarray(b.excludeOffsets[k]!, b.excludeOffsets[k + 1]!)));
      }
      return o;
    };
    const whole = flat(batchEvalExamples(ex, 1000));
    for (const [size, budget] of [[7, 1], [7, 8], [7, 9], [3, 20], [1000, 25]] as const) {
      let k0 = 0;
      for (const b of batchEvalExamples(ex, size, budget)) {
        const B = b.users.length;
        expect(b.exampleStart).toBe(k0);
        expect(B).toBeGreaterThanOrEqual(1);
        expect(B).toBeLessThanOrEqual(size);
        const tokens = b.seqOffsets[B]!;
        if (B > 1) expect(tokens).toBeLessThanOrEqual(budget);
        if (B < size && k0 + B < ex.count) expect(tokens + hist(k0 + B)).toBeGreaterThan(budget); // the next one did not fit
        k0 += B;
      }
      expect(k0).toBe(ex.count);
      expect(flat(batchEvalExamples(ex, size, budget))).toEqual(whole);
    }
    expect(() => batchEvalExamples(ex, 7, 0).next()).toThrow(/maxTokens ≥ 1/);
  });

  it('a re-consumed target is not excluded', () => {
    const x = fromTriples([[0, 1, 1], [0, 2, 2], [0, 1, 3], [0, 1, 4]]);
    const sp = leaveLastOut(buildSequences(x));
    const [b] = Array.from(batchEvalExamples(sp.test, 10));
    const one = x.itemRawIds.indexOf(1);
    expect(b!.targets[0]).toBe(one);
    expect(Array.from(b!.excludeItems)).toEqual([x.itemRawIds.indexOf(2)]);
  });

  it('is fast enough on the synthetic default (smoke)', () => {
    const sp = leaveLastOut(buildSequences(generateSynthetic({ numUsers: 300 })), { maxHistory: 50 });
    let n = 0;
    for (const b of batchEvalExamples(sp.test, 64)) n += b.users.length;
    expect(n).toBe(300);
  });
});
