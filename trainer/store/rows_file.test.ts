import { mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../kernels/testing/rng.js';
import { HostEmbeddingStore } from './host_store.js';
import { readRowsFile, writeRowsFile } from './rows_file.js';

async function filled(rows: number, dim: number, storage: 'f32' | 'bf16', seed: number): Promise<HostEmbeddingStore> {
  const s = new HostEmbeddingStore(rows, dim, { storage });
  const rng = new Rng(seed);
  await s.write({ ids: Uint32Array.from({ length: rows }, (_, i) => i), w: rng.f32(rows * dim, -1, 1), m: rng.f32(rows * dim, -1, 1), v: rng.f32(rows, 0, 1) });
  return s;
}

describe('rows file', () => {
  for (const storage of ['f32', 'bf16'] as const) {
    it(`${storage}: round trip over several chunks is bit-exact`, async () => {
      const rows = (1 << 16) + 77, dim = 5;
      const a = await filled(rows, dim, storage, 3);
      const path = join(mkdtempSync(join(tmpdir(), 'rows-')), 't.rows');
      const { crc, bytes } = await writeRowsFile(path, a, 9);
      expect(readFileSync(path).length).toBe(bytes);
      const b = new HostEmbeddingStore(rows, dim, { storage });
      await readRowsFile(path, b, { step: 9, crc });
      const ids = Uint32Array.of(0, 65600, rows - 1, 65535, 65536);
      const x = await a.read(ids), y = await b.read(ids);
      expect(Array.from(y.w)).toEqual(Array.from(x.w));
      expect(Array.from(y.m)).toEqual(Array.from(x.m));
      expect(Array.from(y.v)).toEqual(Array.from(x.v));
    });
  }

  it('refuses a truncated file, a flipped byte, another table and another step, each with a HINT', async () => {
    const a = await filled(300, 4, 'f32', 4);
    const dir = mkdtempSync(join(tmpdir(), 'rows-'));
    const path = join(dir, 't.rows');
    await writeRowsFile(path, a, 2);
    const fresh = () => new HostEmbeddingStore(300, 4);
    await expect(readRowsFile(path, new HostEmbeddingStore(301, 4))).rejects.toThrow(/table of 300 rows × 4, this run's item table is 301 × 4.*HINT/);
    await expect(readRowsFile(path, fresh(), { step: 3 })).rejects.toThrow(/rows of step 2, the checkpoint is at step 3.*HINT/);
    const bytes = readFileSync(path);
    bytes[500] = bytes[500]! ^ 1;
    const flipped = join(dir, 'flipped.rows');
    writeFileSync(flipped, bytes);
    await expect(readRowsFile(flipped, fresh())).rejects.toThrow(/checksum mismatch.*HINT/);
    truncateSync(path, bytes.length - 10);
    await expect(readRowsFile(path, fresh())).rejects.toThrow(/needs 10899. HINT: the rows file is truncated or damaged/);
  });
});
