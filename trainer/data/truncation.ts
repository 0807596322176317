// A file that does not end with a newline may have been cut off mid-line (an interrupted download
// or copy): `…\t881250949` becomes `…\t88125`, which parses as a valid 1970 event and silently
// changes the split. Cutting digits off a number makes it smaller, so when the last line has no
// newline its last numeric field (the timestamp; the item id for formats without timestamps) is
// compared with the smallest value of that field over every other line: below it, the line is
// almost certainly truncated and loading stops with a clear error. A complete last line without a
// newline (values in range, or a new largest value, as in a time-sorted file) loads as before.
import { DataError, showLine } from './errors.js';
import type { Interactions } from './types.js';

function rangeExceptLast(a: ArrayLike<number>, n: number): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let e = 0; e < n - 1; e++) {
    const v = a[e]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** Throws a DataError when the last event (file order) looks like a truncated line. */
export function checkLastLineComplete(x: Interactions, lastLine: string, lastLineNo: number): void {
  const n = x.count;
  if (n < 2) return;
  const fail = (what: string, v: number | string, lo: number | string, hi: number | string) => {
    throw new DataError(
      `${x.source}:${lastLineNo}: the file does not end with a newline and its last line's ${what} ${v} is below the range of every other line ` +
        `[${lo}, ${hi}]: the last line looks truncated (an interrupted download or copy): ${showLine(lastLine)}. ` +
        `HINT: copy or download the file again; if that line really is complete, add a newline at the end of the file.`,
    );
  };
  if (!x.timestampsSynthetic) {
    const [lo, hi] = rangeExceptLast(x.timestamps, n);
    const t = x.timestamps[n - 1]!;
    if (t < lo) fail('timestamp', t, lo, hi);
  } else {
    // No timestamp to check (sasrec, csv without time): a truncated numeric item id is usually an
    // id that no other line uses, below the other lines' ids.
    const last = x.items[n - 1]!;
    const raw = x.itemRawIds[last];
    if (typeof raw !== 'number') return;
    let lo = Infinity, hi = -Infinity;
    for (let e = 0; e < n - 1; e++) {
      const id = x.items[e]!;
      if (id === last) return; // used elsewhere: a real item
      const v = x.itemRawIds[id];
      if (typeof v === 'number') {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    if (lo <= hi && raw < lo) fail('item id', raw, lo, hi);
  }
}
