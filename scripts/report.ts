// fit.json and report.md of a sweep: per model family, the fitted scaling laws of the spec's
// metric against training FLOPs (power law and, where it fits better, the saturating form) with
// R² and confidence intervals; then the plots and one table row per run.
import { fitScaling, type Fit, type PowerLawFit, type SaturatingFit } from './fit.js';
import type { RunRecord } from './sweep-run.js';
import { lowerIsBetter } from './sweep-spec.js';

export interface FamilyFit {
  n: number;
  compute_range: [number, number];
  /** log10(max C / min C). */
  orders_of_magnitude: number;
  power: PowerLawFit;
  saturating: SaturatingFit | null;
  best: 'power' | 'saturating';
  /** The preferred fit's R² (log space) and exponent (b for the power law, −c for the saturating form's approach). */
  r2: number;
}

export interface FitFile {
  sweep: string;
  metric: string;
  x: 'train_flops';
  level: number;
  families: Record<string, FamilyFit | { n: number; error: string }>;
}

export function fitRuns(runs: RunRecord[], metric: string, sweep: string, level = 0.95): FitFile {
  const families: FitFile['families'] = {};
  for (const family of [...new Set(runs.map((r) => r.family))].sort()) {
    const rs = runs.filter((r) => r.family === family);
    const C = rs.map((r) => r.train_flops), y = rs.map((r) => r.test[metric] ?? NaN);
    try {
      const f = fitScaling(C, y, level, lowerIsBetter(metric));
      const lo = Math.min(...C), hi = Math.max(...C);
      families[family] = {
        n: rs.length,
        compute_range: [lo, hi],
        orders_of_magnitude: Math.log10(hi / lo),
        power: f.power,
        saturating: f.saturating ?? null,
        best: f.best,
        r2: f.best === 'saturating' ? f.saturating!.r2 : f.power.r2,
      };
    } catch (e) {
      families[family] = { n: rs.length, error: (e as Error).message };
    }
  }
  return { sweep, metric, x: 'train_flops', level, families };
}

/** Each family's fits for the plot, the preferred one first. */
export function plotFits(f: FitFile): Record<string, Fit[]> {
  const out: Record<string, Fit[]> = {};
  for (const [k, v] of Object.entries(f.families)) {
    if (!('power' in v)) continue;
    const both: Fit[] = v.saturating ? [v.power, v.saturating] : [v.power];
    out[k] = v.best === 'saturating' ? both.reverse() : both;
  }
  return out;
}

const g = (x: number, digits = 3) => (Number.isFinite(x) ? Number(x.toPrecision(digits)).toString() : String(x));
const e = (x: number) => x.toExponential(2);
const iv = (i: { lo: number; hi: number }, fmt = g) => `[${fmt(i.lo)}, ${fmt(i.hi)}]`;

export interface ReportContext {
  specPath: string;
  outDir: string;
  dataset: string;
  fallbackNote?: string;
  device: string;
  loadBefore: string;
  loadAfter: string;
  sweepWallS: number;
  plots: string[];
}

export function renderReport(runs: RunRecord[], fit: FitFile, ctx: ReportContext): string {
  const m = fit.metric;
  const lines: string[] = [];
  lines.push(`# Scaling sweep \`${fit.sweep}\``, '');
  lines.push(`Command: \`npm run sweep -- --spec ${ctx.specPath} --out ${ctx.outDir}\``, '');
  lines.push(`- Data: ${ctx.dataset}${ctx.fallbackNote ? ` — **${ctx.fallbackNote}**` : ''}`);
  lines.push(`- Device: ${ctx.device}`);
  lines.push(`- Machine load (\`uptime\`) at the start of this invocation: ${ctx.loadBefore}; at the end: ${ctx.loadAfter}`);
  const loads = runs.flatMap((r) => r.load_avg ?? []);
  if (loads.length) lines.push(`- 1-minute load average during the runs: ${Math.min(...loads).toFixed(1)} – ${Math.max(...loads).toFixed(1)} (start and end of each run)`);
  lines.push(`- Runs: ${runs.length}; wall time of the runs (sum): ${(runs.reduce((a, r) => a + r.wall_s, 0) / 60).toFixed(1)} min; this invocation: ${(ctx.sweepWallS / 60).toFixed(1)} min`);
  lines.push(`- Compute C = analytic training FLOPs of the whole run (model/flops.ts: forward + backward products, causal pairs, jagged lengths). Metric: test ${m} at the best-validation epoch.`, '');
  lines.push(`## Fits of ${m} against C (least squares in log space, ${Math.round(fit.level * 100)}% intervals)`, '');
  const satForm = lowerIsBetter(m) ? 'a + b·C^(−c)' : 'a − b·C^(−c)';
  lines.push(`| model | runs | C range (orders of magnitude) | power law a·C^b: a | b (exponent) | R² | preferred | saturating ${satForm}: a | b | c | R² |`);
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [family, f] of Object.entries(fit.families)) {
    if (!('power' in f)) {
      lines.push(`| ${family} | ${f.n} | – | fit failed: ${f.error} | | | | | | | |`);
      continue;
    }
    const p = f.power, s = f.saturating;
    const sat = s ? `${g(s.a)} ${iv(s.intervals.a)} | ${g(s.b)} ${iv(s.intervals.b)} | ${g(s.c)} ${iv(s.intervals.c)} | ${g(s.r2)}` : `${f.n < 5 ? 'not fitted (needs ≥ 5 runs)' : 'no valid fit (a, b, c > 0)'} | | |`;
    lines.push(`| ${family} | ${f.n} | ${e(f.compute_range[0])} – ${e(f.compute_range[1])} (${f.orders_of_magnitude.toFixed(2)}) | ${g(p.a)} ${iv(p.intervals.a)} | **${g(p.b)}** ${iv(p.intervals.b)} | ${g(p.r2)} | ${f.best} | ${sat} |`);
  }
  lines.push('', 'R² is in log space for both forms; the saturating form is preferred only when its adjusted R² is higher.', '');
  lines.push('## Plots', '');
  for (const p of ctx.plots.filter((x) => x.endsWith('.png'))) lines.push(`![${p}](${p})`, '');
  lines.push(`SVG versions: ${ctx.plots.filter((x) => x.endsWith('.svg')).map((x) => `[${x}](${x})`).join(', ')}`, '');
  lines.push('## Runs', '');
  const cols = runs[0]?.task === 'ranking' ? ['auc', 'ne', 'logloss', 'rmse'] : ['hr@10', 'ndcg@10', 'mrr'];
  lines.push(`| run | model | layers | d | heads | N | epochs | params (emb / non-emb) | train FLOPs | wall s | tokens/s | best epoch | ${cols.map((k) => `test ${k.toUpperCase()}`).join(' | ')} |`);
  lines.push(`|${'---|'.repeat(12 + cols.length)}`);
  for (const r of [...runs].sort((a, b) => a.family.localeCompare(b.family) || a.train_flops - b.train_flops)) {
    const c = r.config;
    lines.push(`| ${r.id} | ${r.family} | ${c.numLayers} | ${c.dim} | ${c.numHeads} | ${c.maxLen} | ${r.epochs} | ${r.params.embedding} / ${r.params.nonEmbedding} | ${e(r.train_flops)} | ${r.wall_s.toFixed(1)} | ${Math.round(r.train_tokens_per_s)} | ${r.best_epoch} | ${cols.map((k) => (r.test[k] ?? NaN).toFixed(4)).join(' | ')} |`);
  }
  const base = runs.find((r) => r.baselines_test)?.baselines_test;
  if (base) for (const [name, b] of Object.entries(base)) lines.push('', `Baseline ${name} (same split): ${cols.map((k) => `test ${k.toUpperCase()} ${(b[k] ?? NaN).toFixed(4)}`).join(', ')}.`);
  const pop = runs.find((r) => r.popularity_test)?.popularity_test;
  if (pop) lines.push('', `Popularity baseline (same split): test HR@10 ${pop['hr@10']!.toFixed(4)}, NDCG@10 ${pop['ndcg@10']!.toFixed(4)}, MRR ${pop.mrr!.toFixed(4)}.`);
  lines.push('', 'Every run: `runs.jsonl` (config, parameter counts, FLOPs per epoch by kind, wall time, tokens/s, all metrics at the best-validation epoch, per-step losses, validation curve).', '');
  return lines.join('\n');
}
