// `npm run train -- --ooc …`: the out-of-core path of the train command (kept out of cli.ts).
import type { Config } from '../model/config.js';
import { trainOutOfCore } from './ooc_train.js';

export async function trainOocCommand(c: Config, flags: Map<string, string>): Promise<void> {
  const data = flags.get('data');
  if (!data) throw new Error('--ooc needs --data <file.parquet>. HINT: make one with npm run synth.');
  const format = flags.get('format') ?? 'auto';
  if (format !== 'auto' && format !== 'parquet') throw new Error(`--ooc reads Parquet logs, got --format ${format}. HINT: convert the log to Parquet, or train in memory without --ooc.`);
  const mem = flags.has('ooc-memory-mb') ? Number(flags.get('ooc-memory-mb')) : undefined;
  if (mem !== undefined && !(mem >= 16)) throw new Error(`--ooc-memory-mb: expected a number ≥ 16, got ${flags.get('ooc-memory-mb')}`);
  const maxSteps = flags.has('max-steps') ? Number(flags.get('max-steps')) : undefined;
  if (maxSteps !== undefined && !(Number.isInteger(maxSteps) && maxSteps >= 0)) throw new Error(`--max-steps: expected an integer ≥ 0, got ${flags.get('max-steps')}`);
  const columns = { userColumn: flags.get('csv-user'), itemColumn: flags.get('csv-item'), timestampColumn: flags.get('csv-time'), ratingColumn: flags.get('csv-rating') };
  for (const k of Object.keys(columns) as (keyof typeof columns)[]) if (columns[k] === undefined) delete columns[k];
  const r = await trainOutOfCore({
    config: c,
    data,
    ooc: { cacheDir: flags.get('cache-dir'), memoryMB: mem, columns },
    outDir: flags.get('out'),
    resume: flags.get('resume'),
    maxSteps,
    log: (s) => console.error(s),
  });
  console.log(`\nout-of-core training: ${r.step} steps, ${Math.round(r.trainTokensPerSec)} train tokens/s, data position epoch ${r.dataPosition.epoch} batch ${r.dataPosition.batchInEpoch}`);
  if (r.test && r.best) console.log(`test (sampled users) at the best validation epoch ${r.best.epoch}: HR@10 ${r.test['hr@10'].toFixed(4)} NDCG@10 ${r.test['ndcg@10'].toFixed(4)}`);
}
