// One line parser per file format, and format auto-detection.
//
//   ml-1m        ratings.dat   user::item::rating::timestamp            (no header)
//   ml-100k      u.data        user<TAB>item<TAB>rating<TAB>timestamp   (no header)
//   ratings-csv  ratings.csv   header `userId,movieId,rating,timestamp` (ML-20M / ML-25M)
//   sasrec       <name>.txt    `user item`, whitespace-separated, lines already in time order
//                              per user; no timestamps: each event's timestamp is synthesised as
//                              its 0-based position among that user's lines (0, 1, 2, …)
//   seq-per-line <name>.txt    `user item item …`, one line per user, items in time order (the
//                              Amazon/Yelp benchmark files of S3-Rec, e.g. Beauty.txt); no
//                              timestamps: synthesised as each item's 0-based position in its line
//   csv          any           header row + named columns (CsvOptions); without a timestamp
//                              column timestamps are synthesised like sasrec
//
// Ids in the MovieLens formats (ml-1m, ml-100k, ratings-csv) and SASRec must be non-negative
// integers written in decimal digits (`abc`, `-5`, `1.5`, `1e3` are refused with the line) and are
// normalised: leading zeros are dropped, so `0242` and `242` are the same item. Generic CSV ids
// may be any non-empty string and are taken verbatim (`0242` ≠ `242` there). Timestamps are integer seconds in [0, 2^32). Ratings any finite number.
import { basename } from 'node:path';
import { DataError, lineError } from './errors.js';
import type { InteractionBuilder } from './builder.js';
import type { ConcreteFormat } from './types.js';

/** Column names for the generic `csv` format (the file must have a header row). */
export interface CsvOptions {
  /** Field separator, one character; default ','. Use '\t' for TSV. */
  delimiter?: string;
  userColumn: string;
  itemColumn: string;
  /** Integer seconds; when omitted, timestamps are synthesised from line order per user. */
  timestampColumn?: string;
  ratingColumn?: string;
}

export const ML20M_HEADER = 'userId,movieId,rating,timestamp';

export type LineParser = (line: string, lineNo: number) => void;

const INT_RE = /^[0-9]+$/;
const U32_MAX = 4294967295;

/** A non-negative decimal integer id, normalised (leading zeros dropped: `0242` → `242`). */
function checkInt(path: string, lineNo: number, line: string, what: string, f: string): string {
  if (!INT_RE.test(f)) throw lineError(path, lineNo, `expected ${what} to be a non-negative integer, got ${JSON.stringify(f)}`, line);
  return f.length > 1 && f.charCodeAt(0) === 48 ? f.replace(/^0+(?=[0-9])/, '') : f;
}
function checkTime(path: string, lineNo: number, line: string, what: string, f: string): number {
  const v = INT_RE.test(f) ? Number(f) : NaN;
  if (!(v <= U32_MAX)) {
    throw lineError(path, lineNo, `expected ${what} to be integer seconds in [0, 2^32), got ${JSON.stringify(f)}`, line);
  }
  return v;
}
function checkRating(path: string, lineNo: number, line: string, what: string, f: string): number {
  const v = f.trim() === '' ? NaN : Number(f);
  if (!Number.isFinite(v)) throw lineError(path, lineNo, `expected ${what} to be a number, got ${JSON.stringify(f)}`, line);
  return v;
}

/** Splits one delimited line; double-quoted fields (`"a,b"`, `""` = quote) are supported.
 * Returns null on an unterminated quote. */
export function splitDelimited(line: string, delim: string): string[] | null {
  if (!line.includes('"')) return line.split(delim);
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return null;
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      const d = line.indexOf(delim, i);
      v += d < 0 ? line.slice(i) : line.slice(i, d);
      out.push(v);
      if (d < 0) return out;
      i = d + delim.length;
    } else {
      const d = line.indexOf(delim, i);
      out.push(d < 0 ? line.slice(i) : line.slice(i, d));
      if (d < 0) return out;
      i = d + delim.length;
    }
  }
}

function delimName(d: string): string {
  return d === '\t' ? 'tab' : d === ',' ? 'comma' : d === ';' ? 'semicolon' : JSON.stringify(d);
}

/** A parser that feeds `builder`; for header formats it consumes the first line as header. */
export function makeLineParser(format: ConcreteFormat, path: string, b: InteractionBuilder, csv?: CsvOptions): LineParser {
  switch (format) {
    case 'ml-1m':
      return (line, n) => {
        const f = line.split('::');
        if (f.length !== 4) throw lineError(path, n, `expected 4 '::'-separated fields (user::item::rating::timestamp), got ${f.length}`, line);
        const user = checkInt(path, n, line, 'field 1 (user)', f[0]!.trim());
        const item = checkInt(path, n, line, 'field 2 (item)', f[1]!.trim());
        const rating = checkRating(path, n, line, 'field 3 (rating)', f[2]!);
        b.add(user, item, checkTime(path, n, line, 'field 4 (timestamp)', f[3]!.trim()), rating);
      };
    case 'ml-100k':
      return (line, n) => {
        const f = line.split('\t');
        if (f.length !== 4) throw lineError(path, n, `expected 4 tab-separated fields (user item rating timestamp), got ${f.length}`, line);
        const user = checkInt(path, n, line, 'field 1 (user)', f[0]!.trim());
        const item = checkInt(path, n, line, 'field 2 (item)', f[1]!.trim());
        const rating = checkRating(path, n, line, 'field 3 (rating)', f[2]!);
        b.add(user, item, checkTime(path, n, line, 'field 4 (timestamp)', f[3]!.trim()), rating);
      };
    case 'sasrec':
      return (line, n) => {
        const f = line.trim().split(/\s+/);
        if (f.length !== 2) throw lineError(path, n, `expected 2 whitespace-separated fields (user item), got ${f.length}`, line);
        const user = checkInt(path, n, line, 'field 1 (user)', f[0]!);
        b.add(user, checkInt(path, n, line, 'field 2 (item)', f[1]!), 0, 0);
      };
    case 'seq-per-line':
      return seqPerLineParser(path, b);
    case 'ratings-csv':
      return csvParser(path, b, { delimiter: ',', userColumn: 'userId', itemColumn: 'movieId', ratingColumn: 'rating', timestampColumn: 'timestamp' }, ML20M_HEADER, true);
    case 'parquet':
      throw new DataError(`${path}: Parquet is not a line format. HINT: load it with loadInteractions (trainer/data/parquet.ts)`);
    case 'csv':
      if (!csv) throw new DataError(`${path}: format 'csv' needs column options. HINT: pass { csv: { delimiter, userColumn, itemColumn, timestampColumn, ratingColumn } }`);
      return csvParser(path, b, csv);
  }
}

/** `user item item …`: one line per user. A user on two lines is an error (the file's order is
 * the only clock, so a second line could not be placed in time). */
function seqPerLineParser(path: string, b: InteractionBuilder): LineParser {
  const seen = new Map<string, number>();
  return (line, n) => {
    const f = line.trim().split(/\s+/);
    if (f.length < 2) throw lineError(path, n, `expected a user id followed by at least one item id (user item item …), got ${f.length} field`, line);
    const user = checkInt(path, n, line, 'field 1 (user)', f[0]!);
    const before = seen.get(user);
    if (before !== undefined) {
      throw lineError(path, n, `expected one line per user, got user ${user} again (first on line ${before}). HINT: merge the user's lines in time order, or use format 'sasrec' for one 'user item' event per line`, line);
    }
    seen.set(user, n);
    for (let k = 1; k < f.length; k++) b.add(user, checkInt(path, n, line, `field ${k + 1} (item)`, f[k]!), 0, 0);
  };
}

function csvParser(path: string, b: InteractionBuilder, o: CsvOptions, exactHeader?: string, integerIds = false): LineParser {
  const delim = o.delimiter ?? ',';
  if (delim.length !== 1) throw new DataError(`${path}: expected a one-character CSV delimiter, got ${JSON.stringify(delim)}`);
  let cols: { user: number; item: number; time: number; rating: number; n: number; names: string } | null = null;
  return (line, n) => {
    const f = splitDelimited(line, delim);
    if (!f) throw lineError(path, n, 'expected balanced double quotes, got an unterminated quoted field', line);
    if (!cols) {
      const header = f.map((h) => h.trim());
      if (exactHeader && header.join(',') !== exactHeader) {
        throw lineError(path, n, `expected the header ${JSON.stringify(exactHeader)}, got ${JSON.stringify(header.join(','))}`, line);
      }
      const find = (name: string | undefined, role: string): number => {
        if (name === undefined) return -1;
        const k = header.indexOf(name);
        if (k < 0) throw lineError(path, n, `expected a header with a ${role} column named ${JSON.stringify(name)}, got columns ${JSON.stringify(header)}`, line);
        return k;
      };
      cols = {
        user: find(o.userColumn, 'user'),
        item: find(o.itemColumn, 'item'),
        time: find(o.timestampColumn, 'timestamp'),
        rating: find(o.ratingColumn, 'rating'),
        n: header.length,
        names: header.join(delim === '\t' ? ' ' : delim),
      };
      return;
    }
    if (f.length !== cols.n) throw lineError(path, n, `expected ${cols.n} ${delimName(delim)}-separated fields (${cols.names}), got ${f.length}`, line);
    let user = f[cols.user]!.trim();
    let item = f[cols.item]!.trim();
    if (integerIds) {
      user = checkInt(path, n, line, `column ${JSON.stringify(o.userColumn)} (user)`, user);
      item = checkInt(path, n, line, `column ${JSON.stringify(o.itemColumn)} (item)`, item);
    }
    if (user === '') throw lineError(path, n, `expected a non-empty user id in column ${JSON.stringify(o.userColumn)}, got ""`, line);
    if (item === '') throw lineError(path, n, `expected a non-empty item id in column ${JSON.stringify(o.itemColumn)}, got ""`, line);
    const rating = cols.rating < 0 ? 0 : checkRating(path, n, line, `column ${JSON.stringify(o.ratingColumn)} (rating)`, f[cols.rating]!);
    const time = cols.time < 0 ? 0 : checkTime(path, n, line, `column ${JSON.stringify(o.timestampColumn)} (timestamp)`, f[cols.time]!.trim());
    b.add(user, item, time, rating);
  };
}

/** Whether a format's lines carry ratings / timestamps. */
export function formatTraits(format: ConcreteFormat, csv?: CsvOptions): { hasRatings: boolean; hasTime: boolean } {
  if (format === 'sasrec' || format === 'seq-per-line') return { hasRatings: false, hasTime: false };
  if (format === 'csv') return { hasRatings: csv?.ratingColumn !== undefined, hasTime: csv?.timestampColumn !== undefined };
  return { hasRatings: true, hasTime: true };
}

/**
 * Picks a format from the first non-empty line (content wins) and the file name (reported).
 * Throws a DataError with a HINT when nothing matches.
 */
export function detectFormat(path: string, first: string, csv?: CsvOptions): { format: ConcreteFormat; note: string } {
  const name = basename(path);
  const why = (format: ConcreteFormat, reason: string) => ({ format, note: `format 'auto' picked '${format}' for ${name}: ${reason}` });
  if (csv) return why('csv', 'column options were given');
  const line = first.trim();
  if (line.replace(/\s/g, '') === ML20M_HEADER) return why('ratings-csv', `first line is the header ${ML20M_HEADER}`);
  if (line.includes('::')) return why('ml-1m', `first line has '::' separators${name === 'ratings.dat' ? ' (file name ratings.dat)' : ''}`);
  const tabs = line.split('\t');
  if (tabs.length === 4 && tabs.every((t) => /^\s*[0-9.]+\s*$/.test(t))) {
    return why('ml-100k', `first line has 4 tab-separated numeric fields${name === 'u.data' ? ' (file name u.data)' : ''}`);
  }
  const ws = line.split(/\s+/);
  if (ws.length === 2 && ws.every((t) => INT_RE.test(t))) return why('sasrec', 'first line is two whitespace-separated integers (user item)');
  if (ws.length > 2 && ws.every((t) => INT_RE.test(t))) {
    return why('seq-per-line', `first line is ${ws.length} whitespace-separated integers (user item item …)`);
  }
  throw new DataError(
    `${path}: format 'auto' could not recognise the first line ${JSON.stringify(first.slice(0, 80))}; ` +
      `expected one of: user::item::rating::timestamp (ml-1m), user<TAB>item<TAB>rating<TAB>timestamp (ml-100k), ` +
      `the header ${ML20M_HEADER} (ratings-csv), "user item" (sasrec), "user item item …" (seq-per-line). ` +
      `HINT: pass the format explicitly, or format 'csv' with { csv: { delimiter, userColumn, itemColumn, timestampColumn } }`,
  );
}
