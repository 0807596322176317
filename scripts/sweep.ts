// Scaling-law sweeps. Stable interface:
//   npm run sweep -- --spec <file> --out <dir> [--report-only]
// Runs every point of the spec (scripts/sweep-spec.ts) through the trainer, appending one JSON
// line per finished run to <dir>/runs.jsonl; then fits the spec's metric against training FLOPs
// per model family (<dir>/fit.json), draws <dir>/scaling.{svg,png} and <dir>/loss_curves.{svg,png}
// and writes <dir>/report.md. Resumable: points already in runs.jsonl are skipped; a point that
// was interrupted has no line and is rerun from scratch in a clean directory.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { join } from 'node:path';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { fmtTime } from '../trainer/progress.js';
import { expandSpec, loadSpec, metricOf, type SweepPoint } from './sweep-spec.js';
import { epochFlops, loadDataset, runPoint, type LoadedDataset, type RunRecord } from './sweep-run.js';
import { fitRuns, plotFits, renderReport } from './report.js';
import { writePlots } from './plot.js';

const USAGE = `usage: npm run sweep -- --spec <file> --out <dir> [--report-only]
  --spec <file>    sweep spec (JSON; see scripts/sweeps/smoke.json and scripts/sweeps/default.json)
  --out <dir>      writes <dir>/runs.jsonl, fit.json, scaling.{svg,png}, loss_curves.{svg,png}, report.md
  --report-only    skip training; refit and redraw from the runs already in <dir>/runs.jsonl`;

export interface SweepOptions {
  specPath: string;
  outDir: string;
  reportOnly?: boolean;
  gpu?: Gpu;
  log?: (line: string) => void;
}

export interface SweepResult {
  runs: RunRecord[];
  /** Points trained by this invocation (the rest were already done). */
  ran: string[];
}

/** Finished runs in runs.jsonl. A torn last line (a crash mid-write) is dropped and the file repaired. */
export function readRuns(path: string, log: (s: string) => void = () => {}): RunRecord[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const runs: RunRecord[] = [];
  let goodChars = 0;
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') {
      goodChars += line.length + 1;
      continue;
    }
    try {
      runs.push(JSON.parse(line) as RunRecord);
      goodChars += line.length + 1;
    } catch {
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim())) {
        throw new Error(`${path}:${i + 1}: not valid JSON (and not the last line). HINT: remove that line; its point will be rerun`);
      }
      log(`${path}: dropping a torn last line (an interrupted write); its point will be rerun`);
      writeFileSync(path, text.slice(0, Math.min(goodChars, text.length)));
    }
  }
  return runs;
}

export const uptime = (): string => {
  try {
    return execSync('uptime', { encoding: 'utf8' }).trim().replace(/^.*load average/, 'load average');
  } catch {
    return 'unknown';
  }
};

/** What runPoints needs: the points in run order, the data, and where runs.jsonl lives. */
export interface PointsRun {
  /** Spec name (each record's `sweep`). */
  name: string;
  /** Log prefix, e.g. "sweep smoke" or "tune lr-grid". */
  label: string;
  points: SweepPoint[];
  ds: LoadedDataset;
  outDir: string;
  /** Metric shown in each run's "done" line (validation and test). */
  metric: string;
  /** Only counts the runs already done; runs nothing (the sweep's --report-only). */
  reportOnly?: boolean;
  /** Asked before each pending point; a reason stops the loop there (tune's run/minute budget). */
  stopBefore?: (finished: number) => string | undefined;
  gpu?: Gpu;
  log: (line: string) => void;
}

export interface PointsResult {
  /** Every finished run of `points` (earlier invocations' and this one's), by id. */
  done: Map<string, RunRecord>;
  ran: string[];
  /** Adapter of this invocation, or what the earlier runs say. */
  device: string;
  /** Why the loop stopped early, if it did. */
  stoppedBy?: string;
}

/**
 * The resumable run loop shared by the sweep and the tuner: points already in <outDir>/runs.jsonl
 * are skipped; every other point is trained (scripts/sweep-run.ts) and appended as one line.
 */
export async function runPoints(o: PointsRun): Promise<PointsResult> {
  const { name, label, points, ds, metric, log } = o;
  mkdirSync(o.outDir, { recursive: true });
  const runsPath = join(o.outDir, 'runs.jsonl');
  const done = new Map(readRuns(runsPath, log).map((r) => [r.id, r]));
  const stale = [...done.keys()].filter((id) => !points.some((p) => p.id === id));
  if (stale.length) log(`note: ${stale.length} run(s) in ${runsPath} are not points of this spec and are left out (e.g. ${stale[0]})`);
  for (const id of stale) done.delete(id);
  const pending = points.filter((p) => !done.has(p.id));
  log(`${label}: ${points.length} points (${points.length - pending.length} already done, ${pending.length} to run) on ${ds.name}`);

  const ran: string[] = [];
  let device = '';
  let stoppedBy: string | undefined;
  if (!o.reportOnly && pending.length) {
    // Planned compute per pending point, for the progress line.
    const cache = new Map<string, number[]>();
    const planned = (p: SweepPoint) => p.computeBudget ?? epochFlops(ds.data, p.config, 0, cache).total * p.config.epochs;
    const plan = pending.map(planned);
    const totalPlanned = plan.reduce((a, b) => a + b, 0);
    const gpu = o.gpu ?? (await createGpu());
    device = gpu.adapter.description;
    let flopsDone = 0;
    const tRuns = performance.now();
    try {
      for (const [k, p] of pending.entries()) {
        stoppedBy = o.stopBefore?.(done.size);
        if (stoppedBy) {
          log(`\n[${label}] stopping before point ${k + 1}/${pending.length}: ${stoppedBy}`);
          break;
        }
        const elapsed = (performance.now() - tRuns) / 1000;
        const eta = flopsDone > 0 ? (elapsed / flopsDone) * (totalPlanned - flopsDone) : NaN;
        log(`\n[${label}] point ${k + 1}/${pending.length} (${points.length} in the spec): ${p.id}  ` +
          `planned ${plan[k]!.toExponential(2)} FLOPs; ${((100 * flopsDone) / totalPlanned).toFixed(1)}% of planned FLOPs done, ` +
          `${fmtTime(elapsed)} elapsed, ETA ${Number.isFinite(eta) ? fmtTime(eta) : '?'} (by FLOPs)`);
        const rec = await runPoint(p, ds, name, join(o.outDir, 'runs', p.id), gpu, (s) => log(`  ${s}`));
        appendFileSync(runsPath, JSON.stringify(rec) + '\n');
        done.set(p.id, rec);
        ran.push(p.id);
        flopsDone += plan[k]!;
        log(`  done: ${rec.train_flops.toExponential(2)} FLOPs in ${rec.wall_s.toFixed(1)} s, ${Math.round(rec.train_tokens_per_s)} tokens/s, best epoch ${rec.best_epoch}: ` +
          `validation ${metric} ${(rec.validation[metric] ?? NaN).toFixed(4)}, test ${(rec.test[metric] ?? NaN).toFixed(4)}`);
      }
    } finally {
      if (!o.gpu) gpu.dispose();
    }
  } else if (o.reportOnly && pending.length) log(`report only: ${pending.length} point(s) not run yet are left out`);
  if (!ran.length) device = `not opened by this invocation; the runs say: ${[...new Set([...done.values()].map((r) => r.device))].join(', ')}`;
  return { done, ran, device, stoppedBy };
}

export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const log = o.log ?? ((s: string) => console.log(s));
  const t0 = performance.now();
  const loadBefore = uptime();
  const spec = loadSpec(o.specPath);
  const points = expandSpec(spec);
  const metric = metricOf(spec, points);
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, 'spec.json'), JSON.stringify(spec, null, 2) + '\n');
  const ds = await loadDataset(spec.dataset, log);
  const { done, ran, device } = await runPoints({ name: spec.name, label: `sweep ${spec.name}`, points, ds, outDir: o.outDir, metric, reportOnly: o.reportOnly, gpu: o.gpu, log });

  const runs = points.map((p) => done.get(p.id)).filter((r): r is RunRecord => r !== undefined);
  if (runs.length === 0) throw new Error(`sweep ${spec.name}: no finished runs to fit. HINT: run without --report-only`);
  const fit = fitRuns(runs, metric, spec.name);
  writeFileSync(join(o.outDir, 'fit.json'), JSON.stringify(fit, null, 2) + '\n');
  const plots = await writePlots(o.outDir, runs, metric, plotFits(fit), spec.name);
  const report = renderReport(runs, fit, {
    specPath: o.specPath,
    outDir: o.outDir,
    dataset: ds.name,
    fallbackNote: ds.fallbackNote,
    device,
    loadBefore,
    loadAfter: uptime(),
    sweepWallS: (performance.now() - t0) / 1000,
    plots,
  });
  writeFileSync(join(o.outDir, 'report.md'), report);
  for (const [family, f] of Object.entries(fit.families)) {
    if ('power' in f) log(`${family}: ${metric} ≈ ${f.power.a.toPrecision(3)}·C^${f.power.b.toPrecision(3)} (b in [${f.power.intervals.b.lo.toPrecision(3)}, ${f.power.intervals.b.hi.toPrecision(3)}], R² ${f.power.r2.toFixed(3)}); preferred: ${f.best}`);
    else log(`${family}: no fit (${f.error})`);
  }
  log(`wrote ${join(o.outDir, 'runs.jsonl')}, fit.json, ${plots.join(', ')}, report.md`);
  return { runs, ran };
}

function parseCli(args: string[]): SweepOptions | undefined {
  let specPath: string | undefined, outDir: string | undefined, reportOnly = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') return undefined;
    else if (a === '--spec' || a === '--out') {
      const v = args[++i];
      if (!v || v.startsWith('--')) throw new Error(`${a} needs a value\n${USAGE}`);
      if (a === '--spec') specPath = v;
      else outDir = v;
    } else if (a === '--report-only') reportOnly = true;
    else throw new Error(`unknown argument '${a}'. HINT:\n${USAGE}`);
  }
  if (!specPath || !outDir) throw new Error(`--spec and --out are required. HINT:\n${USAGE}`);
  return { specPath, outDir, reportOnly };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const o = parseCli(process.argv.slice(2));
    if (!o) console.log(USAGE);
    else
      await runSweep(o).catch((e: Error) => {
        console.error(`sweep: ${e.message}`);
        process.exit(1);
      });
  } catch (e) {
    console.error(`sweep: ${(e as Error).message}`);
    process.exit(1);
  }
}
