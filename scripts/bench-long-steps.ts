// Training-step throughput vs sequence length N at a fixed number of tokens per batch (issue 17):
// for each N, B = tokens / N sequences of the log's longest histories (so each holds ~N tokens),
// one warm-up step that compiles the pipelines, then `steps` timed HSTU training steps. Each N runs
// in its own process (fresh device memory). Prints one JSON line per N and a table.
// Usage: tsx scripts/bench-long-steps.ts <log.parquet> [Ns=1024,2048,4096,8192] [tokens=8192] [steps=3] [key=value config overrides…]
//        (one child: tsx scripts/bench-long-steps.ts --child <log> <N> <tokens> <steps> [overrides…])
import { execFileSync } from 'node:child_process';
import { createGpu } from '../kernels/gpu/index.js';
import { applyOverrides, defaultConfig, parseOverrides } from '../model/config.js';
import { createEncoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { batchTrainSequences, loadInteractions, seqLength, type Sequences } from '../trainer/data/index.js';
import { prepareSplit, trainStep } from '../trainer/train.js';

/** The given users' rows of `s`, as their own Sequences. */
function subset(s: Sequences, users: number[]): Sequences {
  const offsets = new Uint32Array(users.length + 1);
  users.forEach((u, k) => (offsets[k + 1] = offsets[k]! + seqLength(s, u)));
  const out: Sequences = { numUsers: users.length, numItems: s.numItems, offsets, items: new Uint32Array(offsets[users.length]!), timestamps: new Uint32Array(offsets[users.length]!), ratings: new Float32Array(offsets[users.length]!) };
  users.forEach((u, k) => {
    const [a, b] = [s.offsets[u]!, s.offsets[u + 1]!];
    out.items.set(s.items.subarray(a, b), offsets[k]!);
    out.timestamps.set(s.timestamps.subarray(a, b), offsets[k]!);
    out.ratings.set(s.ratings.subarray(a, b), offsets[k]!);
  });
  return out;
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  const [, path, nArg, tokArg, stepsArg, ...overrides] = args as [string, string, string, string, string, ...string[]];
  const N = Number(nArg), B = Math.max(1, Math.floor(Number(tokArg) / N));
  const c = applyOverrides(defaultConfig, { dim: 64, ...(parseOverrides(overrides.map((o) => `--${o}`)) as Record<string, unknown>), maxLen: N, batchSize: B });
  const data = await loadInteractions(path, 'parquet', {});
  const split = prepareSplit(data, c);
  // The longest training histories, B per batch: each sequence is min(n − 1, N) tokens.
  const users = Array.from({ length: split.train.numUsers }, (_, u) => u).sort((a, b) => seqLength(split.train, b) - seqLength(split.train, a) || a - b);
  const steps = Number(stepsArg);
  const batches = [...batchTrainSequences(subset(split.train, users.slice(0, B * (steps + 1))), { batchSize: B, maxLen: N, shuffleSeed: c.seed, epoch: 0 })];
  const gpu = await createGpu();
  const rows = data.numItems;
  const enc = await createEncoder(gpu, c, rows, initParams(c, rows - 1, c.seed));
  let t = performance.now();
  await trainStep(gpu, enc, c, batches[0]!, 0, c.lr, rows); // warm-up: pipeline compilation
  const warmMs = performance.now() - t;
  let tokens = 0;
  t = performance.now();
  for (let s = 1; s <= steps; s++) {
    const tb = batches[s % batches.length]!;
    tokens += tb.items.length;
    await trainStep(gpu, enc, c, tb, s, c.lr, rows);
  }
  const ms = performance.now() - t;
  console.log(JSON.stringify({ N, B, steps, tokens, ms: Math.round(ms), msPerStep: Math.round(ms / steps), tokensPerSec: (1000 * tokens) / ms, warmUpMs: Math.round(warmMs) }));
  enc.release();
  gpu.dispose();
} else {
  const [path, ns = '1024,2048,4096,8192', tokens = '8192', steps = '3', ...overrides] = args;
  if (!path) throw new Error('usage: tsx scripts/bench-long-steps.ts <log.parquet> [Ns] [tokens] [steps] [key=value…]. HINT: write a log with npm run synth.');
  console.log('| N | B | tokens timed | steps | ms / step | tokens/s | warm-up step ms |\n|---|---|---|---|---|---|---|');
  for (const n of ns.split(',')) {
    const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1]!, '--child', path, n, tokens, steps, ...overrides], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    console.error(JSON.stringify(r));
    console.log(`| ${r.N} | ${r.B} | ${r.tokens} | ${r.steps} | ${r.msPerStep} | ${Math.round(r.tokensPerSec)} | ${r.warmUpMs} |`);
  }
}
