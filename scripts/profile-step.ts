// Profiles one ML-100K-sized training step: wall time of each recorded command run alone
// (own submit + sync), summed per kernel name, next to the wall time of the normal one-submit step.
// Usage: tsx scripts/profile-step.ts <u.data path> <config.json> [steps]
import { readFileSync } from 'node:fs';
import { createGpu, Recorder } from '../kernels/gpu/index.js';
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
const times = new Map<string, { ms: number; n: number }>();
type Cmd = { kind: string; kernel?: { name: string }; params?: ArrayBuffer };
type Open = { cmds: Cmd[] };
const proto = Recorder.prototype as unknown as { submit: (this: Recorder) => Promise<void> };
const origSubmit = proto.submit;
proto.submit = async function (this: Recorder) {
  const self = this as unknown as Open;
  const cmds = self.cmds;
  self.cmds = [];
  for (const cmd of cmds) {
    self.cmds = [cmd];
    const t0 = performance.now();
    await origSubmit.call(this);
    await gpu.sync();
    const ms = performance.now() - t0;
    let name = cmd.kind === 'dispatch' ? cmd.kernel!.name : 'copy';
    if (name.startsWith('matmul') && cmd.params && process.env.PROFILE_SHAPES) {
      const [m, n, k] = new Uint32Array(cmd.params, 0, 3);
      const ta = new Uint32Array(cmd.params, 20, 1)[0] === 1 && m !== 1 ? 'T' : '';
      name += ` ${m}x${n}x${k}${ta}`;
    }
    const e = times.get(name) ?? { ms: 0, n: 0 };
    e.ms += ms;
    e.n++;
    times.set(name, e);
  }
};
const t0 = performance.now();
await trainStep(gpu, enc, c, batches[0]!, steps, c.lr, tableRows);
const total = performance.now() - t0;
const rows = [...times.entries()].sort((a, b) => b[1].ms - a[1].ms);
const sum = rows.reduce((a, [, e]) => a + e.ms, 0);
console.log(`profiled step: ${total.toFixed(0)} ms wall, ${sum.toFixed(0)} ms in commands`);
for (const [name, e] of rows) console.log(`${name.padEnd(40)} ${e.ms.toFixed(1).padStart(9)} ms  ${String(e.n).padStart(4)} calls  ${((100 * e.ms) / sum).toFixed(1)}%`);
enc.release();
gpu.dispose();
