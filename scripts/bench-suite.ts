// Kernel micro-benchmark suite: every kernel a training step and the evaluation of the configured
// models record, at their real shapes (scripts/bench-suite-cases.ts), in one table and one JSON
// file; and a compare mode that flags regressions beyond run-to-run noise.
//
//   npm run bench:suite -- [--config FILE ...] [--data FILE] [--repeat K] [--out FILE] [--json] [--quick]
//   npm run bench:suite -- --compare BASE.jsonl NEW.jsonl [--sigma S] [--min-change F]
//
// Noise: each case is timed K times (default 5; each time = the mean of back-to-back repetitions
// in one submit, as many as make ~150 ms); a row reports the median ms and `noise`, the relative spread
// (max − min) / median of the K timings. Compare flags a row as a regression when
//   new_ms / base_ms − 1 > max(min-change, sigma · max(noise_base, noise_new))
// (defaults sigma 2, min-change 0.10: on identical code under load 13–15, sigma 1 flagged 3 of 38
// rows of a second run as regressions, sigma 2 none — BENCHMARKS.md), and as an improvement in the mirror case.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createGpu } from '../kernels/gpu/index.js';
import { measureCeiling } from '../kernels/ceiling/ceiling.js';
import { formatTable, makeContext, round, type BenchRow } from '../kernels/testing/bench.js';
import { loadConfigFile } from '../model/config.js';
import { generateSynthetic, loadInteractions, batchTrainSequences, type Interactions } from '../trainer/data/index.js';
import { prepareSplit } from '../trainer/train.js';
import { buildCases, type ModelShapes } from './bench-suite-cases.js';

const USAGE = `usage: npm run bench:suite -- [--config FILE ...] [--data FILE] [--repeat K] [--out FILE] [--json] [--quick]
       npm run bench:suite -- --compare BASE.jsonl NEW.jsonl [--sigma S] [--min-change F]
  --config FILE   model config(s) whose shapes to use (default: trainer/configs/ml-100k/hstu.json and sasrec.json)
  --data FILE     ML-100K u.data for the real batch (default: ../shared/data/ml-100k/u.data, else the synthetic data)
  --repeat K      timings per case for the noise estimate (default 5; each of ~150 ms of repetitions)
  --out FILE      JSON lines (default bench-suite.jsonl)
  --json          print JSON lines instead of the table
  --quick         one timing of one repetition per case (a smoke run)
  --compare       diff two --out files; exit code 1 when a row regressed beyond noise`;

/** Work per timing (ms) that sets the repetitions, and their cap. */
const TARGET_MS = 150;
const MAX_REPS = 200;
const DEFAULT_CONFIGS = ['trainer/configs/ml-100k/hstu.json', 'trainer/configs/ml-100k/sasrec.json'];
const DEFAULT_DATA = ['../shared/data/ml-100k/u.data', '/work/shared/data/ml-100k/u.data'];

interface Args {
  configs: string[];
  data?: string;
  repeat: number;
  out: string;
  json: boolean;
  quick: boolean;
  compare?: [string, string];
  sigma: number;
  minChange: number;
}

function parse(argv: string[]): Args | undefined {
  const a: Args = { configs: [], repeat: 5, out: 'bench-suite.jsonl', json: false, quick: false, sigma: 2, minChange: 0.1 };
  const value = (i: number, flag: string) => {
    const v = argv[i];
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value. HINT:\n${USAGE}`);
    return v;
  };
  const num = (s: string, flag: string, min: number) => {
    const x = Number(s);
    if (!(x >= min)) throw new Error(`${flag}: expected a number ≥ ${min}, got '${s}'`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    if (f === '--help' || f === '-h') return undefined;
    else if (f === '--config') a.configs.push(value(++i, f));
    else if (f === '--data') a.data = value(++i, f);
    else if (f === '--repeat') a.repeat = Math.round(num(value(++i, f), f, 1));
    else if (f === '--out') a.out = value(++i, f);
    else if (f === '--json') a.json = true;
    else if (f === '--quick') a.quick = true;
    else if (f === '--compare') a.compare = [value(++i, f), value(++i, f)];
    else if (f === '--sigma') a.sigma = num(value(++i, f), f, 0);
    else if (f === '--min-change') a.minChange = num(value(++i, f), f, 0);
    else throw new Error(`unknown argument '${f}'. HINT:\n${USAGE}`);
  }
  if (a.configs.length === 0) a.configs = DEFAULT_CONFIGS;
  return a;
}

async function loadData(path: string | undefined, log: (s: string) => void): Promise<{ data: Interactions; name: string }> {
  const found = path ?? DEFAULT_DATA.find((p) => existsSync(p));
  if (!found) {
    log(`note: no ML-100K file at ${DEFAULT_DATA.join(' or ')}; shapes come from the synthetic default data set`);
    return { data: generateSynthetic(), name: 'synthetic default' };
  }
  return { data: await loadInteractions(found, 'ml-100k'), name: found };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function runSuite(a: Args): Promise<void> {
  const log = (s: string) => (a.json ? process.stderr : process.stdout).write(s + '\n');
  const { data, name } = await loadData(a.data, log);
  const gpu = await createGpu();
  const rows: BenchRow[] = [];
  try {
    log(`device: ${gpu.adapter.description}; data for the real batch: ${name}`);
    const ctx = makeContext(gpu, a.quick, measureCeiling);
    const ceil = await ctx.ceiling();
    log(`ceiling: copy ${ceil.copyGBps.toFixed(2)} GB/s, best matmul ${ceil.matmulGflops.toFixed(2)} GFLOP/s (measured now)`);
    for (const file of a.configs) {
      const c = loadConfigFile(file);
      const split = prepareSplit(data, c);
      const first = batchTrainSequences(split.train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch: 0 }).next();
      if (first.done) throw new Error(`${file}: the data has no training batch. HINT: check --data`);
      const shapes: ModelShapes = { name: file, config: c, offsets: first.value.seqOffsets, tableRows: data.numItems };
      log(`${file}: ${c.model}, d=${c.dim}, H=${c.numHeads}, N=${c.maxLen}, R=${c.numNegatives}; batch of ${shapes.offsets.length - 1} sequences, ${shapes.offsets[shapes.offsets.length - 1]} tokens; checking every kernel at these shapes, then timing`);
      const built = await buildCases(gpu, shapes);
      try {
        for (const k of built.cases) {
          // Back-to-back repetitions per timing: enough for ~TARGET_MS of work (short kernels
          // are otherwise dominated by submit overhead and scheduler noise), from a first timing.
          const first = await ctx.time(k.record, 1);
          const reps = a.quick ? 1 : Math.min(MAX_REPS, Math.max(2, Math.round(TARGET_MS / Math.max(first, 1e-3))));
          const ms: number[] = [];
          for (let r = 0; r < (a.quick ? 1 : a.repeat); r++) ms.push(await ctx.time(k.record, reps));
          const m = median(ms);
          const row = await ctx.row({ kernel: k.kernel, variant: k.variant, shape: k.shape, ms: m, flops: k.flops, bytes: k.bytes, bound: k.bound, extra: { noise: round((Math.max(...ms) - Math.min(...ms)) / m, 3), timings: ms.length, reps, model: c.model } });
          rows.push(row);
          if (a.json) console.log(JSON.stringify({ ...row, device: gpu.adapter.description }));
          else log(`  ${k.kernel} ${k.variant}: ${m.toFixed(2)} ms (noise ${(100 * (row.noise as number)).toFixed(1)}%)`);
        }
      } finally {
        built.release();
      }
    }
  } finally {
    gpu.dispose();
  }
  if (!a.json) console.log('\n' + formatTable(rows));
  writeFileSync(a.out, rows.map((r) => JSON.stringify({ ...r })).join('\n') + '\n');
  log(`wrote ${rows.length} rows to ${a.out}`);
}

export interface CompareRow {
  kernel: string;
  variant: string;
  shape: string;
  base_ms: number;
  new_ms: number;
  change: number;
  threshold: number;
  verdict: 'regression' | 'improvement' | 'same' | 'new' | 'gone';
}

function readRows(path: string): BenchRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}. HINT: pass two files written by npm run bench:suite -- --out FILE`);
  }
  return text.split('\n').filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l) as BenchRow;
    } catch {
      throw new Error(`${path}:${i + 1}: not a JSON line. HINT: pass files written by npm run bench:suite -- --out FILE (or npm run bench -- --json)`);
    }
  });
}

/** Rows matched by (kernel, variant, shape), with the verdict described in the header. */
export function compareRows(base: BenchRow[], next: BenchRow[], sigma = 1, minChange = 0.1): CompareRow[] {
  const key = (r: BenchRow) => `${r.kernel}\u0000${r.variant}\u0000${r.shape}`;
  const b = new Map(base.map((r) => [key(r), r]));
  const n = new Map(next.map((r) => [key(r), r]));
  const out: CompareRow[] = [];
  for (const [k, r] of n) {
    const o = b.get(k);
    if (!o) {
      out.push({ kernel: r.kernel, variant: r.variant, shape: r.shape, base_ms: NaN, new_ms: r.ms, change: NaN, threshold: NaN, verdict: 'new' });
      continue;
    }
    const noise = Math.max(Number(o.noise ?? 0), Number(r.noise ?? 0));
    const threshold = Math.max(minChange, sigma * noise);
    const change = r.ms / o.ms - 1;
    const verdict = change > threshold ? 'regression' : -change / (1 + change) > threshold ? 'improvement' : 'same';
    out.push({ kernel: r.kernel, variant: r.variant, shape: r.shape, base_ms: o.ms, new_ms: r.ms, change: round(change, 3), threshold: round(threshold, 3), verdict });
  }
  for (const [k, o] of b) if (!n.has(k)) out.push({ kernel: o.kernel, variant: o.variant, shape: o.shape, base_ms: o.ms, new_ms: NaN, change: NaN, threshold: NaN, verdict: 'gone' });
  return out;
}

function runCompare(a: Args): number {
  const [bp, np] = a.compare!;
  const rows = compareRows(readRows(bp), readRows(np), a.sigma, a.minChange);
  const fmt = rows.map((r) => ({ ...r, change: Number.isFinite(r.change) ? `${r.change >= 0 ? '+' : ''}${(100 * r.change).toFixed(1)}%` : '', threshold: Number.isFinite(r.threshold) ? `±${(100 * r.threshold).toFixed(1)}%` : '' }));
  const cols = ['kernel', 'variant', 'shape', 'base_ms', 'new_ms', 'change', 'threshold', 'verdict'] as const;
  const cells = fmt.map((r) => cols.map((c) => String(r[c] ?? '')));
  const w = cols.map((c, i) => Math.max(c.length, ...cells.map((x) => x[i]!.length)));
  const line = (xs: readonly string[]) => xs.map((x, i) => x.padEnd(w[i]!)).join('  ').trimEnd();
  console.log([line(cols), line(w.map((n) => '-'.repeat(n))), ...cells.map(line)].join('\n'));
  const reg = rows.filter((r) => r.verdict === 'regression');
  console.log(`\n${reg.length} regression(s), ${rows.filter((r) => r.verdict === 'improvement').length} improvement(s) beyond noise (threshold = max(${a.minChange}, ${a.sigma} × noise)) among ${rows.length} rows`);
  return reg.length ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const a = parse(process.argv.slice(2));
    if (!a) console.log(USAGE);
    else if (a.compare) process.exitCode = runCompare(a);
    else await runSuite(a);
  } catch (e) {
    console.error(`bench:suite: ${(e as Error).message}`);
    process.exit(1);
  }
}
