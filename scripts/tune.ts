// Hyperparameter search. Stable interface:
//   npm run tune -- --spec <file> [--out <dir>] [--budget-runs N] [--budget-minutes M] [--report-only]
// Expands the spec's grid or random search (scripts/tune-spec.ts) into sweep points and trains
// them with the sweep's resumable runner (scripts/sweep.ts runPoints: one runs.jsonl line per
// finished run, finished runs skipped on the next invocation), stopping at the budget. Then
// groups the runs by config, ranks configs by their validation metric's mean over seeds and
// writes <dir>/tune.md and <dir>/tune.json (the best config first).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gpu } from '../kernels/gpu/index.js';
import { expandSpec } from './sweep-spec.js';
import { loadDataset } from './sweep-run.js';
import { runPoints } from './sweep.js';
import { loadTuneSpec, selectionMetric, type TuneBudget } from './tune-spec.js';
import { renderTuneMarkdown, tuneTable, type TuneTable } from './tune-report.js';

const USAGE = `usage: npm run tune -- --spec <file> [--out <dir>] [--budget-runs N] [--budget-minutes M] [--report-only]
  --spec <file>         tune spec (JSON; see scripts/sweeps/tune-smoke.json, scripts/sweeps/tune-ml100k.json):
                        a sweep spec plus "search" (grid | random), "ranges", "samples", "budget"
  --out <dir>           default runs/tune-<spec name>; writes runs.jsonl (one line per finished run),
                        tune.md and tune.json (configs ranked by validation metric, mean over seeds)
  --budget-runs N       stop once N runs of the spec are finished (earlier invocations count); overrides the spec
  --budget-minutes M    start no new run after M minutes of this invocation; overrides the spec
  --report-only         train nothing; rank the runs already in <dir>/runs.jsonl
Resumable: run the same command again and finished runs are skipped; an interrupted run restarts.
Early stopping per run is the trainer's (config key earlyStopPatience, in the spec's "base").`;

export interface TuneOptions {
  specPath: string;
  outDir?: string;
  budget?: TuneBudget;
  reportOnly?: boolean;
  gpu?: Gpu;
  log?: (line: string) => void;
}

export interface TuneResult {
  table: TuneTable;
  /** Runs trained by this invocation. */
  ran: string[];
  outDir: string;
  stoppedBy?: string;
}

export async function runTune(o: TuneOptions): Promise<TuneResult> {
  const log = o.log ?? ((s: string) => console.log(s));
  const tune = loadTuneSpec(o.specPath);
  const spec = tune.sweep;
  const points = expandSpec(spec);
  const metric = selectionMetric(spec, points);
  const budget = { ...tune.budget, ...o.budget };
  const outDir = o.outDir ?? join('runs', `tune-${spec.name}`);
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'spec.json'), JSON.stringify({ ...spec, search: tune.search, budget }, null, 2) + '\n');
  const ds = await loadDataset(spec.dataset, log);
  const t0 = performance.now();
  const stopBefore = (finished: number): string | undefined => {
    if (budget.runs !== undefined && finished >= budget.runs) return `the budget of ${budget.runs} runs is spent (${finished} finished)`;
    const minutes = (performance.now() - t0) / 60000;
    if (budget.minutes !== undefined && minutes >= budget.minutes) return `the budget of ${budget.minutes} minutes is spent (${minutes.toFixed(1)} min)`;
    return undefined;
  };
  const r = await runPoints({ name: spec.name, label: `tune ${spec.name}`, points, ds, outDir, metric, reportOnly: o.reportOnly, stopBefore, gpu: o.gpu, log });
  const runs = points.map((p) => r.done.get(p.id)).filter((x) => x !== undefined);
  if (!runs.length) throw new Error(`tune ${spec.name}: no finished runs to rank. HINT: run without --report-only, or raise the budget`);
  const table = tuneTable(spec.name, metric, runs, points.map((p) => p.config));
  writeFileSync(join(outDir, 'tune.json'), JSON.stringify({ ...table, spec: o.specPath, dataset: ds.name, device: r.device, stopped_by: r.stoppedBy ?? null }, null, 2) + '\n');
  const md = renderTuneMarkdown(table, { specPath: o.specPath, outDir, dataset: ds.name, device: r.device, stoppedBy: r.stoppedBy });
  writeFileSync(join(outDir, 'tune.md'), md);
  log('\n' + md);
  log(`wrote ${join(outDir, 'runs.jsonl')}, tune.md, tune.json`);
  return { table, ran: r.ran, outDir, stoppedBy: r.stoppedBy };
}

function parseCli(args: string[]): TuneOptions | undefined {
  const o: TuneOptions = { specPath: '' };
  const budget: TuneBudget = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') return undefined;
    if (a === '--report-only') {
      o.reportOnly = true;
      continue;
    }
    if (!['--spec', '--out', '--budget-runs', '--budget-minutes'].includes(a)) throw new Error(`unknown argument '${a}'. HINT:\n${USAGE}`);
    const v = args[++i];
    if (!v || v.startsWith('--')) throw new Error(`${a} needs a value. HINT:\n${USAGE}`);
    if (a === '--spec') o.specPath = v;
    else if (a === '--out') o.outDir = v;
    else {
      const n = Number(v);
      const ok = a === '--budget-runs' ? Number.isInteger(n) && n > 0 : Number.isFinite(n) && n > 0;
      if (!ok) throw new Error(`${a}: expected a ${a === '--budget-runs' ? 'whole number' : 'number'} > 0, got '${v}'. HINT: e.g. ${a} 10`);
      if (a === '--budget-runs') budget.runs = n;
      else budget.minutes = n;
    }
  }
  if (!o.specPath) throw new Error(`--spec is required. HINT:\n${USAGE}`);
  if (Object.keys(budget).length) o.budget = budget;
  return o;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const o = parseCli(process.argv.slice(2));
    if (!o) console.log(USAGE);
    else
      await runTune(o).catch((e: Error) => {
        console.error(`tune: ${e.message}`);
        process.exit(1);
      });
  } catch (e) {
    console.error(`tune: ${(e as Error).message}`);
    process.exit(1);
  }
}

export { parseCli as parseTuneCli, USAGE as TUNE_USAGE };
