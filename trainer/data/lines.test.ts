// The line reader's length cap: a file without newlines is a clear DataError, not a V8
// "RangeError: Invalid string length" after half a gigabyte.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forEachLine } from './lines.js';
import { loadInteractions } from './load.js';

const dir = mkdtempSync(join(tmpdir(), 'hstu-lines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('forEachLine: line length cap', () => {
  it.skipIf(!existsSync('/dev/zero'))('--data /dev/zero --format ml-100k: a clear error at the default 64 MiB cap', async () => {
    await expect(loadInteractions('/dev/zero', 'ml-100k')).rejects.toThrow(/\/dev\/zero:1: expected lines of at most 67108864 bytes.*HINT/s);
  });

  it('a line over a given cap names the line; lines at the cap pass; the summary sees the final newline', async () => {
    const p = join(dir, 'long.txt');
    writeFileSync(p, 'ab\n' + 'x'.repeat(100) + '\nc');
    const seen: string[] = [];
    const s = await forEachLine(p, (l) => seen.push(l), { maxLineBytes: 100 });
    expect(seen).toEqual(['ab', 'x'.repeat(100), 'c']);
    expect(s).toEqual({ endsWithNewline: false, lastLine: 'c', lastLineNo: 3 });
    await expect(forEachLine(p, () => {}, { maxLineBytes: 99 })).rejects.toThrow(/long\.txt:2: expected lines of at most 99 bytes/);
    writeFileSync(p, 'a\r\nb\r\n\r\n');
    const lines: string[] = [];
    expect((await forEachLine(p, (l) => lines.push(l))).endsWithNewline).toBe(true);
    expect(lines).toEqual(['a', 'b']);
  });

  it('lines split across read chunks (1 MiB) come out whole', async () => {
    const p = join(dir, 'big.txt');
    const row = '1\t2\t3\t881250949';
    const n = Math.ceil((3 << 20) / (row.length + 1));
    writeFileSync(p, (row + '\n').repeat(n));
    let count = 0;
    await forEachLine(p, (l) => {
      if (l !== row) throw new Error(`bad line ${JSON.stringify(l)}`);
      count++;
    });
    expect(count).toBe(n);
  });
});
