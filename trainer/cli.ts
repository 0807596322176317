// Command line: `train` and `eval`. Stable interface:
//   npm run train -- --data <path> --format <fmt> --config <file> [--key=value …] --out <dir> [--resume <ckpt>]
//   npm run eval  -- --checkpoint <file> --data <path> [--format <fmt>] [--ranks <file>]
import { defaultConfig, applyOverrides, loadConfigFile, parseOverrides, type Config } from '../model/config.js';
import { loadInteractions, generateSynthetic, type DataFormat, type Interactions } from './data/index.js';
import { parseSyntheticSpec, SYNTHETIC_KNOBS } from './data/synthetic.js';
import { loadCheckpoint } from './checkpoint.js';
import { train, toRecord, prepareSplit, type EvalRecord } from './train.js';

const FORMATS = ['auto', 'ml-1m', 'ml-100k', 'ratings-csv', 'sasrec', 'seq-per-line', 'csv', 'parquet'];

export const USAGE = `hstu-webgpu — train and evaluate HSTU / SASRec retrieval (default) and ranking (--task=ranking) models on the GPU (WebGPU)

usage:
  npm run train -- [--data <path> --format <fmt>] [--config <file>] [--key=value ...] [--out <dir>] [--resume <ckpt>]
  npm run eval  -- --checkpoint <file> --data <path> [--format <fmt>] [--ranks <file>]

options:
  --data <path>       interaction log; without it, the built-in synthetic dataset is used
  --synthetic k=v,... generate a synthetic log in process at any scale (Zipf item popularity,
                      drifting user interests, session timestamps), e.g.
                      --synthetic users=200000,items=10000000,events=50000000,seed=1; knobs:
${Object.entries(SYNTHETIC_KNOBS).map(([k, v]) => `                        ${k}: ${v}`).join('\n')}
  catalogues larger than the device: --embeddingStore=host keeps the item table and its row-wise
                      Adam state in host memory (bf16 with --embeddingBf16) behind a device LRU cache
                      of --deviceCacheRows rows (0 = auto; ≥ the rows one step touches, ≤ the table);
                      checkpoints then write <name>.stepN.rows beside <name>.hstu (keep them together);
                      --evalMaxUsers=n evaluates exact full ranking on the first n users only
  --store redis       the item table on a Redis Cluster (same as --embeddingStore=redis), the device
                      cache in front; dirty rows written back on eviction, every --storeWriteBackSteps
                      steps, and at checkpoints; the run's table is dropped at the end (the
                      checkpoint's rows file keeps the rows). Start a local cluster: npm run cluster -- start
  --redis <host:port> a node of the cluster (same as --redisAddress; default 127.0.0.1:7100)
  --workers <W>       fork W data-parallel workers (needs --store redis): each trains on its slice of
                      every global batch; dense gradients summed by an exact all-reduce
                      (--allReduceTransport ring: TCP between workers, the default; redis: through
                      the cluster); item rows by --embeddingSync: sync (default; all ranks' gradient
                      rows summed, one row-wise Adam per row per step: equals one worker with the
                      global batch), atomic | cas (asynchronous, Persia-style: each rank updates its
                      own rows as they come, no all-gather, no barrier; a row touched by k ranks gets
                      k updates, reads may miss other ranks' last step); rank 0 evaluates, writes --out
  --format <fmt>      ${FORMATS.join(' | ')} (default auto)
  --csv-user/--csv-item/--csv-time/--csv-rating <column>, --csv-delimiter <c>   columns for --format csv
                      and parquet (Parquet defaults: user, item, timestamp, rating if present)
  --config <file>     JSON config (see trainer/configs/); keys as below
  --out <dir>         writes <dir>/metrics.jsonl, <dir>/checkpoint.hstu (latest), <dir>/best.hstu
  --resume <ckpt>     continue training from a checkpoint, bit-exactly (either task; pass the config it was trained with)
  --max-steps <n>     stop after n optimizer steps
  --ooc               out of core (Parquet logs larger than memory): preprocess once into per-user
                      sequences on disk (cached, resumable), then stream them (trainer/ooc_train.ts)
  --cache-dir <dir>   --ooc cache root (default $HSTU_CACHE_DIR or ~/.cache/hstu-webgpu)
  --ooc-memory-mb <n> --ooc preprocessing memory budget for events (default 1024)
  --ranks <file>      eval: also write per-user results on validation and test as JSON (retrieval: the
                      target's rank; ranking: the like label and P(like)), for paired comparisons
                      of two models on the same users (npx tsx scripts/compare-runs.ts)
  --key=value         override any config key (type-checked; unknown keys are rejected):
${Object.entries(defaultConfig).map(([k, v]) => `                        ${k} (default ${JSON.stringify(v)})`).join('\n')}
`;

interface Parsed {
  flags: Map<string, string>;
  overrides: string[];
}

const VALUE_FLAGS = ['workers', 'store', 'redis', 'data', 'synthetic', 'format', 'config', 'out', 'resume', 'checkpoint', 'max-steps', 'ranks', 'csv-user', 'csv-item', 'csv-time', 'csv-rating', 'csv-delimiter', 'cache-dir', 'ooc-memory-mb'];

export function parseArgs(args: string[]): Parsed {
  const flags = new Map<string, string>();
  const overrides: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const name = a.replace(/^--/, '');
    if (VALUE_FLAGS.includes(name)) {
      const v = args[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value\n\n${USAGE}`);
      flags.set(name, v);
    } else if (a === '--help' || a === '-h') flags.set('help', '1');
    else if (a === '--ooc') flags.set('ooc', '1');
    else if (a.startsWith('--')) overrides.push(a);
    else throw new Error(`unexpected argument '${a}'. HINT: options start with --; see --help`);
  }
  return { flags, overrides };
}

export async function loadData(flags: Map<string, string>, c?: Config): Promise<Interactions> {
  const path = flags.get('data');
  const spec = flags.get('synthetic');
  if (spec !== undefined && path) throw new Error('--synthetic and --data exclude each other. HINT: pass one of them.');
  if (spec !== undefined) return generateSynthetic(parseSyntheticSpec(spec, c?.seed ?? 1));
  if (!path) return generateSynthetic({ seed: c?.seed ?? 1 });
  const format = (flags.get('format') ?? 'auto') as DataFormat;
  if (!FORMATS.includes(format)) throw new Error(`--format: expected one of ${FORMATS.join(', ')}, got '${format}'`);
  const csv = flags.has('csv-user')
    ? {
        delimiter: flags.get('csv-delimiter') ?? ',',
        userColumn: flags.get('csv-user')!,
        itemColumn: flags.get('csv-item') ?? 'item',
        timestampColumn: flags.get('csv-time'),
        ratingColumn: flags.get('csv-rating'),
      }
    : undefined;
  const parquet = { userColumn: flags.get('csv-user'), itemColumn: flags.get('csv-item'), timestampColumn: flags.get('csv-time'), ratingColumn: flags.get('csv-rating') };
  return loadInteractions(path, format, { csv: format === 'parquet' ? undefined : csv, parquet, onInfo: (m: string) => console.error(`data: ${m}`) } as Parameters<typeof loadInteractions>[2]);
}

export function buildConfig(flags: Map<string, string>, overrides: string[]): Config {
  const base = flags.has('config') ? loadConfigFile(flags.get('config')!) : defaultConfig;
  // --store / --redis are short forms of --embeddingStore / --redisAddress (issue 19's commands).
  const short = [...(flags.has('store') ? [`--embeddingStore=${flags.get('store')}`] : []), ...(flags.has('redis') ? [`--redisAddress=${flags.get('redis')}`] : [])];
  return applyOverrides(base, parseOverrides([...short, ...overrides]) as Record<string, unknown>, ' on the command line');
}

function fmtRow(name: string, r: EvalRecord): string {
  const f = (x: number) => x.toFixed(4);
  const beyond = typeof r['coverage@10'] === 'number' ? `  Cov@10 ${f(r['coverage@10'])}  PopPct@10 ${f(r['pop_pct@10'] as number)}` : '';
  return `${name.padEnd(12)} HR@10 ${f(r['hr@10'])}  HR@50 ${f(r['hr@50'])}  HR@200 ${f(r['hr@200'])}  NDCG@10 ${f(r['ndcg@10'])}  NDCG@200 ${f(r['ndcg@200'])}  MRR ${f(r.mrr)}${beyond}`;
}

export async function trainCommand(args: string[]): Promise<void> {
  const { flags, overrides } = parseArgs(args);
  if (flags.has('help')) return void console.log(USAGE);
  const c = buildConfig(flags, overrides);
  if (flags.has('workers')) {
    const W = Number(flags.get('workers'));
    if (!(Number.isInteger(W) && W >= 1)) throw new Error(`--workers: expected an integer ≥ 1, got ${flags.get('workers')}`);
    if (c.embeddingStore !== 'redis') throw new Error('--workers needs the item table on Redis. HINT: add --store redis (and npm run cluster -- start)');
    const { trainWithWorkers } = await import('./distributed/launch_train.js');
    return void (await trainWithWorkers(args, W, c.redisAddress));
  }
  if (flags.has('ooc')) return (await import('./ooc_cli.js')).trainOocCommand(c, flags);
  const data = await loadData(flags, c);
  const maxSteps = flags.has('max-steps') ? Number(flags.get('max-steps')) : undefined;
  if (maxSteps !== undefined && !(Number.isInteger(maxSteps) && maxSteps >= 0)) throw new Error(`--max-steps: expected an integer ≥ 0, got ${flags.get('max-steps')}`);
  const resume = flags.get('resume');
  const resumeCk = resume !== undefined ? loadCheckpoint(resume) : undefined;
  if (resumeCk && resumeCk.task !== c.task) {
    throw new Error(`--resume ${resume}: the checkpoint holds a '${resumeCk.task}' model, this run trains '${c.task}'. HINT: resume it with --task=${resumeCk.task} and the config it was trained with, or pass a ${c.task} checkpoint.`);
  }
  if (c.task === 'ranking') {
    const { trainRankingCommand } = await import('./ranking_cli.js');
    return trainRankingCommand(c, data, flags.get('out'), maxSteps, resume !== undefined ? { path: resume, checkpoint: resumeCk! } : undefined);
  }
  const r = await train({ config: c, data, outDir: flags.get('out'), resume, maxSteps });
  if (r.test && r.best) {
    console.log(`\ntest metrics at the best validation epoch (${r.best.epoch}), ${Math.round(r.trainTokensPerSec)} train tokens/s:`);
    console.log(fmtRow(c.model.toUpperCase(), r.test));
    if (r.popularity) console.log(fmtRow('popularity', r.popularity.test));
  }
  if (flags.get('out')) console.log(`\nwrote ${flags.get('out')}/metrics.jsonl, checkpoint.hstu, best.hstu`);
}

export async function evalCommand(args: string[]): Promise<void> {
  const { flags, overrides } = parseArgs(args);
  if (flags.has('help')) return void console.log(USAGE);
  if (overrides.length) throw new Error(`eval takes no config overrides (got ${overrides.join(' ')}); the checkpoint holds the config`);
  const path = flags.get('checkpoint');
  if (!path) throw new Error(`eval: --checkpoint <file> is required\n\n${USAGE}`);
  const ck = loadCheckpoint(path);
  if (ck.task === 'ranking') {
    const { evalRankingCommand } = await import('./ranking_cli.js');
    return evalRankingCommand(path, ck, await loadData(flags), flags.get('ranks'));
  }
  const c = applyOverrides(defaultConfig, ck.config);
  const data = await loadData(flags, c);
  if (data.numItems !== ck.itemRawIds.length) {
    throw new Error(`${path}: the checkpoint knows ${ck.itemRawIds.length - 1} items, the data has ${data.numItems - 1}. HINT: evaluate on the dataset the model was trained on.`);
  }
  for (let i = 1; i < data.numItems; i++) {
    if (String(data.itemRawIds[i]) !== ck.itemRawIds[i]) throw new Error(`${path}: item id mapping differs at dense id ${i} (checkpoint ${ck.itemRawIds[i]}, data ${data.itemRawIds[i]}). HINT: evaluate on the dataset the model was trained on.`);
  }
  const { evaluateCheckpoint } = await import('./evaluate_checkpoint.js');
  const split = prepareSplit(data, c);
  const res = await evaluateCheckpoint(ck, c, data, split, path);
  console.log(fmtRow('validation', toRecord('validation', ck.epoch, res.validation)));
  console.log(fmtRow('test', toRecord('test', ck.epoch, res.test)));
  const ranksPath = flags.get('ranks');
  if (ranksPath) {
    const { writeRanksFile } = await import('./ranks_file.js');
    writeRanksFile(ranksPath, { checkpoint: path, config: c, data, split, validation: res.validation, test: res.test });
    console.log(`wrote ${ranksPath}`);
  }
}

const [cmd, ...rest] = process.argv.slice(2);
if (import.meta.url === `file://${process.argv[1]}`) {
  const run = cmd === 'train' ? trainCommand : cmd === 'eval' ? evalCommand : null;
  if (!run) {
    console.log(USAGE);
    process.exit(cmd === undefined || cmd === '--help' ? 0 : 1);
  }
  run(rest).catch((e: Error) => {
    console.error(`error: ${e.message}`);
    process.exit(1);
  });
}
