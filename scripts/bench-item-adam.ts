// The item table's update in one gathered-loss step, fused (kernels/optim/item_adam: item
// gradient + row-wise Adam in one pass) against the unfused passes (in-place item gradient,
// addRowsAt of the input rows, rowwiseAdam 'fused_vec4'), alternated in one process. Each arm is
// the whole gathered loss (gather, rows pass) plus the update, every command submitted and waited
// for alone (scripts/command_profile.ts); CPU ms = process.cpuUsage() (lavapipe's threads
// included). `update` is the item update's commands only: item gradient, addRowsAt and row-wise
// Adam (unfused) or the fused pass; `all` every command of the arm.
// Usage: tsx scripts/bench-item-adam.ts [items=10000,1000000] [rows=4096] [R=128] [d=64] [reps=4]
// One JSON line per size, then a table.
import { createGpu, type Tensor } from '../kernels/gpu/index.js';
import { addRowsAt, EmbeddingTable, planDistinct } from '../kernels/embedding/embedding.js';
import { Rng } from '../kernels/testing/rng.js';
import { planGatheredSlots, sampledSoftmaxGathered } from '../kernels/sampled_softmax/sampled_softmax_gathered.js';
import { itemGradAdam } from '../kernels/optim/item_adam.js';
import { rowwiseAdam } from '../kernels/optim/optim.js';
import { printProfile, profileCommands } from './command_profile.js';

const args = process.argv.slice(2);
const sizes = (args[0] ?? '10000,1000000').split(',').map(Number);
const [P, R, d, reps] = [4096, 128, 64, 4].map((v, i) => (args[1 + i] !== undefined ? Number(args[1 + i]) : v)) as [number, number, number, number];
const K = R + 1;
const gpu = await createGpu();
const rows: string[] = [];
for (const items of sizes) {
  const rng = new Rng(11);
  const table = new EmbeddingTable(gpu, items + 1, d, 'items', { optimizerState: true });
  table.upload(rng.f32((items + 1) * d));
  const ids = Uint32Array.from({ length: P * K }, () => rng.int(1, items));
  const inputIds = Uint32Array.from(new Set(Array.from({ length: P }, () => rng.int(1, items)))).sort();
  const weights = new Float32Array(P).fill(1);
  const plan = planGatheredSlots(ids, K, items + 1, weights, table.shardRows, inputIds);
  const U = plan.uniqueIds.length;
  const at = Uint32Array.from(inputIds, (id) => { let lo = 0, hi = U; while (lo < hi) { const mid = (lo + hi) >>> 1; if (plan.uniqueIds[mid]! < id) lo = mid + 1; else hi = mid; } return lo; });
  const infoHost = new Uint32Array(2 * U);
  plan.uniqueIds.forEach((id, k) => (infoHost[2 * k] = id));
  at.forEach((k, j) => (infoHost[2 * k + 1] = j + 1));
  const fixed: Tensor[] = [];
  const t = <T extends Tensor>(x: T) => (fixed.push(x), x);
  const idsT = t(gpu.u32(plan.uniqueIds, [U], 'ids'));
  const inp = {
    u: t(gpu.f32(rng.f32(P * d), [P, d], 'u')),
    items: { table, ids: idsT, shardStarts: plan.shardStarts },
    slots: t(gpu.u32(plan.slots, [P, K], 'slots')),
    weights: t(gpu.f32(weights, [P], 'weights')),
    order: t(gpu.u32(plan.order, [plan.order.length], 'order')),
    segOffsets: t(gpu.u32(plan.segOffsets, [U + 1], 'seg')),
  };
  const csr = t(gpu.u32(Uint32Array.from([...plan.segOffsets, ...plan.order]), [U + 1 + plan.order.length], 'csr'));
  const info = t(gpu.u32(infoHost, [U, 2], 'rows'));
  const inSum = t(gpu.f32(rng.f32(inputIds.length * d, -0.1, 0.1), [inputIds.length, d], 'in_sum'));
  const atT = t(gpu.u32(at, [at.length], 'at'));
  const out = { rowLoss: t(gpu.empty([P], 'f32', 'row_loss')), dU: t(gpu.empty([P, d], 'f32', 'du')) };
  const rowSq = t(gpu.empty([U], 'f32', 'row_sq'));
  const shape = { P, K, U, d, temperature: 0.05 };
  const arms = {
    unfused: async (step: number) => {
      const rec = gpu.recorder('unfused');
      const run = sampledSoftmaxGathered(rec, inp, shape, { ...out, dItemsSq: rowSq });
      addRowsAt(rec, inSum, atT, at, d, run.dItems, rowSq);
      const dplan = planDistinct(gpu, plan.uniqueIds, items + 1, idsT);
      rowwiseAdam(rec, table, dplan, run.dItems, { lr: 1e-4, step });
      await rec.submit();
      await gpu.read(rowSq);
      run.dItems.release();
      run.release();
      dplan.release();
    },
    fused: async (step: number) => {
      const rec = gpu.recorder('fused');
      const run = sampledSoftmaxGathered(rec, inp, shape, out, { deferItemGrad: true });
      itemGradAdam(rec, table, { ...run.deferred, csr, rows: info, inSum, tableRows: plan.uniqueIds, K }, rowSq, { lr: 1e-4, step });
      await rec.submit();
      await gpu.read(rowSq);
      run.release();
    },
  };
  const got: Record<string, { update: number[]; all: number[] }> = { unfused: { update: [], all: [] }, fused: { update: [], all: [] } };
  let step = 1;
  for (const arm of ['unfused', 'fused'] as const) await arms[arm](step++); // compiles
  const isUpdate = (name: string) => /item_grad|add_rows_at|optim_/.test(name);
  for (let r = 0; r < reps; r++) {
    for (const arm of r % 2 ? (['fused', 'unfused'] as const) : (['unfused', 'fused'] as const)) {
      const prof = await profileCommands(gpu, () => arms[arm](step++));
      got[arm]!.update.push([...prof.times].filter(([n]) => isUpdate(n)).reduce((a, [, e]) => a + e.cpu, 0));
      got[arm]!.all.push(prof.commandsCpuMs);
      if (process.env.BENCH_VERBOSE) { console.log(`-- ${arm}, ${items} items`); printProfile(prof); }
    }
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const round = (v: number[]) => v.map(Math.round);
  console.log(JSON.stringify({ items, rows: P, R, dim: d, distinct: U, unfused_update_cpu_ms: round(got.unfused!.update), fused_update_cpu_ms: round(got.fused!.update), unfused_all_cpu_ms: round(got.unfused!.all), fused_all_cpu_ms: round(got.fused!.all) }));
  rows.push(`| ${items.toLocaleString('en')} (${U.toLocaleString('en')}) | ${med(got.unfused!.update).toFixed(0)} | ${med(got.fused!.update).toFixed(0)} | ${med(got.unfused!.all).toFixed(0)} | ${med(got.fused!.all).toFixed(0)} |`);
  fixed.forEach((x) => x.release());
  table.dispose();
}
console.log('\n| items (distinct rows) | update, unfused (CPU ms, median) | update, fused | all commands, unfused | all commands, fused |\n|---|---|---|---|---|');
rows.forEach((r) => console.log(r));
gpu.dispose();
