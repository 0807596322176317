import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu, type Tensor } from '../gpu/index.js';
import { expectClose } from '../testing/compare.js';
import { poison } from '../testing/poison.js';
import { expectIsolated, expectIsolatedWhere } from '../testing/nonfinite.js';
import { Rng } from '../testing/rng.js';
import { sampledSoftmaxBackward, sampledSoftmaxLoss, sampleNegatives, sharedNegativeIds, type SampledSoftmaxInputs, type Variant } from './sampled_softmax.js';
import { gatherRef, sampledSoftmaxBackwardRef, sampledSoftmaxRef, sampleNegativesRef, type LossRefInput } from './sampled_softmax.ref.js';

let gpu: Gpu;
beforeAll(async () => {
  gpu = await createGpu();
});
afterAll(() => gpu?.dispose());

interface Case {
  P: number;
  R: number;
  d: number;
  table: boolean;
  weights: boolean;
  tau: number;
  shared?: boolean;
  /** Similarity 'dot' (logits u·e/τ of the raw rows; item rows then get norms in [0.25, 3]). */
  dot?: boolean;
}

/** Random inputs with forced collisions (≈15% of slots, and every slot of row 0 when R > 1)
 *  and, with weights, zero rows (incl. the last) and non-unit weights. */
function makeCase(c: Case, seed: number) {
  const rng = new Rng(seed);
  const { P, R, d } = c;
  const numItems = 97;
  const items = rng.f32(numItems * d);
  // Dot logits see the rows' norms: spread them, so a normalisation left in would show.
  if (c.dot) for (let i = 0; i < numItems; i++) { const f = rng.uniform(0.25, 3); for (let k = 0; k < d; k++) items[i * d + k]! *= f; }
  const u = rng.f32(P * d);
  const posIds = Uint32Array.from({ length: P }, () => rng.int(0, numItems - 1));
  const negIds = Uint32Array.from({ length: c.shared ? R : P * R }, () => rng.int(0, numItems - 1));
  if (c.shared) {
    for (let r = 0; r < P; r++) if (rng.next() < 0.3) posIds[r] = negIds[rng.int(0, R - 1)]!;
  } else {
    for (let r = 0; r < P; r++) {
      for (let j = 0; j < R; j++) if (rng.next() < 0.15 || (r === 0 && R > 1 && j > 0)) negIds[r * R + j] = posIds[r]!;
    }
  }
  const weights = c.weights ? Float32Array.from({ length: P }, (_, r) => (r === P - 1 && P > 1 ? 0 : rng.next() < 0.2 ? 0 : rng.pick([1, 1, 0.5, 2]))) : undefined;
  const ref: LossRefInput = {
    P, R, d, temperature: c.tau, eps: 1e-6, u, posIds, negIds, weights, shared: c.shared, similarity: c.dot ? 'dot' : 'cosine',
    posEmb: gatherRef(items, posIds, d),
    negEmb: gatherRef(items, negIds, d),
  };
  return { items, u, posIds, negIds, weights, ref };
}

function upload(c: Case, x: ReturnType<typeof makeCase>): { inp: SampledSoftmaxInputs; all: Tensor[] } {
  const inp: SampledSoftmaxInputs = {
    u: gpu.f32(x.u, [c.P, c.d], 'u'),
    posIds: gpu.u32(x.posIds, [c.P], 'posIds'),
    negIds: gpu.u32(x.negIds, c.shared ? [c.R] : [c.P, c.R], 'negIds'),
  };
  if (c.table) inp.items = gpu.f32(x.items, [97, c.d], 'items');
  else {
    inp.posEmb = gpu.f32(x.ref.posEmb, [c.P, c.d], 'posEmb');
    inp.negEmb = gpu.f32(x.ref.negEmb, c.shared ? [c.R, c.d] : [c.P, c.R, c.d], 'negEmb');
  }
  if (x.weights) inp.weights = gpu.f32(x.weights, [c.P], 'weights');
  return { inp, all: Object.values(inp) as Tensor[] };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

async function runAndCheck(c: Case, seed: number, variant: Variant = 'fused'): Promise<void> {
  const x = makeCase(c, seed);
  const { inp, all } = upload(c, x);
  const { P, R, d } = c;
  const rowLoss = gpu.empty([P], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss');
  const dU = gpu.empty([P, d], 'f32', 'dU'), dPos = gpu.empty([P, d], 'f32', 'dPos'), dNeg = gpu.empty(c.shared ? [R, d] : [P, R, d], 'f32', 'dNeg');
  poison(gpu, rowLoss, loss, dU, dPos, dNeg);
  const shape = { P, R, d, temperature: c.tau, sharedNegatives: c.shared, similarity: c.dot ? 'dot' as const : undefined };
  const rec = gpu.recorder();
  sampledSoftmaxLoss(rec, inp, shape, { rowLoss, loss }, { variant });
  sampledSoftmaxBackward(rec, inp, shape, { rowLoss }, { dU, dPos, dNeg }, { variant, dLoss: 1.5 });
  await rec.submit();
  const want = sampledSoftmaxRef(x.ref);
  const g = sampledSoftmaxBackwardRef(x.ref, 1.5);
  const tol = { atol: 3e-4 / c.tau, rtol: 1e-4 };
  expectClose('rowLoss', await gpu.read(rowLoss), want.rowLoss, tol);
  expectClose('loss', await gpu.read(loss), [want.loss], tol);
  // One absolute scale for all gradients: the size of dL/dcos over a row (for d = 1 the exact
  // gradients are 0 and the GPU's are cancellation residue of that size).
  const gScale = Math.max(maxAbs(g.dU), maxAbs(g.dPos), maxAbs(g.dNeg), 1.5 / (c.tau * P));
  for (const [name, t, ref] of [['dU', dU, g.dU], ['dPos', dPos, g.dPos], ['dNeg', dNeg, g.dNeg]] as const) {
    expectClose(name, await gpu.read(t), ref, { atol: 2e-4 * gScale, rtol: 2e-3, shape: t.shape });
  }
  [...all, rowLoss, loss, dU, dPos, dNeg].forEach((t) => t.release());
}

describe('sampled_softmax reference', () => {
  it('backward matches central finite differences of the forward (float64)', () => {
    for (const [seed, tau, shared, dot] of [[1, 0.05, false, false], [2, 1, false, false], [3, 0.05, true, false], [4, 1, false, true], [5, 0.2, true, true], [6, 0.05, false, true]] as const) {
      const x = makeCase({ P: 3, R: 4, d: 3, table: false, weights: true, tau, shared, dot }, seed).ref;
      if (dot) x.negLogitOffset = Float64Array.from(x.negIds, (id) => (id % 5) / 3); // log-Q offsets too
      x.weights = [0.5, 0, 2];
      const g = sampledSoftmaxBackwardRef(x, 1);
      const h = 1e-6;
      for (const [name, key, grad] of [['u', 'u', g.dU], ['posEmb', 'posEmb', g.dPos], ['negEmb', 'negEmb', g.dNeg]] as const) {
        const base = Float64Array.from(x[key]);
        for (let i = 0; i < base.length; i++) {
          const plus = Float64Array.from(base), minus = Float64Array.from(base);
          plus[i]! += h;
          minus[i]! -= h;
          const fd = (sampledSoftmaxRef({ ...x, [key]: plus }).loss - sampledSoftmaxRef({ ...x, [key]: minus }).loss) / (2 * h);
          if (Math.abs(fd - grad[i]!) > 1e-6 + 1e-5 * Math.abs(fd)) throw new Error(`${name}[${i}]: analytic ${grad[i]}, finite difference ${fd}`);
        }
      }
      // the masked slots and the weight-0 row really have zero gradient
      if (!shared) expect(g.dNeg.slice(0, 4 * 3).every((v, i) => (x.negIds[Math.floor(i / 3)] === x.posIds[0] ? v === 0 : true))).toBe(true);
      expect(g.dU.slice(3, 6).every((v) => v === 0)).toBe(true);
    }
  });

  it('sampler is uniform (chi-square) and depends on seed, row and slot', () => {
    const [P, R, n] = [300, 128, 37];
    const ids = sampleNegativesRef(P, R, n, 42);
    const counts = new Array<number>(n).fill(0);
    for (const v of ids) counts[v]!++;
    const e = (P * R) / n;
    const chi2 = counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
    expect(chi2).toBeLessThan(36 + 6 * Math.sqrt(72)); // df = 36: mean 36, sd 8.5
    expect(chi2).toBeGreaterThan(5);
    const other = sampleNegativesRef(P, R, n, 43);
    expect(other.filter((v, i) => v === ids[i]).length / ids.length).toBeLessThan(0.1);
    expect(ids.every((v) => v < n)).toBe(true);
  });
});

describe('sampled_softmax gpu', () => {
  it('sharedNegativeIds equals row 0 of the GPU sampler', async () => {
    const t = gpu.empty([1, 50], 'u32', 'negIds');
    poison(gpu, t);
    const rec = gpu.recorder();
    sampleNegatives(rec, t, { P: 1, R: 50, numItems: 3706, seed: 99 });
    await rec.submit();
    expect([...(await gpu.read(t))]).toEqual([...sharedNegativeIds(99, 50, 3706)]);
    t.release();
  });

  it.each([
    [300, 128, 37, 42],
    [7, 5, 1, 0],
    [1, 1, 1_000_003, 0xffffffff],
    [129, 3, 3706, 7],
  ])('sampleNegatives P=%i R=%i numItems=%i seed=%i: exact ids, uniform', async (P, R, n, seed) => {
    const t = gpu.empty([P, R], 'u32', 'negIds');
    poison(gpu, t);
    const rec = gpu.recorder();
    sampleNegatives(rec, t, { P, R, numItems: n, seed });
    await rec.submit();
    const got = await gpu.read(t);
    const want = sampleNegativesRef(P, R, n, seed);
    expect(got.length).toBe(want.length);
    const bad = got.findIndex((v, i) => v !== want[i]);
    expect(bad, `first mismatch at ${bad}: got ${got[bad]}, want ${want[bad]}`).toBe(-1);
    if (P * R >= 20 * n && n > 1) {
      const counts = new Array<number>(n).fill(0);
      for (const v of got) counts[v]!++;
      const e = (P * R) / n;
      const chi2 = counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
      expect(chi2).toBeLessThan(n - 1 + 6 * Math.sqrt(2 * (n - 1)));
    }
    t.release();
  });

  const CASES: Case[] = [
    { P: 1, R: 1, d: 1, table: true, weights: false, tau: 0.05 },
    { P: 7, R: 5, d: 3, table: false, weights: true, tau: 0.05 },
    { P: 300, R: 128, d: 50, table: true, weights: true, tau: 0.05 },
    { P: 300, R: 5, d: 1, table: false, weights: false, tau: 1 },
    { P: 7, R: 128, d: 3, table: true, weights: true, tau: 0.05 },
    { P: 1, R: 128, d: 50, table: false, weights: false, tau: 0.05 },
    { P: 300, R: 1, d: 3, table: true, weights: true, tau: 0.2 },
    { P: 7, R: 1, d: 50, table: false, weights: true, tau: 0.05 },
    { P: 1, R: 5, d: 50, table: true, weights: true, tau: 0.05 },
    { P: 300, R: 128, d: 50, table: true, weights: true, tau: 0.05, shared: true },
    { P: 7, R: 5, d: 3, table: false, weights: true, tau: 0.05, shared: true },
    { P: 1, R: 1, d: 1, table: false, weights: false, tau: 1, shared: true },
    { P: 300, R: 5, d: 3, table: false, weights: false, tau: 0.2, shared: true },
    // similarity 'dot': raw rows, no normalisation (per-row and shared negatives, table and gathered)
    { P: 1, R: 1, d: 1, table: true, weights: false, tau: 1, dot: true },
    { P: 7, R: 5, d: 3, table: false, weights: true, tau: 0.05, dot: true },
    { P: 300, R: 128, d: 50, table: true, weights: true, tau: 1, dot: true },
    { P: 67, R: 13, d: 7, table: false, weights: true, tau: 0.2, dot: true },
    { P: 300, R: 128, d: 50, table: true, weights: true, tau: 1, shared: true, dot: true },
    { P: 7, R: 5, d: 3, table: false, weights: true, tau: 0.05, shared: true, dot: true },
    { P: 1, R: 1, d: 1, table: false, weights: false, tau: 1, shared: true, dot: true },
  ];
  it.each(CASES.map((c, i) => [i, c] as const))('fused forward + backward #%i %o', async (i, c) => {
    await runAndCheck(c, 1000 + i);
  });

  it.each([
    { P: 7, R: 5, d: 3, table: false, weights: true, tau: 0.05 },
    { P: 300, R: 128, d: 50, table: true, weights: true, tau: 0.05 },
    { P: 300, R: 128, d: 50, table: true, weights: true, tau: 0.05, shared: true },
    { P: 7, R: 5, d: 3, table: false, weights: false, tau: 0.2, shared: true },
    { P: 7, R: 5, d: 3, table: false, weights: true, tau: 0.05, dot: true },
    { P: 67, R: 13, d: 50, table: true, weights: true, tau: 1, dot: true },
    { P: 67, R: 13, d: 7, table: true, weights: true, tau: 1, shared: true, dot: true },
  ])('naive forward + backward %o', async (c) => {
    await runAndCheck(c, 77, 'naive');
  });

  // Per-row sampled negatives over shared columns: row r's negatives are S draws (with
  // repetition) of the R shared columns. The float64 reference is the plain per-row loss with
  // negIds[r, t] = shared[samples[r, t]]; its per-slot dNeg summed onto the columns is the
  // shared-mode dNeg (0 at columns nobody drew).
  it.each([
    { P: 1, R: 1, S: 1, d: 1, table: false, weights: false, tau: 1 },
    { P: 7, R: 5, S: 13, d: 3, table: true, weights: true, tau: 0.05 },
    { P: 300, R: 97, S: 128, d: 50, table: false, weights: true, tau: 0.05 },
    { P: 203, R: 130, S: 3, d: 13, table: true, weights: false, tau: 0.2 },
    { P: 7, R: 5, S: 13, d: 3, table: true, weights: true, tau: 0.05, dot: true },
    { P: 300, R: 97, S: 128, d: 50, table: false, weights: true, tau: 1, dot: true },
  ])('shared columns with per-row samples %o', async ({ S, ...cs }) => {
    const c: Case = { ...cs, shared: true };
    const x = makeCase(c, 500 + c.P + S);
    const { P, R, d } = c;
    const rng = new Rng(31 + S);
    const samples = Uint32Array.from({ length: P * S }, () => rng.int(0, R - 1));
    // Force collisions with the positive: some rows draw the column holding their positive.
    for (let r = 0; r < P; r++) if (rng.next() < 0.3) { const j = rng.int(0, R - 1); x.posIds[r] = x.negIds[j]!; samples[r * S] = j; }
    const perRowIds = Uint32Array.from(samples, (j) => x.negIds[j]!);
    x.ref.posEmb = gatherRef(x.items, x.posIds, d);
    const ref: LossRefInput = { ...x.ref, R: S, shared: false, negIds: perRowIds, negEmb: gatherRef(x.items, perRowIds, d) };
    const { inp, all } = upload(c, x);
    inp.rowSamples = gpu.u32(samples, [P, S], 'rowSamples');
    const shape = { P, R, d, temperature: c.tau, sharedNegatives: true, samplesPerRow: S, similarity: c.dot ? 'dot' as const : undefined };
    const rowLoss = gpu.empty([P], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss');
    const dU = gpu.empty([P, d], 'f32', 'dU'), dPos = gpu.empty([P, d], 'f32', 'dPos'), dNeg = gpu.empty([R, d], 'f32', 'dNeg');
    poison(gpu, rowLoss, loss, dU, dPos, dNeg);
    const rec = gpu.recorder();
    sampledSoftmaxLoss(rec, inp, shape, { rowLoss, loss });
    sampledSoftmaxBackward(rec, inp, shape, { rowLoss }, { dU, dPos, dNeg }, { dLoss: 1.5, reuseForward: true });
    await rec.submit();
    const want = sampledSoftmaxRef(ref);
    const g = sampledSoftmaxBackwardRef(ref, 1.5);
    const dNegCols = new Float64Array(R * d);
    samples.forEach((j, slot) => { for (let i = 0; i < d; i++) dNegCols[j * d + i]! += g.dNeg[slot * d + i]!; });
    const tol = { atol: 3e-4 / c.tau, rtol: 1e-4 };
    expectClose('rowLoss', await gpu.read(rowLoss), want.rowLoss, tol);
    expectClose('loss', await gpu.read(loss), [want.loss], tol);
    const gScale = Math.max(maxAbs(g.dU), maxAbs(g.dPos), maxAbs(dNegCols), 1.5 / (c.tau * P));
    for (const [name, t, r] of [['dU', dU, g.dU], ['dPos', dPos, g.dPos], ['dNeg', dNeg, dNegCols]] as const) {
      expectClose(name, await gpu.read(t), r, { atol: 2e-4 * gScale, rtol: 2e-3, shape: t.shape });
    }
    [...all, inp.rowSamples, rowLoss, loss, dU, dPos, dNeg].forEach((t) => t.release());
  });

  it('per-row samples are refused without shared negatives, on the naive variant and with a wrong shape', () => {
    const c: Case = { P: 4, R: 3, d: 2, table: true, weights: false, tau: 0.05, shared: true };
    const x = makeCase(c, 3);
    const { inp, all } = upload(c, x);
    const rowLoss = gpu.empty([4], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss');
    inp.rowSamples = gpu.u32(new Uint32Array(8), [4, 2], 'rowSamples');
    const rec = gpu.recorder();
    const base = { P: 4, R: 3, d: 2, temperature: 0.05 };
    expect(() => sampledSoftmaxLoss(rec, inp, { ...base, sharedNegatives: true, samplesPerRow: 3 }, { rowLoss, loss })).toThrow(/rowSamples of shape \[4, 3\]/);
    expect(() => sampledSoftmaxLoss(rec, inp, { ...base, sharedNegatives: true }, { rowLoss, loss })).toThrow(/samplesPerRow/);
    expect(() => sampledSoftmaxLoss(rec, inp, { ...base, sharedNegatives: true, samplesPerRow: 2 }, { rowLoss, loss }, { variant: 'naive' })).toThrow(/fused variant only/);
    [...all, inp.rowSamples, rowLoss, loss].forEach((t) => t.release());
  });

  it('chunked backward (rowStart/rowCount) equals the slice of the full gradient; loss deterministic', async () => {
    const c: Case = { P: 300, R: 5, d: 3, table: true, weights: true, tau: 0.05 };
    const x = makeCase(c, 9);
    const { inp, all } = upload(c, x);
    const { P, R, d } = c;
    const shape = { P, R, d, temperature: c.tau };
    const rowLoss = gpu.empty([P], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss'), loss2 = gpu.empty([1], 'f32', 'loss2');
    const [s, n] = [101, 77];
    const dU = gpu.empty([n, d], 'f32', 'dU'), dPos = gpu.empty([n, d], 'f32', 'dPos'), dNeg = gpu.empty([n, R, d], 'f32', 'dNeg');
    poison(gpu, rowLoss, loss, loss2, dU, dPos, dNeg);
    const rec = gpu.recorder();
    sampledSoftmaxLoss(rec, inp, shape, { rowLoss, loss });
    sampledSoftmaxLoss(rec, inp, shape, { rowLoss, loss: loss2 });
    sampledSoftmaxBackward(rec, inp, shape, { rowLoss }, { dU, dPos, dNeg }, { rowStart: s, rowCount: n });
    await rec.submit();
    expect((await gpu.read(loss))[0]).toBe((await gpu.read(loss2))[0]);
    const g = sampledSoftmaxBackwardRef(x.ref);
    const tol = (ref: ArrayLike<number>) => ({ atol: 2e-4 * maxAbs(ref) + 1e-9, rtol: 2e-3 });
    const du = g.dU.slice(s * d, (s + n) * d), dp = g.dPos.slice(s * d, (s + n) * d), dn = g.dNeg.slice(s * R * d, (s + n) * R * d);
    expectClose('dU', await gpu.read(dU), du, tol(du));
    expectClose('dPos', await gpu.read(dPos), dp, tol(dp));
    expectClose('dNeg', await gpu.read(dNeg), dn, tol(dn));
    [...all, rowLoss, loss, loss2, dU, dPos, dNeg].forEach((t) => t.release());
  });

  it('shared negatives: reuseForward gives the same gradients as recomputing; it is checked', async () => {
    const c: Case = { P: 203, R: 17, d: 13, table: true, weights: true, tau: 0.05, shared: true };
    const x = makeCase(c, 21);
    const { inp, all } = upload(c, x);
    const { P, R, d } = c;
    const shape = { P, R, d, temperature: c.tau, sharedNegatives: true };
    const rowLoss = gpu.empty([P], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss');
    const mk = (tag: string) => [gpu.empty([P, d], 'f32', `dU${tag}`), gpu.empty([P, d], 'f32', `dPos${tag}`), gpu.empty([R, d], 'f32', `dNeg${tag}`)] as const;
    const [dU1, dPos1, dNeg1] = mk('1'), [dU2, dPos2, dNeg2] = mk('2');
    poison(gpu, rowLoss, loss, dU1, dPos1, dNeg1, dU2, dPos2, dNeg2);
    const rec = gpu.recorder();
    sampledSoftmaxLoss(rec, inp, shape, { rowLoss, loss });
    sampledSoftmaxBackward(rec, inp, shape, { rowLoss }, { dU: dU1, dPos: dPos1, dNeg: dNeg1 }, { reuseForward: true });
    sampledSoftmaxBackward(rec, inp, shape, { rowLoss }, { dU: dU2, dPos: dPos2, dNeg: dNeg2 });
    // the first backward consumed the record: reusing again must be refused
    expect(() => sampledSoftmaxBackward(rec, inp, shape, { rowLoss }, { dU: dU2, dPos: dPos2, dNeg: dNeg2 }, { reuseForward: true })).toThrow(/HINT/);
    expect(() => sampledSoftmaxBackward(gpu.recorder(), inp, shape, { rowLoss }, { dU: dU2, dPos: dPos2, dNeg: dNeg2 }, { reuseForward: true, variant: 'naive' })).toThrow(/fused shared/);
    await rec.submit();
    for (const [a, b] of [[dU1, dU2], [dPos1, dPos2], [dNeg1, dNeg2]] as const) expectClose(a.label, await gpu.read(a), await gpu.read(b), { atol: 0, rtol: 0 });
    const g = sampledSoftmaxBackwardRef(x.ref);
    const gScale = Math.max(maxAbs(g.dU), maxAbs(g.dPos), maxAbs(g.dNeg));
    expectClose('dNeg vs float64', await gpu.read(dNeg1), g.dNeg, { atol: 2e-4 * gScale, rtol: 2e-3 });
    [...all, rowLoss, loss, dU1, dPos1, dNeg1, dU2, dPos2, dNeg2].forEach((t) => t.release());
  });

  it('shared negatives: all weights zero gives loss 0 and zero gradients; P = 0 works', async () => {
    const c: Case = { P: 5, R: 3, d: 4, table: true, weights: true, tau: 0.05, shared: true };
    const x = makeCase(c, 4);
    x.weights!.fill(0);
    const { inp, all } = upload(c, x);
    const shape = { P: 5, R: 3, d: 4, temperature: 0.05, sharedNegatives: true };
    const rowLoss = gpu.empty([5], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss');
    const dU = gpu.empty([5, 4], 'f32', 'dU'), dPos = gpu.empty([5, 4], 'f32', 'dPos'), dNeg = gpu.empty([3, 4], 'f32', 'dNeg');
    const e = { u: gpu.empty([0, 4], 'f32', 'u0'), posIds: gpu.empty([0], 'u32', 'p0'), negIds: inp.negIds, items: inp.items };
    const rl0 = gpu.empty([0], 'f32', 'rl0'), l0 = gpu.empty([1], 'f32', 'l0');
    const dU0 = gpu.empty([0, 4], 'f32', 'dU0'), dPos0 = gpu.empty([0, 4], 'f32', 'dPos0'), dNeg0 = gpu.empty([3, 4], 'f32', 'dNeg0');
    poison(gpu, rowLoss, loss, dU, dPos, dNeg, l0, dNeg0);
    const rec = gpu.recorder();
    sampledSoftmaxLoss(rec, inp, shape, { rowLoss, loss });
    sampledSoftmaxBackward(rec, inp, shape, { rowLoss }, { dU, dPos, dNeg }, { reuseForward: true });
    sampledSoftmaxLoss(rec, e, { ...shape, P: 0 }, { rowLoss: rl0, loss: l0 });
    sampledSoftmaxBackward(rec, e, { ...shape, P: 0 }, { rowLoss: rl0 }, { dU: dU0, dPos: dPos0, dNeg: dNeg0 }, { reuseForward: true });
    await rec.submit();
    for (const t of [rowLoss, loss, dU, dPos, dNeg, l0, dNeg0]) expect([...(await gpu.read(t))].every((v) => v === 0), t.label).toBe(true);
    [...all, rowLoss, loss, dU, dPos, dNeg, e.u, e.posIds, rl0, l0, dU0, dPos0, dNeg0].forEach((t) => t.release());
  });

  it('all weights zero: loss 0 and zero gradients; P = 0 works', async () => {
    const c: Case = { P: 5, R: 3, d: 4, table: true, weights: true, tau: 0.05 };
    const x = makeCase(c, 3);
    x.weights!.fill(0);
    const { inp, all } = upload(c, x);
    const shape = { P: 5, R: 3, d: 4, temperature: 0.05 };
    const rowLoss = gpu.empty([5], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss');
    const dU = gpu.empty([5, 4], 'f32', 'dU'), dPos = gpu.empty([5, 4], 'f32', 'dPos'), dNeg = gpu.empty([5, 3, 4], 'f32', 'dNeg');
    const e = { u: gpu.empty([0, 4], 'f32', 'u0'), posIds: gpu.empty([0], 'u32', 'p0'), negIds: gpu.empty([0, 3], 'u32', 'n0'), items: inp.items };
    const rl0 = gpu.empty([0], 'f32', 'rl0'), l0 = gpu.empty([1], 'f32', 'l0');
    poison(gpu, rowLoss, loss, dU, dPos, dNeg, l0);
    const rec = gpu.recorder();
    sampledSoftmaxLoss(rec, inp, shape, { rowLoss, loss });
    sampledSoftmaxBackward(rec, inp, shape, { rowLoss }, { dU, dPos, dNeg });
    sampledSoftmaxLoss(rec, e, { ...shape, P: 0 }, { rowLoss: rl0, loss: l0 });
    await rec.submit();
    for (const t of [rowLoss, loss, dU, dPos, dNeg, l0]) expect([...(await gpu.read(t))].every((v) => v === 0), t.label).toBe(true);
    [...all, rowLoss, loss, dU, dPos, dNeg, e.u, e.posIds, e.negIds, rl0, l0].forEach((t) => t.release());
  });

  it('rejects bad shapes and arguments', () => {
    const u = gpu.empty([4, 3], 'f32', 'u'), posIds = gpu.empty([4], 'u32', 'p'), negIds = gpu.empty([4, 2], 'u32', 'n');
    const items = gpu.empty([10, 3], 'f32', 'items'), rowLoss = gpu.empty([4], 'f32', 'rl'), loss = gpu.empty([1], 'f32', 'l');
    const rec = gpu.recorder();
    const shape = { P: 4, R: 2, d: 3, temperature: 0.05 };
    expect(() => sampledSoftmaxLoss(rec, { u, posIds, negIds, items }, { ...shape, d: 4 }, { rowLoss, loss })).toThrow(/expected u of shape \[4, 4\], got \[4, 3\]/);
    expect(() => sampledSoftmaxLoss(rec, { u, posIds, negIds }, shape, { rowLoss, loss })).toThrow(/expected posEmb/);
    expect(() => sampledSoftmaxLoss(rec, { u, posIds, negIds, items }, { ...shape, temperature: 0 }, { rowLoss, loss })).toThrow(/temperature > 0/);
    expect(() => sampledSoftmaxLoss(rec, { u, posIds: negIds, negIds, items }, shape, { rowLoss, loss })).toThrow(/posIds/);
    expect(() => sampledSoftmaxBackward(rec, { u, posIds, negIds, items }, shape, { rowLoss }, { dU: u, dPos: u, dNeg: u }, { rowStart: 3, rowCount: 2 })).toThrow(/rowStart/);
    expect(() => sampleNegatives(rec, negIds, { P: 4, R: 2, numItems: 0, seed: 1 })).toThrow(/numItems/);
    [u, posIds, negIds, items, rowLoss, loss].forEach((t) => t.release());
  });
});

describe('sampled_softmax: non-finite inputs', () => {
  // NaN in user row 2; +Inf in an UNMASKED negative of row 4 (its loss is non-finite); +Inf in a
  // MASKED negative of row 0 (a collision with the positive: skipped, so row 0 stays
  // bit-identical). Every other row's loss and gradients are bit-identical to the clean run, and
  // the mean loss is non-finite.
  it.each(['fused', 'naive'] as const)('variant %s', async (variant) => {
    const c: Case = { P: 6, R: 4, d: 5, table: false, weights: false, tau: 0.05 };
    const x = makeCase(c, 21);
    const { P, R, d } = c;
    const j4 = [0, 1, 2, 3].find((j) => x.negIds[4 * R + j] !== x.posIds[4])!;
    expect(j4).toBeDefined();
    expect(x.negIds[0 * R + 1]).toBe(x.posIds[0]); // makeCase masks every slot j > 0 of row 0
    const run = async (dirty: boolean) => {
      const y = { ...x, u: Float32Array.from(x.u), ref: { ...x.ref, negEmb: Float32Array.from(x.ref.negEmb) } };
      if (dirty) { y.u[2 * d + 1] = NaN; y.ref.negEmb[(4 * R + j4) * d + 3] = Infinity; y.ref.negEmb[(0 * R + 1) * d] = Infinity; }
      const { inp, all } = upload(c, y);
      const rowLoss = gpu.empty([P], 'f32', 'rowLoss'), loss = gpu.empty([1], 'f32', 'loss');
      const dU = gpu.empty([P, d], 'f32', 'dU'), dPos = gpu.empty([P, d], 'f32', 'dPos'), dNeg = gpu.empty([P, R, d], 'f32', 'dNeg');
      poison(gpu, rowLoss, loss, dU, dPos, dNeg);
      const shape = { P, R, d, temperature: c.tau };
      const rec = gpu.recorder();
      sampledSoftmaxLoss(rec, inp, shape, { rowLoss, loss }, { variant });
      sampledSoftmaxBackward(rec, inp, shape, { rowLoss }, { dU, dPos, dNeg }, { variant, dLoss: 1 });
      await rec.submit();
      const r = { rowLoss: await gpu.read(rowLoss), loss: await gpu.read(loss), dU: await gpu.read(dU), dPos: await gpu.read(dPos), dNeg: await gpu.read(dNeg) };
      [...all, rowLoss, loss, dU, dPos, dNeg].forEach((t) => t.release());
      return r;
    };
    const a = await run(false), b = await run(true);
    expectIsolated('rowLoss', b.rowLoss, a.rowLoss, [2, 4], 1, { allBad: true });
    expect(Number.isFinite(b.loss[0]!)).toBe(false);
    expectIsolated('dU', b.dU, a.dU, [2, 4], d);
    // dPos of row 4 may be finite (the positive's probability is exactly 0 next to an Inf logit).
    expectIsolatedWhere('dPos', b.dPos, a.dPos, (e) => (Math.floor(e / d) === 4 ? 'any' : Math.floor(e / d) === 2));
    expectIsolatedWhere('dNeg', b.dNeg, a.dNeg, (e) => ([2, 4].includes(Math.floor(e / (R * d))) ? 'any' : false));
  });
});
