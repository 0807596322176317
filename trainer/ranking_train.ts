// The ranking training loop (issue 5; `--task ranking`): ranking batches (trainer/ranking_data.ts)
// → RankingModel forward (target mask) → head outputs read back → host loss (BCE on like +
// weighted MSE on rating) → backward → row-wise Adam on the item table, AdamW on dense tensors.
// Validation every evalEvery epochs; the epoch with the best validation AUC(like) is kept (test
// metrics at that epoch, best.hstu); early stopping; metrics.jsonl with the retrieval trainer's
// conventions (one JSON line per evaluation with split and epoch, then a final test line with
// best_epoch) and keys auc, ne, logloss, rmse; baselines item-mean and user+item-bias LR.
// `resume` continues from a checkpoint bit-exactly, as the retrieval trainer does: parameters,
// optimizer state, step and epoch (mid-epoch too: the epoch's batch order is a function of the
// seed and epoch, so the batches already done are skipped), model selection and throughput counters.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { validateConfig, type Config } from '../model/config.js';
import { NUM_TASKS, RankingModel } from '../model/ranking.js';
import { rankingLossHost } from '../model/ranking_loss.js';
import { RATING_OFFSET, TASK_LIKE, TASK_RATING, initRankingParams } from '../model/ranking_params.js';
import type { Interactions, Sequences } from './data/index.js';
import { loadCheckpoint, saveCheckpoint, type CheckpointData } from './checkpoint.js';
import { checkShapes } from './checkpoint_validate.js';
import { checkStepInEpoch } from './checkpoint_validate.js';
import { MetricsLog, historyOf } from './metrics_log.js';
import { fitItemMean, fitUserItemBias, labelsOf, predictBaseline } from './ranking_baselines.js';
import { checkRankingResume, rankingParamsOf, restoreRankingState, snapshotRanking } from './ranking_checkpoint.js';
import { prepareRankingSplit, rankingBatches, rankingTrainExamples, type LabelledRankingBatch, type RankingExample } from './ranking_data.js';
import { rankingMetrics, type RankingMetrics } from './ranking_metrics.js';
import { learningRate } from './schedule.js';
import { Progress } from './progress.js';
import { judgeValidation, progressOf } from './model_selection.js';
import { mixSeed } from './data/index.js';
import { checkFiniteBlobs, checkFiniteOutputs, guardedStep, type GuardOptions } from './divergence.js';

export interface RankingTrainOptions {
  config: Config;
  data: Interactions;
  outDir?: string;
  /** Checkpoint to continue from (bit-exact): a path to a ranking checkpoint. */
  resume?: string;
  /** The decoded contents of `resume`, when the caller has read it already. */
  resumeCheckpoint?: CheckpointData;
  /** Stop after this many optimizer steps in total (for tests and smoke runs). */
  maxSteps?: number;
  noEval?: boolean;
  log?: (line: string) => void;
  gpu?: Gpu;
}

export interface RankingRecord extends RankingMetrics {
  split: 'validation' | 'test';
  epoch: number;
  model: string;
  [k: string]: number | string;
}

export interface RankingTrainResult {
  losses: number[];
  step: number;
  epoch: number;
  best?: RankingRecord;
  test?: RankingRecord;
  baselines?: { 'item-mean': RankingRecord; 'user-item-bias': RankingRecord };
  trainTokensPerSec: number;
  params: Map<string, Float32Array>;
}

/** Like-rate and mean rating of the training events (for the head's bias init). */
function trainingRates(train: Sequences, likeThreshold: number): { like: number; rating: number } {
  const n = train.offsets[train.numUsers]!;
  let likes = 0, sum = 0;
  for (let e = 0; e < n; e++) {
    likes += train.ratings[e]! >= likeThreshold ? 1 : 0;
    sum += train.ratings[e]!;
  }
  return { like: likes / n, rating: sum / n };
}

/** Scores single- or multi-candidate examples: like probabilities and predicted ratings per candidate, in order. */
export async function scoreRanking(model: RankingModel, seqs: Sequences, examples: readonly RankingExample[]): Promise<{ pLike: Float64Array; rating: Float64Array; likes: Float64Array; ratings: Float64Array }> {
  const c = model.config;
  const pLike: number[] = [], rating: number[] = [], likes: number[] = [], ratings: number[] = [];
  for (const b of rankingBatches(seqs, examples, { ...c, batchSize: Math.max(c.batchSize, 256) })) {
    const rec = model.gpu.recorder('ranking-eval');
    const f = model.forward(rec, b, { train: false, seed: 0 });
    await rec.submit();
    const y = await model.gpu.read(f.logits);
    f.candidateRows.forEach((row) => {
      const z = y[row * NUM_TASKS + TASK_LIKE]!, r = y[row * NUM_TASKS + TASK_RATING]!;
      if (!Number.isFinite(z) || !Number.isFinite(r)) throw new Error(`ranking evaluation: the head output of row ${row} is (${z}, ${r}), not finite: no metric can be computed from it. HINT: the model diverged; retrain with a lower --lr (or --gradClipNorm).`);
    });
    f.candidateRows.forEach((row, k) => {
      pLike.push(1 / (1 + Math.exp(-y[row * NUM_TASKS + TASK_LIKE]!)));
      rating.push(y[row * NUM_TASKS + TASK_RATING]! + RATING_OFFSET);
      likes.push(b.likes[k]!);
      ratings.push(b.ratings[k]!);
    });
    f.release();
  }
  return { pLike: Float64Array.from(pLike), rating: Float64Array.from(rating), likes: Float64Array.from(likes), ratings: Float64Array.from(ratings) };
}

/** One optimizer step on one batch; returns the loss. The divergence guard (trainer/divergence.ts)
 *  checks the head outputs, loss and gradient norms before the update (DivergenceError), clips to
 *  c.gradClipNorm, and probes the parameters every c.divergenceCheckEvery steps. */
export async function rankingTrainStep(model: RankingModel, b: LabelledRankingBatch, step: number, lr: number, guard?: GuardOptions): Promise<number> {
  const c = model.config, gpu = model.gpu;
  const rec = gpu.recorder('ranking-train');
  const f = model.forward(rec, b, { train: true, seed: mixSeed(c.seed, step) });
  await rec.submit();
  const y = await gpu.read(f.logits);
  checkFiniteOutputs('the ranking head output', y, f.candidateRows, NUM_TASKS, step);
  const l = rankingLossHost(y, NUM_TASKS, f.candidateRows, b.likes, b.ratings, c.ratingLossWeight);
  const dLogits = gpu.f32(l.dLogits, [l.dLogits.length / NUM_TASKS, NUM_TASKS], 'ranking:dlogits');
  const rec2 = gpu.recorder('ranking-train-bwd');
  const g = model.backward(rec2, f, dLogits);
  try {
    const dense = model.denseParams();
    const grads = [...dense.map((p) => ({ name: p.name, t: p.g })), { name: 'item_emb', t: g.itemGrad }];
    await guardedStep(gpu, rec2, step, c, { loss: l.loss, grads, dense, table: model.encoder.items }, (rec3) => {
      model.step(rec3, g, { lr, beta1: c.beta1, beta2: c.beta2, weightDecay: c.weightDecay, step: step + 1 });
    }, guard);
    await gpu.sync();
  } finally {
    g.release();
    f.release();
    dLogits.release();
  }
  return l.loss;
}

export async function trainRanking(o: RankingTrainOptions): Promise<RankingTrainResult> {
  const c = o.config;
  validateConfig(c);
  if (c.task !== 'ranking') throw new Error(`trainRanking: expected config task 'ranking', got '${c.task}'. HINT: pass --task=ranking.`);
  const log = o.log ?? ((s: string) => console.log(s));
  const rs = prepareRankingSplit(o.data, c);
  const { train, all } = rs;
  const tableRows = o.data.numItems;
  const where = o.resume ?? 'resumed checkpoint';
  const ck = o.resumeCheckpoint ?? (o.resume !== undefined ? loadCheckpoint(o.resume) : undefined);
  if (ck) checkShapes(ck, where);
  const differ = ck ? checkRankingResume(ck, c, o.data, where) : [];
  const gpu = o.gpu ?? (await createGpu());
  const ownGpu = !o.gpu;
  const metricsPath = o.outDir ? join(o.outDir, 'metrics.jsonl') : undefined;
  if (o.outDir) mkdirSync(o.outDir, { recursive: true });

  // Head biases start at the training base rates (logit of the like-rate; mean rating − offset),
  // so the first steps learn the sequence signal instead of the marginals.
  const rates = trainingRates(train, c.likeThreshold);
  const initial = (): Map<string, Float32Array> => {
    const init = initRankingParams(c, tableRows - 1, c.seed);
    const b2 = init.get('head.b2')!;
    b2[TASK_LIKE] = Math.log(rates.like / (1 - rates.like));
    b2[TASK_RATING] = rates.rating - RATING_OFFSET;
    return init;
  };

  let model: RankingModel | undefined;
  try {
    model = await RankingModel.create(gpu, c, tableRows, ck ? rankingParamsOf(ck, c, where) : initial());
    const progress = progressOf<RankingRecord>(ck);
    const { sel } = progress;
    let { step, epoch, trainTokens, trainSecs } = progress;
    if (ck) {
      restoreRankingState(model, ck);
      log(`resumed from ${where} at step ${step} (epoch ${epoch})`);
      if (differ.length) log(`note: config differs from the checkpoint's in ${differ.join(', ')}; the continuation is not the straight run's`);
    }
    const examplesPerEpoch = rankingTrainExamples(train, c, 0).length;
    if (examplesPerEpoch === 0) throw new Error('no ranking training examples (every user has < 2 training events). HINT: check the data file.');
    const batchesPerEpoch = Math.ceil(examplesPerEpoch / c.batchSize);
    const totalSteps = c.epochs * batchesPerEpoch;
    if (ck) checkStepInEpoch(step, epoch, batchesPerEpoch, where);
    const metrics = new MetricsLog(metricsPath, historyOf(ck, metricsPath)); // the file as of the checkpoint
    log(`data: ${o.data.source}: ${o.data.numUsers} users, ${tableRows - 1} items, ${o.data.count} events; ${rs.validation.length} validation / ${rs.test.length} test examples of ${c.rankingEvalGroup} candidate${c.rankingEvalGroup > 1 ? 's' : ''}; train like-rate ${rates.like.toFixed(4)}`);
    log(`model: ${c.model} ranking, ${c.numLayers} layers, d=${c.dim}, ${c.numHeads} heads, N=${c.maxLen}, k=${c.rankingCandidates} candidates × ${c.rankingWindows} windows/user; ${batchesPerEpoch} steps/epoch on ${gpu.adapter.description}`);
    const losses: number[] = [];
    const record = (which: 'validation' | 'test', m: RankingMetrics, name = c.model): RankingRecord => ({ split: which, epoch, model: name, ...m });
    const evaluate = async (which: 'validation' | 'test') => {
      const s = await scoreRanking(model!, all, which === 'validation' ? rs.validation : rs.test);
      return record(which, rankingMetrics(s.pLike, s.rating, s.likes, s.ratings));
    };
    const save = async (name: string) => {
      if (!o.outDir) return;
      const { params, state } = await snapshotRanking(model!);
      checkFiniteBlobs([...params, ...state], step, join(o.outDir, name)); // never save a diverged model
      saveCheckpoint(join(o.outDir, name), {
        task: 'ranking',
        config: c as unknown as Record<string, unknown>,
        step,
        epoch,
        params,
        optimizerState: state,
        itemRawIds: o.data.itemRawIds.map(String),
        trainerState: { best: sel.best, test: sel.test, sinceBest: sel.sinceBest, trainTokens, trainSecs, source: o.data.source, metrics: metrics.saved },
      });
    };

    // A run whose checkpoint was written after early stopping has nothing left to train.
    let stop = !!ck && c.earlyStopPatience > 0 && sel.best !== undefined && sel.sinceBest >= c.earlyStopPatience;
    if (stop) log(`${where}: the run had stopped early (no better validation AUC for ${sel.sinceBest} evaluations); nothing to train`);
    const guard: GuardOptions = { firstStep: step, log };
    while (epoch < c.epochs && !stop) {
      const examples = rankingTrainExamples(train, c, epoch);
      const stepInEpoch = step - epoch * batchesPerEpoch;
      const bar = new Progress(`epoch ${epoch + 1}/${c.epochs}`, batchesPerEpoch, 'steps');
      let k = 0;
      for (const b of rankingBatches(train, examples, c, mixSeed(c.seed, epoch, 7))) {
        if (k++ < stepInEpoch) continue; // resumed mid-epoch: these batches are done
        if (o.maxSteps !== undefined && step >= o.maxSteps) {
          stop = true;
          break;
        }
        const t0 = performance.now();
        const loss = await rankingTrainStep(model, b, step, learningRate(c.lrSchedule, c.lr, step, totalSteps, c.warmupSteps), guard);
        trainSecs += (performance.now() - t0) / 1000;
        trainTokens += b.items.length;
        losses.push(loss);
        step++;
        bar.update(k, { loss, 'tok/s': Math.round(trainTokens / trainSecs) });
      }
      if (stop) break;
      epoch++;
      bar.done({ loss: losses[losses.length - 1] ?? NaN, 'tok/s': Math.round(trainTokens / Math.max(trainSecs, 1e-9)) });
      if (!o.noEval && (epoch % c.evalEvery === 0 || epoch === c.epochs)) {
        const v = await evaluate('validation');
        log(`epoch ${epoch}: validation AUC ${v.auc.toFixed(4)} NE ${v.ne.toFixed(4)} logloss ${v.logloss.toFixed(4)} RMSE ${v.rmse.toFixed(4)}`);
        metrics.record({ ...v, train_tokens_per_s: trainTokens / trainSecs });
        const verdict = judgeValidation(sel, v, (r) => r.auc, c.earlyStopPatience);
        if (verdict === 'better') {
          sel.test = await evaluate('test');
          await save('best.hstu');
        } else if (verdict === 'stop') {
          log(`early stop: no better validation AUC for ${sel.sinceBest} evaluations`);
          stop = true;
        }
      }
      await save('checkpoint.hstu');
    }
    if (o.outDir && o.maxSteps !== undefined) await save('checkpoint.hstu');
    const tokensPerSec = trainTokens / Math.max(trainSecs, 1e-9);
    const { best, test } = sel;
    let baselines: RankingTrainResult['baselines'];
    // The closing lines in one write; a resumed run that had finished rewrites the same ones.
    if (!o.noEval && test) {
      baselines = evaluateBaselines(all, train, rs.validation, rs.test, c.likeThreshold);
      metrics.close([{ ...test, train_tokens_per_s: tokensPerSec, best_epoch: best!.epoch }, ...Object.values(baselines)]);
    }
    const params = new Map((await snapshotRanking(model)).params.map((b) => [b.name, b.data as Float32Array]));
    return { losses, step, epoch, best, test, baselines, trainTokensPerSec: tokensPerSec, params };
  } finally {
    model?.release();
    if (ownGpu) gpu.dispose();
  }
}

/** Test metrics of the two baselines (records with model 'item-mean' / 'user-item-bias', epoch 0). */
export function evaluateBaselines(all: Sequences, train: Sequences, validation: readonly RankingExample[], testEx: readonly RankingExample[], likeThreshold: number): { 'item-mean': RankingRecord; 'user-item-bias': RankingRecord } {
  const labels = labelsOf(all, testEx, likeThreshold);
  const rec = (name: string, p: { pLike: Float64Array; rating: Float64Array }, extra: object = {}): RankingRecord => ({
    split: 'test', epoch: 0, model: name, ...rankingMetrics(p.pLike, p.rating, labels.likes, labels.ratings), ...extra,
  });
  const bias = fitUserItemBias(train, likeThreshold, all, validation);
  return {
    'item-mean': rec('item-mean', predictBaseline(fitItemMean(train, likeThreshold), all, testEx)),
    'user-item-bias': rec('user-item-bias', predictBaseline(bias.model, all, testEx), { lambda: bias.lambda }),
  };
}
