// loadInteractions: stream a ratings file into typed arrays with dense ids (see formats.ts for
// the formats and types.ts for the result).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InteractionBuilder } from './builder.js';
import { DataError } from './errors.js';
import { detectFormat, formatTraits, makeLineParser, type CsvOptions } from './formats.js';
import { firstLine, forEachLine } from './lines.js';
import { checkLastLineComplete } from './truncation.js';
import { isParquetFile, loadParquet, type ParquetColumns } from './parquet.js';
import type { ConcreteFormat, DataFormat, Interactions } from './types.js';

export interface LoadOptions {
  /** Column options, required for format 'csv' (and making 'auto' pick 'csv'). */
  csv?: CsvOptions;
  /** Receives one-line notes (which format 'auto' picked, counts). */
  onInfo?: (message: string) => void;
  /** Longest accepted line in bytes (default 64 MiB, lines.ts DEFAULT_MAX_LINE_BYTES). */
  maxLineBytes?: number;
  /** Column names for format 'parquet' (defaults: user, item, timestamp, rating if present). */
  parquet?: ParquetColumns;
}

const DOWNLOAD_HINT =
  'HINT: check the path. MovieLens files come from https://grouplens.org/datasets/movielens/ ' +
  '(ml-100k/u.data, ml-1m/ratings.dat, ml-20m/ratings.csv); or train on the built-in synthetic dataset.';

/** Files looked for when a directory is given with format 'auto'. */
const KNOWN_FILES = ['ratings.dat', 'u.data', 'ratings.csv'];

async function resolvePath(path: string, format: DataFormat): Promise<string> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`${path}: file not found. ${DOWNLOAD_HINT}`);
    throw new DataError(`${path}: cannot read (${code ?? String(e)}). HINT: check the file's permissions.`);
  }
  if (!st.isDirectory()) return path;
  if (format === 'auto') {
    for (const f of KNOWN_FILES) {
      const p = join(path, f);
      if (await stat(p).then((s) => s.isFile(), () => false)) return p;
    }
  }
  throw new DataError(`${path}: is a directory. HINT: point at the ratings file inside it (one of ${KNOWN_FILES.join(', ')}).`);
}

/**
 * Reads an interaction log. Streams the file line by line (20M-line ML-20M is fine); events are
 * kept in file order; users and items get dense ids (items from 1; 0 is padding).
 * Malformed lines throw `DataError("file:line: expected …, got …: \"line\"")`.
 */
export async function loadInteractions(path: string, format: DataFormat, opts: LoadOptions = {}): Promise<Interactions> {
  const file = await resolvePath(path, format);
  if (format === 'parquet' || (format === 'auto' && isParquetFile(file))) {
    if (format === 'auto') opts.onInfo?.(`format 'auto' picked 'parquet' for ${file}: the file starts with the Parquet magic PAR1`);
    return loadParquet(file, opts.parquet, opts.onInfo);
  }
  let fmt: ConcreteFormat;
  let note: string;
  if (format === 'auto') {
    const first = await firstLine(file);
    if (first === '') throw new DataError(`${file}: the file is empty. ${DOWNLOAD_HINT}`);
    ({ format: fmt, note } = detectFormat(file, first, opts.csv));
  } else {
    fmt = format;
    note = `format '${fmt}' (given)`;
  }
  const traits = formatTraits(fmt, opts.csv);
  if (!traits.hasTime) note += '; no timestamps in this format: each event\'s timestamp is its index among its user\'s events (its position in the user\'s line for seq-per-line)';
  opts.onInfo?.(note);

  const builder = new InteractionBuilder(!traits.hasTime);
  const parse = makeLineParser(fmt, file, builder, opts.csv);
  let lines = 0;
  const end = await forEachLine(
    file,
    (line, n) => {
      lines++;
      parse(line, n);
    },
    { maxLineBytes: opts.maxLineBytes },
  );
  if (builder.count === 0) {
    const what = lines === 0 ? 'the file is empty' : 'the file has a header but no data lines';
    throw new DataError(`${file}: no interactions: ${what}. ${DOWNLOAD_HINT}`);
  }
  const result = builder.finish({ source: file, format: fmt, formatNote: note, hasRatings: traits.hasRatings });
  if (!end.endsWithNewline) checkLastLineComplete(result, end.lastLine, end.lastLineNo);
  opts.onInfo?.(`${file}: ${result.count} events, ${result.numUsers} users, ${result.numItems - 1} items`);
  return result;
}
