// Export of a sharded embedding table to safetensors and import into any store (DESIGN §7
// "Formats"). An export is a directory:
//   shard-00000.safetensors …   each: `ids` I64 [n] sorted ascending, `weight` [n, d] and
//                               `adam_m` [n, d] (F32 or BF16, the table's storage), `adam_v` F32 [n]
//   index.json                  table facts (rows, dim, storage, seed, init), and per shard its
//                               file, row count, id range [idMin, idMax] and sha256
// Shards are consecutive ranges of the sorted ids (at most shardRows rows each), so any importer,
// whatever its own sharding, finds an id by range. Only rows that exist are exported: a row never
// touched is its per-row init (row_codec.ts initRow of the index's seed and std), which the
// importer either leaves to the target (a Redis table creates it identically on first touch) or
// writes (`fillAbsent`, for stores that hold every row, such as the host store).
// index.json is written last, by rename: a directory without it is a torn export and is refused.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bf16BitsToF32, f32ToBf16Bits } from '../../kernels/embedding/embedding.js';
import { initRow, type RowStorage } from './row_codec.js';
import { readAt, readSafetensorsHeader, SafetensorsWriter } from './safetensors.js';
import type { RedisEmbeddingStore, RowBlock } from './redis_store.js';

export const EXPORT_FORMAT = 'hstu-webgpu/embedding-table';

export interface ExportShard {
  file: string;
  rows: number;
  idMin: number;
  idMax: number;
  sha256: string;
}

export interface ExportIndex {
  format: typeof EXPORT_FORMAT;
  formatVersion: 1;
  table: string;
  rows: number;
  dim: number;
  storage: RowStorage;
  seed: number;
  initStd: number;
  init: string;
  tensors: string[];
  shards: ExportShard[];
}

/** What an import writes into (the host, device and redis stores all have this shape). */
export interface ImportTarget {
  readonly rows: number;
  readonly dim: number;
  readonly storage: RowStorage;
  write(block: RowBlock): Promise<void>;
}

function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(1 << 20);
  try {
    for (let pos = 0; ;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

function packValues(vals: Float32Array, storage: RowStorage): Buffer {
  if (storage === 'f32') return Buffer.from(vals.buffer, vals.byteOffset, vals.byteLength);
  const b = Buffer.alloc(vals.length * 2);
  for (let i = 0; i < vals.length; i++) b.writeUInt16LE(f32ToBf16Bits(vals[i]!), 2 * i);
  return b;
}

function unpackValues(b: Buffer, storage: RowStorage): Float32Array {
  const out = new Float32Array(b.length / (storage === 'f32' ? 4 : 2));
  for (let i = 0; i < out.length; i++) out[i] = storage === 'f32' ? b.readFloatLE(4 * i) : bf16BitsToF32(b.readUInt16LE(2 * i));
  return out;
}

/**
 * Exports every existing row of a Redis table. Run it while no worker updates the table (a
 * checkpoint point): rows are read chunk by chunk, not as one snapshot.
 */
export async function exportRedisTable(store: RedisEmbeddingStore, dir: string, o: { shardRows?: number; chunkRows?: number } = {}): Promise<ExportIndex> {
  const shardRows = o.shardRows ?? 1 << 20, chunkRows = o.chunkRows ?? 4096;
  mkdirSync(dir, { recursive: true });
  const ids = (await store.existingIdsByPrimary()).flatMap((p) => p.ids).sort((a, b) => a - b);
  const d = store.dim, storage = store.storage, dt = storage === 'f32' ? 'F32' : 'BF16';
  const shards: ExportShard[] = [];
  for (let s0 = 0, k = 0; s0 < ids.length || (k === 0 && s0 === 0); s0 += shardRows, k++) {
    const sid = ids.slice(s0, s0 + shardRows), n = sid.length;
    const file = `shard-${String(k).padStart(5, '0')}.safetensors`;
    const wr = new SafetensorsWriter(join(dir, file), [
      { name: 'ids', dtype: 'I64', shape: [n] },
      { name: 'weight', dtype: dt, shape: [n, d] },
      { name: 'adam_m', dtype: dt, shape: [n, d] },
      { name: 'adam_v', dtype: 'F32', shape: [n] },
    ], { table: store.table, format: EXPORT_FORMAT });
    try {
      const eb = storage === 'f32' ? 4 : 2;
      for (let c0 = 0; c0 < n; c0 += chunkRows) {
        const chunk = Uint32Array.from(sid.slice(c0, c0 + chunkRows));
        const blk = await store.read(chunk);
        const idb = Buffer.alloc(8 * chunk.length);
        chunk.forEach((id, i) => idb.writeBigInt64LE(BigInt(id), 8 * i));
        wr.write('ids', 8 * c0, idb);
        wr.write('weight', c0 * d * eb, packValues(blk.w, storage));
        wr.write('adam_m', c0 * d * eb, packValues(blk.m, storage));
        wr.write('adam_v', 4 * c0, packValues(blk.v, 'f32'));
      }
    } finally {
      wr.close();
    }
    shards.push({ file, rows: n, idMin: n ? sid[0]! : -1, idMax: n ? sid[n - 1]! : -1, sha256: sha256File(join(dir, file)) });
    if (ids.length === 0) break;
  }
  const index: ExportIndex = {
    format: EXPORT_FORMAT, formatVersion: 1, table: store.table, rows: store.rows, dim: d, storage,
    seed: store.seed, initStd: store.initStd, init: 'per-row truncated normal of (seed, id): trainer/store/row_codec.ts initRow',
    tensors: ['ids', 'weight', 'adam_m', 'adam_v'], shards,
  };
  writeFileSync(join(dir, 'index.json.tmp'), JSON.stringify(index, null, 1));
  renameSync(join(dir, 'index.json.tmp'), join(dir, 'index.json'));
  return index;
}

export function readExportIndex(dir: string): ExportIndex {
  const p = join(dir, 'index.json');
  if (!existsSync(p)) throw new Error(`import: ${p} is missing. HINT: the export was interrupted (index.json is written last); export again`);
  const idx = JSON.parse(readFileSync(p, 'utf8')) as ExportIndex;
  if (idx.format !== EXPORT_FORMAT || idx.formatVersion !== 1) throw new Error(`import: ${p} is not a ${EXPORT_FORMAT} v1 index (format ${String(idx.format)})`);
  return idx;
}

/**
 * Imports an export into `target` (same dim and storage). Every shard's checksum is verified
 * before anything is written. With `fillAbsent`, ids that were not exported get their per-row
 * init written too (for stores that hold every row).
 */
export async function importTable(target: ImportTarget, dir: string, o: { fillAbsent?: boolean; chunkRows?: number } = {}): Promise<{ rowsWritten: number }> {
  const idx = readExportIndex(dir), chunkRows = o.chunkRows ?? 4096, d = idx.dim;
  if (target.dim !== d || target.storage !== idx.storage) {
    throw new Error(`import: the export has dim ${d} (${idx.storage}), the target ${target.dim} (${target.storage}). HINT: import into a table of the same dim and storage`);
  }
  if (target.rows < idx.rows) throw new Error(`import: the export has ${idx.rows} rows, the target only ${target.rows}. HINT: build the target table for at least ${idx.rows} rows`);
  for (const s of idx.shards) {
    const got = sha256File(join(dir, s.file));
    if (got !== s.sha256) throw new Error(`import: ${s.file} has sha256 ${got}, index.json says ${s.sha256}. HINT: the file was changed or torn; export again`);
  }
  let written = 0, prev = -1;
  const eb = idx.storage === 'f32' ? 4 : 2;
  const present = o.fillAbsent ? new Uint8Array(idx.rows) : undefined;
  for (const s of idx.shards) {
    const h = readSafetensorsHeader(join(dir, s.file));
    try {
      const t = (name: string) => {
        const x = h.tensors.get(name);
        if (!x) throw new Error(`import: ${s.file} has no tensor ${name}`);
        return x;
      };
      const ti = t('ids'), tw = t('weight'), tm = t('adam_m'), tv = t('adam_v');
      if (ti.shape[0] !== s.rows || tw.shape[1] !== d) throw new Error(`import: ${s.file} holds ${ti.shape[0]} rows of dim ${tw.shape[1]}, index.json says ${s.rows} of ${d}`);
      for (let c0 = 0; c0 < s.rows; c0 += chunkRows) {
        const n = Math.min(chunkRows, s.rows - c0);
        const idb = readAt(h.fd, ti.offset + 8 * c0, 8 * n);
        const ids = new Uint32Array(n);
        for (let i = 0; i < n; i++) {
          const id = Number(idb.readBigInt64LE(8 * i));
          if (!(id > prev && id >= s.idMin && id <= s.idMax && id < idx.rows)) {
            throw new Error(`import: ${s.file}: id ${id} at row ${c0 + i} is out of order or outside [${s.idMin}, ${s.idMax}]. HINT: the export is corrupt; export again`);
          }
          ids[i] = prev = id;
          if (present) present[id] = 1;
        }
        await target.write({
          ids,
          w: unpackValues(readAt(h.fd, tw.offset + c0 * d * eb, n * d * eb), idx.storage),
          m: unpackValues(readAt(h.fd, tm.offset + c0 * d * eb, n * d * eb), idx.storage),
          v: unpackValues(readAt(h.fd, tv.offset + 4 * c0, 4 * n), 'f32'),
        });
        written += n;
      }
    } finally {
      closeSync(h.fd);
    }
  }
  if (present) {
    for (let a = 0; a < idx.rows; a += chunkRows) {
      const ids: number[] = [];
      for (let id = a; id < Math.min(idx.rows, a + chunkRows); id++) if (!present[id]) ids.push(id);
      if (ids.length === 0) continue;
      const w = new Float32Array(ids.length * d);
      ids.forEach((id, i) => initRow(idx.seed, id, d, idx.initStd, w, i * d));
      await target.write({ ids: Uint32Array.from(ids), w, m: new Float32Array(ids.length * d), v: new Float32Array(ids.length) });
      written += ids.length;
    }
  }
  return { rowsWritten: written };
}
