// The training loop (retrieval task): jagged batches → encoder → sampled softmax → backward →
// row-wise Adam on the item table + AdamW on dense params, periodic full-ranking evaluation,
// early stopping, checkpoints, metrics.jsonl. Seeded: same data + config → same numbers.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createGpu, flags, type Gpu, type Recorder, type Tensor } from '../kernels/gpu/index.js';
import type { ScatterPlan } from '../kernels/embedding/embedding.js';
import { fusedItemUpdate, itemTableGradients } from './item_gradients.js';
import { rowwiseAdam, type AdamOptions } from '../kernels/optim/optim.js';
import { uploadBatch } from '../model/batch.js';
import { validateConfig, type Config } from '../model/config.js';
import { createEncoder, type Encoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { checkResumeConfig, loadCheckpoint, saveCheckpoint, type Blob, type CheckpointData } from './checkpoint.js';
import { checkShapes, checkStepInEpoch } from './checkpoint_validate.js';
import { buildSequences, countTrainBatches, batchTrainSequences, evaluatePopularity, leaveLastOut, type Interactions, type MetricResult, type Split } from './data/index.js';
import { beyondRecord, itemCounts, itemPopularity } from './data/index.js';
import { requireEvaluableSplit } from './data/evaluable.js';
import { progressOf, validateEpoch } from './model_selection.js';
import { MetricsLog, historyOf } from './metrics_log.js';
import { recordRetrievalLoss, type RetrievalLossOptions } from '../model/retrieval_loss.js';
import { checkFiniteBlobs, guardedStep, settleGuard, type GuardOptions } from './divergence.js';
import { learningRate } from './schedule.js';
import { Progress } from './progress.js';
import { HostTier, checkHostTierTraining, encoderInitForHostTier, withNext } from './store/host_tier.js';
import { createItemStore, type ItemStoreSetup } from './store/redis_tier.js';
import { checkCheckpointTable, itemRowsRef, pruneItemRows, restoreItemRows, saveItemRows } from './store/item_checkpoint.js';
import { evaluateRetrievalOver } from './store/train_eval.js';
import type { CacheStats } from './store/device_cache.js';
import type { WorkerSync } from './distributed/worker_sync.js';

export interface TrainOptions {
  config: Config;
  data: Interactions;
  /** Directory for metrics.jsonl and checkpoints (none written when absent). */
  outDir?: string;
  /** Checkpoint to continue from (bit-exact). */
  resume?: string;
  /** Stop after this many optimizer steps in total (for tests and smoke runs). */
  maxSteps?: number;
  /** Skip evaluation entirely (for tests of the step itself). */
  noEval?: boolean;
  log?: (line: string) => void;
  gpu?: Gpu;
  /** Data-parallel worker (--workers, trainer/distributed/worker_sync.ts): steps on its rank's
   *  slice, shares the run's Redis table; only rank 0 restores rows, evaluates and saves. */
  worker?: WorkerSync;
}

export interface EvalRecord {
  split: 'validation' | 'test';
  epoch: number;
  'hr@10': number;
  'hr@50': number;
  'hr@200': number;
  'ndcg@10': number;
  'ndcg@200': number;
  mrr: number;
  [k: string]: number | string;
}

export interface TrainResult {
  losses: number[];
  step: number;
  epoch: number;
  best?: EvalRecord;
  test?: EvalRecord;
  popularity?: { validation: EvalRecord; test: EvalRecord };
  trainTokensPerSec: number;
  params: Map<string, Float32Array>;
  /** Host tier: the device cache's hit / miss / eviction / write-back / prefetch counts. */
  cacheStats?: CacheStats;
}

export function toRecord(split: 'validation' | 'test', epoch: number, m: MetricResult): EvalRecord {
  return {
    split,
    epoch,
    'hr@10': m.hr[10] ?? NaN,
    'hr@50': m.hr[50] ?? NaN,
    'hr@200': m.hr[200] ?? NaN,
    'ndcg@10': m.ndcg[10] ?? NaN,
    'ndcg@200': m.ndcg[200] ?? NaN,
    mrr: m.mrr,
    count: m.count,
    ...(m.beyond ? beyondRecord(m.beyond) : {}),
  };
}

export function prepareSplit(data: Interactions, c: Config): Split {
  const split = leaveLastOut(buildSequences(data), { maxHistory: c.maxLen });
  requireEvaluableSplit(split, data.source); // refuse degenerate data before training (issue 16)
  return split;
}

/** Reads every parameter (and optimizer state) back from the GPU. */
export async function snapshot(enc: Encoder, withItems = true): Promise<{ params: Blob[]; state: Blob[] }> {
  const params: Blob[] = [];
  const state: Blob[] = [];
  const t = enc.items;
  if (withItems) {
  params.push({ name: 'item_emb', shape: [t.rows, t.dim], dtype: 'f32', data: await t.read('w') });
  if (t.storage === 'bf16') throw new Error('checkpointing bf16 tables is not supported yet. HINT: train with --embeddingBf16=false.');
  state.push({ name: 'item_emb.m', shape: [t.rows, t.dim], dtype: 'f32', data: await t.read('m') });
  state.push({ name: 'item_emb.v', shape: [t.rows], dtype: 'f32', data: await t.read('v') });
  }
  for (const p of enc.dense.byName.values()) {
    params.push({ name: p.name, shape: p.shape, dtype: 'f32', data: await enc.gpu.read(p.w) });
    state.push({ name: `${p.name}.m`, shape: p.shape, dtype: 'f32', data: await enc.gpu.read(p.m) });
    state.push({ name: `${p.name}.v`, shape: p.shape, dtype: 'f32', data: await enc.gpu.read(p.v) });
  }
  return { params, state };
}

export function restore(enc: Encoder, ck: CheckpointData, withItems = true): void {
  const blobs = new Map([...ck.params, ...ck.optimizerState].map((b) => [b.name, b.data as Float32Array]));
  const need = (n: string) => {
    const b = blobs.get(n);
    if (!b) throw new Error(`checkpoint lacks tensor ${n}. HINT: it was written for another model config.`);
    return b;
  };
  if (withItems) {
    enc.items.upload(need('item_emb'), 'w');
    enc.items.upload(need('item_emb.m'), 'm');
    enc.items.upload(need('item_emb.v'), 'v');
  }
  for (const p of enc.dense.byName.values()) {
    for (const [part, t] of [['', p.w], ['.m', p.m], ['.v', p.v]] as const) {
      const data = need(p.name + part);
      if (data.length !== t.numel) throw new Error(`checkpoint tensor ${p.name}${part} has ${data.length} values, the model needs ${t.numel}. HINT: use the config the checkpoint was trained with.`);
      enc.gpu.write(t, data);
    }
  }
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const c = o.config;
  validateConfig(c);
  if (c.task !== 'retrieval') throw new Error(`trainer: task '${c.task}' is not supported by this trainer yet. HINT: use --task=retrieval.`);
  const log = o.log ?? ((s: string) => console.log(s));
  const split = prepareSplit(o.data, c);
  const tableRows = o.data.numItems;
  const gpu = o.gpu ?? (await createGpu());
  const ownGpu = !o.gpu;
  const metricsPath = o.outDir ? join(o.outDir, 'metrics.jsonl') : undefined;
  if (o.outDir) mkdirSync(o.outDir, { recursive: true });

  let enc: Encoder | undefined;
  let tier: HostTier | undefined;
  let host: ItemStoreSetup | undefined;
  try {
    // embeddingStore 'host': the table lives in host memory, the encoder's table is the cache.
    const ck = o.resume ? loadCheckpoint(o.resume) : undefined;
    if (ck) checkShapes(ck, o.resume!);
    // 'redis' (store/redis_tier.ts): the same cache in front of a Redis Cluster table.
    host = c.embeddingStore !== 'device' ? await createItemStore(c, tableRows, { restoring: !!ck, table: o.worker?.table, drop: !o.worker || o.worker.dropsTable }) : undefined;
    if (host) checkHostTierTraining(c, gpu, host.cacheRows, tableRows);
    enc = await createEncoder(gpu, c, host ? host.cacheRows : tableRows, host ? encoderInitForHostTier(c, tableRows, host.cacheRows) : initParams(c, tableRows - 1, c.seed));
    if (ck && ck.task !== 'retrieval') throw new Error(`${o.resume}: holds a '${ck.task}' model, not retrieval`);
    if (ck) checkCheckpointTable(ck, tableRows, o.resume!);
    if (host) {
      if (ck && (!o.worker || o.worker.isLeader)) await restoreItemRows(ck, o.resume!, host.store);
      await o.worker?.barrier('rows-restored');
      tier = await HostTier.attach(host.store, enc);
    } else if (ck && itemRowsRef(ck)) throw new Error(`${o.resume}: keeps its item table in a separate rows file (trained with --embeddingStore=host or redis). HINT: resume with --embeddingStore=host (or redis).`);
    const progress = progressOf<EvalRecord>(ck);
    const { sel } = progress;
    let { step, epoch, trainTokens, trainSecs } = progress;
    if (ck) {
      const differ = checkResumeConfig(ck, c, o.resume!);
      restore(enc, ck, !tier);
      log(`resumed from ${o.resume} at step ${step} (epoch ${epoch})`);
      if (differ.length) log(`note: config differs from the checkpoint's in ${differ.join(', ')}; the continuation is not the straight run's`);
    }

    const batchesPerEpoch = countTrainBatches(split.train, { batchSize: c.batchSize });
    if (batchesPerEpoch === 0) throw new Error('no training sequences (every user has < 2 training events). HINT: check the data file.');
    if (ck) checkStepInEpoch(step, epoch, batchesPerEpoch, o.resume!);
    const metrics = new MetricsLog(metricsPath, historyOf(ck, metricsPath)); // the file as of the checkpoint
    const totalSteps = c.epochs * batchesPerEpoch;
    log(`data: ${o.data.source}: ${o.data.numUsers} users, ${tableRows - 1} items, ${o.data.count} events; ${split.validation.count} validation / ${split.test.count} test examples`);
    log(`model: ${c.model}, ${c.numLayers} layers, d=${c.dim}, ${c.numHeads} heads, N=${c.maxLen}; ${batchesPerEpoch} steps/epoch on ${gpu.adapter.description}`);
    if (tier) log(`item table: ${c.embeddingStore} store${c.embeddingStore === 'redis' ? ` at ${c.redisAddress}` : ''}, ${tableRows} rows × ${c.dim} ${tier.store.storage}; device cache ${tier.cache.capacity} rows (${((enc.items.rows * enc.items.bytesPerRow) / 2 ** 20).toFixed(0)} MiB), LRU`);

    const losses: number[] = [];
    const save = async (name: string) => {
      if (!o.outDir) return;
      const { params, state } = await snapshot(enc!, !tier);
      checkFiniteBlobs([...params, ...state], step, join(o.outDir, name)); // never save a diverged model
      // Host tier: dirty cache rows go back to the store, whose rows stream to their own file.
      const itemRows = tier ? (await tier.cache.writeBack(), await saveItemRows(o.outDir, name, step, tier.store)) : undefined;
      saveCheckpoint(join(o.outDir, name), {
        task: 'retrieval',
        config: c as unknown as Record<string, unknown>,
        step,
        epoch,
        params,
        optimizerState: state,
        itemRawIds: o.data.itemRawIds.map(String),
        trainerState: { best: sel.best, test: sel.test, sinceBest: sel.sinceBest, trainTokens, trainSecs, source: o.data.source, metrics: metrics.saved, ...(itemRows ? { itemRows } : {}) },
      });
      if (itemRows) pruneItemRows(o.outDir, name, itemRows.file);
    };
    const trainPopularity = itemPopularity(itemCounts(split.train)); // coverage / popularity bias of the top 10
    const evaluate = async (which: 'validation' | 'test') => {
      const ex = which === 'validation' ? split.validation : split.test;
      const m = await evaluateRetrievalOver(gpu, enc!, ex, c, tier, trainPopularity);
      return toRecord(which, epoch, m);
    };

    let stop = false;
    // keepPending: a fused item update's verdict arrives with the next step; settled below.
    const guard: GuardOptions = { firstStep: step, log, keepPending: true };
    while (epoch < c.epochs && !stop) {
      const stepInEpoch = step - epoch * batchesPerEpoch;
      const bar = new Progress(`epoch ${epoch + 1}/${c.epochs}`, batchesPerEpoch, 'steps');
      let k = 0;
      for (const [tb, next] of withNext(batchTrainSequences(split.train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch, stochasticLengthAlpha: c.stochasticLengthAlpha }))) {
        if (k++ < stepInEpoch) continue; // resumed mid-epoch: these batches are done
        if (o.maxSteps !== undefined && step >= o.maxSteps) {
          stop = true;
          break;
        }
        const t0 = performance.now();
        const lr = learningRate(c.lrSchedule, c.lr, step, totalSteps, c.warmupSteps);
        const loss = o.worker ? await o.worker.step(gpu, enc, c, tb, step, lr, tier!) : await trainStep(gpu, enc, c, tb, step, lr, tableRows, guard, tier, next); // throws DivergenceError on a non-finite loss/gradient/parameter
        const dt = (performance.now() - t0) / 1000;
        losses.push(loss);
        step++;
        if (tier && !o.worker) await tier.afterStep(step, c.storeWriteBackSteps); // the store's staleness bound
        trainTokens += tb.items.length;
        trainSecs += dt;
        bar.update(k, { loss, 'tok/s': Math.round(trainTokens / trainSecs) });
      }
      await settleGuard(guard); // the last step's verdict, before any evaluation or checkpoint
      if (stop) break;
      epoch++;
      bar.done({ loss: losses[losses.length - 1] ?? NaN, 'tok/s': Math.round(trainTokens / Math.max(trainSecs, 1e-9)) });
      if (!o.noEval && (epoch % c.evalEvery === 0 || epoch === c.epochs)) {
        const record = (v: EvalRecord) => metrics.record({ ...v, train_tokens_per_s: trainTokens / trainSecs });
        stop = await validateEpoch({ epoch, sel, patience: c.earlyStopPatience, evaluate, record, save, log });
      }
      await save('checkpoint.hstu');
      if (o.worker) stop = await o.worker.agree(`epoch-${epoch}`, stop); // rank 0 decides early stopping
    }
    if (o.outDir && o.maxSteps !== undefined) await save('checkpoint.hstu');
    const tokensPerSec = trainTokens / Math.max(trainSecs, 1e-9);
    if (tier) log(`host tier: ${JSON.stringify(tier.cache.stats)}; device buffers ${((gpu.pool.bytesAllocated + enc.items.rows * enc.items.bytesPerRow) / 2 ** 20).toFixed(0)} MiB (pool + item cache)`);
    const { best, test } = sel;
    let popularity: TrainResult['popularity'];
    if (!o.noEval && test) {
      popularity = {
        validation: toRecord('validation', 0, evaluatePopularity(split.train, split.validation)),
        test: toRecord('test', 0, evaluatePopularity(split.train, split.test)),
      };
      // The popularity baseline's test metrics ride on the test line (it stays the last line).
      const { split: _s, epoch: _e, ...baseline } = popularity.test;
      const final = { ...test, train_tokens_per_s: tokensPerSec, best_epoch: best!.epoch, popularity: baseline };
      metrics.close([final]);
    }
    const params = new Map((await snapshot(enc, !tier)).params.map((b) => [b.name, b.data as Float32Array]));
    if (tier) await tier.addItemParams(params);
    if (o.worker) log(o.worker.timesLine());
    await o.worker?.barrier('done'); // rank 0 drops the run's table after every rank read it
    return { losses, step, epoch, best, test, popularity, trainTokensPerSec: tokensPerSec, params, ...(tier ? { cacheStats: { ...tier.cache.stats } } : {}) };
  } finally {
    enc?.release();
    await host?.close();
    if (ownGpu) gpu.dispose();
  }
}

export interface HostTrainBatch {
  seqOffsets: Uint32Array;
  items: Uint32Array;
  timestamps: Uint32Array;
  targets: Uint32Array;
  /** [L] timestamp of each position's target; its last per sequence is the sequence's next-event
   *  time (HSTU lastQueryTime 'next'). Absent: the last tokens query at their own time. */
  targetTimestamps?: Uint32Array;
}

/** [B] the last value of each sequence of a jagged [L] array (0 for an empty sequence). */
export function lastOfEachSequence(seqOffsets: Uint32Array, perToken: Uint32Array): Uint32Array {
  const B = seqOffsets.length - 1;
  const out = new Uint32Array(B);
  for (let s = 0; s < B; s++) if (seqOffsets[s + 1]! > seqOffsets[s]!) out[s] = perToken[seqOffsets[s + 1]! - 1]!;
  return out;
}

/** Gradients of one batch, recorded: dense grads land in each param's `g`; the item table's
 *  summed gradient rows are `itemGrad` ([plan.numUnique, d], rows plan.host.uniqueRows). */
export interface RecordedGradients {
  loss: Tensor<'f32'>;
  plan: ScatterPlan;
  itemGrad: Tensor<'f32'>;
  /** Per-row Σ of itemGrad's squares when the loss provided them (the guard's probe). */
  itemGradRowSquares?: Tensor<'f32'>;
  release(): void;
}

/** The forward, loss and backward of one batch, recorded (the item table's gradient is the caller's). */
function recordForwardBackward(rec: Recorder, gpu: Gpu, enc: Encoder, c: Config, tb: HostTrainBatch, step: number, tableRows: number, train: boolean, lossOpts: RetrievalLossOptions) {
  const b = uploadBatch(gpu, { ...tb, nextTimestamps: tb.targetTimestamps && lastOfEachSequence(tb.seqOffsets, tb.targetTimestamps) }, c.maxLen, tableRows, c.positionAnchor);
  const f = enc.forward(rec, b, { train, seed: (c.seed * 1000003 + step) >>> 0 });
  // The gathered loss covers the input items too unless the caller said otherwise (tests compare).
  const opts = 'coverIds' in lossOpts ? lossOpts : { ...lossOpts, coverIds: tb.items };
  const lossOut = recordRetrievalLoss(rec, gpu, enc, f.out, b, tb.targets, c, step, opts);
  const bw = enc.backward(rec, f, lossOut.dOut);
  return { lossOut, bw, release: () => { lossOut.release(); bw.release(); f.release(); b.release(); } };
}

export function recordGradients(rec: Recorder, gpu: Gpu, enc: Encoder, c: Config, tb: HostTrainBatch, step: number, tableRows: number, train = true, lossOpts: RetrievalLossOptions = {}): RecordedGradients {
  const fb = recordForwardBackward(rec, gpu, enc, c, tb, step, tableRows, train, { ...lossOpts, fuseItemUpdate: false });
  // Item-table gradient: input rows, positives and negatives, summed per row deterministically.
  const ig = itemTableGradients(rec, gpu, tb.items, fb.bw.dItemRows, fb.lossOut, enc.items.dim, tableRows);
  return {
    loss: fb.lossOut.loss,
    plan: ig.plan,
    itemGrad: ig.itemGrad,
    itemGradRowSquares: ig.rowSquares,
    release() {
      ig.release();
      fb.release();
    },
  };
}

/** Whether a training step updates the item table with the fused pass (when the loss allows):
 *  not with gradient clipping (the clip factor needs every gradient's norm before any update),
 *  nor when HSTU_ITEM_UPDATE=unfused. */
export function wantsFusedItemUpdate(c: Config): boolean {
  const mode = flags().itemUpdate;
  if (mode !== 'auto' && mode !== 'unfused') throw new Error(`HSTU_ITEM_UPDATE: expected 'auto' or 'unfused', got '${mode}'. HINT: unset it.`);
  return mode === 'auto' && c.gradClipNorm === 0;
}

/** One batch recorded for a training step: the guard's gradient probes and the item table's
 *  update, fused (the item gradient computed inside the update, its row norms checked after) or
 *  not (itemGrad probed before the update like the dense gradients). */
function recordStep(rec: Recorder, gpu: Gpu, enc: Encoder, c: Config, tb: HostTrainBatch, step: number, tableRows: number, lossOpts: RetrievalLossOptions) {
  const fb = recordForwardBackward(rec, gpu, enc, c, tb, step, tableRows, true, { ...lossOpts, fuseItemUpdate: wantsFusedItemUpdate(c) });
  if (fb.lossOut.deferred) {
    const fu = fusedItemUpdate(rec, gpu, tb.items, fb.bw.dItemRows, fb.lossOut, enc.items.dim, tableRows);
    return {
      loss: fb.lossOut.loss,
      itemProbe: undefined,
      deferredItemProbe: { name: 'item_emb', rowSquares: fu.rowSquares },
      recordItemUpdate: (rec2: Recorder, adam: AdamOptions) => fu.recordUpdate(rec2, enc.items, adam),
      release: () => { fu.release(); fb.release(); },
    };
  }
  const ig = itemTableGradients(rec, gpu, tb.items, fb.bw.dItemRows, fb.lossOut, enc.items.dim, tableRows);
  return {
    loss: fb.lossOut.loss,
    itemProbe: { name: 'item_emb', t: ig.itemGrad, rowSquares: ig.rowSquares },
    deferredItemProbe: undefined,
    recordItemUpdate: (rec2: Recorder, adam: AdamOptions) => rowwiseAdam(rec2, enc.items, ig.plan, ig.itemGrad, adam),
    release: () => { ig.release(); fb.release(); },
  };
}

/** One optimizer step on one batch; returns the batch's mean loss. The divergence guard
 *  (trainer/divergence.ts) checks the loss and gradient norms before the update (DivergenceError),
 *  clips to c.gradClipNorm, and probes the parameters every c.divergenceCheckEvery steps. */
export async function trainStep(gpu: Gpu, enc: Encoder, c: Config, tb: HostTrainBatch, step: number, lr: number, tableRows: number, guard?: GuardOptions, tier?: HostTier, next?: HostTrainBatch): Promise<number> {
  // Host tier: the step's rows made resident, the batch in cache slots (store/host_tier.ts).
  const prep = tier ? await tier.beforeStep(c, tb, step) : undefined;
  const rec = gpu.recorder('train');
  const g = recordStep(rec, gpu, enc, c, prep ? prep.batch : tb, step, prep ? prep.tableRows : tableRows, prep?.lossOpts ?? {});
  const adam = { lr, beta1: c.beta1, beta2: c.beta2, weightDecay: c.weightDecay, step: step + 1 };
  const dense = [...enc.dense.byName.values()];
  try {
    const grads = [...dense.map((p) => ({ name: p.name, t: p.g })), ...(g.itemProbe ? [g.itemProbe] : [])];
    const r = await guardedStep(gpu, rec, step, c, { loss: g.loss, grads, dense, table: enc.items, deferred: g.deferredItemProbe }, (rec2) => {
      g.recordItemUpdate(rec2, adam);
      enc.dense.step(rec2, adam);
    }, guard);
    // Host tier: the update is submitted and done; its rows are dirty, the next batch's rows load.
    if (tier) tier.afterSubmit(c, prep!.touched, next && { tb: next, step: step + 1 });
    return r.loss;
  } finally {
    g.release();
  }
}
