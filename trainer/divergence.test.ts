// The divergence guard: a run with an absurd learning rate stops with an error naming the tensor
// and step and leaves no non-finite checkpoint (ranking), or warns about the exploding
// update/weight ratio (retrieval, whose cosine loss keeps huge weights finite); the guarded step
// refuses non-finite losses, gradients and parameters before/after the update, and clips.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { fill } from '../kernels/elementwise/elementwise.js';
import { loadCheckpoint } from './checkpoint.js';
import { checkFiniteBlobs, clipFactor, DivergenceError, guardedStep, paramCheckDue, settleGuard, UPDATE_RATIO_WARN, type GuardOptions } from './divergence.js';
import { trainRanking } from './ranking_train.js';
import { tinyRunConfig, tinyRunData } from './tiny_run.js';
import { train } from './train.js';

let gpu: Gpu;
beforeAll(async () => (gpu = await createGpu()));
afterAll(() => gpu?.dispose());

const allFinite = (dir: string, name: string) => loadCheckpoint(join(dir, name)).params.every((b) => Array.from(b.data).every(Number.isFinite));

describe('divergence in training (issue 16 reproducers, synthetic data)', () => {
  it('ranking, --lr=1e9: stops with a DivergenceError naming the tensor and step; no non-finite checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-div-rank-'));
    const c = tinyRunConfig({ task: 'ranking', lr: 1e9, dim: 8, dqk: 4, dv: 4, headHidden: 8, rankingCandidates: 4, rankingWindows: 2, epochs: 2, evalEvery: 1 });
    const lines: string[] = [];
    const err = await trainRanking({ config: c, data: tinyRunData(), outDir: dir, log: (s) => lines.push(s), gpu }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DivergenceError);
    const e = err as DivergenceError;
    expect(e.message).toMatch(/diverged at step \d+: .*'[\w.]+'|diverged at step \d+: the loss|diverged at step \d+: the ranking head output/);
    expect(e.message).toMatch(/HINT/);
    expect(e.step).toBeGreaterThanOrEqual(0);
    expect(lines.some((l) => l.includes('update/weight ratio'))).toBe(true);
    // Whatever was written before the stop is finite (best.hstu above all).
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.hstu'))) expect(allFinite(dir, f), f).toBe(true);
  });

  it('retrieval, --lr=1e9: warns that the update/weight ratio exploded; checkpoints stay finite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hstu-div-retr-'));
    const c = tinyRunConfig({ lr: 1e9, epochs: 1 });
    const lines: string[] = [];
    try {
      await train({ config: c, data: tinyRunData(), outDir: dir, log: (s) => lines.push(s), gpu });
    } catch (e) {
      expect(e).toBeInstanceOf(DivergenceError); // stopping is fine too; finishing silently is not
    }
    expect(lines.find((l) => l.includes('update/weight ratio'))).toMatch(/step 0: update\/weight ratio \S+ > 1/);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.hstu'))) expect(allFinite(dir, f), f).toBe(true);
  });

  it('a healthy run (default lr) gives no warning', async () => {
    const lines: string[] = [];
    await train({ config: tinyRunConfig({ epochs: 1 }), data: tinyRunData(), log: (s) => lines.push(s), gpu, noEval: true });
    expect(lines.filter((l) => l.includes('warning'))).toEqual([]);
  });
});

describe('guardedStep', () => {
  const cfg = { gradClipNorm: 0, divergenceCheckEvery: 1 };
  const tensors = (g: number[][], w: number[][] = g.map((x) => x.map(() => 1))) => ({
    grads: g.map((x, k) => ({ name: `p${k}`, t: gpu.f32(x, [x.length], `g${k}`) })),
    dense: w.map((x, k) => ({ name: `p${k}`, w: gpu.f32(x, [x.length], `w${k}`) })),
  });

  it('refuses a NaN/Inf gradient before the update, naming the tensor and step', async () => {
    for (const bad of [NaN, Infinity]) {
      const t = tensors([[1, 2], [3, bad, 4]]);
      let updated = false;
      const p = guardedStep(gpu, gpu.recorder(), 17, cfg, { loss: 1, ...t }, () => (updated = true));
      await expect(p).rejects.toThrow(/diverged at step 17: the gradient of 'p1' holds (NaN|±Inf)/);
      expect(updated).toBe(false);
    }
  });

  it('a gradient probed by its per-row squared norms: that sum is the norm; NaN/Inf in them refuse the update', async () => {
    const clip = { gradClipNorm: 1, divergenceCheckEvery: 1 };
    // g's own Σx² is 14; the row squares say 3 + 1 = 4: the guard must use the latter (norm 2).
    const ok = { name: 'item_emb', t: gpu.f32([1, 2, 3], [3], 'g'), rowSquares: gpu.f32([3, 1], [2], 'sq') };
    const r = await guardedStep(gpu, gpu.recorder(), 3, clip, { loss: 1, grads: [ok], dense: [] }, () => undefined);
    expect(r.gradNorm).toBeCloseTo(2, 6);
    for (const bad of [NaN, Infinity]) {
      const g = { name: 'item_emb', t: gpu.f32([1, 2, 3], [3], 'g'), rowSquares: gpu.f32([3, bad], [2], 'sq') };
      let updated = false;
      const p = guardedStep(gpu, gpu.recorder(), 5, cfg, { loss: 1, grads: [g], dense: [] }, () => (updated = true));
      await expect(p).rejects.toThrow(/diverged at step 5: the gradient of 'item_emb' holds (NaN|±Inf)/);
      expect(updated).toBe(false);
    }
  });

  it('a deferred probe (checked after the update): its NaN/Inf stops the run naming its step, at once or with the next step', async () => {
    for (const bad of [NaN, Infinity]) {
      // No caller-held options: the verdict is awaited before guardedStep returns.
      let updated = false;
      const d = { name: 'item_emb', rowSquares: gpu.f32([1, bad], [2], 'sq') };
      await expect(guardedStep(gpu, gpu.recorder(), 8, cfg, { loss: 1, grads: [], dense: [], deferred: d }, () => (updated = true))).rejects.toThrow(/diverged at step 8: the gradient of 'item_emb' holds (NaN|±Inf)/);
      expect(updated).toBe(true); // the update ran: the fused pass itself left the bad rows unchanged
      // keepPending: step 8 returns; its verdict stops step 9 (before step 9's update), naming step 8.
      const guard: GuardOptions = { keepPending: true };
      const e = { name: 'item_emb', rowSquares: gpu.f32([1, bad], [2], 'sq') };
      await guardedStep(gpu, gpu.recorder(), 8, cfg, { loss: 1, grads: [], dense: [], deferred: e }, () => undefined, guard);
      expect(guard.pending).toBeDefined();
      let updated9 = false;
      await expect(guardedStep(gpu, gpu.recorder(), 9, cfg, { loss: 1, grads: [], dense: [] }, () => (updated9 = true), guard)).rejects.toThrow(/diverged at step 8: the gradient of 'item_emb'/);
      expect(updated9).toBe(false);
      // settleGuard delivers it where there is no next step.
      const last: GuardOptions = { keepPending: true };
      await guardedStep(gpu, gpu.recorder(), 30, cfg, { loss: 1, grads: [], dense: [], deferred: { name: 'item_emb', rowSquares: gpu.f32([bad], [1], 'sq') } }, () => undefined, last);
      await expect(settleGuard(last)).rejects.toThrow(/diverged at step 30/);
      await expect(settleGuard(last)).resolves.toBeUndefined(); // delivered once
    }
    const fine: GuardOptions = { keepPending: true };
    await guardedStep(gpu, gpu.recorder(), 2, cfg, { loss: 1, grads: [], dense: [], deferred: { name: 'item_emb', rowSquares: gpu.f32([1, 2], [2], 'sq') } }, () => undefined, fine);
    await expect(settleGuard(fine)).resolves.toBeUndefined();
    // Clipping needs every norm before the update: a deferred probe with clipping is refused.
    await expect(guardedStep(gpu, gpu.recorder(), 1, { gradClipNorm: 1, divergenceCheckEvery: 0 }, { loss: 1, grads: [], dense: [], deferred: { name: 'item_emb', rowSquares: gpu.f32([1], [1], 'sq') } }, () => undefined)).rejects.toThrow(/cannot be clipped.*HINT/);
  });

  it('refuses a non-finite loss (GPU tensor or number)', async () => {
    const t = tensors([[1]]);
    await expect(guardedStep(gpu, gpu.recorder(), 3, cfg, { loss: gpu.f32([NaN], [1]), ...t }, () => undefined)).rejects.toThrow(/step 3: the loss is NaN/);
    await expect(guardedStep(gpu, gpu.recorder(), 4, cfg, { loss: -Infinity, ...t }, () => undefined)).rejects.toThrow(/step 4: the loss is -Infinity/);
  });

  it('refuses parameters made non-finite by the update (at the probe cadence) and warns on exploding ratios', async () => {
    const t = tensors([[1, 1]], [[0.5, 0.5]]);
    await expect(guardedStep(gpu, gpu.recorder(), 5, cfg, { loss: 1, ...t }, (rec) => fill(rec, t.dense[0]!.w, NaN))).rejects.toThrow(/step 5: the parameter of 'p0' holds NaN/);
    const u = tensors([[1, 1]], [[0.5, 0.5]]);
    const lines: string[] = [];
    await guardedStep(gpu, gpu.recorder(), 6, cfg, { loss: 1, ...u }, (rec) => fill(rec, u.dense[0]!.w, 1e6), { log: (s) => lines.push(s) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/step 6: update\/weight ratio .* p0/);
    const v = tensors([[1, 1]], [[0.5, 0.5]]);
    await guardedStep(gpu, gpu.recorder(), 7, cfg, { loss: 1, ...v }, (rec) => fill(rec, v.dense[0]!.w, 0.501), { log: (s) => lines.push(s) });
    expect(lines).toHaveLength(1); // a small update: no warning
  });

  it('clips the global gradient norm to gradClipNorm (and leaves it when below)', async () => {
    const t = tensors([[3, 0], [0, 4]]); // global norm 5
    const r = await guardedStep(gpu, gpu.recorder(), 0, { gradClipNorm: 1, divergenceCheckEvery: 0 }, { loss: 1, ...t }, () => undefined);
    expect(r.gradNorm).toBe(5);
    expect(Array.from(await gpu.read(t.grads[0]!.t))).toEqual([Math.fround(3 * 0.2), 0]);
    expect(Array.from(await gpu.read(t.grads[1]!.t))).toEqual([0, Math.fround(4 * 0.2)]);
    const u = tensors([[0.3, 0.4]]);
    await guardedStep(gpu, gpu.recorder(), 0, { gradClipNorm: 1, divergenceCheckEvery: 0 }, { loss: 1, ...u }, () => undefined);
    expect(Array.from(await gpu.read(u.grads[0]!.t))).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });

  it('helpers: clip factor, cadence, checkpoint check', () => {
    expect(clipFactor(10, 0)).toBe(1);
    expect(clipFactor(10, 2)).toBe(0.2);
    expect(clipFactor(1, 2)).toBe(1);
    expect([0, 1, 49, 50, 100].map((s) => paramCheckDue(s, 50, 0))).toEqual([true, false, false, true, true]);
    expect(paramCheckDue(7, 0, 7)).toBe(true);
    expect(UPDATE_RATIO_WARN).toBeGreaterThan(0);
    expect(() => checkFiniteBlobs([{ name: 'a', data: Float32Array.of(1) }, { name: 'head.w2', data: Float32Array.of(0, Infinity) }], 9, 'best.hstu')).toThrow(/refusing to write best.hstu at step 9: tensor 'head.w2' element 1 is Infinity/);
    expect(() => checkFiniteBlobs([{ name: 'ids', data: Uint32Array.of(0xffffffff) }], 9, 'x')).not.toThrow();
  });
});
