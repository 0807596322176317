// The tuner's table: finished runs grouped by config (every key but the seed), each config's
// validation metric as mean ± sd over its seeds, ranked; the best is the top config among those
// with every seed finished (a partly run config can only win when none is complete). Test numbers
// are shown beside, never used for the choice.
import type { Config } from '../model/config.js';
import type { RunRecord } from './sweep-run.js';
import { lowerIsBetter } from './sweep-spec.js';

export interface TuneRow {
  rank: number;
  /** The keys that vary across the spec's configs, with this config's values. */
  params: Record<string, unknown>;
  config: Omit<Config, 'seed'>;
  seeds: number[];
  seedsPlanned: number;
  complete: boolean;
  validation_mean: number;
  /** Sample standard deviation over seeds (0 with one seed). */
  validation_sd: number;
  validation: number[];
  test_mean: Record<string, number>;
  best_epochs: number[];
  wall_s: number;
}

export interface TuneTable {
  name: string;
  metric: string;
  direction: 'higher is better' | 'lower is better';
  rows: TuneRow[];
  best?: TuneRow;
  /** Set when no config has every seed finished and the best is a partial one. */
  note?: string;
}

/** Test metrics shown beside the choice (when present in the runs). */
const TEST_COLUMNS = ['hr@10', 'ndcg@10', 'hr@50', 'coverage@10', 'pop_pct@10', 'auc', 'ne'];

const configKey = (c: Config): string => {
  const { seed: _seed, ...rest } = c;
  return JSON.stringify(rest);
};

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));

/** Groups `runs` (finished points of the spec) by config; `planned` is every point's config. */
export function tuneTable(name: string, metric: string, runs: RunRecord[], planned: Config[]): TuneTable {
  const plannedSeeds = new Map<string, number>();
  for (const c of planned) plannedSeeds.set(configKey(c), (plannedSeeds.get(configKey(c)) ?? 0) + 1);
  // Keys whose value differs between planned configs: the table's parameter columns.
  const keys = Object.keys(planned[0] ?? {}).filter((k) => k !== 'seed' && new Set(planned.map((c) => JSON.stringify((c as Record<string, unknown>)[k]))).size > 1);
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const k = configKey(r.config);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(r);
  }
  const lower = lowerIsBetter(metric);
  const rows: TuneRow[] = [...groups.entries()].map(([k, rs]) => {
    rs.sort((a, b) => a.config.seed - b.config.seed);
    const v = rs.map((r) => r.validation[metric] ?? NaN);
    const testMean: Record<string, number> = {};
    for (const col of [metric, ...TEST_COLUMNS]) if (rs.every((r) => typeof r.test[col] === 'number')) testMean[col] = mean(rs.map((r) => r.test[col]!));
    const { seed: _seed, ...config } = rs[0]!.config;
    return {
      rank: 0,
      params: Object.fromEntries(keys.map((key) => [key, (rs[0]!.config as Record<string, unknown>)[key]])),
      config,
      seeds: rs.map((r) => r.config.seed),
      seedsPlanned: plannedSeeds.get(k) ?? rs.length,
      complete: rs.length >= (plannedSeeds.get(k) ?? rs.length),
      validation_mean: mean(v),
      validation_sd: sd(v),
      validation: v,
      test_mean: testMean,
      best_epochs: rs.map((r) => r.best_epoch),
      wall_s: rs.reduce((a, r) => a + r.wall_s, 0),
    };
  });
  // NaN (a run without the metric) sorts last whatever the direction.
  const score = (r: TuneRow) => (Number.isNaN(r.validation_mean) ? -Infinity : lower ? -r.validation_mean : r.validation_mean);
  rows.sort((a, b) => score(b) - score(a));
  rows.forEach((r, i) => (r.rank = i + 1));
  const complete = rows.filter((r) => r.complete && !Number.isNaN(r.validation_mean));
  const best = complete[0] ?? rows.find((r) => !Number.isNaN(r.validation_mean));
  const note = !complete.length && best ? `no config has all its seeds finished yet; the best so far (${best.seeds.length}/${best.seedsPlanned} seeds) is shown` : undefined;
  return { name, metric, direction: lower ? 'lower is better' : 'higher is better', rows, best, note };
}

const f4 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(4));

export function renderTuneMarkdown(t: TuneTable, o: { specPath: string; outDir: string; dataset: string; device: string; stoppedBy?: string }): string {
  const paramKeys = Object.keys(t.rows[0]?.params ?? {});
  const testCols = [...new Set([t.metric, ...TEST_COLUMNS])].filter((c) => t.rows.some((r) => c in r.test_mean));
  const lines = [
    `# Tuning: ${t.name}`,
    '',
    `Command: \`npm run tune -- --spec ${o.specPath} --out ${o.outDir}\`. Data: ${o.dataset}. Device: ${o.device}.`,
    '',
    `Picked by **validation ${t.metric}** (${t.direction}), mean over seeds at each run's best-validation epoch; test columns are means over the same runs, shown but not used for the choice.`,
    ...(o.stoppedBy ? ['', `Stopped early: ${o.stoppedBy}. Run the same command again to continue.`] : []),
    ...(t.note ? ['', `Note: ${t.note}.`] : []),
    '',
  ];
  if (t.best) {
    lines.push(`**Best:** ${paramKeys.length ? paramKeys.map((k) => `${k}=${JSON.stringify(t.best!.params[k])}`).join(', ') : 'the only config'} — validation ${t.metric} ${f4(t.best.validation_mean)} ± ${f4(t.best.validation_sd)} (sd over ${t.best.seeds.length} seeds), test ${t.metric} ${f4(t.best.test_mean[t.metric])}.`, '');
    lines.push('```json', JSON.stringify(t.best.config), '```', '');
  }
  lines.push(`| rank | ${[...paramKeys, 'seeds', `val ${t.metric} mean`, 'sd', 'best epochs', ...testCols.map((c) => `test ${c}`)].join(' | ')} |`);
  lines.push(`|${' --- |'.repeat(paramKeys.length + 5 + testCols.length)}`);
  for (const r of t.rows) {
    const cells = [
      `${r.rank}${r === t.best ? ' ★' : ''}`,
      ...paramKeys.map((k) => JSON.stringify(r.params[k])),
      `${r.seeds.length}/${r.seedsPlanned}`,
      f4(r.validation_mean),
      f4(r.validation_sd),
      r.best_epochs.join(', '),
      ...testCols.map((c) => f4(r.test_mean[c])),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}
