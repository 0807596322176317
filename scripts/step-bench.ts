// Side-by-side training-step throughput of this checkout and another one (e.g. the previous
// main), interleaved in one run so machine load hits both alike: each round runs `steps` HSTU
// training steps on real ML-100K batches in each checkout (a fresh process each, after one
// warm-up step that compiles the pipelines) and prints tokens/s; the ratio is taken per round.
// Usage: tsx scripts/step-bench.ts <u.data> <config.json> <other checkout> [rounds=3] [steps=4]
//        (one round child: tsx scripts/step-bench.ts --child <root> <u.data> <config.json> <steps>)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
if (args[0] === '--child') {
  const [, root, path, cfgPath, stepsArg] = args as [string, string, string, string, string];
  const imp = (p: string) => import(pathToFileURL(resolve(root, p)).href);
  const { createGpu } = await imp('kernels/gpu/index.ts');
  const { applyOverrides, defaultConfig } = await imp('model/config.ts');
  const { createEncoder } = await imp('model/encoder.ts');
  const { initParams } = await imp('model/params.ts');
  const { loadInteractions, batchTrainSequences } = await imp('trainer/data/index.ts');
  const { prepareSplit, trainStep } = await imp('trainer/train.ts');
  const c = applyOverrides(defaultConfig, JSON.parse(readFileSync(cfgPath, 'utf8')));
  const data = await loadInteractions(path, 'ml-100k');
  const split = prepareSplit(data, c);
  const gpu = await createGpu();
  const rows = data.numItems;
  const enc = await createEncoder(gpu, c, rows, initParams(c, rows - 1, c.seed));
  const batches = [...batchTrainSequences(split.train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch: 0 })];
  await trainStep(gpu, enc, c, batches[0], 0, c.lr, rows); // warm-up: pipeline compilation
  let tokens = 0;
  // As the training loop runs (a fused item update's verdict arrives with the next step; older
  // checkouts ignore keepPending); the last step's device work and verdict are timed.
  const guard: { keepPending: boolean; pending?: Promise<void> } = { keepPending: true };
  const t0 = performance.now();
  for (let s = 1; s <= Number(stepsArg); s++) {
    const tb = batches[s % batches.length];
    tokens += tb.items.length;
    await trainStep(gpu, enc, c, tb, s, c.lr, rows, guard);
  }
  await guard.pending;
  await gpu.sync();
  const ms = performance.now() - t0;
  console.log(JSON.stringify({ tokens, ms, tokensPerSec: (1000 * tokens) / ms }));
  enc.release();
  gpu.dispose();
} else {
  const [path, cfgPath, other, roundsArg, stepsArg] = args;
  if (!path || !cfgPath || !other) throw new Error('usage: tsx scripts/step-bench.ts <u.data> <config.json> <other checkout> [rounds] [steps]. HINT: pass the ML-100K u.data, a config and e.g. a worktree of the previous main');
  const self = resolve(new URL('..', import.meta.url).pathname);
  const run = (root: string) => {
    const out = execFileSync('npx', ['tsx', new URL(import.meta.url).pathname, '--child', root, path, resolve(cfgPath), stepsArg ?? '4'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return JSON.parse(out.trim().split('\n').pop()!) as { tokens: number; ms: number; tokensPerSec: number };
  };
  const ratios: number[] = [];
  for (let r = 0; r < Number(roundsArg ?? 3); r++) {
    const base = run(resolve(other));
    const mine = run(self);
    ratios.push(mine.tokensPerSec / base.tokensPerSec);
    console.log(`round ${r}: other ${base.tokensPerSec.toFixed(0)} tokens/s, this ${mine.tokensPerSec.toFixed(0)} tokens/s, ratio ${ratios[r]!.toFixed(2)}`);
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  console.log(`median ratio ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} over ${ratios.length} rounds`);
}
