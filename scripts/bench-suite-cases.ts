// The kernel cases of the micro-benchmark suite: every kernel a training step (and the full-ranking
// evaluation) of the configured model records, at that model's real shapes — L tokens of a real
// jagged batch (the data's first training batch), d, H, dqk, dv, N, R, the item count. Each case
// builds its inputs once, checks its output (against the float64 reference for every forward and
// the layer-norm backward, scatter-add and AdamW; finite and un-poisoned for the remaining
// backward outputs, the gate, row-wise Adam and the rank, whose own benches check them), and returns a timed closure with its
// napkin-math FLOPs and bytes (each operand moved once), so rows are comparable across runs.
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { matmul } from '../kernels/matmul/matmul.js';
import { matmulRef } from '../kernels/matmul/matmul.ref.js';
import { hstuAttention, hstuAttentionBackward } from '../kernels/hstu_attention/hstu_attention.js';
import { attentionRef } from '../kernels/hstu_attention/hstu_attention.ref.js';
import { softmaxAttention, softmaxAttentionBackward } from '../kernels/softmax_attention/softmax_attention.js';
import { softmaxAttentionRef } from '../kernels/softmax_attention/softmax_attention.ref.js';
import { layerNorm, layerNormBackward, gateForward, gateBackward } from '../kernels/layer_norm/layer_norm.js';
import { layerNormBackwardRef, layerNormRef } from '../kernels/layer_norm/layer_norm.ref.js';
import { silu, add } from '../kernels/elementwise/elementwise.js';
import { siluSplit, siluConcatBackward } from '../kernels/silu_split/silu_split.js';
import { columnSum } from '../kernels/reduce/reduce.js';
import { siluRef } from '../kernels/elementwise/elementwise.ref.js';
import { sampledSoftmaxLoss, sampledSoftmaxBackward, DEFAULT_EPS } from '../kernels/sampled_softmax/sampled_softmax.js';
import { sampledSoftmaxRef } from '../kernels/sampled_softmax/sampled_softmax.ref.js';
import { EmbeddingTable, gatherRows, planScatter, scatterAddRows } from '../kernels/embedding/embedding.js';
import { scatterAddRef } from '../kernels/embedding/embedding.ref.js';
import { adamW, rowwiseAdam } from '../kernels/optim/optim.js';
import { adamWRef } from '../kernels/optim/optim.ref.js';
import { rankTargets } from '../kernels/rank/rank.js';
import { compare } from '../kernels/testing/compare.js';
import { poison } from '../kernels/testing/poison.js';
import { Rng } from '../kernels/testing/rng.js';
import { resolvedDqk, resolvedDv, type Config } from '../model/config.js';
import { paramCounts } from '../model/flops.js';

export interface ModelShapes {
  /** Which config (e.g. "hstu ml-100k"). */
  name: string;
  config: Config;
  /** seq_offsets of the real batch. */
  offsets: Uint32Array;
  /** Item-table rows (incl. padding 0). */
  tableRows: number;
}

export interface Case {
  kernel: string;
  variant: string;
  shape: string;
  flops: number;
  bytes: number;
  bound: 'compute' | 'memory';
  record(rec: Recorder): void;
}

interface Built {
  cases: Case[];
  release(): void;
}

/** Throws unless the output matches (reference given) or is all finite and un-poisoned. */
async function check(gpu: Gpu, name: string, t: Tensor<'f32'>, want?: ArrayLike<number>, tol = { atol: 1e-4, rtol: 1e-4 }): Promise<void> {
  const got = await gpu.read(t);
  if (want) {
    const r = compare(`bench-suite ${name}`, got, want, tol);
    if (!r.ok) throw new Error(r.report);
    return;
  }
  for (let i = 0; i < got.length; i++) {
    if (!Number.isFinite(got[i]!)) throw new Error(`bench-suite ${name}: output[${i}] = ${got[i]} (not finite or never written)`);
  }
}

async function runOnce(gpu: Gpu, record: (rec: Recorder) => void): Promise<void> {
  const rec = gpu.recorder('bench-suite:check');
  record(rec);
  await rec.submit();
}

/** Every case for one model; `quick` keeps only the first of each kernel. */
export async function buildCases(gpu: Gpu, s: ModelShapes, seed = 7): Promise<Built> {
  const c = s.config;
  const rng = new Rng(seed);
  const owned: Tensor[] = [];
  const releases: (() => void)[] = [];
  const f32 = (data: Float32Array, shape: number[], label: string) => {
    const t = gpu.f32(data, shape, `bench-suite:${label}`);
    owned.push(t);
    return t;
  };
  const rand = (shape: number[], label: string, scale = 1) => f32(rng.f32(shape.reduce((a, b) => a * b, 1)).map((x) => x * scale), shape, label);
  const empty = (shape: number[], label: string) => {
    const t = gpu.empty(shape, 'f32', `bench-suite:${label}`);
    owned.push(t);
    return t;
  };
  const B = s.offsets.length - 1, L = s.offsets[B]!, d = c.dim, N = c.maxLen, H = c.numHeads;
  const dqk = resolvedDqk(c), dv = resolvedDv(c);
  const tag = `${c.model} L=${L}`;
  const cases: Case[] = [];

  // Dense products of one layer (forward, input gradient, weight gradient) at their real shapes.
  const products: [string, number, number, number, boolean, boolean][] =
    c.model === 'hstu'
      ? [
          ['x·W_uvqk', L, H * (2 * dv + 2 * dqk), d, false, false],
          ['dh·W_uvqkᵀ', L, d, H * (2 * dv + 2 * dqk), false, true],
          ['xᵀ·dh (dW_uvqk)', d, H * (2 * dv + 2 * dqk), L, true, false],
          ['z·W_o', L, d, H * dv, false, false],
        ]
      : [
          ['x·W_kv', L, 2 * d, d, false, false],
          ['x·W (d×d: q, o, ffn)', L, d, d, false, false],
          ['dy·Wᵀ', L, d, d, false, true],
          ['xᵀ·dy (dW)', d, d, L, true, false],
        ];
  for (const [what, m, n, k, transA, transB] of products) {
    const ah = rng.f32(m * k), bh = rng.f32(k * n);
    const a = f32(ah, [m * k], 'A'), b = f32(bh, [k * n], 'B'), out = empty([m * n], 'C');
    const record = (rec: Recorder) => matmul(rec, a, b, out, { m, n, k, transA, transB });
    poison(gpu, out);
    await runOnce(gpu, record);
    await check(gpu, `matmul ${what}`, out, matmulRef(ah, bh, { m, n, k, transA, transB }), { atol: 1e-4 * Math.sqrt(k), rtol: 1e-4 });
    cases.push({ kernel: 'matmul', variant: what, shape: `${m}x${n}x${k}`, flops: 2 * m * n * k, bytes: 4 * (m * k + k * n + m * n), bound: 'compute', record });
  }

  // Attention over the real jagged batch (causal pairs only).
  let pairs = 0;
  for (let b = 0; b < B; b++) {
    const n = s.offsets[b + 1]! - s.offsets[b]!;
    pairs += (n * (n + 1)) / 2;
  }
  const q = rand([L, H, dqk], 'q'), k = rand([L, H, dqk], 'k'), v = rand([L, H, dv], 'v'), dOut = rand([L, H, dv], 'dout');
  const seqOffsets = gpu.u32(s.offsets, [B + 1], 'bench-suite:offsets');
  owned.push(seqOffsets);
  const o = empty([L, H, dv], 'o');
  const dq = empty([L, H, dqk], 'dq'), dk = empty([L, H, dqk], 'dk'), dV = empty([L, H, dv], 'dv');
  const attnShape = `B=${B} L=${L} N=${N} H=${H} dqk=${dqk} dv=${dv}`;
  const fwdFlops = pairs * H * (2 * dqk + 2 * dv);
  const attnBytes = 4 * L * H * (2 * dqk + 2 * dv);
  if (c.model === 'hstu') {
    const ts = new Uint32Array(L);
    for (let i = 0, t = 1e6; i < L; i++) ts[i] = t += rng.int(0, 5000);
    const rabPosH = rng.f32(2 * N - 1), rabTimeH = rng.f32(129);
    const x = {
      q, k, v, seqOffsets,
      timestamps: gpu.u32(ts, [L], 'bench-suite:ts'),
      rabPos: f32(rabPosH, [2 * N - 1], 'rab_pos'),
      rabTime: f32(rabTimeH, [129], 'rab_time'),
    };
    owned.push(x.timestamps);
    const opts = { B, L, H, dqk, dv, N, alpha: 1, useRab: c.useRab, hostOffsets: s.offsets };
    const grads = { dq, dk, dv: dV, dRabPos: empty([2 * N - 1], 'drab_pos'), dRabTime: empty([129], 'drab_time') };
    const fwd = (rec: Recorder) => hstuAttention(rec, x, o, opts);
    poison(gpu, o);
    await runOnce(gpu, fwd);
    const host = { q: await gpu.read(q), k: await gpu.read(k), v: await gpu.read(v), seqOffsets: s.offsets, timestamps: ts, rabPos: rabPosH, rabTime: rabTimeH };
    await check(gpu, 'hstu_attention fwd', o, attentionRef(host, opts), { atol: 1e-3, rtol: 1e-3 });
    const fb = (rec: Recorder) => {
      fwd(rec);
      hstuAttentionBackward(rec, x, dOut, grads, opts);
    };
    poison(gpu, dq, dk, dV);
    await runOnce(gpu, fb);
    for (const [n, t] of [['dq', dq], ['dk', dk], ['dv', dV]] as const) await check(gpu, `hstu_attention bwd ${n}`, t);
    cases.push({ kernel: 'hstu_attention', variant: 'fwd', shape: attnShape, flops: fwdFlops, bytes: attnBytes, bound: 'compute', record: fwd });
    cases.push({ kernel: 'hstu_attention', variant: 'fwd+bwd', shape: attnShape, flops: 3 * fwdFlops, bytes: 2 * attnBytes, bound: 'compute', record: fb });
  } else {
    const lse = empty([L, H], 'lse');
    const opts = { B, L, H, dk: dqk, dv, maxLen: N, scale: 1 / Math.sqrt(dqk) };
    const fwd = (rec: Recorder) => softmaxAttention(rec, q, k, v, seqOffsets, o, lse, opts);
    poison(gpu, o);
    await runOnce(gpu, fwd);
    const want = softmaxAttentionRef({ seqOffsets: s.offsets, H, dk: dqk, dv, scale: opts.scale }, await gpu.read(q), await gpu.read(k), await gpu.read(v)).out;
    await check(gpu, 'softmax_attention fwd', o, want, { atol: 1e-4, rtol: 1e-3 });
    const fb = (rec: Recorder) => {
      fwd(rec);
      softmaxAttentionBackward(rec, q, k, v, seqOffsets, o, lse, dOut, dq, dk, dV, opts);
    };
    poison(gpu, dq, dk, dV);
    await runOnce(gpu, fb);
    for (const [n, t] of [['dq', dq], ['dk', dk], ['dv', dV]] as const) await check(gpu, `softmax_attention bwd ${n}`, t);
    cases.push({ kernel: 'softmax_attention', variant: 'fwd', shape: attnShape, flops: fwdFlops, bytes: attnBytes, bound: 'compute', record: fwd });
    cases.push({ kernel: 'softmax_attention', variant: 'fwd+bwd', shape: attnShape, flops: 3 * fwdFlops, bytes: 2 * attnBytes, bound: 'compute', record: fb });
  }

  // Normalisation and element-wise work of a layer.
  {
    const xh = rng.f32(L * d);
    const x = f32(xh, [L, d], 'ln_x'), y = empty([L, d], 'ln_y'), mean = empty([L], 'mean'), rstd = empty([L], 'rstd');
    const dyh = rng.f32(L * d);
    const dy = f32(dyh, [L, d], 'ln_dy'), dx = empty([L, d], 'ln_dx');
    const fwd = (rec: Recorder) => layerNorm(rec, x, y, { rows: L, cols: d, saveStats: { mean, rstd } });
    poison(gpu, y);
    await runOnce(gpu, fwd);
    await check(gpu, 'layer_norm fwd', y, layerNormRef(xh, L, d, 1e-6).y, { atol: 1e-4, rtol: 1e-4 });
    const bwd = (rec: Recorder) => layerNormBackward(rec, x, dy, dx, { rows: L, cols: d, mean, rstd });
    await runOnce(gpu, bwd);
    await check(gpu, 'layer_norm bwd', dx, layerNormBackwardRef(xh, dyh, L, d, 1e-6).dx, { atol: 1e-3, rtol: 1e-3 });
    cases.push({ kernel: 'layer_norm', variant: 'fwd', shape: `${L}x${d}`, flops: 0, bytes: 4 * 2 * L * d, bound: 'memory', record: fwd });
    cases.push({ kernel: 'layer_norm', variant: 'bwd', shape: `${L}x${d}`, flops: 0, bytes: 4 * 3 * L * d, bound: 'memory', record: bwd });
    if (c.model === 'hstu') {
      const w = H * dv;
      const go = rand([L, w], 'gate_o'), gu = rand([L, w], 'gate_u'), z = empty([L, w], 'gate_z');
      const gm = empty([L], 'gate_mean'), gr = empty([L], 'gate_rstd'), dz = rand([L, w], 'gate_dz'), dO = empty([L, w], 'gate_dO'), dU = empty([L, w], 'gate_dU');
      const gf = (rec: Recorder) => gateForward(rec, go, gu, z, { rows: L, cols: w, dropoutP: c.dropout, seed: 1, saveStats: { mean: gm, rstd: gr } });
      const gb = (rec: Recorder) => gateBackward(rec, go, gu, dz, dO, dU, { rows: L, cols: w, dropoutP: c.dropout, seed: 1, mean: gm, rstd: gr });
      poison(gpu, z, dO, dU);
      await runOnce(gpu, (rec) => (gf(rec), gb(rec)));
      for (const [n, t] of [['z', z], ['dO', dO], ['dU', dU]] as const) await check(gpu, `gate ${n}`, t);
      cases.push({ kernel: 'layer_norm', variant: 'gate fwd (U⊙LN(O), dropout)', shape: `${L}x${w}`, flops: 0, bytes: 4 * 3 * L * w, bound: 'memory', record: gf });
      cases.push({ kernel: 'layer_norm', variant: 'gate bwd', shape: `${L}x${w}`, flops: 0, bytes: 4 * 5 * L * w, bound: 'memory', record: gb });
    }
    const wSilu = c.model === 'hstu' ? H * (2 * dv + 2 * dqk) : d;
    const sh = rng.f32(L * wSilu);
    const sx = f32(sh, [L, wSilu], 'silu_x'), sy = empty([L, wSilu], 'silu_y');
    const sf = (rec: Recorder) => silu(rec, sx, sy);
    poison(gpu, sy);
    await runOnce(gpu, sf);
    await check(gpu, 'silu', sy, siluRef(sh), { atol: 1e-6, rtol: 1e-5 });
    cases.push({ kernel: 'elementwise', variant: 'silu', shape: `${L}x${wSilu}`, flops: 0, bytes: 4 * 2 * L * wSilu, bound: 'memory', record: sf });
    if (c.model === 'hstu') {
      // U, V, Q, K = split(SiLU(n·W_uvqk)) fused, and its backward.
      const widths = [H * dv, H * dv, H * dqk, H * dqk];
      const blocks = widths.map((width, i) => ({ t: empty([L, width], `split_${i}`), width }));
      const grads = widths.map((width, i) => ({ t: rand([L, width], `split_grad_${i}`), width }));
      const dh = empty([L, wSilu], 'split_dh');
      const sp = (rec: Recorder) => siluSplit(rec, sx, L, blocks);
      const sb = (rec: Recorder) => siluConcatBackward(rec, sx, grads, dh, L);
      poison(gpu, ...blocks.map((b) => b.t), dh);
      await runOnce(gpu, (rec) => (sp(rec), sb(rec)));
      const full = siluRef(sh);
      let col = 0;
      for (const [i, b] of blocks.entries()) {
        const want = new Float64Array(L * b.width);
        for (let r = 0; r < L; r++) for (let j = 0; j < b.width; j++) want[r * b.width + j] = full[r * wSilu + col + j]!;
        await check(gpu, `silu_split block ${i}`, b.t, want, { atol: 1e-6, rtol: 1e-5 });
        col += b.width;
      }
      await check(gpu, 'silu_concat_bwd', dh);
      cases.push({ kernel: 'silu_split', variant: 'fwd (SiLU + split U,V,Q,K)', shape: `${L}x${wSilu}`, flops: 0, bytes: 4 * 2 * L * wSilu, bound: 'memory', record: sp });
      cases.push({ kernel: 'silu_split', variant: 'bwd (concat · SiLU\')', shape: `${L}x${wSilu}`, flops: 0, bytes: 4 * 3 * L * wSilu, bound: 'memory', record: sb });
    }
    // Bias gradient: column sums of dy over the L tokens.
    const cs = empty([d], 'colsum');
    const csr = (rec: Recorder) => columnSum(rec, dy, cs, { rows: L, cols: d });
    poison(gpu, cs);
    await runOnce(gpu, csr);
    const csWant = new Float64Array(d);
    for (let r = 0; r < L; r++) for (let j = 0; j < d; j++) csWant[j]! += dyh[r * d + j]!;
    await check(gpu, 'reduce column_sum', cs, csWant, { atol: 1e-3, rtol: 1e-4 });
    cases.push({ kernel: 'reduce', variant: 'column_sum (bias grad)', shape: `${L}x${d}`, flops: 0, bytes: 4 * L * d, bound: 'memory', record: csr });
    const ay = empty([L, d], 'add_y');
    const af = (rec: Recorder) => add(rec, x, dy, ay);
    await runOnce(gpu, af);
    await check(gpu, 'add', ay);
    cases.push({ kernel: 'elementwise', variant: 'add (residual)', shape: `${L}x${d}`, flops: 0, bytes: 4 * 3 * L * d, bound: 'memory', record: af });
  }

  // Loss: sampled softmax over R shared negatives, and the item-table traffic around it.
  const R = c.numNegatives, rows = s.tableRows;
  const table = new EmbeddingTable(gpu, rows, d, 'bench-suite:item_emb', { optimizerState: true });
  releases.push(() => table.dispose());
  const tableInit = rng.f32(rows * d).map((x) => x * 0.1);
  table.upload(tableInit);
  const posHost = Uint32Array.from({ length: L }, () => rng.int(1, rows - 1));
  const negHost = Uint32Array.from({ length: R }, () => rng.int(1, rows - 1));
  const posIds = gpu.u32(posHost, [L], 'bench-suite:pos_ids'), negIds = gpu.u32(negHost, [R], 'bench-suite:neg_ids');
  owned.push(posIds, negIds);
  const posEmb = empty([L, d], 'pos_emb'), negEmb = empty([R, d], 'neg_emb');
  {
    const g = (rec: Recorder) => gatherRows(rec, table, posIds, posEmb, L);
    poison(gpu, posEmb);
    await runOnce(gpu, (rec) => (g(rec), gatherRows(rec, table, negIds, negEmb, R)));
    const want = new Float64Array(L * d);
    for (let i = 0; i < L; i++) for (let j = 0; j < d; j++) want[i * d + j] = tableInit[posHost[i]! * d + j]!;
    await check(gpu, 'embedding gather', posEmb, want, { atol: 0, rtol: 0 });
    cases.push({ kernel: 'embedding', variant: 'gather rows', shape: `${L} ids, ${rows}x${d}`, flops: 0, bytes: 4 * 2 * L * d, bound: 'memory', record: g });
  }
  const u = rand([L, d], 'u');
  const weights = f32(new Float32Array(L).fill(1), [L], 'weights');
  const inputs = { u, posIds, negIds, posEmb, negEmb, weights };
  const shape = { P: L, R, d, temperature: c.temperature, sharedNegatives: true };
  const rowLoss = empty([L], 'row_loss'), loss = empty([1], 'loss');
  const dU = empty([L, d], 'dU'), dPos = empty([L, d], 'dPos'), dNeg = empty([R, d], 'dNeg');
  const lf = (rec: Recorder) => sampledSoftmaxLoss(rec, inputs, shape, { rowLoss, loss });
  const lfb = (rec: Recorder) => {
    lf(rec);
    sampledSoftmaxBackward(rec, inputs, shape, { rowLoss }, { dU, dPos, dNeg });
  };
  poison(gpu, loss, dU, dPos, dNeg);
  await runOnce(gpu, lfb);
  const lossWant = sampledSoftmaxRef({ P: L, R, d, temperature: c.temperature, eps: DEFAULT_EPS, u: await gpu.read(u), posEmb: await gpu.read(posEmb), negEmb: await gpu.read(negEmb), posIds: posHost, negIds: negHost, shared: true }).loss;
  await check(gpu, 'sampled_softmax loss', loss, [lossWant], { atol: 1e-4, rtol: 1e-4 });
  for (const [n, t] of [['dU', dU], ['dPos', dPos], ['dNeg', dNeg]] as const) await check(gpu, `sampled_softmax ${n}`, t);
  const lossFlops = 2 * L * (R + 1) * d;
  cases.push({ kernel: 'sampled_softmax', variant: 'fwd (shared negatives)', shape: `P=${L} R=${R} d=${d}`, flops: lossFlops, bytes: 4 * (2 * L * d + R * d), bound: 'compute', record: lf });
  cases.push({ kernel: 'sampled_softmax', variant: 'fwd+bwd', shape: `P=${L} R=${R} d=${d}`, flops: 3 * lossFlops, bytes: 4 * (4 * L * d + 2 * R * d), bound: 'compute', record: lfb });

  // Per-position negatives (the training default): every item is a column, each row reads its R
  // drawn columns; the cost is the three [L, items] GEMMs, so FLOPs count all columns.
  {
    const cols = rows - 1;
    const colHost = Uint32Array.from({ length: cols }, (_, j) => j + 1);
    const samplesHost = Uint32Array.from({ length: L * R }, () => rng.int(0, cols - 1));
    const colIds = gpu.u32(colHost, [cols], 'bench-suite:all_item_ids');
    const rowSamples = gpu.u32(samplesHost, [L, R], 'bench-suite:row_samples');
    owned.push(colIds, rowSamples);
    const colEmb = empty([cols, d], 'all_item_emb'), dCols = empty([cols, d], 'dCols');
    await runOnce(gpu, (rec) => gatherRows(rec, table, colIds, colEmb, cols));
    const pin = { u, posIds, negIds: colIds, posEmb, negEmb: colEmb, weights, rowSamples };
    const pshape = { P: L, R: cols, d, temperature: c.temperature, sharedNegatives: true, samplesPerRow: R };
    const pfb = (rec: Recorder) => {
      sampledSoftmaxLoss(rec, pin, pshape, { rowLoss, loss });
      sampledSoftmaxBackward(rec, pin, pshape, { rowLoss }, { dU, dPos, dNeg: dCols }, { reuseForward: true });
    };
    poison(gpu, loss, dU, dPos, dCols);
    await runOnce(gpu, pfb);
    const perRow = Uint32Array.from(samplesHost, (j) => colHost[j]!);
    const negRows = new Float32Array(L * R * d);
    perRow.forEach((id, k) => negRows.set(tableInit.subarray(id * d, (id + 1) * d), k * d));
    const ppWant = sampledSoftmaxRef({ P: L, R, d, temperature: c.temperature, eps: DEFAULT_EPS, u: await gpu.read(u), posEmb: await gpu.read(posEmb), negEmb: negRows, posIds: posHost, negIds: perRow }).loss;
    await check(gpu, 'sampled_softmax per-position loss', loss, [ppWant], { atol: 1e-4, rtol: 1e-4 });
    for (const [n, t] of [['dU', dU], ['dPos', dPos], ['dNeg', dCols]] as const) await check(gpu, `sampled_softmax per-position ${n}`, t);
    cases.push({ kernel: 'sampled_softmax', variant: 'fwd+bwd (per-position, dense over items)', shape: `P=${L} items=${cols} R=${R} d=${d}`, flops: 3 * 2 * L * cols * d, bytes: 4 * 3 * L * cols, bound: 'compute', record: pfb });
  }

  // Item-table gradient scatter (input rows + positives + negatives) and the optimizers.
  {
    const ids = new Uint32Array(2 * L + R);
    ids.set(Uint32Array.from({ length: L }, () => rng.int(1, rows - 1)), 0);
    ids.set(posHost, L);
    ids.set(negHost, 2 * L);
    const plan = planScatter(gpu, ids, rows);
    releases.push(() => plan.release());
    const gradHost = rng.f32(ids.length * d).map((x) => x * 0.01);
    const gradRows = f32(gradHost, [ids.length, d], 'grad_rows'), summed = empty([plan.numUnique, d], 'grad_sum');
    const sc = (rec: Recorder) => scatterAddRows(rec, plan, gradRows, d, summed);
    poison(gpu, summed);
    await runOnce(gpu, sc);
    const sref = scatterAddRef(ids, gradHost, d);
    if (sref.uniqueRows.join() !== Array.from(plan.host.uniqueRows).join()) throw new Error('bench-suite embedding scatter: the plan\'s unique rows differ from the reference\'s');
    await check(gpu, 'embedding scatter', summed, sref.sums, { atol: 1e-6, rtol: 1e-4 });
    cases.push({ kernel: 'embedding', variant: 'scatter-add (segmented)', shape: `${ids.length} ids → ${plan.numUnique} rows, d=${d}`, flops: 0, bytes: 4 * (ids.length + plan.numUnique) * d, bound: 'memory', record: sc });
    const adam = { lr: 1e-3, beta1: 0.9, beta2: 0.98, weightDecay: 0, step: 1 };
    const ra = (rec: Recorder) => rowwiseAdam(rec, table, plan, summed, adam);
    await runOnce(gpu, ra);
    cases.push({ kernel: 'optim', variant: 'row-wise Adam (touched rows)', shape: `${plan.numUnique} rows x ${d}`, flops: 0, bytes: plan.numUnique * (4 * d /* grad */ + 2 * (8 * d + 4)), bound: 'memory', record: ra });
    const dense = paramCounts(c, rows - 1).nonEmbedding + N * d;
    const wh = rng.f32(dense), gh = rng.f32(dense).map((x) => x * 0.01);
    const w = f32(wh, [dense], 'adam_w'), gd = f32(gh, [dense], 'adam_g');
    const m = f32(new Float32Array(dense), [dense], 'adam_m'), vv = f32(new Float32Array(dense), [dense], 'adam_v');
    const aw = (rec: Recorder) => adamW(rec, w, gd, m, vv, adam);
    await runOnce(gpu, aw);
    const wRef = Float64Array.from(wh);
    adamWRef(wRef, gh, new Float64Array(dense), new Float64Array(dense), { ...adam, eps: 1e-8 });
    await check(gpu, 'adamW', w, wRef, { atol: 1e-6, rtol: 1e-5 });
    cases.push({ kernel: 'optim', variant: 'AdamW (all dense params)', shape: `${dense}`, flops: 0, bytes: 4 * 7 * dense, bound: 'memory', record: aw });
  }

  // Full-ranking evaluation of one batch of users: scores against every item, then the rank.
  {
    const Q = Math.min(c.batchSize, B), I = rows;
    const uq = rand([Q, d], 'eval_u'), items = rand([I, d], 'eval_items'), scores = empty([Q, I], 'eval_scores');
    const es = (rec: Recorder) => matmul(rec, uq, items, scores, { m: Q, n: I, k: d, transB: true });
    await runOnce(gpu, es);
    await check(gpu, 'eval scores', scores);
    cases.push({ kernel: 'matmul', variant: 'eval scores u·Eᵀ', shape: `${Q}x${I}x${d}`, flops: 2 * Q * I * d, bytes: 4 * (Q * d + I * d + Q * I), bound: 'compute', record: es });
    const targets = gpu.u32(Uint32Array.from({ length: Q }, () => rng.int(1, I - 1)), [Q], 'bench-suite:targets');
    const exclOffsets = gpu.u32(Uint32Array.from({ length: Q + 1 }, (_, i) => i), [Q + 1], 'bench-suite:excl_off');
    const exclIds = gpu.u32(Uint32Array.from({ length: Q }, () => rng.int(1, I - 1)), [Q], 'bench-suite:excl_ids');
    const ranks = gpu.empty([Q], 'u32', 'bench-suite:ranks');
    owned.push(targets, exclOffsets, exclIds, ranks);
    const rk = (rec: Recorder) => rankTargets(rec, scores, targets, exclOffsets, exclIds, ranks, { numQueries: Q, numItems: I });
    await runOnce(gpu, rk);
    cases.push({ kernel: 'rank', variant: 'count better items', shape: `${Q}x${I}`, flops: 0, bytes: 4 * Q * I, bound: 'memory', record: rk });
  }

  for (const x of cases) x.shape = `${x.shape} (${tag})`;
  return {
    cases,
    release: () => {
      owned.forEach((t) => t.release());
      releases.forEach((r) => r());
    },
  };
}
