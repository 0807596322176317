// Profiles one ML-100K-sized training step: wall time of each recorded command run alone
// (own submit + sync), summed per kernel name, next to the wall time of the normal one-submit step.
// Usage: tsx scripts/profile-step.ts <u.data path> <config.json> [steps]
import { readFileSync } from 'node:fs';
import { createGpu } from '../kernels/gpu/index.js';
import { printProfile, profileCommands } from './command_profile.js';
import { applyOverrides, defaultConfig } from '../model/config.js';
import { createEncoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { loadInteractions, batchTrainSequences } from '../trainer/data/index.js';
import { prepareSplit, trainStep } from '../trainer/train.js';

const [path, cfgPath, stepsArg] = process.argv.slice(2);
if (!path || !cfgPath) throw new Error('usage: tsx scripts/profile-step.ts <u.data> <config.json> [steps]. HINT: pass the ML-100K u.data path and a config');
const c = applyOverrides(defaultConfig, JSON.parse(readFileSync(cfgPath, 'utf8')));
const data = await loadInteractions(path, 'ml-100k');
const split = prepareSplit(data, c);
const gpu = await createGpu();
const tableRows = data.numItems;
const enc = await createEncoder(gpu, c, tableRows, initParams(c, tableRows - 1, c.seed));
const batches = [...batchTrainSequences(split.train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch: 0 })];
const steps = Number(stepsArg ?? 3);
for (let s = 0; s < steps; s++) {
  const tb = batches[s % batches.length]!;
  const t0 = performance.now();
  const loss = await trainStep(gpu, enc, c, tb, s, c.lr, tableRows);
  console.log(`step ${s}: ${tb.items.length} tokens, loss ${loss.toFixed(4)}, ${(performance.now() - t0).toFixed(0)} ms`);
}
// Per-command profile of one more step.
const prof = await profileCommands(gpu, () => trainStep(gpu, enc, c, batches[0]!, steps, c.lr, tableRows), (cmd) => {
  let name = cmd.kind === 'dispatch' ? cmd.kernel!.name : 'copy';
  if (name.startsWith('matmul') && cmd.params && process.env.PROFILE_SHAPES) {
    const [m, n, k] = new Uint32Array(cmd.params, 0, 3);
    const ta = new Uint32Array(cmd.params, 20, 1)[0] === 1 && m !== 1 ? 'T' : '';
    name += ` ${m}x${n}x${k}${ta}`;
  }
  return name;
});
console.log(`profiled step: ${prof.wallMs.toFixed(0)} ms wall, ${prof.commandsMs.toFixed(0)} ms in commands`);
printProfile(prof);
enc.release();
gpu.dispose();
