// Checkpoints of the item table when it lives in a store: the rows go to their own streamed file
// (rows_file.ts) named after the manifest and the step, and the manifest (trainer/checkpoint.ts,
// unchanged) records it in trainerState.itemRows. Either store can resume either kind of
// checkpoint: rows from a .rows file or from the manifest's item_emb blobs, through the
// EmbeddingStore interface.
import { readdirSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CheckpointData } from '../checkpoint.js';
import { readRowsFile, writeRowsFile } from './rows_file.js';
import type { EmbeddingStore, RowStorage } from './store.js';

export interface ItemRowsRef {
  /** File name beside the manifest. */
  file: string;
  rows: number;
  dim: number;
  storage: RowStorage;
  step: number;
  crc: number;
}

const rowsFileName = (name: string, step: number) => `${name}.step${step}.rows`;

/** Writes the store's rows beside checkpoint `name` in `dir` (call writeBack on any cache first). */
export async function saveItemRows(dir: string, name: string, step: number, store: EmbeddingStore): Promise<ItemRowsRef> {
  const file = rowsFileName(name, step);
  const { header, crc } = await writeRowsFile(join(dir, file), store, step);
  return { file, rows: header.rows, dim: header.dim, storage: header.storage, step, crc };
}

/** After the manifest naming `keep` is in place: removes older rows files of checkpoint `name`. */
export function pruneItemRows(dir: string, name: string, keep: string): void {
  for (const f of readdirSync(dir)) {
    if (f !== keep && f.startsWith(`${name}.step`) && f.endsWith('.rows')) {
      try {
        unlinkSync(join(dir, f));
      } catch {
        /* already gone: fine */
      }
    }
  }
}

export function itemRowsRef(ck: CheckpointData): ItemRowsRef | undefined {
  return ck.trainerState.itemRows as ItemRowsRef | undefined;
}

/** Refuses a checkpoint whose item table has another number of rows than this data needs. */
export function checkCheckpointTable(ck: CheckpointData, tableRows: number, where: string): void {
  const ref = itemRowsRef(ck);
  const rows = ref ? ref.rows : ck.params.find((b) => b.name === 'item_emb')?.shape[0];
  if (rows !== undefined && rows !== tableRows) {
    throw new Error(`${where}: its item table has ${rows} rows (${rows - 1} items), the data has ${tableRows - 1} items. HINT: resume with the data the checkpoint was trained on (same file and format), or start a new run without --resume.`);
  }
}

/** Loads the checkpoint's item rows and row-wise Adam state into `store`. */
export async function restoreItemRows(ck: CheckpointData, ckPath: string, store: EmbeddingStore): Promise<void> {
  checkCheckpointTable(ck, store.rows, ckPath);
  const ref = itemRowsRef(ck);
  if (ref) {
    await readRowsFile(join(dirname(ckPath), ref.file), store, { step: ref.step, crc: ref.crc });
    return;
  }
  const blob = (n: string) => {
    const b = [...ck.params, ...ck.optimizerState].find((x) => x.name === n);
    if (!b) throw new Error(`${ckPath}: lacks tensor ${n}. HINT: it was written for another model config.`);
    return b.data as Float32Array;
  };
  const w = blob('item_emb'), m = blob('item_emb.m'), v = blob('item_emb.v');
  const d = store.dim, C = 1 << 16;
  for (let r0 = 0; r0 < store.rows; r0 += C) {
    const n = Math.min(C, store.rows - r0);
    await store.write({ ids: Uint32Array.from({ length: n }, (_, i) => r0 + i), w: w.subarray(r0 * d, (r0 + n) * d), m: m.subarray(r0 * d, (r0 + n) * d), v: v.subarray(r0, r0 + n) });
  }
}
