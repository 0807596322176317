// The analytic FLOP count (model/flops.ts) against a brute-force count of the products the GPU
// model actually records for one training step: every matmul, attention and sampled-softmax call
// made by the forward, the loss and the backward (trainer/train.ts recordGradients) is
// intercepted and counted from its own arguments — matmuls as 2·m·n·k, attention by enumerating
// the visible (i, j) pairs of each jagged sequence one by one, the loss per row and logit — and
// the sum must equal exampleTrainingFlops summed over the batch's lengths exactly.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { defaultConfig, type Config } from './config.js';
import { createEncoder } from './encoder.js';
import { initParams, itemTableRows } from './params.js';
import { causalPairs, exampleTrainingFlops, flopShapeOf, maskedPairs, paramCounts, rankingTrainingFlops, trainingFlops } from './flops.js';
import { RankingModel } from './ranking.js';
import { initRankingParams, RANKING_TASKS } from './ranking_params.js';
import { recordGradients } from '../trainer/train.js';

/** What the intercepted kernels saw: FLOPs by kind, and which call kinds ran. */
const seen = { dense: 0, attention: 0, loss: 0, calls: new Map<string, number>() };
/** Host seq_offsets and num_targets of the batch being recorded (SASRec's attention only gets
 *  the GPU copies). */
let offsets: Uint32Array = new Uint32Array(1);
let numTargetsHost: Uint32Array | undefined;
const note = (kind: string) => seen.calls.set(kind, (seen.calls.get(kind) ?? 0) + 1);
/** True while the loss records: its internal GEMMs (if it uses matmul) are the loss's logits,
 *  counted once by the loss's own shape, not again as dense products. */
let inLoss = false;
function asLoss<T>(f: () => T): T {
  inLoss = true;
  try {
    return f();
  } finally {
    inLoss = false;
  }
}

/** Visible pairs enumerated one by one: query i sees keys j ≤ i of its own sequence; with k
 *  candidates at the end (num_targets), a candidate sees the history and itself only. */
function bruteForcePairs(off: ArrayLike<number>, numTargets?: ArrayLike<number>): number {
  let pairs = 0;
  for (let s = 0; s + 1 < off.length; s++) {
    const n = off[s + 1]! - off[s]!;
    const h = n - (numTargets?.[s] ?? 0);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) if (i < h || j < h || j === i) pairs++;
  }
  return pairs;
}

vi.mock('../kernels/matmul/matmul.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../kernels/matmul/matmul.js')>();
  return {
    ...m,
    matmul: (...a: Parameters<typeof m.matmul>) => {
      const { m: M, n, k } = a[4];
      if (!inLoss) {
        seen.dense += 2 * M * n * k;
        note('matmul');
      }
      return m.matmul(...a);
    },
  };
});
vi.mock('../kernels/hstu_attention/hstu_attention.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../kernels/hstu_attention/hstu_attention.js')>();
  const perPair = (o: { H: number; dqk: number; dv: number }) => o.H * (2 * o.dqk + 2 * o.dv);
  return {
    ...m,
    hstuAttention: (...a: Parameters<typeof m.hstuAttention>) => {
      seen.attention += bruteForcePairs(a[3].hostOffsets, a[3].hostNumTargets) * perPair(a[3]);
      note('hstu_fwd');
      return m.hstuAttention(...a);
    },
    hstuAttentionBackward: (...a: Parameters<typeof m.hstuAttentionBackward>) => {
      // dA = dO·Vᵀ and dV = Aᵀ·dO (2·dv each), dQ = dS·K and dK = dSᵀ·Q (2·dqk each).
      seen.attention += 2 * bruteForcePairs(a[4].hostOffsets, a[4].hostNumTargets) * perPair(a[4]);
      note('hstu_bwd');
      return m.hstuAttentionBackward(...a);
    },
  };
});
vi.mock('../kernels/softmax_attention/softmax_attention.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../kernels/softmax_attention/softmax_attention.js')>();
  const perPair = (o: { H: number; dk: number; dv: number }) => o.H * (2 * o.dk + 2 * o.dv);
  return {
    ...m,
    softmaxAttention: (...a: Parameters<typeof m.softmaxAttention>) => {
      expect(offsets[offsets.length - 1]).toBe(a[7].L);
      seen.attention += bruteForcePairs(offsets, numTargetsHost) * perPair(a[7]);
      note('softmax_fwd');
      return m.softmaxAttention(...a);
    },
    softmaxAttentionBackward: (...a: Parameters<typeof m.softmaxAttentionBackward>) => {
      seen.attention += 2 * bruteForcePairs(offsets, numTargetsHost) * perPair(a[11]);
      note('softmax_bwd');
      return m.softmaxAttentionBackward(...a);
    },
  };
});
/** Negatives each row's loss uses: with per-row samples over shared columns, S (the dense
 *  GEMMs over all R columns are how they are computed, not the algorithm's count). */
function usedNegatives(inp: { rowSamples?: unknown }, shape: { R: number; samplesPerRow?: number }): number {
  return inp.rowSamples ? shape.samplesPerRow! : shape.R;
}
vi.mock('../kernels/sampled_softmax/sampled_softmax.js', async (importOriginal) => {
  const m = await importOriginal<typeof import('../kernels/sampled_softmax/sampled_softmax.js')>();
  return {
    ...m,
    sampledSoftmaxLoss: (...a: Parameters<typeof m.sampledSoftmaxLoss>) => {
      const { P, d } = a[2];
      const R = usedNegatives(a[1], a[2]);
      seen.loss += P * (R + 1) * 2 * d; // one d-dot product per logit
      note('loss_fwd');
      return asLoss(() => m.sampledSoftmaxLoss(...a));
    },
    sampledSoftmaxBackward: (...a: Parameters<typeof m.sampledSoftmaxBackward>) => {
      const { P, d } = a[2];
      const R = usedNegatives(a[1], a[2]);
      const rows = a[5]?.rowCount ?? P - (a[5]?.rowStart ?? 0);
      seen.loss += rows * (R + 1) * 4 * d; // dU and the item-row gradient, 2·d per logit each
      note('loss_bwd');
      return asLoss(() => m.sampledSoftmaxBackward(...a));
    },
  };
});

const NUM_ITEMS = 13;
/** Jagged training lengths incl. 1 and N (training sequences are never empty). */
const LENGTHS = [5, 1, 7, 3, 2];

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

async function countOneStep(c: Config): Promise<typeof seen> {
  seen.dense = seen.attention = seen.loss = 0;
  seen.calls.clear();
  numTargetsHost = undefined;
  offsets = new Uint32Array(LENGTHS.length + 1);
  LENGTHS.forEach((n, b) => (offsets[b + 1] = offsets[b]! + n));
  const L = offsets[LENGTHS.length]!;
  const items = Uint32Array.from({ length: L }, (_, i) => 1 + ((i * 5) % NUM_ITEMS));
  const targets = Uint32Array.from({ length: L }, (_, i) => 1 + ((i * 7 + 3) % NUM_ITEMS));
  const timestamps = Uint32Array.from({ length: L }, (_, i) => 1000 + 60 * i);
  const rows = itemTableRows(NUM_ITEMS);
  const enc = await createEncoder(gpu, c, rows, initParams(c, NUM_ITEMS));
  try {
    const rec = gpu.recorder('flops-test');
    const g = recordGradients(rec, gpu, enc, c, { seqOffsets: offsets, items, timestamps, targets }, 0, rows);
    await rec.submit();
    const loss = (await gpu.read(g.loss))[0]!;
    g.release();
    expect(Number.isFinite(loss)).toBe(true);
  } finally {
    enc.release();
  }
  return seen;
}

const small = (over: Partial<Config>): Config => ({ ...defaultConfig, dim: 12, maxLen: 7, numLayers: 2, numNegatives: 5, dropout: 0, ...over });

describe('training FLOPs: analytic count = brute-force count of the recorded kernels', () => {
  it.each([
    ['hstu', small({ model: 'hstu', numHeads: 2, dqk: 3, dv: 5 })],
    ['sasrec', small({ model: 'sasrec', numHeads: 3 })],
  ])('%s', async (_name, c) => {
    const got = await countOneStep(c);
    const want = trainingFlops(flopShapeOf(c), LENGTHS);
    // Each product kind was seen, forward and backward, so no term can be silently missing.
    const kinds = c.model === 'hstu' ? ['hstu_fwd', 'hstu_bwd'] : ['softmax_fwd', 'softmax_bwd'];
    for (const k of ['matmul', 'loss_fwd', 'loss_bwd', ...kinds]) expect(got.calls.get(k), k).toBeGreaterThan(0);
    expect(got.calls.get(kinds[0]!)).toBe(c.numLayers);
    expect(got.dense).toBe(want.dense);
    expect(got.attention).toBe(want.attention);
    expect(got.loss).toBe(want.loss);
    expect(got.dense + got.attention + got.loss).toBe(want.total);
  });
});

/** Ranking batch: lengths incl. candidates, and candidates per sequence (0, 1, all-but-one, all). */
const R_LENGTHS = [6, 3, 4, 1, 7];
const R_TARGETS = [2, 0, 1, 1, 6];

async function countOneRankingStep(c: Config): Promise<typeof seen> {
  seen.dense = seen.attention = seen.loss = 0;
  seen.calls.clear();
  offsets = new Uint32Array(R_LENGTHS.length + 1);
  R_LENGTHS.forEach((n, b) => (offsets[b + 1] = offsets[b]! + n));
  numTargetsHost = Uint32Array.from(R_TARGETS);
  const L = offsets[R_LENGTHS.length]!;
  const actions = new Uint32Array(L);
  R_LENGTHS.forEach((n, b) => {
    for (let i = 0; i < n - R_TARGETS[b]!; i++) actions[offsets[b]! + i] = 1 + ((b + i) % c.numActions);
  });
  const batch = {
    seqOffsets: offsets,
    items: Uint32Array.from({ length: L }, (_, i) => 1 + ((i * 5) % NUM_ITEMS)),
    timestamps: Uint32Array.from({ length: L }, (_, i) => 1000 + 60 * i),
    numTargets: numTargetsHost,
    actions,
  };
  const rows = itemTableRows(NUM_ITEMS);
  const model = await RankingModel.create(gpu, c, rows, initRankingParams(c, NUM_ITEMS));
  try {
    const rec = gpu.recorder('flops-test-ranking');
    const f = model.forward(rec, batch, { train: true, seed: 3 });
    const dLogits = gpu.f32(new Float32Array(L * RANKING_TASKS.length).fill(0.1), [L, RANKING_TASKS.length], 'flops-test:dlogits');
    const g = model.backward(rec, f, dLogits);
    await rec.submit();
    g.release();
    f.release();
    dLogits.release();
  } finally {
    model.release();
  }
  return seen;
}

describe('ranking training FLOPs: analytic count = brute-force count of the recorded kernels', () => {
  it.each([
    ['hstu', small({ task: 'ranking', model: 'hstu', numHeads: 2, dqk: 3, dv: 5, headHidden: 7 })],
    ['sasrec', small({ task: 'ranking', model: 'sasrec', numHeads: 3, headHidden: 7 })],
  ])('%s', async (_name, c) => {
    const got = await countOneRankingStep(c);
    const want = rankingTrainingFlops(flopShapeOf(c), R_LENGTHS.map((n, b) => [n, R_TARGETS[b]!] as const), { hidden: c.headHidden, tasks: RANKING_TASKS.length });
    expect(got.calls.get(c.model === 'hstu' ? 'hstu_bwd' : 'softmax_bwd')).toBe(c.numLayers);
    expect(got.dense).toBe(want.dense);
    expect(got.attention).toBe(want.attention);
    expect(got.loss).toBe(0);
    expect(got.dense + got.attention).toBe(want.total);
  });
});

describe('FLOP and parameter formulas (CPU)', () => {
  it('masked pairs: candidates see the history and themselves', () => {
    expect(maskedPairs(5, 0)).toBe(causalPairs(5));
    expect(maskedPairs(5, 2)).toBe(6 + 2 * 3 + 2); // history 3: 6 pairs; 2 candidates × (3 + 1)
    expect(maskedPairs(3, 3)).toBe(3);
    expect(() => maskedPairs(3, 4)).toThrow(/candidates/);
  });

  it('one HSTU example by hand: 1 layer, d = 2, H = 1, dqk = dv = 1, R = 3, n = 4', () => {
    const s = { model: 'hstu' as const, numLayers: 1, dim: 2, numHeads: 1, dqk: 1, dv: 1, numNegatives: 3 };
    // Per token: n·W_uvqk 2·2·4 = 16, z·W_o 2·1·2 = 4 → 20; ×4 tokens = 80 forward.
    // Pairs 4·5/2 = 10, 4 FLOPs each → 40 forward. Loss 2·2·4 = 16 per token → 64 forward.
    const e = exampleTrainingFlops(s, 4);
    expect(e.forward).toBe(80 + 40 + 64);
    expect(e.total).toBe(3 * (80 + 40 + 64));
    expect(e.attention).toBe(120);
    expect(causalPairs(0)).toBe(0);
    expect(exampleTrainingFlops(s, 0).total).toBe(0);
    expect(() => exampleTrainingFlops(s, 1.5)).toThrow(/sequence length/);
  });

  it('parameter counts split embedding / non-embedding and match the layout', () => {
    const h = { ...defaultConfig, model: 'hstu' as const, dim: 4, maxLen: 3, numLayers: 2, numHeads: 1 };
    const p = paramCounts(h, 10);
    expect(p.embedding).toBe(11 * 4 + 3 * 4); // item table incl. padding row, positions
    // per layer: W_uvqk 4·16, W_o 4·4, b_o 4, rab_pos 2·3−1, rab_time 129
    expect(p.nonEmbedding).toBe(2 * (64 + 16 + 4 + 5 + 129));
    const s = paramCounts({ ...h, model: 'sasrec' }, 10);
    // per layer: 4 LN vectors, W_qkv 4·12 + 12, W_o, W1, W2 4·4 + 4 each; final LN 2·4
    expect(s.nonEmbedding).toBe(2 * (16 + 60 + 3 * 20) + 8);
    expect(s.total).toBe(s.embedding + s.nonEmbedding);
    // ranking adds the action table (embedding) and the head (non-embedding): hidden 3, 2 tasks
    const r = paramCounts({ ...h, task: 'ranking', numActions: 5, headHidden: 3 }, 10);
    expect(r.embedding - p.embedding).toBe(6 * 4);
    expect(r.nonEmbedding - p.nonEmbedding).toBe(4 * 3 + 3 + 3 * 2 + 2);
  });
});
