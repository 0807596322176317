// Writes a synthetic event log as Parquet, streaming (one row group per generated chunk), so
// 10⁹ events need no more memory than one chunk. Stable interface:
//   npm run synth -- --users U --items I --events E --out FILE.parquet [--seed S] [--max-len N] …
import { renameSync, rmSync, statSync } from 'node:fs';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import { fmtTime } from '../trainer/progress.js';
import { generateLog, SYNTH_DEFAULTS, type SynthLogOptions } from './synth-log.js';

export const USAGE = `usage: npm run synth -- --users U --items I --events E --out FILE.parquet [options]

Writes a synthetic, time-ordered event log (columns user INT32, item INT32, timestamp INT64
seconds, action INT32 1=view 2=click 3=purchase) as Parquet, streaming: Zipf item popularity,
interests drifting between ${SYNTH_DEFAULTS.clusters} item clusters, sessions, long-tailed history lengths.

  --users U          users (some may have no events when E / U is small)
  --items I          catalogue size
  --events E         exact number of events (rows)
  --out FILE         output file (written as FILE.tmp, renamed when complete)
  --seed S           (default ${SYNTH_DEFAULTS.seed})
  --max-len N        longest history (default ${SYNTH_DEFAULTS.maxLen})
  --min-len N        shortest history (default ${SYNTH_DEFAULTS.minLen})
  --length-sigma X   log-normal sigma of history lengths (default ${SYNTH_DEFAULTS.lengthSigma})
  --zipf X           popularity exponent (default ${SYNTH_DEFAULTS.zipf})
  --clusters K       interest clusters (default ${SYNTH_DEFAULTS.clusters})
  --row-group N      rows per row group (default ${SYNTH_DEFAULTS.chunkRows})
  --codec C          SNAPPY (default) or UNCOMPRESSED

Train on it: npm run train -- --data FILE.parquet   (or the out-of-core path: --ooc)`;

const FLAGS: Record<string, keyof SynthLogOptions | 'out' | 'codec'> = {
  users: 'users', items: 'items', events: 'events', out: 'out', seed: 'seed', 'max-len': 'maxLen', 'min-len': 'minLen',
  'length-sigma': 'lengthSigma', zipf: 'zipf', clusters: 'clusters', 'row-group': 'chunkRows', codec: 'codec',
};

export function parseSynthArgs(args: string[]): { opts: SynthLogOptions; out: string; codec: 'SNAPPY' | 'UNCOMPRESSED' } | 'help' {
  const v: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--help' || a === '-h') return 'help';
    const name = a.replace(/^--/, '');
    if (!a.startsWith('--') || !(name in FLAGS)) throw new Error(`synth: unknown argument '${a}'. HINT: see --help`);
    const val = args[++i];
    if (val === undefined) throw new Error(`synth: ${a} needs a value. HINT: see --help`);
    v[FLAGS[name]!] = val;
  }
  for (const req of ['users', 'items', 'events', 'out']) if (!(req in v)) throw new Error(`synth: --${req} is required.\n\n${USAGE}`);
  const num = (k: keyof SynthLogOptions, integer: boolean): number => {
    if (!(k in v)) return SYNTH_DEFAULTS[k as keyof typeof SYNTH_DEFAULTS];
    const x = Number(v[k]!.replace(/_/g, ''));
    if (!Number.isFinite(x) || (integer && !Number.isInteger(x)) || x < 0) throw new Error(`synth: expected ${k} to be a non-negative ${integer ? 'integer' : 'number'}, got '${v[k]}'. HINT: e.g. --events 1e8`);
    return x;
  };
  const codec = (v.codec ?? 'SNAPPY').toUpperCase();
  if (codec !== 'SNAPPY' && codec !== 'UNCOMPRESSED') throw new Error(`synth: --codec: expected SNAPPY or UNCOMPRESSED, got '${v.codec}'`);
  const opts: SynthLogOptions = {
    users: num('users', true), items: num('items', true), events: num('events', true), seed: num('seed', true),
    maxLen: num('maxLen', true), minLen: num('minLen', true), lengthSigma: num('lengthSigma', false), zipf: num('zipf', false),
    clusters: num('clusters', true), concurrentUsers: 0, chunkRows: num('chunkRows', true),
  };
  return { opts, out: v.out!, codec };
}

/** Writes the log; returns what was written. */
export async function writeSynthLog(opts: SynthLogOptions, out: string, codec: 'SNAPPY' | 'UNCOMPRESSED' = 'SNAPPY', log: (s: string) => void = () => {}): Promise<{ events: number; users: number; bytes: number }> {
  const tmp = `${out}.tmp`;
  const writer = new ParquetWriter({
    writer: fileWriter(tmp),
    codec,
    statistics: false,
    createdBy: 'hstu-webgpu synth',
    schema: [
      { name: 'root', num_children: 4 },
      { name: 'user', type: 'INT32', repetition_type: 'REQUIRED' },
      { name: 'item', type: 'INT32', repetition_type: 'REQUIRED' },
      { name: 'timestamp', type: 'INT64', repetition_type: 'REQUIRED' },
      { name: 'action', type: 'INT32', repetition_type: 'REQUIRED' },
    ],
    kvMetadata: [{ key: 'hstu.synth', value: JSON.stringify(opts) }],
  });
  const t0 = performance.now();
  let done = 0;
  let lastLog = 0;
  try {
    const r = await generateLog(opts, (c) => {
      const n = c.count;
      writer.write({
        rowGroupSize: n,
        columnData: [
          { name: 'user', data: c.users.subarray(0, n) },
          { name: 'item', data: c.items.subarray(0, n) },
          { name: 'timestamp', data: BigInt64Array.from(c.timestamps.subarray(0, n), (t) => BigInt(t)) },
          { name: 'action', data: c.actions.subarray(0, n) },
        ],
      });
      done += n;
      const el = (performance.now() - t0) / 1000;
      if (el - lastLog > 2 || done === opts.events) {
        lastLog = el;
        const rate = done / el;
        log(`synth: ${done.toLocaleString('en-US')} / ${opts.events.toLocaleString('en-US')} events (${(100 * done / opts.events).toFixed(1)}%), ${Math.round(rate).toLocaleString('en-US')} events/s, ETA ${fmtTime((opts.events - done) / rate)}`);
      }
    });
    writer.finish();
    renameSync(tmp, out);
    return { ...r, bytes: statSync(out).size };
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') throw new Error(`synth: the disk is full writing ${tmp} (removed). HINT: free space (df -h), write elsewhere with --out, or fewer --events.`);
    throw e;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    const p = parseSynthArgs(process.argv.slice(2));
    if (p === 'help') {
      console.log(USAGE);
    } else {
      const t0 = performance.now();
      const r = await writeSynthLog(p.opts, p.out, p.codec, (s) => console.error(s));
      const secs = (performance.now() - t0) / 1000;
      console.log(`wrote ${p.out}: ${r.events} events, ${r.users} users started, ${(r.bytes / 2 ** 20).toFixed(1)} MiB in ${secs.toFixed(1)} s (${Math.round(r.events / secs)} events/s)`);
    }
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  }
}
