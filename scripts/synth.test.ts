// The synthetic log writer: exact row count, global time order, length bounds, popularity skew,
// determinism, and the command line.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forEachParquetBatch } from '../trainer/data/parquet.js';
import { SYNTH_DEFAULTS } from './synth-log.js';
import { parseSynthArgs, writeSynthLog } from './synth.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hstu-synth-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('synth', () => {
  const opts = { ...SYNTH_DEFAULTS, users: 300, items: 2000, events: 40_000, maxLen: 1000, minLen: 3, chunkRows: 7000, seed: 5 };

  it('writes exactly E time-ordered rows in row groups, lengths within bounds, Zipf-skewed items', async () => {
    const out = join(dir, 'a.parquet');
    const r = await writeSynthLog(opts, out);
    expect(r.events).toBe(40_000);
    const perUser = new Map<number, number>();
    const perItem = new Map<number, number>();
    let rows = 0;
    let lastT = -1;
    let groups = 0;
    const bad: string[] = [];
    const info = await forEachParquetBatch(out, { ratingColumn: 'action' }, (b) => {
      groups++;
      for (let k = 0; k < b.count; k++) {
        const t = b.timestamps![k]!;
        if (t < lastT) bad.push(`row ${b.rowStart + k}: time ${t} < ${lastT}`);
        lastT = t;
        const u = b.users[k] as number;
        const i = b.items[k] as number;
        if (!(i >= 0 && i < opts.items)) bad.push(`row ${b.rowStart + k}: item ${i}`);
        const a = b.ratings![k]!;
        if (a !== 1 && a !== 2 && a !== 3) bad.push(`row ${b.rowStart + k}: action ${a}`);
        perUser.set(u, (perUser.get(u) ?? 0) + 1);
        perItem.set(i, (perItem.get(i) ?? 0) + 1);
        rows++;
      }
    });
    expect(bad.slice(0, 5)).toEqual([]);
    expect(rows).toBe(40_000);
    expect(info.rowGroups).toBe(groups);
    expect(groups).toBe(Math.ceil(40_000 / 7000));
    expect(Math.max(...perUser.values())).toBeLessThanOrEqual(opts.maxLen);
    expect(perUser.size).toBeLessThanOrEqual(opts.users);
    // Long tail: the longest history is several times the median one.
    const lens = [...perUser.values()].sort((a, b) => a - b);
    expect(lens[lens.length - 1]! / lens[lens.length >> 1]!).toBeGreaterThan(4);
    // Zipf: the 20 most popular items (1% of the catalogue) hold far more than 1% of the events.
    const counts = [...perItem.values()].sort((a, b) => b - a);
    expect(counts.slice(0, 20).reduce((a, b) => a + b) / rows).toBeGreaterThan(0.1);
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    await writeSynthLog(opts, join(dir, 'b1.parquet'));
    await writeSynthLog(opts, join(dir, 'b2.parquet'));
    await writeSynthLog({ ...opts, seed: 6 }, join(dir, 'b3.parquet'));
    const [b1, b2, b3] = ['b1', 'b2', 'b3'].map((n) => readFileSync(join(dir, `${n}.parquet`)));
    expect(b1!.equals(b2!)).toBe(true);
    expect(b1!.equals(b3!)).toBe(false);
  });

  it('parses its command line and rejects bad values with a hint', () => {
    expect(parseSynthArgs(['--help'])).toBe('help');
    const p = parseSynthArgs(['--users', '10', '--items', '5', '--events', '1e3', '--out', 'x.parquet', '--max-len', '8192']);
    expect(p !== 'help' && p.opts.events === 1000 && p.opts.maxLen === 8192 && p.out === 'x.parquet').toBe(true);
    expect(() => parseSynthArgs(['--users', '10'])).toThrow(/--items is required/);
    expect(() => parseSynthArgs(['--users', '1.5', '--items', '5', '--events', '9', '--out', 'x'])).toThrow(/expected users to be a non-negative integer, got '1\.5'\. HINT/);
    expect(() => parseSynthArgs(['--bogus', '1'])).toThrow(/unknown argument '--bogus'\. HINT/);
  });

  it('refuses a log the users cannot hold', async () => {
    await expect(writeSynthLog({ ...opts, users: 2, maxLen: 10 }, join(dir, 'c.parquet'))).rejects.toThrow(/2 users × max length 10 < 40000 events\. HINT/);
  });
});
