// Profiles one whole HSTU training step on synthetic batches at a given catalogue size (the
// `scale` case of scripts/bench-sampled-softmax.ts): wall time of each recorded command run alone
// (own submit + sync), summed per kernel name; "host" is the step's wall time outside commands.
// Also the process's CPU time per command (lavapipe's threads included): on a loaded machine it
// tracks the work done where wall time tracks the load.
// Usage: tsx scripts/profile-step-synthetic.ts [items=1000000] [rows=4096] [R=128] [d=64]
import { createGpu } from '../kernels/gpu/index.js';
import { printProfile, profileCommands } from './command_profile.js';
import { Rng } from '../kernels/testing/rng.js';
import { applyOverrides, defaultConfig } from '../model/config.js';
import { createEncoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { trainStep } from '../trainer/train.js';

const [items, rows, R, d] = [1_000_000, 4096, 128, 64].map((v, i) => (process.argv[2 + i] !== undefined ? Number(process.argv[2 + i]) : v)) as [number, number, number, number];
const gpu = await createGpu();
const c = applyOverrides(defaultConfig, { dim: d, numNegatives: R, maxLen: 128, dropout: 0.2 });
const enc = await createEncoder(gpu, c, items + 1, initParams(c, items, c.seed));
const rng = new Rng(3);
const B = Math.max(1, Math.round(rows / 128));
const batch = () => {
  const seqOffsets = Uint32Array.from({ length: B + 1 }, (_, i) => i * 128);
  const draw = () => 1 + Math.min(items - 1, Math.floor(Math.exp(rng.next() * Math.log(items + 1)) - 1));
  const seq = Uint32Array.from({ length: B * 129 }, draw);
  const itemsA = new Uint32Array(B * 128), targets = new Uint32Array(B * 128), timestamps = new Uint32Array(B * 128);
  for (let s = 0; s < B; s++) for (let t = 0; t < 128; t++) {
    itemsA[s * 128 + t] = seq[s * 129 + t]!;
    targets[s * 128 + t] = seq[s * 129 + t + 1]!;
    timestamps[s * 128 + t] = 1_000_000 + 3600 * t;
  }
  return { seqOffsets, items: itemsA, targets, timestamps };
};
for (let s = 0; s < 2; s++) {
  const t0 = performance.now();
  await trainStep(gpu, enc, c, batch(), s, c.lr, items + 1);
  console.log(`step ${s}: ${(performance.now() - t0).toFixed(0)} ms`);
}
const tb = batch();
const prof = await profileCommands(gpu, () => trainStep(gpu, enc, c, tb, 2, c.lr, items + 1));
console.log(`profiled step at ${items} items: ${prof.wallMs.toFixed(0)} ms wall, ${prof.commandsMs.toFixed(0)} ms in commands; CPU ${prof.cpuMs.toFixed(0)} ms, ${prof.commandsCpuMs.toFixed(0)} ms in commands`);
printProfile(prof);
enc.release();
gpu.dispose();
