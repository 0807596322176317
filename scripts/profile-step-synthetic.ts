// Profiles one whole HSTU training step on synthetic batches at a given catalogue size (the
// `scale` case of scripts/bench-sampled-softmax.ts): wall time of each recorded command run alone
// (own submit + sync), summed per kernel name; "host" is the step's wall time outside commands.
// Also the process's CPU time per command (lavapipe's threads included): on a loaded machine it
// tracks the work done where wall time tracks the load.
// Usage: tsx scripts/profile-step-synthetic.ts [items=1000000] [rows=4096] [R=128] [d=64]
import { createGpu, Recorder } from '../kernels/gpu/index.js';
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
const times = new Map<string, { ms: number; n: number; cpu: number }>();
const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
type Open = { cmds: { kind: string; kernel?: { name: string } }[] };
const proto = Recorder.prototype as unknown as { submit: (this: Recorder) => Promise<void> };
const origSubmit = proto.submit;
proto.submit = async function (this: Recorder) {
  const self = this as unknown as Open;
  const cmds = self.cmds;
  self.cmds = [];
  for (const cmd of cmds) {
    self.cmds = [cmd];
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await origSubmit.call(this);
    await gpu.sync();
    const name = cmd.kind === 'dispatch' ? cmd.kernel!.name : 'copy';
    const e = times.get(name) ?? { ms: 0, n: 0, cpu: 0 };
    e.ms += performance.now() - t0;
    e.cpu += cpuMs(process.cpuUsage(c0));
    e.n++;
    times.set(name, e);
  }
};
const tb = batch();
const t0 = performance.now();
const c0 = process.cpuUsage();
await trainStep(gpu, enc, c, tb, 2, c.lr, items + 1);
const total = performance.now() - t0;
const totalCpu = cpuMs(process.cpuUsage(c0));
const sum = [...times.values()].reduce((a, e) => a + e.ms, 0);
const sumCpu = [...times.values()].reduce((a, e) => a + e.cpu, 0);
times.set('host (outside commands)', { ms: total - sum, n: 1, cpu: totalCpu - sumCpu });
console.log(`profiled step at ${items} items: ${total.toFixed(0)} ms wall, ${sum.toFixed(0)} ms in commands; CPU ${totalCpu.toFixed(0)} ms, ${sumCpu.toFixed(0)} ms in commands`);
for (const [name, e] of [...times.entries()].sort((a, b) => b[1].ms - a[1].ms)) console.log(`${name.padEnd(40)} ${e.ms.toFixed(1).padStart(9)} ms  ${String(e.n).padStart(4)} calls  ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  CPU ${e.cpu.toFixed(1).padStart(8)} ms`);
enc.release();
gpu.dispose();
