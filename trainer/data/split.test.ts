import { describe, expect, it } from 'vitest';
import { fromTriples } from './testing.js';
import { buildSequences, seqLength } from './sequences.js';
import { leaveLastOut } from './split.js';
import type { Sequences } from './types.js';
import { DataRng } from './rng.js';

function row(s: Sequences, u: number): { items: number[]; ts: number[]; lines: number[] } {
  const a = s.offsets[u]!;
  const b = s.offsets[u + 1]!;
  return { items: Array.from(s.items.subarray(a, b)), ts: Array.from(s.timestamps.subarray(a, b)), lines: Array.from(s.ratings.subarray(a, b)) };
}

describe('buildSequences', () => {
  it('groups by user, sorts by (timestamp, line order)', () => {
    // user 1: t=5 (line 0), t=3 (line 2), t=5 (line 3), t=1 (line 5); user 2: t=9, t=9
    const x = fromTriples([
      [1, 10, 5],
      [2, 11, 9],
      [1, 12, 3],
      [1, 13, 5],
      [2, 10, 9],
      [1, 14, 1],
    ]);
    const s = buildSequences(x);
    expect(Array.from(s.offsets)).toEqual([0, 4, 6]);
    const u1 = row(s, 0);
    expect(u1.ts).toEqual([1, 3, 5, 5]);
    expect(u1.lines).toEqual([5, 2, 0, 3]); // ties keep line order
    expect(u1.items.map((i) => x.itemRawIds[i])).toEqual([14, 12, 10, 13]);
    expect(row(s, 1).lines).toEqual([1, 4]);
  });

  it('matches a brute-force sort on random logs', () => {
    const rng = new DataRng(7);
    const rows: [number, number, number][] = Array.from({ length: 500 }, () => [rng.int(0, 30), rng.int(1, 40), rng.int(0, 20)]);
    const x = fromTriples(rows);
    const s = buildSequences(x);
    for (let u = 0; u < x.numUsers; u++) {
      const raw = x.userRawIds[u];
      const want = rows.map((r, k) => ({ r, k })).filter(({ r }) => r[0] === raw).sort((a, b) => a.r[2] - b.r[2] || a.k - b.k);
      expect(row(s, u).lines).toEqual(want.map(({ k }) => k));
    }
  });
});

describe('leaveLastOut', () => {
  const x = fromTriples([
    // user 0 (raw 0): 5 events; user 1: 2 events (train only); user 2: exactly 3 events
    [0, 1, 10], [0, 2, 20], [0, 3, 30], [0, 2, 40], [0, 4, 50],
    [1, 5, 1], [1, 6, 2],
    [2, 7, 7], [2, 8, 8], [2, 9, 9],
  ]);
  const s = buildSequences(x);
  const it_ = (raw: number) => x.itemRawIds.indexOf(raw);

  it('train / validation / test targets and histories', () => {
    const sp = leaveLastOut(s);
    expect(sp.usersTrainOnly).toBe(1);
    expect([0, 1, 2].map((u) => seqLength(sp.train, u))).toEqual([3, 2, 1]);
    expect(row(sp.train, 0).items).toEqual([1, 2, 3].map(it_));
    expect(row(sp.train, 1).items).toEqual([5, 6].map(it_));
    for (const ex of [sp.validation, sp.test]) {
      expect(ex.count).toBe(2);
      expect(Array.from(ex.users)).toEqual([0, 2]);
    }
    const v = sp.validation;
    expect(Array.from(v.targets)).toEqual([it_(2), it_(8)]);
    expect(Array.from(v.targetTimestamps)).toEqual([40, 8]);
    expect(Array.from(v.historyOffsets)).toEqual([0, 3, 4]);
    expect(Array.from(v.historyItems)).toEqual([1, 2, 3, 7].map(it_));
    const t = sp.test;
    expect(Array.from(t.targets)).toEqual([it_(4), it_(9)]);
    expect(Array.from(t.historyItems)).toEqual([1, 2, 3, 2, 7, 8].map(it_));
    expect(Array.from(t.historyTimestamps)).toEqual([10, 20, 30, 40, 7, 8]);
    expect(Array.from(t.targetPositions)).toEqual([4, 2]);
  });

  it('truncates histories to the most recent maxHistory events', () => {
    const sp = leaveLastOut(s, { maxHistory: 2 });
    expect(Array.from(sp.test.historyOffsets)).toEqual([0, 2, 4]);
    expect(Array.from(sp.test.historyItems)).toEqual([3, 2, 7, 8].map(it_));
    expect(Array.from(sp.validation.historyItems)).toEqual([2, 3, 7].map(it_));
    // train is not truncated (the batcher cuts to maxLen + 1)
    expect(seqLength(sp.train, 0)).toBe(3);
    expect(() => leaveLastOut(s, { maxHistory: 0 })).toThrow(/expected maxHistory ≥ 1, got 0/);
  });
});
