// Benchmarks of the per-position sampled softmax's two paths (model/retrieval_loss.ts), each
// case in its own process, cases interleaved round by round so machine load hits all alike.
//   paths [rows=4096] [R=128] [d=50] [rounds=2]:
//     the loss alone (forward + backward, no encoder) on the catalogue and the gathered path at
//     several catalogue sizes: the data behind the cost rule's GATHER_COST.
//   loss-scale [items=10000,1000000] [rows=4096] [R=128] [d=64] [rounds=2]:
//     the gathered loss alone (forward + backward) at each catalogue size, same L and R.
//   scale [items=10000,1000000] [rows=4096] [R=128] [d=64] [rounds=2] [steps=3]:
//     whole HSTU training steps on synthetic batches (Zipf-ish items, B = rows/128 sequences of
//     128) at each catalogue size, same L and R, loss path by the config's cost rule; per round
//     the ratio of mean step times, then the ratio of the median steps over all rounds.
//   rows-variants [items=1682,10000,100000,1000000] [rows=4096] [R=128] [d=64] [reps=4]:
//     the gathered loss's passes per kernel (CPU ms of the process, each pass submitted and
//     waited for alone) with the rows pass forced to each variant, alternated in one process:
//     the data behind gatheredRowsVariant's rule.
// Usage: tsx scripts/bench-sampled-softmax.ts paths|scale|rows-variants [args...]; one JSON line
// per case and round, then a summary.
import { execFileSync } from 'node:child_process';
import { createGpu } from '../kernels/gpu/index.js';
import { EmbeddingTable } from '../kernels/embedding/embedding.js';
import { Rng } from '../kernels/testing/rng.js';
import type { GpuBatch } from '../model/batch.js';
import { applyOverrides, defaultConfig } from '../model/config.js';
import { createEncoder, type Encoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { recordRetrievalLoss } from '../model/retrieval_loss.js';
import { trainStep } from '../trainer/train.js';
import { settleGuard, type GuardOptions } from '../trainer/divergence.js';
import { planGatheredSlots, sampledSoftmaxGathered, type GatheredVariant } from '../kernels/sampled_softmax/sampled_softmax_gathered.js';
import { sampleNegativeIds } from '../kernels/sampled_softmax/negatives.js';
import { profileCommands } from './command_profile.js';

const [mode, ...rest] = process.argv.slice(2);
const num = (i: number, dflt: number) => (rest[i] !== undefined ? Number(rest[i]) : dflt);

async function lossCase(path: string, items: number, rows: number, R: number, d: number): Promise<number> {
  const gpu = await createGpu();
  const rng = new Rng(7);
  const c = applyOverrides(defaultConfig, { dim: d, numNegatives: R, sampledSoftmaxPath: path });
  const table = new EmbeddingTable(gpu, items + 1, d, 'items');
  table.upload(rng.f32((items + 1) * d));
  const out = gpu.f32(rng.f32(rows * d), [rows, d], 'out');
  const targets = Uint32Array.from({ length: rows }, () => rng.int(1, items));
  const enc = { items: table } as unknown as Encoder;
  const b = { L: rows } as GpuBatch;
  const times: number[] = [];
  for (let s = 0; s < 3; s++) {
    const t0 = performance.now();
    const rec = gpu.recorder('loss');
    const l = recordRetrievalLoss(rec, gpu, enc, out, b, targets, c, s);
    await rec.submit();
    await gpu.read(l.loss);
    l.release();
    times.push(performance.now() - t0);
  }
  table.dispose();
  gpu.dispose();
  return Math.min(...times.slice(1)); // step 0 compiles
}

/** Zipf-like item draws (exponent ~1 over ranks) as a user log would have. */
function zipfItems(rng: Rng, n: number, items: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = 1 + Math.min(items - 1, Math.floor(Math.exp(rng.next() * Math.log(items + 1)) - 1));
  return out;
}

async function scaleCase(items: number, rows: number, R: number, d: number, steps: number): Promise<{ msPerStep: number; tokensPerSec: number; cpuMsPerStep: number; stepMs: number[] }> {
  const gpu = await createGpu();
  const c = applyOverrides(defaultConfig, { dim: d, numNegatives: R, maxLen: 128, dropout: 0.2 });
  const enc = await createEncoder(gpu, c, items + 1, initParams(c, items, c.seed));
  const rng = new Rng(3);
  const B = Math.max(1, Math.round(rows / 128));
  const batch = () => {
    const seqOffsets = Uint32Array.from({ length: B + 1 }, (_, i) => i * 128);
    const seq = zipfItems(rng, B * 129, items);
    const itemsA = new Uint32Array(B * 128), targets = new Uint32Array(B * 128), timestamps = new Uint32Array(B * 128);
    for (let s = 0; s < B; s++) {
      for (let t = 0; t < 128; t++) {
        itemsA[s * 128 + t] = seq[s * 129 + t]!;
        targets[s * 128 + t] = seq[s * 129 + t + 1]!;
        timestamps[s * 128 + t] = 1_000_000 + 3600 * t;
      }
    }
    return { seqOffsets, items: itemsA, targets, timestamps };
  };
  await trainStep(gpu, enc, c, batch(), 0, c.lr, items + 1); // compiles
  // CPU time of the whole process (lavapipe's threads included) next to wall time: on a shared
  // machine it tracks the work done where wall time tracks the machine's load.
  // As the training loop runs: a fused item update's verdict arrives with the next step. The last
  // step's remaining device work and verdict are timed with it.
  const guard: GuardOptions = { keepPending: true };
  let ms = 0, tokens = 0, cpu = 0;
  const stepMs: number[] = [];
  for (let s = 1; s <= steps; s++) {
    const tb = batch();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await trainStep(gpu, enc, c, tb, s, c.lr, items + 1, guard);
    if (s === steps) {
      await settleGuard(guard);
      await gpu.sync();
    }
    const cu = process.cpuUsage(c0);
    stepMs.push(performance.now() - t0);
    ms += stepMs[stepMs.length - 1]!;
    cpu += (cu.user + cu.system) / 1000;
    tokens += tb.items.length;
  }
  enc.release();
  gpu.dispose();
  return { msPerStep: ms / steps, tokensPerSec: (1000 * tokens) / ms, cpuMsPerStep: cpu / steps, stepMs };
}

/** CPU ms per kernel of the gathered passes with the rows pass as `rowsVariant`, the variants
 *  alternated `reps` times on one table and one draw (uniform targets and negatives). */
async function rowsVariantsCase(items: number, rows: number, R: number, d: number, reps: number): Promise<Record<string, number[]>> {
  const gpu = await createGpu();
  const rng = new Rng(7);
  const K = R + 1;
  const table = new EmbeddingTable(gpu, items + 1, d, 'items');
  table.upload(rng.f32((items + 1) * d));
  const ids = new Uint32Array(rows * K);
  const neg = sampleNegativeIds(rows, R, items, 11);
  for (let r = 0; r < rows; r++) {
    ids[r * K] = rng.int(1, items);
    for (let j = 0; j < R; j++) ids[r * K + 1 + j] = neg[r * R + j]! + 1;
  }
  const plan = planGatheredSlots(ids, K, items + 1, undefined, table.shardRows);
  const U = plan.uniqueIds.length;
  const inp = {
    u: gpu.f32(rng.f32(rows * d), [rows, d], 'u'),
    items: { table, ids: gpu.upload(plan.uniqueIds, [U], 'u32', 'ids'), shardStarts: plan.shardStarts },
    slots: gpu.upload(plan.slots, [rows, K], 'u32', 'slots'),
    weights: gpu.f32(new Float32Array(rows).fill(1), [rows], 'w'),
    order: gpu.upload(plan.order, [plan.order.length], 'u32', 'order'),
    segOffsets: gpu.upload(plan.segOffsets, [U + 1], 'u32', 'seg'),
  };
  const out = { rowLoss: gpu.empty([rows], 'f32', 'row_loss'), dU: gpu.empty([rows, d], 'f32', 'du') };
  const cpu: Record<string, number[]> = {};
  for (let rep = 0; rep <= reps; rep++) {
    for (const rowsVariant of ['lane', 'subgroup'] as GatheredVariant[]) {
      let run: { release(): void; dItems: { release(): void } } | undefined;
      const prof = await profileCommands(gpu, async () => {
        const rec = gpu.recorder('rows');
        run = sampledSoftmaxGathered(rec, inp, { P: rows, K, U, d, temperature: 0.05 }, out, { rowsVariant });
        await rec.submit();
        await gpu.sync();
      });
      run!.release();
      run!.dItems.release();
      if (rep === 0) continue; // compiles
      for (const [name, t] of prof.times) if (name.startsWith('sampled_softmax_gathered_')) (cpu[`${rowsVariant}:${name.slice('sampled_softmax_gathered_'.length)}`] ??= []).push(t.cpu);
    }
  }
  table.dispose();
  gpu.dispose();
  return { U: [U], ...cpu };
}

function child(args: string[]): Record<string, number | string> {
  // This node with tsx (not npx: the GPU machine's kit, scripts/device-kit.sh, has no npm).
  const out = execFileSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 24 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

if (mode === 'child-loss') {
  const ms = await lossCase(rest[0]!, num(1, 0), num(2, 0), num(3, 0), num(4, 0));
  console.log(JSON.stringify({ ms }));
} else if (mode === 'child-scale') {
  console.log(JSON.stringify(await scaleCase(num(0, 0), num(1, 0), num(2, 0), num(3, 0), num(4, 3))));
} else if (mode === 'child-rows') {
  console.log(JSON.stringify(await rowsVariantsCase(num(0, 0), num(1, 0), num(2, 0), num(3, 0), num(4, 4))));
} else if (mode === 'rows-variants') {
  const sizes = (rest[0] ?? '1682,10000,100000,1000000').split(',').map(Number);
  const [rows, R, d, reps] = [num(1, 4096), num(2, 128), num(3, 64), num(4, 4)];
  for (const items of sizes) {
    const res = child(['child-rows', String(items), String(rows), String(R), String(d), String(reps)]) as unknown as Record<string, number[]>;
    const { U, ...passes } = res;
    const fmt = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return `${s[0]!.toFixed(0)}–${s[s.length - 1]!.toFixed(0)}`; };
    console.log(JSON.stringify({ items, rows, R, dim: d, distinct: U![0], cpu_ms: Object.fromEntries(Object.entries(passes).map(([k, v]) => [k, fmt(v)])) }));
  }
} else if (mode === 'paths') {
  const [rows, R, d, rounds] = [num(0, 4096), num(1, 128), num(2, 50), num(3, 2)];
  const sizes = [256, 512, 1024, 1682, 3200];
  const best = new Map<string, number>();
  for (let r = 0; r < rounds; r++) {
    for (const items of sizes) {
      for (const path of ['catalogue', 'gathered']) {
        const { ms } = child(['child-loss', path, String(items), String(rows), String(R), String(d)]) as { ms: number };
        console.log(JSON.stringify({ round: r, path, items, rows, R, d, ms: Number(ms.toFixed(1)) }));
        const k = `${items}|${path}`;
        best.set(k, Math.min(best.get(k) ?? Infinity, ms));
      }
    }
  }
  for (const items of sizes) {
    const cat = best.get(`${items}|catalogue`)!, gat = best.get(`${items}|gathered`)!;
    console.log(`items ${items}: catalogue ${cat.toFixed(0)} ms, gathered ${gat.toFixed(0)} ms, catalogue/gathered ${(cat / gat).toFixed(2)}`);
  }
} else if (mode === 'loss-scale') {
  const sizes = (rest[0] ?? '10000,1000000').split(',').map(Number);
  const [rows, R, d, rounds] = [num(1, 4096), num(2, 128), num(3, 64), num(4, 2)];
  for (let r = 0; r < rounds; r++) {
    const res = sizes.map((items) => {
      const { ms } = child(['child-loss', 'gathered', String(items), String(rows), String(R), String(d)]) as { ms: number };
      console.log(JSON.stringify({ round: r, path: 'gathered', items, rows, R, dim: d, loss_ms: Number(ms.toFixed(0)) }));
      return ms;
    });
    console.log(`round ${r}: loss time at ${sizes[sizes.length - 1]} items / at ${sizes[0]} items = ${(res[res.length - 1]! / res[0]!).toFixed(2)}`);
  }
} else if (mode === 'scale') {
  const sizes = (rest[0] ?? '10000,1000000').split(',').map(Number);
  const [rows, R, d, rounds, steps] = [num(1, 4096), num(2, 128), num(3, 64), num(4, 2), num(5, 3)];
  const ratios: number[] = [];
  // Every step's time per size over all rounds (a child's last step, which also waits for its
  // device work to end, left out): on a noisy machine the medians are the steadier comparison.
  const all = new Map<number, number[]>(sizes.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    const res = sizes.map((items) => {
      const x = child(['child-scale', String(items), String(rows), String(R), String(d), String(steps)]) as unknown as { msPerStep: number; tokensPerSec: number; cpuMsPerStep: number; stepMs: number[] };
      console.log(JSON.stringify({ round: r, items, rows, R, dim: d, ms_per_step: Number(x.msPerStep.toFixed(0)), tokens_per_s: Number(x.tokensPerSec.toFixed(0)), cpu_ms_per_step: Number(x.cpuMsPerStep.toFixed(0)), step_ms: x.stepMs.map(Math.round) }));
      all.get(items)!.push(...x.stepMs.slice(0, steps > 1 ? -1 : undefined));
      return x.msPerStep;
    });
    ratios.push(res[res.length - 1]! / res[0]!);
    console.log(`round ${r}: step time at ${sizes[sizes.length - 1]} items / at ${sizes[0]} items = ${ratios[r]!.toFixed(2)}`);
  }
  const median = (v: number[]) => { const t = [...v].sort((a, b) => a - b); return t.length % 2 ? t[(t.length - 1) / 2]! : (t[t.length / 2 - 1]! + t[t.length / 2]!) / 2; };
  const [lo, hi] = [all.get(sizes[0]!)!, all.get(sizes[sizes.length - 1]!)!];
  console.log(`all rounds: median step ${median(lo).toFixed(0)} ms at ${sizes[0]} items (${lo.length} steps), ${median(hi).toFixed(0)} ms at ${sizes[sizes.length - 1]} items (${hi.length}); ratio of medians ${(median(hi) / median(lo)).toFixed(2)}`);
} else {
  throw new Error(`bench-sampled-softmax: expected mode 'paths', 'loss-scale', 'scale' or 'rows-variants', got '${mode}'. HINT: see the usage at the top of scripts/bench-sampled-softmax.ts`);
}
