// The sequence-per-line format (`user item item …`, S3-Rec's Amazon files): parsing, 'auto'
// detection, errors, and the real Beauty.txt when /work/shared/data is present.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInteractions } from './load.js';
import { buildSequences } from './sequences.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hstu-spl-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('seq-per-line format', () => {
  it('reads one line per user in item order, timestamps = position in the line, auto-detected', async () => {
    const p = file('s.txt', '2 7 3 7 9\r\n1 3\n10 9 9 1 2 3\n\n');
    const notes: string[] = [];
    const x = await loadInteractions(p, 'auto', { onInfo: (m) => notes.push(m) });
    expect(x.format).toBe('seq-per-line');
    expect(notes[0]).toMatch(/picked 'seq-per-line'.*5 whitespace-separated integers/);
    expect(x.timestampsSynthetic).toBe(true);
    expect(x.hasRatings).toBe(false);
    expect(x.count).toBe(10);
    const s = buildSequences(x);
    const seqOf = (raw: number) => {
      const u = x.userRawIds.indexOf(raw);
      const items = Array.from(s.items.subarray(s.offsets[u]!, s.offsets[u + 1]!), (i) => x.itemRawIds[i]);
      const ts = Array.from(s.timestamps.subarray(s.offsets[u]!, s.offsets[u + 1]!));
      return { items, ts };
    };
    expect(seqOf(2)).toEqual({ items: [7, 3, 7, 9], ts: [0, 1, 2, 3] });
    expect(seqOf(1)).toEqual({ items: [3], ts: [0] });
    expect(seqOf(10)).toEqual({ items: [9, 9, 1, 2, 3], ts: [0, 1, 2, 3, 4] });
    // Same content given explicitly parses identically.
    const y = await loadInteractions(p, 'seq-per-line');
    expect(Array.from(y.items)).toEqual(Array.from(x.items));
  });

  it('a first line of two integers is still sasrec (user item); explicit seq-per-line reads it as a 1-item user', async () => {
    const p = file('two.txt', '1 5\n2 5 6\n');
    const x = await loadInteractions(p, 'seq-per-line');
    expect(x.count).toBe(3);
    await expect(loadInteractions(p, 'auto')).rejects.toThrow(/expected 2 whitespace-separated fields/);
  });

  it('bad lines name file, line and fix', async () => {
    await expect(loadInteractions(file('a.txt', '1 2 3\n4\n'), 'seq-per-line')).rejects.toThrow(/a\.txt:2: expected a user id followed by at least one item id.*got 1 field: "4"/);
    await expect(loadInteractions(file('b.txt', '1 2 3\n2 x 3\n'), 'seq-per-line')).rejects.toThrow(/b\.txt:2: expected field 2 \(item\) to be a non-negative integer, got "x"/);
    await expect(loadInteractions(file('c.txt', '1 2 3\n2 4 5\n1 6 7\n'), 'seq-per-line')).rejects.toThrow(/c\.txt:3: expected one line per user, got user 1 again \(first on line 1\)\. HINT/);
  });

  const beauty = '/work/shared/data/amazon-s3rec/Beauty.txt';
  it.skipIf(!existsSync(beauty))(`reads Beauty.txt with the README's counts (skipped: ${beauty} absent)`, async () => {
    const x = await loadInteractions(beauty, 'auto');
    expect(x.format).toBe('seq-per-line');
    expect(x.numUsers).toBe(22363);
    expect(x.numItems - 1).toBe(12101);
    expect(x.count).toBe(198502);
    const s = buildSequences(x);
    let max = 0;
    for (let u = 0; u < s.numUsers; u++) max = Math.max(max, s.offsets[u + 1]! - s.offsets[u]!);
    expect(max).toBe(204);
  });
});
