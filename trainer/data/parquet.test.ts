// Parquet event logs: types of ids and time, column names, several row groups, 'auto'
// detection, and bad input (missing / mistyped columns, a truncated file, bad values).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadInteractions } from './load.js';
import { forEachParquetBatch } from './parquet.js';
import { buildSequences } from './sequences.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hstu-pq-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Col = { name: string; type: string; converted_type?: string; data: ArrayLike<unknown> };
/** Writes `cols` as a Parquet file, `groupRows` rows per row group. */
function writePq(name: string, cols: Col[], groupRows = 1000): string {
  const p = join(dir, name);
  const schema = [{ name: 'root', num_children: cols.length }, ...cols.map((c) => ({ name: c.name, type: c.type, converted_type: c.converted_type, repetition_type: 'REQUIRED' }))];
  const w = new ParquetWriter({ writer: fileWriter(p), schema: schema as never });
  const n = cols[0]!.data.length;
  for (let s = 0; s < n; s += groupRows) {
    const e = Math.min(n, s + groupRows);
    w.write({ columnData: cols.map((c) => ({ name: c.name, data: (c.data as unknown as { slice(a: number, b: number): never }).slice(s, e) })), rowGroupSize: e - s });
  }
  w.finish();
  return p;
}

describe('Parquet event logs', () => {
  it('integer ids (INT64), seconds, ratings, three row groups; auto-detected by its magic', async () => {
    const users = [5, 3, 5, 3, 5, 9, 9];
    const items = [10, 11, 12, 10, 11, 12, 10];
    const ts = [300, 100, 100, 50, 200, 7, 8];
    const p = writePq('a.parquet', [
      { name: 'user', type: 'INT64', data: BigInt64Array.from(users.map(BigInt)) },
      { name: 'item', type: 'INT32', data: Int32Array.from(items) },
      { name: 'timestamp', type: 'INT64', data: BigInt64Array.from(ts.map(BigInt)) },
      { name: 'rating', type: 'FLOAT', data: Float32Array.from([1, 2, 3, 4, 5, 1.5, 2.5]) },
    ], 3);
    const notes: string[] = [];
    const x = await loadInteractions(p, 'auto', { onInfo: (m) => notes.push(m) });
    expect(notes[0]).toMatch(/picked 'parquet'.*PAR1/);
    expect(x.format).toBe('parquet');
    expect(x.count).toBe(7);
    expect(x.userRawIds).toEqual([3, 5, 9]);
    expect(x.itemRawIds.slice(1)).toEqual([10, 11, 12]);
    expect(Array.from(x.timestamps)).toEqual(ts);
    expect(Array.from(x.ratings)).toEqual([1, 2, 3, 4, 5, 1.5, 2.5]);
    expect(x.hasRatings).toBe(true);
    const s = buildSequences(x);
    const u5 = x.userRawIds.indexOf(5);
    expect(Array.from(s.items.subarray(s.offsets[u5]!, s.offsets[u5 + 1]!), (i) => x.itemRawIds[i])).toEqual([12, 11, 10]); // times 100, 200, 300
  });

  it('string ids, renamed columns, TIMESTAMP(MILLIS) converted to seconds, no rating column', async () => {
    const p = writePq('b.parquet', [
      { name: 'uid', type: 'BYTE_ARRAY', converted_type: 'UTF8', data: ['ann', 'bob', 'ann'] },
      { name: 'sku', type: 'BYTE_ARRAY', converted_type: 'UTF8', data: ['x-1', 'x-2', '007'] },
      { name: 'when', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', data: BigInt64Array.from([1500n, 999n, 2000n]) },
    ]);
    const x = await loadInteractions(p, 'parquet', { parquet: { userColumn: 'uid', itemColumn: 'sku', timestampColumn: 'when' } });
    expect(x.userRawIds).toEqual(['ann', 'bob']);
    expect(x.itemRawIds.slice(1)).toEqual(['007', 'x-1', 'x-2']);
    expect(Array.from(x.timestamps)).toEqual([1, 0, 2]);
    expect(x.hasRatings).toBe(false);
  });

  it("timestampColumn '' synthesises time from row order per user", async () => {
    const p = writePq('c.parquet', [
      { name: 'user', type: 'INT32', data: Int32Array.from([1, 2, 1]) },
      { name: 'item', type: 'INT32', data: Int32Array.from([4, 4, 6]) },
    ]);
    const x = await loadInteractions(p, 'parquet', { parquet: { timestampColumn: '' } });
    expect(x.timestampsSynthetic).toBe(true);
    expect(Array.from(x.timestamps)).toEqual([0, 0, 1]);
    await expect(loadInteractions(p, 'parquet')).rejects.toThrow(/expected a timestamp column named "timestamp", got columns \["user","item"\]\. HINT: .*--csv-time ''/);
  });

  it('bad input: missing and mistyped columns, truncated and non-Parquet files, out-of-range time', async () => {
    const p = writePq('d.parquet', [
      { name: 'user', type: 'DOUBLE', data: Float64Array.from([1.5]) },
      { name: 'item', type: 'INT32', data: Int32Array.from([4]) },
      { name: 'timestamp', type: 'INT32', data: Int32Array.from([4]) },
    ]);
    await expect(loadInteractions(p, 'parquet')).rejects.toThrow(/expected the user column "user" to be INT32, INT64 or a UTF8 string, got DOUBLE\. HINT/);
    const good = writePq('e.parquet', [
      { name: 'user', type: 'INT32', data: Int32Array.from({ length: 500 }, (_, i) => i % 7) },
      { name: 'item', type: 'INT32', data: Int32Array.from({ length: 500 }, (_, i) => i % 11) },
      { name: 'timestamp', type: 'INT64', data: BigInt64Array.from({ length: 500 }, (_, i) => BigInt(i)) },
    ]);
    await expect(loadInteractions(good, 'parquet', { parquet: { itemColumn: 'product' } })).rejects.toThrow(/expected an item column named "product", got columns \["user","item","timestamp"\]\. HINT/);
    const bytes = readFileSync(good);
    const cut = join(dir, 'cut.parquet');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 30));
    await expect(loadInteractions(cut, 'parquet')).rejects.toThrow(/cut\.parquet: cannot read the Parquet footer .*HINT: the file is not a complete Parquet file/);
    // A corrupted data page (footer intact): bytes in the middle zeroed.
    const mangled = Buffer.from(bytes);
    mangled.fill(0xff, 8, 200);
    const bad = join(dir, 'bad.parquet');
    writeFileSync(bad, mangled);
    await expect(loadInteractions(bad, 'parquet')).rejects.toThrow(/bad\.parquet: .*HINT/);
    writeFileSync(join(dir, 'short.parquet'), 'PAR1');
    await expect(loadInteractions(join(dir, 'short.parquet'), 'auto')).rejects.toThrow(/too short for a Parquet file.*HINT/);
    const neg = writePq('neg.parquet', [
      { name: 'user', type: 'INT32', data: Int32Array.from([1]) },
      { name: 'item', type: 'INT32', data: Int32Array.from([4]) },
      { name: 'timestamp', type: 'INT64', data: BigInt64Array.from([-5n]) },
    ]);
    await expect(loadInteractions(neg, 'parquet')).rejects.toThrow(/row 0: expected the timestamp to be integer seconds in \[0, 2\^32\), got -5\. HINT/);
  });

  it('forEachParquetBatch yields one batch per row group, in order', async () => {
    const n = 250;
    const p = writePq('f.parquet', [
      { name: 'user', type: 'INT32', data: Int32Array.from({ length: n }, (_, i) => i) },
      { name: 'item', type: 'INT32', data: Int32Array.from({ length: n }, (_, i) => 1000 + i) },
      { name: 'timestamp', type: 'INT32', data: Int32Array.from({ length: n }, (_, i) => 2 * i) },
    ], 100);
    const starts: number[] = [];
    const seen: number[] = [];
    await forEachParquetBatch(p, {}, (b) => {
      starts.push(b.rowStart);
      for (let r = 0; r < b.count; r++) {
        expect(b.items[r]).toBe(1000 + b.rowStart + r);
        expect(b.timestamps![r]).toBe(2 * (b.rowStart + r));
        seen.push(b.users[r] as number);
      }
    });
    expect(starts).toEqual([0, 100, 200]);
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
  });
});
