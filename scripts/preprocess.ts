// Preprocesses a Parquet event log into the out-of-core sequence cache without training (the
// same cache `npm run train -- --ooc` builds, reuses and resumes). Stable interface:
//   npm run preprocess -- --data FILE.parquet [--cache-dir DIR] [--ooc-memory-mb N] [--csv-user C …]
import { preprocessLog } from '../trainer/data/ooc/preprocess.js';

const USAGE = `usage: npm run preprocess -- --data FILE.parquet [--cache-dir DIR] [--ooc-memory-mb N]
                              [--csv-user C] [--csv-item C] [--csv-time C] [--csv-rating C]
Builds (or reuses, or resumes) the per-user sequence cache of a Parquet log, with memory for
events bounded by --ooc-memory-mb (default 1024); prints where it is.`;

const flags = new Map<string, string>();
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--help' || args[i] === '-h') {
    console.log(USAGE);
    process.exit(0);
  }
  const name = args[i]!.replace(/^--/, '');
  if (!['data', 'cache-dir', 'ooc-memory-mb', 'csv-user', 'csv-item', 'csv-time', 'csv-rating'].includes(name) || args[i + 1] === undefined) {
    console.error(`error: unexpected argument '${args[i]}'. HINT: see --help\n\n${USAGE}`);
    process.exit(1);
  }
  flags.set(name, args[++i]!);
}
if (!flags.has('data')) {
  console.error(`error: --data is required\n\n${USAGE}`);
  process.exit(1);
}
const columns: Record<string, string> = {};
for (const [flag, key] of [['csv-user', 'userColumn'], ['csv-item', 'itemColumn'], ['csv-time', 'timestampColumn'], ['csv-rating', 'ratingColumn']] as const) {
  if (flags.has(flag)) columns[key] = flags.get(flag)!;
}
const t0 = performance.now();
try {
  const r = await preprocessLog(flags.get('data')!, {
    cacheDir: flags.get('cache-dir'),
    memoryMB: flags.has('ooc-memory-mb') ? Number(flags.get('ooc-memory-mb')) : undefined,
    columns,
    onInfo: (m) => console.error(m),
  });
  const secs = (performance.now() - t0) / 1000;
  console.log(`${r.reused ? 'reused' : 'built'} ${r.dir}: ${r.meta.count} events, ${r.meta.numUsers} users, ${r.meta.numItems - 1} items in ${secs.toFixed(1)} s (${Math.round(r.meta.count / secs)} events/s)`);
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
}
