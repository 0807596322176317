// Divergence guard for both trainers (retrieval: trainer/train.ts, ranking: trainer/ranking_train.ts).
// A diverged run must stop with an error naming the tensor and the step; it must never leave a
// non-finite checkpoint behind, nor keep training on NaN weights (issue 16).
//
// What is checked, and when (the cadence):
//   every step, BEFORE the optimizer update (so a non-finite gradient is never applied):
//     - the loss is finite;
//     - every gradient tensor's sum of squares (one GPU reduction per tensor, kernels/reduce/
//       sum_squares: NaN if any element is NaN, +Inf if any is ±Inf or the norm overflows; for the
//       item table's gradient on the gathered path, the sum of the per-row squared norms its
//       kernels wrote, so its ≈ 26M elements at 1M items are not read again), read back as one
//       small buffer. The global gradient norm is their root sum; with
//       config.gradClipNorm > 0 every gradient is scaled by gradClipNorm / norm when above it.
//   every config.divergenceCheckEvery steps (and at the first step), AROUND the optimizer update:
//     - the update/weight ratio ‖w_after − w_before‖ / ‖w_before‖ over all dense parameters
//       (tensors still all zero, e.g. fresh biases, left out); above UPDATE_RATIO_WARN a warning
//       names the tensors with the largest ratios (training continues: a warning, not a stop);
//     - every parameter (dense tensors and the item table) is finite after the update.
//   before every checkpoint write: every parameter and optimizer-state tensor read back for the
//     checkpoint is finite (host check on the snapshot; a non-finite one is never saved).
// Cost per step: one dispatch per gradient tensor in the step's pass, a readback of a few floats
// and one extra submit (the optimizer step waits for the verdict).
import type { Gpu, Recorder, Tensor } from '../kernels/gpu/index.js';
import { axpby, scale } from '../kernels/elementwise/elementwise.js';
import type { EmbeddingTable } from '../kernels/embedding/embedding.js';
import { sumSquares, sumValues } from '../kernels/reduce/sum_squares.js';

/** Update/weight ratio above which a warning is logged: ‖Δw‖ / ‖w‖ over all dense parameters in
 *  ONE optimizer step. Healthy Adam runs stay near lr / (weight scale): about 0.01–0.1 on the
 *  first step at lr 1e-3 (every element moves by ≈ lr), less later. Above 1 a single step
 *  changes the weights by more than their own size: the learning rate is far too high (--lr=1e9
 *  gives ratios around 1e9 and more). */
export const UPDATE_RATIO_WARN = 1;

/** A divergence stop: names the tensor and the step. */
export class DivergenceError extends Error {
  constructor(
    message: string,
    readonly step: number,
    readonly tensor: string,
  ) {
    super(message);
    this.name = 'DivergenceError';
  }
}

const HINT = 'HINT: the run diverged: lower --lr (or set --gradClipNorm, e.g. 1), or check the data; restart from the last finite checkpoint (best.hstu is never written non-finite).';

/** A tensor to probe: a Tensor, or a raw f32 buffer with its element count (embedding shards). */
export interface Probe {
  name: string;
  t: Tensor<'f32'> | GPUBuffer;
  n?: number;
  /** Per-row Σx² of `t` already on the device (e.g. written by the kernel that produced t): its
   *  plain sum is the probe, and t is not read again. NaN/±Inf propagate through it alike. */
  rowSquares?: Tensor<'f32'>;
}

/** Records Σx² of each probe into one small buffer (one dispatch each); read() after the submit. */
export class SquaredNorms {
  private readonly out: Tensor<'f32'>;

  constructor(gpu: Gpu, rec: Recorder, private readonly probes: readonly Probe[], label = 'divergence:sumsq') {
    this.out = gpu.empty([Math.max(probes.length, 1)], 'f32', label);
    probes.forEach((p, k) => (p.rowSquares ? sumValues(rec, p.rowSquares, this.out, k) : sumSquares(rec, p.t, this.out, k, p.n)));
  }

  /** Σx² per probe name (after the recorder's submit). Releases the buffer. */
  async read(gpu: Gpu): Promise<Map<string, number>> {
    const v = await gpu.read(this.out);
    this.out.release();
    return new Map(this.probes.map((p, k) => [p.name, v[k]!]));
  }
}

/** Throws a DivergenceError unless the loss is finite. */
export function checkLoss(loss: number, step: number): void {
  if (!Number.isFinite(loss)) throw new DivergenceError(`training diverged at step ${step}: the loss is ${loss}. ${HINT}`, step, 'loss');
}

/** Throws a DivergenceError naming the first tensor whose Σx² is not finite; else returns √ΣΣx². */
export function checkSquaredNorms(what: 'gradient' | 'parameter', sq: Map<string, number>, step: number): number {
  let total = 0;
  for (const [name, s] of sq) {
    if (!Number.isFinite(s)) {
      const kind = Number.isNaN(s) ? 'holds NaN' : 'holds ±Inf (or its norm overflows f32)';
      throw new DivergenceError(`training diverged at step ${step}: the ${what} of '${name}' ${kind}. ${HINT}`, step, name);
    }
    total += s;
  }
  return Math.sqrt(total);
}

/** The factor gradients are scaled by: min(1, clip / norm); 1 when clipping is off (clip 0). */
export function clipFactor(norm: number, clip: number): number {
  return clip > 0 && norm > clip ? clip / norm : 1;
}

/** Records g ← factor·g for each gradient tensor (through a scratch copy: the kernel may not
 *  alias). Returns the scratch release (call after the submit). */
export function recordScaleGradients(rec: Recorder, gpu: Gpu, grads: readonly Tensor<'f32'>[], factor: number): () => void {
  const scratch: Tensor<'f32'>[] = [];
  for (const g of grads) {
    if (g.numel === 0) continue;
    const tmp = gpu.empty(g.shape, 'f32', 'divergence:clip');
    scale(rec, g, factor, tmp);
    rec.copy(tmp, g, g.numel * 4);
    scratch.push(tmp);
  }
  return () => scratch.forEach((t) => t.release());
}

/** Host check of tensors about to be written to a checkpoint: throws naming the first non-finite one. */
export function checkFiniteBlobs(blobs: readonly { name: string; data: ArrayLike<number> | Uint8Array }[], step: number, where: string): void {
  for (const b of blobs) {
    if (!(b.data instanceof Float32Array) && !(b.data instanceof Float64Array)) continue;
    const d = b.data;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!)) {
        throw new DivergenceError(`refusing to write ${where} at step ${step}: tensor '${b.name}' element ${i} is ${d[i]} (a non-finite checkpoint is never saved). ${HINT}`, step, b.name);
      }
    }
  }
}

/** The cadence of the parameter checks: the first step and every `every` steps (0: first step only). */
export function paramCheckDue(step: number, every: number, firstStep: number): boolean {
  return step === firstStep || (every > 0 && step % every === 0);
}

/**
 * The periodic parameter probe around one optimizer step: begin() (before the update) copies each
 * dense weight; end() (after it, same recorder) records ‖Δw‖², ‖w‖² per dense tensor and ‖w‖² of
 * the item table's shards; check() (after the submit) throws on a non-finite parameter and
 * returns the tensors whose update/weight ratio exceeds UPDATE_RATIO_WARN.
 */
export class ParamProbe {
  private readonly before: { name: string; w: Tensor<'f32'>; copy: Tensor<'f32'> }[] = [];
  private deltas?: SquaredNorms;
  private olds?: SquaredNorms;
  private weights?: SquaredNorms;
  private readonly scratch: Tensor<'f32'>[] = [];

  constructor(private readonly gpu: Gpu) {}

  begin(rec: Recorder, dense: readonly { name: string; w: Tensor<'f32'> }[]): void {
    for (const p of dense) {
      const copy = this.gpu.empty(p.w.shape, 'f32', 'divergence:w_before');
      rec.copy(p.w, copy, p.w.numel * 4);
      this.before.push({ name: p.name, w: p.w, copy });
    }
  }

  end(rec: Recorder, table?: EmbeddingTable): void {
    const diffs: Probe[] = [];
    for (const b of this.before) {
      const diff = this.gpu.empty(b.w.shape, 'f32', 'divergence:dw');
      axpby(rec, 1, b.w, -1, b.copy, diff);
      this.scratch.push(diff, b.copy);
      diffs.push({ name: b.name, t: diff });
    }
    const ws: Probe[] = this.before.map((b) => ({ name: b.name, t: b.w }));
    if (table && table.storage === 'f32') table.shards.forEach((s, k) => ws.push({ name: table.shards.length > 1 ? `item_emb (shard ${k})` : 'item_emb', t: s.w, n: s.rows * table.dim }));
    this.deltas = new SquaredNorms(this.gpu, rec, diffs, 'divergence:dw_sumsq');
    this.olds = new SquaredNorms(this.gpu, rec, this.before.map((b) => ({ name: b.name, t: b.copy })), 'divergence:w0_sumsq');
    this.weights = new SquaredNorms(this.gpu, rec, ws, 'divergence:w_sumsq');
  }

  /** After the submit: throws on non-finite parameters (naming the tensor and `step`, the step
   *  that produced them); returns the global update/weight ratio and the per-tensor ratios. */
  async check(step: number): Promise<{ ratio: number; perTensor: [string, number][] }> {
    try {
      const w = await this.weights!.read(this.gpu);
      const w0 = await this.olds!.read(this.gpu);
      const dw = await this.deltas!.read(this.gpu);
      checkSquaredNorms('parameter', w, step);
      let d2sum = 0, w2sum = 0;
      const perTensor: [string, number][] = [];
      for (const [name, d2] of dw) {
        const before = w0.get(name)!;
        if (!(before > 0)) continue; // all zero before the step (fresh biases): no scale to compare with
        d2sum += d2;
        w2sum += before;
        perTensor.push([name, Math.sqrt(d2 / before)]);
      }
      return { ratio: w2sum > 0 ? Math.sqrt(d2sum / w2sum) : 0, perTensor: perTensor.sort((a, b) => b[1] - a[1]) };
    } finally {
      this.scratch.forEach((t) => t.release());
    }
  }
}

/** The warning line when the update/weight ratio exceeds UPDATE_RATIO_WARN (else undefined). */
export function updateRatioWarning(r: { ratio: number; perTensor: readonly [string, number][] }, step: number): string | undefined {
  if (!(r.ratio > UPDATE_RATIO_WARN)) return undefined;
  const top = r.perTensor.slice(0, 3).map(([n, x]) => `${n} ${x.toExponential(2)}`).join(', ');
  return `warning: step ${step}: update/weight ratio ${r.ratio.toExponential(2)} > ${UPDATE_RATIO_WARN} (largest: ${top}): one step moved the weights by more than their size; training is exploding. HINT: lower --lr or set --gradClipNorm (e.g. 1).`;
}

export interface GuardOptions {
  /** The run's first step (a resumed run's too): the parameter probe always runs there. */
  firstStep?: number;
  /** Where update/weight warnings go (default console.warn). */
  log?: (line: string) => void;
  /** The check of the last step's deferred gradient probe, still reading back (set and consumed
   *  by guardedStep; settleGuard awaits it). */
  pending?: Promise<void>;
  /** Leave a deferred probe's verdict pending into the next step (the training loops, which call
   *  settleGuard before checkpoints, evaluations and at the end); otherwise it is awaited at once. */
  keepPending?: boolean;
}

/** Awaits the last step's deferred gradient check (throws its DivergenceError). Call before a
 *  checkpoint, an evaluation and at the end of training, where a step's verdict must be in. */
export async function settleGuard(guard: GuardOptions): Promise<void> {
  const p = guard.pending;
  guard.pending = undefined;
  await p;
}

export interface GuardedTensors {
  /** The batch's mean loss: a 1-element GPU tensor (read after the submit) or a host number. */
  loss: Tensor<'f32'> | number;
  /** Every gradient tensor the optimizer will apply (dense `g`s, the item table's summed rows). */
  grads: readonly { name: string; t: Tensor<'f32'>; rowSquares?: Tensor<'f32'> }[];
  /** Dense parameters (update/weight ratio, finiteness) and the item table (finiteness). */
  dense: readonly { name: string; w: Tensor<'f32'> }[];
  table?: EmbeddingTable;
  /** A gradient probed only AFTER the update (kernels/optim/item_adam computes the item table's
   *  gradient inside its update and leaves a row with a non-finite gradient unchanged): the per-row
   *  Σg² it writes, summed and checked once the update has run, without waiting for it — the
   *  verdict arrives with the next guarded step (or settleGuard) and names this step. */
  deferred?: { name: string; rowSquares: Tensor<'f32'> };
}

/**
 * The guarded optimizer step. `rec` holds the recorded gradients (not submitted yet): the gradient
 * probes are added to it and it is submitted; the loss and every gradient norm are checked (a
 * DivergenceError names the tensor and step); gradients are clipped to cfg.gradClipNorm when
 * set; `update` records the optimizer step into a second recorder, wrapped by the parameter
 * probe when due. Returns the loss and the global gradient norm (before clipping).
 */
export async function guardedStep(
  gpu: Gpu,
  rec: Recorder,
  step: number,
  cfg: { gradClipNorm: number; divergenceCheckEvery: number },
  t: GuardedTensors,
  update: (rec: Recorder) => void,
  opts: GuardOptions = {},
): Promise<{ loss: number; gradNorm: number }> {
  const probes = new SquaredNorms(gpu, rec, t.grads.map((g) => ({ name: g.name, t: g.t, rowSquares: g.rowSquares })), 'divergence:grad_sumsq');
  if (t.deferred && cfg.gradClipNorm > 0) throw new Error(`guardedStep: a deferred gradient probe cannot be clipped (gradClipNorm ${cfg.gradClipNorm} needs every norm before the update). HINT: this is a bug in the caller: use the unfused item update with clipping.`);
  await rec.submit();
  const loss = typeof t.loss === 'number' ? t.loss : (await gpu.read(t.loss))[0]!;
  const sq = await probes.read(gpu);
  if (opts.pending) await settleGuard(opts); // the previous step's deferred verdict first
  checkLoss(loss, step);
  const gradNorm = checkSquaredNorms('gradient', sq, step);
  const rec2 = gpu.recorder('divergence:update');
  const factor = clipFactor(gradNorm, cfg.gradClipNorm);
  const releaseClip = factor < 1 ? recordScaleGradients(rec2, gpu, t.grads.map((g) => g.t), factor) : () => undefined;
  const probe = paramCheckDue(step, cfg.divergenceCheckEvery, opts.firstStep ?? 0) ? new ParamProbe(gpu) : undefined;
  probe?.begin(rec2, t.dense);
  update(rec2);
  probe?.end(rec2, t.table);
  const deferred = t.deferred && new SquaredNorms(gpu, rec2, [{ name: t.deferred.name, t: t.deferred.rowSquares, rowSquares: t.deferred.rowSquares }], 'divergence:deferred_sumsq');
  await rec2.submit();
  releaseClip();
  if (deferred) {
    const verdict = deferred.read(gpu).then((dsq) => void checkSquaredNorms('gradient', dsq, step));
    verdict.catch(() => undefined); // handled where it is awaited (no unhandled rejection meanwhile)
    opts.pending = verdict;
    // Without a caller-held GuardOptions nobody would await it later: wait now.
    if (!opts.keepPending) await settleGuard(opts);
  }
  if (probe) {
    const warning = updateRatioWarning(await probe.check(step), step);
    if (warning) (opts.log ?? console.warn)(warning);
  }
  return { loss, gradNorm };
}

/** Throws a DivergenceError when a model output the loss reads is not finite (e.g. the ranking
 *  head's logits, read back to the host). */
export function checkFiniteOutputs(name: string, values: ArrayLike<number>, rows: ArrayLike<number>, width: number, step: number): void {
  for (let k = 0; k < rows.length; k++) {
    for (let c = 0; c < width; c++) {
      const v = values[rows[k]! * width + c]!;
      if (!Number.isFinite(v)) throw new DivergenceError(`training diverged at step ${step}: ${name} of row ${rows[k]} is ${v}. ${HINT}`, step, name);
    }
  }
}
