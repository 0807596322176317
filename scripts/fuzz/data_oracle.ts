// The data-file contract, written down independently of trainer/data (the fuzz's oracle): which
// files a format accepts, the events they hold, and whether the dataset can be trained and
// evaluated. The fuzz compares the loader (and the split checks) against it case by case.
//   - UTF-8 text, '\n' or '\r\n' line ends, an optional BOM; whitespace-only lines only at the start
//     or the end; every line at most `maxLineBytes` bytes.
//   - ml-100k: 4 tab-separated fields, ml-1m: 4 '::'-separated, ratings-csv: the header
//     userId,movieId,rating,timestamp then 4 comma-separated fields, sasrec: 2 whitespace-separated.
//   - ids: decimal digits (surrounding spaces allowed), leading zeros dropped; timestamps: decimal
//     (CSV quoting is not generated here: trainer/data/load.test.ts covers it);
//     digits < 2^32; ratings: any finite number.
//   - a file not ending in '\n' whose last line's timestamp (sasrec: item id, when no other line
//     uses it) is below every other line's is truncated: refused.
//   - retrieval needs a user with ≥ 3 events and a training sequence of ≥ 2 events; ranking
//     (rated formats, likeThreshold 4) also needs training ratings on both sides of the threshold.
export type OracleFormat = 'ml-100k' | 'ml-1m' | 'ratings-csv' | 'sasrec';

export interface OracleEvent {
  user: string;
  item: string;
  time: number;
  rating: number;
}

export type OracleVerdict = { valid: false; why: string } | { valid: true; events: OracleEvent[]; retrieval: boolean; ranking: boolean };

const DIGITS = /^[0-9]+$/;
const norm = (s: string) => s.replace(/^0+(?=[0-9])/, '');

export function oracle(bytes: Buffer, format: OracleFormat, maxLineBytes: number, likeThreshold = 4): OracleVerdict {
  const bad = (why: string): OracleVerdict => ({ valid: false, why });
  // line lengths are checked on bytes, before decoding
  let start = 0;
  for (;;) {
    const nl = bytes.indexOf(10, start);
    const end = nl < 0 ? bytes.length : nl;
    if (end - start > maxLineBytes) return bad('line too long');
    if (nl < 0) break;
    start = nl + 1;
  }
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const endsWithNewline = bytes.length > 0 && bytes[bytes.length - 1] === 10;
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const data: string[] = [];
  let gap = false;
  for (const l of lines) {
    if (l.trim() === '') {
      if (data.length > 0) gap = true;
      continue;
    }
    if (gap) return bad('blank line between data lines');
    data.push(l);
  }
  if (format === 'ratings-csv') {
    const h = data.shift();
    if (h === undefined || h.split(',').map((x) => x.trim()).join(',') !== 'userId,movieId,rating,timestamp') return bad('header');
  }
  if (data.length === 0) return bad('no data lines');
  const events: OracleEvent[] = [];
  for (const l of data) {
    const f = format === 'ml-100k' ? l.split('\t') : format === 'ml-1m' ? l.split('::') : format === 'ratings-csv' ? l.split(',') : l.trim().split(/\s+/);
    if (f.length !== (format === 'sasrec' ? 2 : 4)) return bad('field count');
    const [u, i] = [f[0]!.trim(), f[1]!.trim()];
    if (!DIGITS.test(u) || !DIGITS.test(i)) return bad('id');
    if (format === 'sasrec') {
      events.push({ user: norm(u), item: norm(i), time: 0, rating: 0 });
      continue;
    }
    const r = f[2]!.trim() === '' ? NaN : Number(f[2]);
    const t = f[3]!.trim();
    if (!Number.isFinite(r)) return bad('rating');
    if (!DIGITS.test(t) || Number(t) > 2 ** 32 - 1) return bad('timestamp');
    events.push({ user: norm(u), item: norm(i), time: Number(t), rating: r });
  }
  if (format === 'sasrec') {
    const seen = new Map<string, number>();
    for (const e of events) {
      e.time = seen.get(e.user) ?? 0;
      seen.set(e.user, e.time + 1);
    }
  }
  if (!endsWithNewline && events.length >= 2) {
    const last = events[events.length - 1]!, rest = events.slice(0, -1);
    if (format !== 'sasrec' && last.time < Math.min(...rest.map((e) => e.time))) return bad('truncated last line (timestamp)');
    if (format === 'sasrec' && !rest.some((e) => e.item === last.item) && Number(last.item) < Math.min(...rest.map((e) => Number(e.item)))) return bad('truncated last line (item id)');
  }
  // per-user sequences in time order (ties: file order)
  const byUser = new Map<string, OracleEvent[]>();
  for (const e of events) byUser.set(e.user, [...(byUser.get(e.user) ?? []), e]);
  const seqs = [...byUser.values()].map((s) => s.map((e, k) => [e, k] as const).sort((a, b) => a[0].time - b[0].time || a[1] - b[1]).map(([e]) => e));
  const trainOf = (s: OracleEvent[]) => (s.length >= 3 ? s.slice(0, -2) : s);
  const evaluable = seqs.some((s) => s.length >= 3);
  const trainable = seqs.some((s) => trainOf(s).length >= 2);
  const trainRatings = seqs.flatMap((s) => trainOf(s).map((e) => e.rating));
  const likes = trainRatings.filter((r) => r >= likeThreshold).length;
  return { valid: true, events, retrieval: evaluable && trainable, ranking: format !== 'sasrec' && evaluable && trainable && likes > 0 && likes < trainRatings.length };
}
