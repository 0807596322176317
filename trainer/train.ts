// The training loop (retrieval task): jagged batches → encoder → sampled softmax → backward →
// row-wise Adam on the item table + AdamW on dense params, periodic full-ranking evaluation,
// early stopping, checkpoints, metrics.jsonl. Seeded: same data + config → same numbers.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGpu, type Gpu, type Recorder, type Tensor } from '../kernels/gpu/index.js';
import { planScatter, scatterAddRows, type ScatterPlan } from '../kernels/embedding/embedding.js';
import { rowwiseAdam } from '../kernels/optim/optim.js';
import { uploadBatch } from '../model/batch.js';
import { validateConfig, type Config } from '../model/config.js';
import { createEncoder, type Encoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { checkResumeConfig, loadCheckpoint, saveCheckpoint, type Blob, type CheckpointData } from './checkpoint.js';
import { buildSequences, countTrainBatches, batchTrainSequences, evaluatePopularity, leaveLastOut, type Interactions, type MetricResult, type Split } from './data/index.js';
import { evaluateRetrieval } from './eval.js';
import { judgeValidation, progressOf } from './model_selection.js';
import { recordRetrievalLoss, type RetrievalLossOptions } from './retrieval_loss.js';
import { learningRate } from './schedule.js';
import { Progress } from './progress.js';

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
  };
}

export function prepareSplit(data: Interactions, c: Config): Split {
  return leaveLastOut(buildSequences(data), { maxHistory: c.maxLen });
}

/** Reads every parameter (and optimizer state) back from the GPU. */
export async function snapshot(enc: Encoder): Promise<{ params: Blob[]; state: Blob[] }> {
  const params: Blob[] = [];
  const state: Blob[] = [];
  const t = enc.items;
  params.push({ name: 'item_emb', shape: [t.rows, t.dim], dtype: 'f32', data: await t.read('w') });
  if (t.storage === 'bf16') throw new Error('checkpointing bf16 tables is not supported yet. HINT: train with --embeddingBf16=false.');
  state.push({ name: 'item_emb.m', shape: [t.rows, t.dim], dtype: 'f32', data: await t.read('m') });
  state.push({ name: 'item_emb.v', shape: [t.rows], dtype: 'f32', data: await t.read('v') });
  for (const p of enc.dense.byName.values()) {
    params.push({ name: p.name, shape: p.shape, dtype: 'f32', data: await enc.gpu.read(p.w) });
    state.push({ name: `${p.name}.m`, shape: p.shape, dtype: 'f32', data: await enc.gpu.read(p.m) });
    state.push({ name: `${p.name}.v`, shape: p.shape, dtype: 'f32', data: await enc.gpu.read(p.v) });
  }
  return { params, state };
}

export function restore(enc: Encoder, ck: CheckpointData): void {
  const blobs = new Map([...ck.params, ...ck.optimizerState].map((b) => [b.name, b.data as Float32Array]));
  const need = (n: string) => {
    const b = blobs.get(n);
    if (!b) throw new Error(`checkpoint lacks tensor ${n}. HINT: it was written for another model config.`);
    return b;
  };
  enc.items.upload(need('item_emb'), 'w');
  enc.items.upload(need('item_emb.m'), 'm');
  enc.items.upload(need('item_emb.v'), 'v');
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
  try {
    enc = await createEncoder(gpu, c, tableRows, initParams(c, tableRows - 1, c.seed));
    const ck = o.resume ? loadCheckpoint(o.resume) : undefined;
    if (ck && ck.task !== 'retrieval') throw new Error(`${o.resume}: holds a '${ck.task}' model, not retrieval`);
    const progress = progressOf<EvalRecord>(ck);
    const { sel } = progress;
    let { step, epoch, trainTokens, trainSecs } = progress;
    if (ck) {
      const differ = checkResumeConfig(ck, c, o.resume!);
      restore(enc, ck);
      log(`resumed from ${o.resume} at step ${step} (epoch ${epoch})`);
      if (differ.length) log(`note: config differs from the checkpoint's in ${differ.join(', ')}; the continuation is not the straight run's`);
    } else if (metricsPath) writeFileSync(metricsPath, '');

    const batchesPerEpoch = countTrainBatches(split.train, { batchSize: c.batchSize });
    if (batchesPerEpoch === 0) throw new Error('no training sequences (every user has < 2 training events). HINT: check the data file.');
    const totalSteps = c.epochs * batchesPerEpoch;
    log(`data: ${o.data.source}: ${o.data.numUsers} users, ${tableRows - 1} items, ${o.data.count} events; ${split.validation.count} validation / ${split.test.count} test examples`);
    log(`model: ${c.model}, ${c.numLayers} layers, d=${c.dim}, ${c.numHeads} heads, N=${c.maxLen}; ${batchesPerEpoch} steps/epoch on ${gpu.adapter.description}`);

    const losses: number[] = [];
    const save = (name: string) => {
      if (!o.outDir) return Promise.resolve();
      return snapshot(enc!).then(({ params, state }) =>
        saveCheckpoint(join(o.outDir!, name), {
          task: 'retrieval',
          config: c as unknown as Record<string, unknown>,
          step,
          epoch,
          params,
          optimizerState: state,
          itemRawIds: o.data.itemRawIds.map(String),
          trainerState: { best: sel.best, test: sel.test, sinceBest: sel.sinceBest, trainTokens, trainSecs, source: o.data.source },
        }),
      );
    };
    const evaluate = async (which: 'validation' | 'test') => {
      const ex = which === 'validation' ? split.validation : split.test;
      const m = await evaluateRetrieval(gpu, enc!, ex, { maxLen: c.maxLen });
      return toRecord(which, epoch, m);
    };

    let stop = false;
    while (epoch < c.epochs && !stop) {
      const stepInEpoch = step - epoch * batchesPerEpoch;
      const bar = new Progress(`epoch ${epoch + 1}/${c.epochs}`, batchesPerEpoch, 'steps');
      let k = 0;
      for (const tb of batchTrainSequences(split.train, { batchSize: c.batchSize, maxLen: c.maxLen, shuffleSeed: c.seed, epoch, stochasticLengthAlpha: c.stochasticLengthAlpha })) {
        if (k++ < stepInEpoch) continue; // resumed mid-epoch: these batches are done
        if (o.maxSteps !== undefined && step >= o.maxSteps) {
          stop = true;
          break;
        }
        const t0 = performance.now();
        const lr = learningRate(c.lrSchedule, c.lr, step, totalSteps, c.warmupSteps);
        const loss = await trainStep(gpu, enc, c, tb, step, lr, tableRows);
        const dt = (performance.now() - t0) / 1000;
        if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${step}. HINT: lower --lr, or check the data.`);
        losses.push(loss);
        step++;
        trainTokens += tb.items.length;
        trainSecs += dt;
        bar.update(k, { loss, 'tok/s': Math.round(trainTokens / trainSecs) });
      }
      if (stop) break;
      epoch++;
      bar.done({ loss: losses[losses.length - 1] ?? NaN, 'tok/s': Math.round(trainTokens / Math.max(trainSecs, 1e-9)) });
      if (!o.noEval && (epoch % c.evalEvery === 0 || epoch === c.epochs)) {
        const v = await evaluate('validation');
        log(`epoch ${epoch}: validation HR@10 ${v['hr@10'].toFixed(4)} NDCG@10 ${v['ndcg@10'].toFixed(4)} MRR ${v.mrr.toFixed(4)}`);
        if (metricsPath) appendFileSync(metricsPath, JSON.stringify({ ...v, train_tokens_per_s: trainTokens / trainSecs }) + '\n');
        const verdict = judgeValidation(sel, v, (r) => r['ndcg@10'], c.earlyStopPatience);
        if (verdict === 'better') {
          sel.test = await evaluate('test');
          await save('best.hstu');
        } else if (verdict === 'stop') {
          log(`early stop: no better validation NDCG@10 for ${sel.sinceBest} evaluations`);
          stop = true;
        }
      }
      await save('checkpoint.hstu');
    }
    if (o.outDir && o.maxSteps !== undefined) await save('checkpoint.hstu');
    const tokensPerSec = trainTokens / Math.max(trainSecs, 1e-9);
    const { best, test } = sel;
    let popularity: TrainResult['popularity'];
    if (!o.noEval && test) {
      popularity = {
        validation: toRecord('validation', 0, evaluatePopularity(split.train, split.validation)),
        test: toRecord('test', 0, evaluatePopularity(split.train, split.test)),
      };
      const final = { ...test, train_tokens_per_s: tokensPerSec, best_epoch: best!.epoch };
      if (metricsPath) appendFileSync(metricsPath, JSON.stringify(final) + '\n');
    }
    const params = new Map((await snapshot(enc)).params.map((b) => [b.name, b.data as Float32Array]));
    return { losses, step, epoch, best, test, popularity, trainTokensPerSec: tokensPerSec, params };
  } finally {
    enc?.release();
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
  release(): void;
}

export function recordGradients(rec: Recorder, gpu: Gpu, enc: Encoder, c: Config, tb: HostTrainBatch, step: number, tableRows: number, train = true, lossOpts: RetrievalLossOptions = {}): RecordedGradients {
  const b = uploadBatch(gpu, { ...tb, nextTimestamps: tb.targetTimestamps && lastOfEachSequence(tb.seqOffsets, tb.targetTimestamps) }, c.maxLen, tableRows);
  const f = enc.forward(rec, b, { train, seed: (c.seed * 1000003 + step) >>> 0 });
  const lossOut = recordRetrievalLoss(rec, gpu, enc, f.out, b, tb.targets, c, step, lossOpts);
  const bw = enc.backward(rec, f, lossOut.dOut);
  // Item-table gradient: input rows, positives and negatives, summed per row deterministically.
  const d = enc.items.dim;
  const rows = lossOut.itemIds.length + b.L;
  const gradRows = gpu.empty([rows, d], 'f32', 'train:item_grad_rows');
  rec.copy(bw.dItemRows, gradRows, b.L * d * 4);
  rec.copy(lossOut.itemGrads, gradRows, lossOut.itemIds.length * d * 4, 0, b.L * d * 4);
  const ids = new Uint32Array(rows);
  ids.set(tb.items, 0);
  ids.set(lossOut.itemIds, b.L);
  const plan = planScatter(gpu, ids, tableRows);
  const itemGrad = gpu.empty([plan.numUnique, d], 'f32', 'train:item_grad');
  scatterAddRows(rec, plan, gradRows, d, itemGrad);
  return {
    loss: lossOut.loss,
    plan,
    itemGrad,
    release() {
      [gradRows, itemGrad].forEach((t) => t.release());
      plan.release();
      lossOut.release();
      bw.release();
      f.release();
      b.release();
    },
  };
}

/** One optimizer step on one batch; returns the batch's mean loss. */
export async function trainStep(gpu: Gpu, enc: Encoder, c: Config, tb: HostTrainBatch, step: number, lr: number, tableRows: number): Promise<number> {
  const rec = gpu.recorder('train');
  const g = recordGradients(rec, gpu, enc, c, tb, step, tableRows);
  const adam = { lr, beta1: c.beta1, beta2: c.beta2, weightDecay: c.weightDecay, step: step + 1 };
  rowwiseAdam(rec, enc.items, g.plan, g.itemGrad, adam);
  enc.dense.step(rec, adam);
  await rec.submit();
  const loss = (await gpu.read(g.loss))[0]!;
  g.release();
  return loss;
}
