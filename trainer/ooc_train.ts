// Training from an out-of-core cache (trainer/data/ooc/): the log is preprocessed once into
// per-user sequences on disk, then every step reads only its batch's sequences, so memory does
// not grow with the log (the per-user index, 16 bytes a user, and the model do). Validation and
// test use a seeded sample of `oocEvalUsers` users. Checkpoints record the data position (epoch,
// batch within it); `--resume` recomputes that epoch's order and continues bit-exactly.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { validateConfig, type Config } from '../model/config.js';
import { createEncoder, type Encoder } from '../model/encoder.js';
import { initParams } from '../model/params.js';
import { checkResumeConfig, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { evaluatePopularity } from './data/index.js';
import { preprocessLog, type OocOptions } from './data/ooc/preprocess.js';
import { OocCache } from './data/ooc/reader.js';
import { countStreamBatches, evalSample, streamTrainBatches } from './data/ooc/stream_batches.js';
import { evaluateRetrieval } from './eval.js';
import { checkFiniteBlobs, settleGuard, type GuardOptions } from './divergence.js';
import { MetricsLog, historyOf } from './metrics_log.js';
import { progressOf, validateEpoch } from './model_selection.js';
import { Progress } from './progress.js';
import { learningRate } from './schedule.js';
import { restore, snapshot, toRecord, trainStep, type EvalRecord, type TrainResult } from './train.js';

export interface OocTrainOptions {
  config: Config;
  /** The Parquet log. */
  data: string;
  ooc?: OocOptions;
  outDir?: string;
  resume?: string;
  maxSteps?: number;
  noEval?: boolean;
  log?: (line: string) => void;
  gpu?: Gpu;
}

export interface DataPosition {
  cache: string;
  epoch: number;
  batchInEpoch: number;
}

export async function trainOutOfCore(o: OocTrainOptions): Promise<TrainResult & { dataPosition: DataPosition }> {
  const c = o.config;
  validateConfig(c);
  if (c.task !== 'retrieval') throw new Error(`--ooc: task '${c.task}' is not supported out of core yet. HINT: use --task=retrieval, or train in memory without --ooc.`);
  const log = o.log ?? ((s: string) => console.log(s));
  const { dir } = await preprocessLog(o.data, { onInfo: (m) => log(m), ...o.ooc });
  const cache = new OocCache(dir);
  const tableRows = cache.meta.numItems;
  const split = o.noEval ? undefined : evalSample(cache, c.oocEvalUsers > 0 ? c.oocEvalUsers : cache.count, c.seed, c.maxLen);
  const gpu = o.gpu ?? (await createGpu());
  const ownGpu = !o.gpu;
  const metricsPath = o.outDir ? join(o.outDir, 'metrics.jsonl') : undefined;
  if (o.outDir) mkdirSync(o.outDir, { recursive: true });
  let enc: Encoder | undefined;
  try {
    enc = await createEncoder(gpu, c, tableRows, initParams(c, tableRows - 1, c.seed));
    const ck = o.resume ? loadCheckpoint(o.resume) : undefined;
    const progress = progressOf<EvalRecord>(ck);
    const { sel } = progress;
    let { step, epoch, trainTokens, trainSecs } = progress;
    let batchInEpoch = 0;
    if (ck) {
      const pos = ck.trainerState.dataPosition as DataPosition | undefined;
      if (!pos) throw new Error(`${o.resume}: has no out-of-core data position (it was trained in memory). HINT: resume it without --ooc.`);
      const differ = checkResumeConfig(ck, c, o.resume!);
      restore(enc, ck);
      batchInEpoch = pos.batchInEpoch;
      log(`resumed from ${o.resume} at step ${step} (epoch ${epoch}, batch ${batchInEpoch} of the epoch)`);
      if (differ.length) log(`note: config differs from the checkpoint's in ${differ.join(', ')}; the continuation is not the straight run's`);
    }
    const metrics = new MetricsLog(metricsPath, historyOf(ck, metricsPath)); // idempotent across kills and resumes (issue 16)
    const batchesPerEpoch = countStreamBatches(cache, c.batchSize);
    if (batchesPerEpoch === 0) throw new Error('no training sequences (every user has < 2 training events). HINT: check the data file.');
    const totalSteps = c.epochs * batchesPerEpoch;
    log(`data: ${o.data} (out of core, ${dir}): ${cache.count} users, ${tableRows - 1} items, ${cache.meta.count} events; ${split ? `${split.validation.count} sampled validation / test examples` : 'no evaluation'}`);
    log(`model: ${c.model}, ${c.numLayers} layers, d=${c.dim}, ${c.numHeads} heads, N=${c.maxLen}; ${batchesPerEpoch} steps/epoch on ${gpu.adapter.description}`);

    const losses: number[] = [];
    const itemRawIds = cache.itemRawIds().map(String);
    const save = async (name: string) => {
      if (!o.outDir) return;
      const { params, state } = await snapshot(enc!);
      checkFiniteBlobs([...params, ...state], step, join(o.outDir, name)); // never save a diverged model
      saveCheckpoint(join(o.outDir, name), {
        task: 'retrieval',
        config: c as unknown as Record<string, unknown>,
        step,
        epoch,
        params,
        optimizerState: state,
        itemRawIds,
        trainerState: { best: sel.best, test: sel.test, sinceBest: sel.sinceBest, trainTokens, trainSecs, source: o.data, metrics: metrics.saved, dataPosition: { cache: dir, epoch, batchInEpoch } satisfies DataPosition },
      });
    };
    const evaluate = async (which: 'validation' | 'test') => toRecord(which, epoch, await evaluateRetrieval(gpu, enc!, which === 'validation' ? split!.validation : split!.test, { maxLen: c.maxLen, similarity: c.similarity }));

    let stop = false;
    // keepPending: a fused item update's verdict arrives with the next step; settled below.
    const guard: GuardOptions = { firstStep: step, log, keepPending: true };
    while (epoch < c.epochs && !stop) {
      const bar = new Progress(`epoch ${epoch + 1}/${c.epochs}`, batchesPerEpoch, 'steps');
      for (const tb of streamTrainBatches(cache, { batchSize: c.batchSize, maxLen: c.maxLen, seed: c.seed, epoch, shuffleBuffer: c.oocShuffleBuffer, startBatch: batchInEpoch, stochasticLengthAlpha: c.stochasticLengthAlpha })) {
        if (o.maxSteps !== undefined && step >= o.maxSteps) {
          stop = true;
          break;
        }
        const t0 = performance.now();
        const loss = await trainStep(gpu, enc, c, tb, step, learningRate(c.lrSchedule, c.lr, step, totalSteps, c.warmupSteps), tableRows, guard); // divergence guard as in memory
        const dt = (performance.now() - t0) / 1000;
        if (!Number.isFinite(loss)) throw new Error(`loss is ${loss} at step ${step}. HINT: lower --lr, or check the data.`);
        losses.push(loss);
        step++;
        batchInEpoch++;
        trainTokens += tb.items.length;
        trainSecs += dt;
        bar.update(batchInEpoch, { loss, 'tok/s': Math.round(trainTokens / trainSecs) });
      }
      await settleGuard(guard); // the last step's verdict, before any evaluation or checkpoint
      if (stop) break;
      epoch++;
      batchInEpoch = 0;
      bar.done({ loss: losses[losses.length - 1] ?? NaN, 'tok/s': Math.round(trainTokens / Math.max(trainSecs, 1e-9)) });
      if (split && (epoch % c.evalEvery === 0 || epoch === c.epochs)) {
        const record = (v: EvalRecord) => metrics.record({ ...v, train_tokens_per_s: trainTokens / trainSecs });
        stop = await validateEpoch({ epoch, sel, patience: c.earlyStopPatience, evaluate, record, save, log, label: ' (sample)' });
      }
      await save('checkpoint.hstu');
    }
    if (o.outDir && o.maxSteps !== undefined) await save('checkpoint.hstu');
    const tokensPerSec = trainTokens / Math.max(trainSecs, 1e-9);
    let popularity: TrainResult['popularity'];
    if (split && sel.test) {
      popularity = {
        validation: toRecord('validation', 0, evaluatePopularity(split.train, split.validation)),
        test: toRecord('test', 0, evaluatePopularity(split.train, split.test)),
      };
      metrics.close([{ ...sel.test, train_tokens_per_s: tokensPerSec, best_epoch: sel.best!.epoch }]);
    }
    const params = new Map((await snapshot(enc)).params.map((b) => [b.name, b.data as Float32Array]));
    return { losses, step, epoch, best: sel.best, test: sel.test, popularity, trainTokensPerSec: tokensPerSec, params, dataPosition: { cache: dir, epoch, batchInEpoch } };
  } finally {
    enc?.release();
    cache.close();
    if (ownGpu) gpu.dispose();
  }
}
