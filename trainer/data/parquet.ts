// Apache Parquet event logs, read with `hyparquet` (pure JavaScript, no native build or WASM, no
// dependencies, maintained, reads every standard encoding and SNAPPY; GZIP/ZSTD/… need the
// optional `hyparquet-compressors`). Row groups are read one at a time, so a log larger than
// memory streams through `forEachParquetBatch` (the out-of-core preprocessor's input) as well as
// through `loadParquet` (the in-memory loader).
//
// Columns: user, item (INT32 / INT64 / UTF8 string ids), timestamp (INT32 / INT64 seconds, or a
// TIMESTAMP logical type, converted to seconds) and an optional rating or action (any number).
// Names are configurable (ParquetColumns); the defaults are user, item, timestamp, and rating
// when the file has such a column.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, type FileMetaData, type SchemaElement } from 'hyparquet';
import { InteractionBuilder } from './builder.js';
import { DataError } from './errors.js';
import type { Interactions } from './types.js';

export interface ParquetColumns {
  userColumn?: string;
  itemColumn?: string;
  /** Omitted: 'timestamp'. Pass '' for a log without time (synthesised per user, like sasrec). */
  timestampColumn?: string;
  /** Omitted: 'rating' if the file has it, else none. '' = none. */
  ratingColumn?: string;
}

/** One row group, decoded: ids as the raw strings/numbers, timestamps as u32 seconds. */
export interface ParquetBatch {
  rowStart: number;
  count: number;
  users: ArrayLike<string | number>;
  items: ArrayLike<string | number>;
  /** Null when the log has no timestamp column. */
  timestamps: Uint32Array | null;
  /** Null when the log has no rating column. */
  ratings: Float32Array | null;
}

export interface ParquetInfo {
  numRows: number;
  rowGroups: number;
  columns: { user: string; item: string; timestamp: string | null; rating: string | null };
}

const MAGIC = 'PAR1';
const HINT_CORRUPT = 'HINT: the file is not a complete Parquet file (truncated download or copy?); re-export it, or check it with another Parquet reader.';

/** True when the file starts with the Parquet magic `PAR1`. */
export function isParquetFile(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === MAGIC;
  } finally {
    closeSync(fd);
  }
}

type Role = 'user' | 'item' | 'timestamp' | 'rating';

function describeType(e: SchemaElement): string {
  const logical = e.logical_type ? `/${e.logical_type.type}` : e.converted_type ? `/${e.converted_type}` : '';
  return `${e.type ?? 'group'}${logical}`;
}

function checkType(path: string, role: Role, e: SchemaElement): void {
  const t = e.type;
  const stringy = t === 'BYTE_ARRAY' && (e.converted_type === 'UTF8' || e.logical_type?.type === 'STRING' || e.converted_type === undefined);
  const ok =
    role === 'user' || role === 'item'
      ? t === 'INT32' || t === 'INT64' || stringy
      : role === 'timestamp'
        ? t === 'INT32' || t === 'INT64'
        : t === 'INT32' || t === 'INT64' || t === 'FLOAT' || t === 'DOUBLE';
  if (!ok) {
    const want = role === 'user' || role === 'item' ? 'INT32, INT64 or a UTF8 string' : role === 'timestamp' ? 'INT32 or INT64 seconds, or a TIMESTAMP' : 'a number (INT32, INT64, FLOAT or DOUBLE)';
    throw new DataError(`${path}: expected the ${role} column ${JSON.stringify(e.name)} to be ${want}, got ${describeType(e)}. HINT: cast the column when writing the file, or name another column with --csv-${role === 'timestamp' ? 'time' : role}.`);
  }
}

/** Reads the footer, resolves the column names and checks their types. */
export async function openParquet(path: string, cols: ParquetColumns = {}): Promise<{ info: ParquetInfo; meta: FileMetaData; file: Awaited<ReturnType<typeof asyncBufferFromFile>> }> {
  const size = statSync(path).size;
  if (size < 12) throw new DataError(`${path}: ${size} bytes is too short for a Parquet file. ${HINT_CORRUPT}`);
  const file = await asyncBufferFromFile(path);
  let meta: FileMetaData;
  try {
    meta = await parquetMetadataAsync(file);
  } catch (e) {
    throw new DataError(`${path}: cannot read the Parquet footer (${(e as Error).message}). ${HINT_CORRUPT}`);
  }
  const leaves = meta.schema.slice(1);
  const byName = new Map(leaves.map((e) => [e.name, e]));
  const names = leaves.map((e) => e.name);
  const find = (role: Role, name: string | undefined, fallback: string | null): string | null => {
    const n = name === undefined ? fallback : name === '' ? null : name;
    if (n === null) return null;
    const e = byName.get(n);
    if (!e) {
      if (name === undefined && (role === 'rating')) return null;
      throw new DataError(`${path}: expected ${role === 'item' ? 'an' : 'a'} ${role} column named ${JSON.stringify(n)}, got columns ${JSON.stringify(names)}. HINT: name the columns with --csv-user, --csv-item, --csv-time, --csv-rating (they apply to Parquet too)${role === 'timestamp' ? "; or --csv-time '' for a log without time" : ''}.`);
    }
    if (e.num_children) throw new DataError(`${path}: expected the ${role} column ${JSON.stringify(n)} to be a flat column, got a nested group. HINT: flatten the file before training.`);
    checkType(path, role, e);
    return n;
  };
  const info: ParquetInfo = {
    numRows: Number(meta.num_rows),
    rowGroups: meta.row_groups.length,
    columns: {
      user: find('user', cols.userColumn, 'user')!,
      item: find('item', cols.itemColumn, 'item')!,
      timestamp: find('timestamp', cols.timestampColumn, 'timestamp'),
      rating: find('rating', cols.ratingColumn, 'rating'),
    },
  };
  return { info, meta, file };
}

const U32_MAX = 4294967295;

function toSeconds(path: string, row: number, v: unknown): number {
  let s: number;
  if (typeof v === 'bigint') s = Number(v);
  else if (typeof v === 'number') s = v;
  else if (v instanceof Date) s = Math.floor(v.getTime() / 1000);
  else throw new DataError(`${path}: row ${row}: expected a timestamp, got ${v === null || v === undefined ? 'null' : JSON.stringify(String(v))}. HINT: drop rows without time, or pass --csv-time '' to synthesise time from row order.`);
  if (!(Number.isInteger(s) && s >= 0 && s <= U32_MAX)) {
    throw new DataError(`${path}: row ${row}: expected the timestamp to be integer seconds in [0, 2^32), got ${String(v)}. HINT: if the column holds milliseconds, divide by 1000 when writing the file (or write it as a TIMESTAMP(MILLIS) column).`);
  }
  return s;
}

function toId(path: string, role: string, row: number, v: unknown): string | number {
  if (typeof v === 'number' || typeof v === 'string') {
    if (v === '') throw new DataError(`${path}: row ${row}: expected a non-empty ${role} id, got "". HINT: drop rows without ids.`);
    return v;
  }
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
  throw new DataError(`${path}: row ${row}: expected a ${role} id, got ${v === null || v === undefined ? 'null' : typeof v}. HINT: drop rows without ids.`);
}

function toRating(path: string, row: number, v: unknown): number {
  const x = typeof v === 'bigint' ? Number(v) : v;
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new DataError(`${path}: row ${row}: expected a finite rating, got ${x === null || x === undefined ? 'null' : String(x)}. HINT: fill or drop rows without a rating, or pass --csv-rating '' to ignore the column.`);
  return x;
}

/**
 * Calls `onBatch` for every row group in file order (awaiting it, so a slow consumer bounds
 * memory to about one row group). Values are checked: null ids, timestamps outside u32
 * seconds and non-finite ratings throw a DataError naming the row.
 */
export async function forEachParquetBatch(path: string, cols: ParquetColumns, onBatch: (b: ParquetBatch, info: ParquetInfo) => void | Promise<void>): Promise<ParquetInfo> {
  const { info, meta, file } = await openParquet(path, cols);
  const c = info.columns;
  const wanted = [c.user, c.item, c.timestamp, c.rating].filter((x): x is string => x !== null);
  let rowStart = 0;
  for (const rg of meta.row_groups) {
    const n = Number(rg.num_rows);
    const got = new Map<string, unknown[]>();
    for (const w of wanted) got.set(w, new Array<unknown>(n));
    try {
      await parquetRead({
        file,
        metadata: meta,
        columns: wanted,
        rowStart,
        rowEnd: rowStart + n,
        onChunk: (ch) => {
          const dst = got.get(ch.columnName);
          if (!dst) return;
          const data = ch.columnData as ArrayLike<unknown>;
          for (let r = Math.max(ch.rowStart, rowStart); r < Math.min(ch.rowEnd, rowStart + n); r++) dst[r - rowStart] = data[r - ch.rowStart];
        },
      });
    } catch (e) {
      throw new DataError(`${path}: cannot decode row group ${info.rowGroups > 1 ? `at rows ${rowStart}..${rowStart + n - 1}` : ''} (${(e as Error).message}). ${HINT_CORRUPT}`);
    }
    const users = new Array<string | number>(n);
    const items = new Array<string | number>(n);
    const U = got.get(c.user)!;
    const I = got.get(c.item)!;
    for (let r = 0; r < n; r++) {
      users[r] = toId(path, 'user', rowStart + r, U[r]);
      items[r] = toId(path, 'item', rowStart + r, I[r]);
    }
    let timestamps: Uint32Array | null = null;
    if (c.timestamp !== null) {
      const T = got.get(c.timestamp)!;
      timestamps = new Uint32Array(n);
      for (let r = 0; r < n; r++) timestamps[r] = toSeconds(path, rowStart + r, T[r]);
    }
    let ratings: Float32Array | null = null;
    if (c.rating !== null) {
      const R = got.get(c.rating)!;
      ratings = new Float32Array(n);
      for (let r = 0; r < n; r++) ratings[r] = toRating(path, rowStart + r, R[r]);
    }
    await onBatch({ rowStart, count: n, users, items, timestamps, ratings }, info);
    rowStart += n;
  }
  return info;
}

/** The whole log in memory (for logs that fit; larger ones go through trainer/data/ooc/). */
export async function loadParquet(path: string, cols: ParquetColumns = {}, onInfo?: (m: string) => void): Promise<Interactions> {
  const { info } = await openParquet(path, cols);
  const hasTime = info.columns.timestamp !== null;
  const note = `parquet: ${info.numRows} rows in ${info.rowGroups} row groups; columns user=${info.columns.user} item=${info.columns.item} timestamp=${info.columns.timestamp ?? '(none: synthesised from row order per user)'} rating=${info.columns.rating ?? '(none)'}`;
  onInfo?.(note);
  const b = new InteractionBuilder(!hasTime);
  await forEachParquetBatch(path, cols, (batch) => {
    for (let r = 0; r < batch.count; r++) {
      b.add(String(batch.users[r]), String(batch.items[r]), batch.timestamps ? batch.timestamps[r]! : 0, batch.ratings ? batch.ratings[r]! : 0);
    }
  });
  if (b.count === 0) throw new DataError(`${path}: no interactions: the Parquet file has no rows. HINT: check the export.`);
  const x = b.finish({ source: path, format: 'parquet', formatNote: note, hasRatings: info.columns.rating !== null });
  onInfo?.(`${path}: ${x.count} events, ${x.numUsers} users, ${x.numItems - 1} items`);
  return x;
}
