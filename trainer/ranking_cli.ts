// `--task ranking` for the command line (trainer/cli.ts hands over here): train, print the test
// metrics of the best-validation epoch beside the two baselines (or continue a run: `--resume`);
// and `eval` of a ranking checkpoint.
import type { Config } from '../model/config.js';
import type { CheckpointData } from './checkpoint.js';
import type { Interactions } from './data/index.js';
import { loadRankingModel } from './ranking_checkpoint.js';
import { prepareRankingSplit, type RankingExample } from './ranking_data.js';
import { rankingMetrics, type RankingMetrics } from './ranking_metrics.js';
import { scoreRanking, trainRanking } from './ranking_train.js';
import { writeRankingPredictionsFile, type SplitPredictions } from './ranks_file.js';

export function fmtRanking(name: string, m: RankingMetrics): string {
  const f = (x: number) => x.toFixed(4);
  return `${name.padEnd(16)} AUC ${f(m.auc)}  NE ${f(m.ne)}  logloss ${f(m.logloss)}  RMSE ${f(m.rmse)}  (n=${m.count}, like-rate ${f(m.like_rate)})`;
}

export async function trainRankingCommand(c: Config, data: Interactions, outDir: string | undefined, maxSteps: number | undefined, resume?: { path: string; checkpoint: CheckpointData }): Promise<void> {
  const r = await trainRanking({ config: c, data, outDir, maxSteps, resume: resume?.path, resumeCheckpoint: resume?.checkpoint });
  if (r.test && r.best) {
    console.log(`\ntest metrics (like: AUC, NE, logloss; rating: RMSE) at the best validation epoch (${r.best.epoch}), ${Math.round(r.trainTokensPerSec)} train tokens/s:`);
    console.log(fmtRanking(`${c.model.toUpperCase()} ranking`, r.test));
    if (r.baselines) for (const [name, m] of Object.entries(r.baselines)) console.log(fmtRanking(name, m));
  }
  if (outDir) console.log(`\nwrote ${outDir}/metrics.jsonl, checkpoint.hstu, best.hstu`);
}

export async function evalRankingCommand(path: string, ck: CheckpointData, data: Interactions, predictionsPath?: string): Promise<void> {
  if (data.numItems !== ck.itemRawIds.length) throw new Error(`${path}: the checkpoint knows ${ck.itemRawIds.length - 1} items, the data has ${data.numItems - 1}. HINT: evaluate on the dataset the model was trained on.`);
  for (let i = 1; i < data.numItems; i++) {
    if (String(data.itemRawIds[i]) !== ck.itemRawIds[i]) throw new Error(`${path}: item id mapping differs at dense id ${i} (checkpoint ${ck.itemRawIds[i]}, data ${data.itemRawIds[i]}). HINT: evaluate on the dataset the model was trained on.`);
  }
  const { createGpu } = await import('../kernels/gpu/index.js');
  const gpu = await createGpu();
  try {
    const { model, config } = await loadRankingModel(gpu, ck);
    const rs = prepareRankingSplit(data, config);
    const out: Record<string, SplitPredictions> = {};
    for (const [name, ex] of [['validation', rs.validation], ['test', rs.test]] as const) {
      const s = await scoreRanking(model, rs.all, ex);
      console.log(fmtRanking(name, rankingMetrics(s.pLike, s.rating, s.likes, s.ratings)));
      out[name] = { users: candidateKeys(data, ex), likes: Array.from(s.likes), pLike: Array.from(s.pLike) };
    }
    if (predictionsPath) {
      writeRankingPredictionsFile(predictionsPath, { checkpoint: path, model: config.model, seed: config.seed, numItems: data.numItems - 1, candidatesPerUser: config.rankingEvalGroup, validation: out.validation!, test: out.test! });
      console.log(`wrote ${predictionsPath}`);
    }
    model.release();
  } finally {
    gpu.dispose();
  }
}

/** One key per candidate, in scoring order: the raw user id, and with several candidates per
 *  example `user#j` for the j-th (scripts/compare-runs.ts resamples users, keeping each user's
 *  candidates together). */
function candidateKeys(data: Interactions, examples: readonly RankingExample[]): string[] {
  return examples.flatMap((e) => {
    const user = String(data.userRawIds[e.user]);
    const g = e.candEnd - e.cut;
    return Array.from({ length: g }, (_, j) => (g === 1 ? user : `${user}#${j}`));
  });
}
