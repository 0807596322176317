// Paired comparison of two models on the same users, from the files written by
// `npm run eval -- --checkpoint <ckpt> --data <path> --ranks <file>` (retrieval: per-user target
// ranks → HR, NDCG, MRR; ranking: per-user like label and P(like) → AUC):
//   npx tsx scripts/compare-runs.ts --a hstu-s42.json,hstu-s7.json --b sasrec-s42.json,sasrec-s7.json [--split test] [--samples 10000]
// Several files per side (e.g. seeds) are averaged (retrieval: per user; ranking: their AUCs on each
// resample), so init noise shrinks and the bootstrap over users measures what is left: which users
// the test set holds. Prints a table and one JSON line per metric.
import { hitRate, mrr, ndcg } from '../trainer/data/metrics.js';
import { auc } from '../trainer/ranking_metrics.js';
import { RANKING_PREDICTIONS_FORMAT, readComparisonFile, type RankingPredictionsFile, type RanksFile } from '../trainer/ranks_file.js';
import { bootstrapDifference, expandClusters, pairedBootstrap, userClusters, type PairedResult } from './paired_bootstrap.js';

const METRICS: [string, (rank: number) => number][] = [
  ['hr@10', (r) => hitRate(r, 10)],
  ['hr@50', (r) => hitRate(r, 50)],
  ['hr@200', (r) => hitRate(r, 200)],
  ['ndcg@10', (r) => ndcg(r, 10)],
  ['ndcg@200', (r) => ndcg(r, 200)],
  ['mrr', (r) => mrr(r)],
];

const USAGE = 'usage: npx tsx scripts/compare-runs.ts --a <ranks.json>[,<ranks.json>…] --b <ranks.json>[,…] [--split test|validation] [--samples N] [--seed S]';

function parse(argv: string[]): { a: string[]; b: string[]; split: 'test' | 'validation'; samples: number; seed: number } {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i]!, v = argv[i + 1];
    if (!['--a', '--b', '--split', '--samples', '--seed'].includes(k) || v === undefined) throw new Error(`unexpected argument '${k}'${v === undefined ? ' (no value)' : ''}\n${USAGE}`);
    m.set(k.slice(2), v);
  }
  if (!m.get('a') || !m.get('b')) throw new Error(`--a and --b are required\n${USAGE}`);
  const split = m.get('split') ?? 'test';
  if (split !== 'test' && split !== 'validation') throw new Error(`--split: expected test or validation, got '${split}'`);
  const num = (k: string, d: number) => {
    const v = Number(m.get(k) ?? d);
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k}: expected a positive integer, got '${m.get(k)}'`);
    return v;
  };
  return { a: m.get('a')!.split(','), b: m.get('b')!.split(','), split, samples: num('samples', 10000), seed: num('seed', 1) };
}

/** Per-user metric averaged over a side's files, users in `users` order. */
function sideMetric(files: { path: string; f: RanksFile }[], split: 'test' | 'validation', users: string[], metric: (r: number) => number): Float64Array {
  const out = new Float64Array(users.length);
  for (const { path, f } of files) {
    const byUser = new Map(f[split].users.map((u, i) => [u, f[split].ranks[i]!]));
    users.forEach((u, i) => {
      const r = byUser.get(u);
      if (r === undefined) throw new Error(`${path}: has no ${split} example for user ${u}. HINT: compare runs on the same dataset and split`);
      out[i]! += metric(r) / files.length;
    });
  }
  return out;
}

type Loaded<F> = { path: string; f: F }[];

/** Each file's (labels, P(like)) reordered to `users`; labels must agree across files. */
function alignPredictions(files: Loaded<RankingPredictionsFile>, split: 'test' | 'validation', users: string[], labels: Float64Array): Float64Array[] {
  return files.map(({ path, f }) => {
    const at = new Map(f[split].users.map((u, i) => [u, i]));
    return Float64Array.from(users, (u, k) => {
      const i = at.get(u);
      if (i === undefined) throw new Error(`${path}: has no ${split} example for user ${u}. HINT: compare runs on the same dataset and split`);
      if (f[split].likes[i] !== labels[k]) throw new Error(`${path}: user ${u}'s ${split} label differs from the first file's. HINT: compare runs on the same dataset and likeThreshold`);
      return f[split].pLike[i]!;
    });
  });
}

function report(log: (line: string) => void, name: string, split: string, users: number, a: number, b: number, r: PairedResult, runs: [number, number]): void {
  const f = (x: number) => x.toFixed(4).padStart(8);
  log(`${name.padEnd(10)} ${f(a)} ${f(b)} ${f(r.diff)}  [${f(r.lo)}, ${f(r.hi)}]  ${r.p.toFixed(3)}`);
  log(JSON.stringify({ metric: name, split, users, a, b, diff: r.diff, lo: r.lo, hi: r.hi, se: r.se, p: r.p, a_runs: runs[0], b_runs: runs[1] }));
}

/** The whole command on `argv` (its arguments); prints through `log`. Throws on bad input. */
export function compareRuns(argv: string[], log: (line: string) => void = console.log): void {
  const o = parse(argv);
  const load = (paths: string[]) => paths.map((path) => ({ path, f: readComparisonFile(path) }));
  const A = load(o.a), B = load(o.b);
  const all = [...A, ...B];
  const ref = all[0]!;
  for (const x of all) {
    if (x.f.format !== ref.f.format) throw new Error(`${x.path}: is a ${x.f.format} file, ${ref.path} a ${ref.f.format} file. HINT: compare retrieval with retrieval and ranking with ranking runs`);
    if (x.f.numItems !== ref.f.numItems || x.f[o.split].users.length !== ref.f[o.split].users.length) {
      throw new Error(`${x.path}: ${x.f.numItems} items / ${x.f[o.split].users.length} ${o.split} users, but ${ref.path} has ${ref.f.numItems} / ${ref.f[o.split].users.length}. HINT: compare runs on the same dataset`);
    }
    const group = (f: typeof ref.f) => ('candidatesPerUser' in f ? f.candidatesPerUser : undefined) ?? 1;
    if (group(x.f) !== group(ref.f)) throw new Error(`${x.path}: ${group(x.f)} candidates per user, but ${ref.path} has ${group(ref.f)}. HINT: compare runs with the same --rankingEvalGroup`);
  }
  const users = ref.f[o.split].users;
  const describe = (s: typeof A) => s.map((x) => `${x.f.model} seed ${x.f.seed}`).join(', ');
  const ranking = ref.f.format === RANKING_PREDICTIONS_FORMAT;
  const grouped = ranking && ((ref.f as RankingPredictionsFile).candidatesPerUser ?? 1) > 1;
  // Resample users, not candidates: a user's candidates (rankingEvalGroup > 1) stay together.
  const clusters = userClusters(users, grouped);
  const perUser = grouped ? ` (${users.length} candidates)` : '';
  log(`A: ${describe(A)}\nB: ${describe(B)}\n${o.split}: ${clusters.length} users${perUser}, paired bootstrap over users, ${o.samples} samples\n`);
  log('metric      A        B        A − B    95% interval         p');
  const runs: [number, number] = [A.length, B.length];
  if (ranking) {
    const r0 = ref.f as RankingPredictionsFile;
    const labels = Float64Array.from(r0[o.split].likes);
    const pa = alignPredictions(A as Loaded<RankingPredictionsFile>, o.split, users, labels);
    const pb = alignPredictions(B as Loaded<RankingPredictionsFile>, o.split, users, labels);
    const meanAuc = (ps: Float64Array[], idx: Uint32Array) => {
      const y = Float64Array.from(idx, (u) => labels[u]!);
      return ps.reduce((s, p) => s + auc(Float64Array.from(idx, (u) => p[u]!), y), 0) / ps.length;
    };
    const every = Uint32Array.from(users, (_, u) => u);
    const r = bootstrapDifference(clusters.length, (picks) => {
      const idx = expandClusters(clusters, picks);
      return meanAuc(pa, idx) - meanAuc(pb, idx);
    }, o.samples, o.seed);
    report(log, 'auc(like)', o.split, clusters.length, meanAuc(pa, every), meanAuc(pb, every), r, runs);
    return;
  }
  for (const [name, fn] of METRICS) {
    const a = sideMetric(A as Loaded<RanksFile>, o.split, users, fn), b = sideMetric(B as Loaded<RanksFile>, o.split, users, fn);
    const mean = (x: Float64Array) => x.reduce((s, v) => s + v, 0) / x.length;
    report(log, name, o.split, users.length, mean(a), mean(b), pairedBootstrap(a, b, o.samples, o.seed), runs);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    compareRuns(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
