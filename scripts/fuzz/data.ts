// Data-file fuzz target: small valid files in each MovieLens/SASRec format, mutated (truncation,
// binary junk, bad fields, huge lines, blank lines, degenerate users, one-class ratings, …), then
// loaded and split the way `npm run train` does (retrieval; ranking for rated formats). Each case
// is judged against the written-down contract (data_oracle.ts):
//   refused  the contract says invalid / unevaluable and the loader or the split check refused it
//            with a clear error (a message with a HINT or naming file:line)
//   ok       the contract says valid and the loader gave exactly the contract's events
//   accepted the loader (or the split) accepted what the contract refuses: silently wrong
//   wrong    the loader refused a valid file, or gave different events
//   crash    a TypeError/RangeError/…, or an error without a clear message
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyOverrides, defaultConfig } from '../../model/config.js';
import { loadInteractions } from '../../trainer/data/load.js';
import { DataRng } from '../../trainer/data/rng.js';
import { prepareRankingSplit } from '../../trainer/ranking_data.js';
import { prepareSplit } from '../../trainer/train.js';
import { isCrash, report, withTimeout, HangError, type CaseResult, type TargetReport } from './common.js';
import { oracle, type OracleFormat } from './data_oracle.js';

const FORMATS: OracleFormat[] = ['ml-100k', 'ml-1m', 'ratings-csv', 'sasrec'];
/** Line cap used by the fuzz (the default is 64 MiB; a small cap keeps huge-line cases cheap). */
const MAX_LINE = 4096;
const CASE_MS = 10_000;

interface Row {
  u: number;
  i: number;
  r: number;
  t: number;
}

function baseRows(rng: DataRng): Row[] {
  const rows: Row[] = [];
  const users = rng.int(3, 12);
  for (let u = 1; u <= users; u++) {
    const n = rng.int(1, 9);
    let t = 874_000_000 + rng.int(0, 10_000_000);
    for (let k = 0; k < n; k++) rows.push({ u: u * 3, i: rng.int(1, 60), r: rng.int(1, 5) + (rng.next() < 0.1 ? 0.5 : 0), t: (t += rng.int(1, 100_000)) });
  }
  for (let k = rows.length - 1; k > 0; k--) {
    const j = rng.int(0, k);
    [rows[k], rows[j]] = [rows[j]!, rows[k]!];
  }
  return rows;
}

function render(rows: Row[], f: OracleFormat): string[] {
  const lines = rows.map((x) => (f === 'ml-100k' ? `${x.u}\t${x.i}\t${x.r}\t${x.t}` : f === 'ml-1m' ? `${x.u}::${x.i}::${x.r}::${x.t}` : f === 'ratings-csv' ? `${x.u},${x.i},${x.r},${x.t}` : `${x.u} ${x.i}`));
  return f === 'ratings-csv' ? ['userId,movieId,rating,timestamp', ...lines] : lines;
}

type Mutation = (rng: DataRng, rows: Row[], f: OracleFormat) => { name: string; bytes: Buffer };
const text = (lines: string[], eol = '\n', final = true) => Buffer.from(lines.join(eol) + (final ? eol : ''));
const pick = <T>(rng: DataRng, xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;
const dataLine = (rng: DataRng, lines: string[], f: OracleFormat) => rng.int(f === 'ratings-csv' ? 1 : 0, lines.length - 1);

const MUTATIONS: Record<string, Mutation> = {
  valid: (_r, rows, f) => ({ name: 'unchanged', bytes: text(render(rows, f)) }),
  crlfBom: (rng, rows, f) => ({ name: 'BOM + CRLF', bytes: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text(render(rows, f), '\r\n', rng.next() < 0.5)]) }),
  truncateBytes: (rng, rows, f) => {
    const b = text(render(rows, f));
    const cut = rng.int(1, b.length - 1);
    return { name: `truncated at byte ${cut}/${b.length}`, bytes: b.subarray(0, cut) };
  },
  truncateLastDigits: (rng, rows, f) => {
    const b = text(render(rows, f), '\n', false);
    const cut = rng.int(1, 5);
    return { name: `last line lost ${cut} chars, no newline`, bytes: b.subarray(0, b.length - cut) };
  },
  junk: (rng, rows, f) => {
    const b = text(render(rows, f));
    const at = rng.int(0, b.length);
    const junk = Buffer.from(Array.from({ length: rng.int(1, 16) }, () => pick(rng, [0, 1, 0x7f, 0xff, 0xfe, 0xc3, 0x80, 0x0b, 0x41, 0x2d, 0x2e, 0x3a, 0x09, 0x20, 0x0d, rng.int(0, 255)].filter((x) => x !== 0x22))));
    return { name: `${junk.length} junk bytes at ${at}`, bytes: Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]) };
  },
  badField: (rng, rows, f) => {
    const lines = render(rows, f);
    const k = dataLine(rng, lines, f);
    const sep = f === 'ml-100k' ? '\t' : f === 'ml-1m' ? '::' : f === 'ratings-csv' ? ',' : ' ';
    const fields = lines[k]!.split(sep);
    const j = rng.int(0, fields.length - 1);
    const v = pick(rng, ['abc', '-5', '1.5', '1e3', '', 'NaN', 'Infinity', '4294967296', '99999999999999999999', ' 7 ', '0x1F', '１２']);
    fields[j] = v;
    lines[k] = fields.join(sep);
    return { name: `line ${k + 1} field ${j + 1} = ${JSON.stringify(v)}`, bytes: text(lines) };
  },
  leadingZeros: (rng, rows, f) => {
    const lines = render(rows.map((x) => ({ ...x })), f).map((l, k) => (f === 'ratings-csv' && k === 0 ? l : rng.next() < 0.3 ? '0' + l : l));
    return { name: 'leading zeros on some user ids', bytes: text(lines) };
  },
  fieldCount: (rng, rows, f) => {
    const lines = render(rows, f);
    const k = dataLine(rng, lines, f);
    const sep = f === 'ml-100k' ? '\t' : f === 'ml-1m' ? '::' : f === 'ratings-csv' ? ',' : ' ';
    const drop = rng.next() < 0.5;
    lines[k] = drop ? lines[k]!.split(sep).slice(0, -1).join(sep) : lines[k] + sep + '1';
    return { name: `line ${k + 1} ${drop ? 'lost' : 'gained'} a field`, bytes: text(lines) };
  },
  blankLine: (rng, rows, f) => {
    const lines = render(rows, f);
    const k = rng.int(1, lines.length - 1);
    lines.splice(k, 0, pick(rng, ['', '   ', '\t']));
    return { name: `blank line inserted at ${k + 1}`, bytes: text(lines) };
  },
  hugeLine: (rng, rows, f) => {
    const lines = render(rows, f);
    const k = rng.int(0, lines.length);
    lines.splice(k, 0, pick(rng, ['1', 'x', '\u0000']).repeat(MAX_LINE + rng.int(1, 3 * MAX_LINE)));
    return { name: `a line over ${MAX_LINE} bytes at ${k + 1}`, bytes: text(lines) };
  },
  noNewlines: (rng) => ({ name: 'no newline at all (like /dev/zero)', bytes: Buffer.alloc(MAX_LINE * rng.int(2, 4)) }),
  twoEvents: (rng, rows, f) => {
    const per = new Map<number, number>();
    const kept = rows.filter((x) => {
      const n = per.get(x.u) ?? 0;
      per.set(x.u, n + 1);
      return n < (rng.next() < 0.8 ? 2 : 1);
    });
    return { name: 'every user cut to ≤ 2 events', bytes: text(render(kept, f)) };
  },
  oneClass: (rng, rows, f) => {
    const r = pick(rng, [5, 1, 4, 3.5]);
    return { name: `every rating = ${r}`, bytes: text(render(rows.map((x) => ({ ...x, r })), f)) };
  },
  header: (rng, rows, f) => {
    const lines = render(rows, f);
    if (f === 'ratings-csv') lines[0] = pick(rng, ['userId,itemId,rating,timestamp', 'userId,movieId,rating', '', 'USERID,MOVIEID,RATING,TIMESTAMP']);
    else lines.unshift(pick(rng, ['user\titem\trating\ttime', 'user item', '# comment']));
    return { name: 'wrong or extra header', bytes: text(lines) };
  },
  empty: (rng) => ({ name: 'empty or whitespace only', bytes: Buffer.from(pick(rng, ['', '\n', '\n\n  \n', '\r\n'])) }),
};

const clear = (m: string, path: string) => /HINT/.test(m) || m.includes(path);

export async function fuzzData(opts: { seed: number; cases: number }): Promise<TargetReport> {
  const rng = new DataRng(opts.seed);
  const dir = mkdtempSync(join(tmpdir(), 'hstu-fuzz-data-'));
  const results: CaseResult[] = [];
  const names = Object.keys(MUTATIONS);
  const cfgRetrieval = applyOverrides(defaultConfig, { maxLen: 20 });
  const cfgRanking = applyOverrides(defaultConfig, { task: 'ranking', maxLen: 20, rankingCandidates: 2, likeThreshold: 4 });
  try {
    for (let k = 0; k < opts.cases; k++) {
      const f = FORMATS[k % FORMATS.length]!;
      const m = names[rng.int(0, names.length - 1)]!;
      const { name, bytes } = MUTATIONS[m]!(rng, baseRows(rng), f);
      const path = join(dir, `case${k}`);
      writeFileSync(path, bytes);
      const want = oracle(bytes, f, MAX_LINE);
      const label = `${f} ${m}: ${name} (case ${k})`;
      let outcome: CaseResult['outcome'];
      let detail: string;
      try {
        const x = await withTimeout(loadInteractions(path, f, { maxLineBytes: MAX_LINE }), CASE_MS);
        // the loader accepted the file: compare events, then the split checks
        if (!want.valid) {
          outcome = 'accepted';
          detail = `contract: ${want.why}; loader gave ${x.count} events`;
        } else {
          const got = Array.from({ length: x.count }, (_, e) => `${x.userRawIds[x.users[e]!]}|${x.itemRawIds[x.items[e]!]}|${x.timestamps[e]}|${f === 'sasrec' ? 0 : x.ratings[e]}`);
          const exp = want.events.map((e) => `${e.user}|${e.item}|${e.time}|${e.rating}`);
          if (got.join('\n') !== exp.join('\n')) {
            outcome = 'wrong';
            detail = `events differ: got ${got.slice(0, 3).join(', ')}…, expected ${exp.slice(0, 3).join(', ')}…`;
          } else {
            const split = (fn: () => unknown): 'ok' | 'refused' | Error => {
              try {
                fn();
                return 'ok';
              } catch (e) {
                return clear((e as Error).message, x.source) && !isCrash(e) ? 'refused' : (e as Error);
              }
            };
            const r = split(() => prepareSplit(x, cfgRetrieval));
            const q = f === 'sasrec' ? (want.ranking ? 'ok' : 'refused') : split(() => prepareRankingSplit(x, cfgRanking));
            const check = (what: string, got: 'ok' | 'refused' | Error, expOk: boolean): [CaseResult['outcome'], string] | null => {
              if (got instanceof Error) return ['crash', `${what}: ${got.message}`];
              if (got === 'ok' && !expOk) return ['accepted', `${what}: the split accepted data the contract calls unevaluable`];
              if (got === 'refused' && expOk) return ['wrong', `${what}: refused evaluable data`];
              return null;
            };
            const bad = check('retrieval', r, want.retrieval) ?? check('ranking', q, want.ranking);
            if (bad) [outcome, detail] = bad;
            else {
              outcome = r === 'ok' ? 'ok' : 'refused';
              detail = `${x.count} events; retrieval ${r}, ranking ${q}`;
            }
          }
        }
      } catch (e) {
        const msg = (e as Error)?.message ?? String(e);
        if (e instanceof HangError) outcome = 'hang';
        else if (isCrash(e) || !clear(msg, path)) outcome = 'crash';
        else outcome = want.valid ? 'wrong' : 'refused';
        detail = (want.valid ? 'contract: valid; ' : `contract: ${want.why}; `) + msg.slice(0, 200);
      }
      results.push({ target: 'data', name: label, outcome, detail });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return report('data', opts.seed, results);
}
