// SASRec on the GPU against the float64 reference (model/reference/sasrec.ts) on a tiny config:
// the encoder output and, through a linear probe loss = Σ out ⊙ G (G random, fixed), every dense
// gradient and the item-row gradient. The reference probe's own gradients are checked against
// central finite differences in float64. Dropout (train mode) is checked against the reference
// layer with the GPU's own dropout masks applied at the model's three dropout sites.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { expectClose } from '../kernels/testing/compare.js';
import { poison } from '../kernels/testing/poison.js';
import { Rng } from '../kernels/testing/rng.js';
import { defaultConfig, type Config } from './config.js';
import { paramLayout, itemTableRows } from './params.js';
import { uploadBatch, type HostBatch } from './batch.js';
import { SasrecModel } from './sasrec.js';
import { seedFor } from './hstu.js';
import { createEncoder } from './encoder.js';
import { dropout } from '../kernels/elementwise/elementwise.js';
import { batchLayout } from './reference/batch.js';
import * as op from './reference/ops.js';
import { affineLayerNorm, sasrecAttention, sasrecLayer, sasrecLayerLeaves, type SasrecLayerTensors } from './reference/sasrec.js';
import { backward, constant, param, type Tensor as RefTensor } from './reference/tape.js';

const NUM_ITEMS = 11;
const cfg = (over: Partial<Config> = {}): Config => ({
  ...defaultConfig, model: 'sasrec', dim: 8, maxLen: 6, numLayers: 2, numHeads: 2, dropout: 0, ...over,
});
/** Lengths 3, 1, N, 0, 5 (jagged, incl. 0, 1 and N). */
const LENGTHS = [3, 1, 6, 0, 5];

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

/** Random parameters (biases and gammas non-trivial so every term matters). */
function randomParams(c: Config, rng: Rng): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const s of paramLayout(c, NUM_ITEMS)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    let v: Float32Array;
    if (s.name.endsWith('gamma')) v = rng.f32(n, 0.5, 1.5);
    else if (s.name === 'item_emb') v = rng.f32(n, -0.3, 0.3);
    else if (s.name.startsWith('layers.') && s.name.includes('.w')) v = rng.f32(n, -0.6, 0.6);
    else v = rng.f32(n, -0.3, 0.3);
    if (s.zeroRow0) v.fill(0, 0, c.dim);
    out.set(s.name, v);
  }
  return out;
}

function hostBatch(rng: Rng): HostBatch {
  const offs = [0];
  for (const n of LENGTHS) offs.push(offs[offs.length - 1]! + n);
  const L = offs[offs.length - 1]!;
  const items = new Uint32Array(L);
  for (let i = 0; i < L; i++) items[i] = rng.int(1, NUM_ITEMS);
  const ts = new Uint32Array(L);
  for (let i = 0; i < L; i++) ts[i] = 1000 + 10 * i;
  return { seqOffsets: Uint32Array.from(offs), items, timestamps: ts };
}

/** Dropout multipliers (0 or 1/(1−p), [L, d] each) at the GPU model's three sites. */
interface Masks {
  emb: Float32Array;
  attn: Float32Array[];
  ffn: Float32Array[];
}

/** The reference SASRec layer (model/reference/sasrec.ts) with the branch outputs multiplied by
 *  dropout masks; with no masks it must equal sasrecLayer exactly (checked below). */
function maskedLayer(c: Config, x: RefTensor, p: SasrecLayerTensors, layout: ReturnType<typeof batchLayout>, attnMask?: RefTensor, ffnMask?: RefTensor): RefTensor {
  const d = c.dim;
  const drop = (t: RefTensor, m?: RefTensor) => (m ? op.mul(t, m) : t);
  const z1 = affineLayerNorm(x, p.ln1_gamma, p.ln1_beta);
  const proj = (inp: RefTensor, part: number) =>
    op.addRow(op.matmul(inp, op.sliceCols(p.w_qkv, part * d, (part + 1) * d)), op.sliceRows(op.reshape(p.b_qkv, [3 * d, 1]), part * d, (part + 1) * d));
  const attn = sasrecAttention(c, proj(z1, 0), proj(x, 1), proj(x, 2), layout);
  const x1 = op.add(z1, drop(op.addRow(op.matmul(attn, p.w_attn_o), p.b_attn_o), attnMask));
  const z2 = affineLayerNorm(x1, p.ln2_gamma, p.ln2_beta);
  const ffn = op.addRow(op.matmul(op.relu(op.addRow(op.matmul(z2, p.w1), p.b1)), p.w2), p.b2);
  return op.add(z2, drop(ffn, ffnMask));
}

interface RefProbe {
  out: Float64Array;
  loss: number;
  grads: Map<string, Float64Array>;
  dItemRows: Float64Array;
}

/** The SASRec encoder of the reference (x0 → layers → LN_final), probe loss Σ out ⊙ G. */
function refProbe(c: Config, params: Map<string, ArrayLike<number>>, b: HostBatch, G: ArrayLike<number>, withGrad = true, masks?: Masks): RefProbe {
  const d = c.dim, L = b.items.length;
  const layout = batchLayout({ seqOffsets: b.seqOffsets, items: b.items, targets: new Uint32Array(L), negatives: [] }, c.maxLen, NUM_ITEMS, c.positionAnchor);
  const shapes = new Map(paramLayout(c, NUM_ITEMS).map((s) => [s.name, s.shape]));
  const table = params.get('item_emb')!;
  const rows = new Float64Array(L * d);
  for (let t = 0; t < L; t++) for (let j = 0; j < d; j++) rows[t * d + j] = table[b.items[t]! * d + j]!;
  const leaves = new Map<string, RefTensor>();
  const itemRows = param(rows, [L, d]);
  const pos = param(params.get('pos_emb')!, shapes.get('pos_emb')!);
  leaves.set('pos_emb', pos);
  const m = (a: Float32Array) => constant(a, [L, d]);
  let x = op.add(op.scale(itemRows, Math.sqrt(d)), op.gatherRows(pos, layout.positions));
  if (masks) x = op.mul(x, m(masks.emb));
  for (let l = 0; l < c.numLayers; l++) {
    const lp = sasrecLayerLeaves(params, l, shapes);
    for (const [k, t] of Object.entries(lp)) leaves.set(`layers.${l}.${k}`, t);
    x = masks ? maskedLayer(c, x, lp, layout, m(masks.attn[l]!), m(masks.ffn[l]!)) : sasrecLayer(c, x, lp, layout);
  }
  const gF = param(params.get('final_ln_gamma')!, [d]), bF = param(params.get('final_ln_beta')!, [d]);
  leaves.set('final_ln_gamma', gF);
  leaves.set('final_ln_beta', bF);
  const out = affineLayerNorm(x, gF, bF);
  let loss = 0;
  for (let i = 0; i < out.data.length; i++) loss += out.data[i]! * G[i]!;
  const grads = new Map<string, Float64Array>();
  if (withGrad) {
    backward(out, G);
    for (const [k, t] of leaves) grads.set(k, t.grad ?? new Float64Array(t.size));
  }
  return { out: out.data, loss, grads, dItemRows: itemRows.grad ?? new Float64Array(L * d) };
}

interface GpuProbe {
  out: Float32Array;
  grads: Map<string, Float32Array>;
  dItemRows: Float32Array;
}

async function gpuRun(model: SasrecModel, c: Config, b: HostBatch, G: Float32Array, train: boolean, seed: number, withBackward = true): Promise<GpuProbe> {
  const batch = uploadBatch(gpu, b, c.maxLen, itemTableRows(NUM_ITEMS), c.positionAnchor);
  const dOut = gpu.f32(G, [b.items.length, c.dim], 'dout');
  const gs = [...model.dense.byName.values()].map((p) => p.g);
  poison(gpu, ...gs);
  const rec = gpu.recorder('sasrec-test');
  const f = model.forward(rec, batch, { train, seed });
  poison(gpu, f.out);
  const bw = withBackward ? model.backward(rec, f, dOut) : undefined;
  await rec.run();
  const out = await gpu.read(f.out);
  const grads = new Map<string, Float32Array>();
  let dItemRows: Float32Array = new Float32Array(0);
  if (bw) {
    for (const p of model.dense.byName.values()) grads.set(p.name, await gpu.read(p.g));
    dItemRows = await gpu.read(bw.dItemRows);
    bw.release();
  }
  f.release();
  batch.release();
  dOut.release();
  return { out, grads, dItemRows };
}

const TOL = { atol: 3e-5, rtol: 3e-4 };

describe('SasrecModel', () => {
  it('forward output and all gradients match the float64 reference (dropout 0)', async () => {
    const c = cfg();
    const rng = new Rng(7);
    const params = randomParams(c, rng);
    const b = hostBatch(rng);
    const L = b.items.length;
    const G = rng.f32(L * c.dim);
    const model = new SasrecModel(gpu, c, itemTableRows(NUM_ITEMS), params);
    try {
      const got = await gpuRun(model, c, b, G, true, 123);
      const want = refProbe(c, params, b, G);
      expectClose('out', got.out, want.out, { ...TOL, shape: [L, c.dim] });
      const names = [...model.dense.byName.keys()];
      expect(names.length).toBe(paramLayout(c, NUM_ITEMS).length - 1); // all but item_emb
      for (const name of names) expectClose(`d ${name}`, got.grads.get(name)!, want.grads.get(name)!, TOL);
      expectClose('dItemRows', got.dItemRows, want.dItemRows, { ...TOL, shape: [L, c.dim] });
      // Eval mode with dropout configured is the same function (dropout off).
      const cd = cfg({ dropout: 0.3 });
      const md = new SasrecModel(gpu, cd, itemTableRows(NUM_ITEMS), params);
      try {
        const ev = await gpuRun(md, cd, b, G, false, 5, false);
        expectClose('out (eval, dropout 0.3)', ev.out, want.out, { ...TOL, shape: [L, c.dim] });
      } finally {
        md.release();
      }
    } finally {
      model.release();
    }
  });

  it('the reference probe gradients match central finite differences (float64)', () => {
    const c = cfg();
    const rng = new Rng(11);
    const params = randomParams(c, rng);
    const b = hostBatch(rng);
    const G = rng.f32(b.items.length * c.dim);
    const p64 = new Map<string, Float64Array>([...params].map(([k, v]) => [k, Float64Array.from(v)]));
    const base = refProbe(c, p64, b, G);
    const h = 1e-5;
    const d = c.dim;
    // A few entries of every kind of parameter, incl. the Q, K and V blocks of w_qkv.
    const probes: [string, number][] = [
      ['layers.0.w_qkv', 1 * 3 * d + 2], ['layers.0.w_qkv', 2 * 3 * d + d + 5], ['layers.0.w_qkv', 3 * 3 * d + 2 * d + 1],
      ['layers.1.b_qkv', 3], ['layers.1.b_qkv', d + 4], ['layers.0.ln1_gamma', 2], ['layers.1.ln2_beta', 6],
      ['layers.0.w_attn_o', 17], ['layers.1.w1', 30], ['layers.0.b2', 5], ['final_ln_gamma', 3], ['pos_emb', 2 * d + 1],
    ];
    for (const [name, i] of probes) {
      const w = p64.get(name)!;
      const orig = w[i]!;
      w[i] = orig + h;
      const lp = refProbe(c, p64, b, G, false).loss;
      w[i] = orig - h;
      const lm = refProbe(c, p64, b, G, false).loss;
      w[i] = orig;
      const fd = (lp - lm) / (2 * h);
      const an = base.grads.get(name)![i]!;
      expect(Math.abs(fd - an), `${name}[${i}]: fd ${fd}, tape ${an}`).toBeLessThan(1e-6 + 1e-5 * Math.abs(fd));
    }
  });

  it('with dropout (train), output and gradients match the reference with the same dropout masks', async () => {
    const p = 0.3, seed = 99;
    const c = cfg({ dropout: p });
    const rng = new Rng(3);
    const params = randomParams(c, rng);
    const b = hostBatch(rng);
    const L = b.items.length, d = c.dim;
    const G = rng.f32(L * d);
    // The masks the model draws: the elementwise dropout kernel on ones, with the model's seeds
    // (the input embeddings at (layer 0, site 0), the attention branch at site 1, the FFN at 2).
    const ones = gpu.f32(new Float32Array(L * d).fill(1), [L, d], 'ones');
    const mask = async (layer: number, site: number): Promise<Float32Array> => {
      const y = gpu.empty([L, d], 'f32', 'mask');
      const rec = gpu.recorder('mask');
      dropout(rec, ones, y, p, seedFor(seed, layer, site));
      await rec.run();
      const out = await gpu.read(y);
      y.release();
      return out;
    };
    const masks: Masks = { emb: await mask(0, 0), attn: [], ffn: [] };
    for (let l = 0; l < c.numLayers; l++) {
      masks.attn.push(await mask(l, 1));
      masks.ffn.push(await mask(l, 2));
    }
    ones.release();
    const all = [masks.emb, ...masks.attn, ...masks.ffn];
    const dropped = all.reduce((n, a) => n + a.filter((v) => v === 0).length, 0);
    expect(dropped).toBeGreaterThan(0.15 * all.length * L * d); // the masks really drop (~30%)
    // The masked reference layer is the reference layer when nothing is dropped.
    const onesMask = new Float32Array(L * d).fill(1);
    const plain = refProbe(c, params, b, G);
    const unmasked = refProbe(c, params, b, G, true, { emb: onesMask, attn: [onesMask, onesMask], ffn: [onesMask, onesMask] });
    expectClose('masked reference with ones = reference', unmasked.out, plain.out, { atol: 1e-12, rtol: 1e-12 });
    const model = new SasrecModel(gpu, c, itemTableRows(NUM_ITEMS), params);
    try {
      const got = await gpuRun(model, c, b, G, true, seed);
      const want = refProbe(c, params, b, G, true, masks);
      expectClose('out (dropout)', got.out, want.out, { ...TOL, shape: [L, d] });
      for (const name of model.dense.byName.keys()) expectClose(`d ${name} (dropout)`, got.grads.get(name)!, want.grads.get(name)!, TOL);
      expectClose('dItemRows (dropout)', got.dItemRows, want.dItemRows, { ...TOL, shape: [L, d] });
      // Another step seed draws other masks.
      const other = await gpuRun(model, c, b, G, true, seed + 1, false);
      let diff = 0;
      for (let i = 0; i < other.out.length; i++) diff = Math.max(diff, Math.abs(other.out[i]! - got.out[i]!));
      expect(diff).toBeGreaterThan(1e-2);
    } finally {
      model.release();
    }
  });

  it('createEncoder builds it for model = sasrec', async () => {
    const c = cfg();
    const enc = await createEncoder(gpu, c, itemTableRows(NUM_ITEMS), randomParams(c, new Rng(2)));
    try {
      expect(enc).toBeInstanceOf(SasrecModel);
      expect([...enc.dense.byName.keys()].sort()).toEqual(paramLayout(c, NUM_ITEMS).map((s) => s.name).filter((n) => n !== 'item_emb').sort());
    } finally {
      enc.release();
    }
  });

  it('rejects bad input with clear errors', async () => {
    const c = cfg();
    const rng = new Rng(1);
    const params = randomParams(c, rng);
    expect(() => new SasrecModel(gpu, { ...c, numHeads: 3 }, itemTableRows(NUM_ITEMS), params)).toThrow(/divisible by numHeads/);
    const bad = new Map(params);
    bad.set('layers.1.w_qkv', new Float32Array(5));
    expect(() => new SasrecModel(gpu, c, itemTableRows(NUM_ITEMS), bad)).toThrow(/layers\.1\.w_qkv: expected 192 values, got 5/);
  });
});
