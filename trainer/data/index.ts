// The trainer's data layer: files → interactions → per-user sequences → leave-last-out split →
// jagged batches; plus the synthetic default dataset, the popularity baseline and the metrics.
export * from './types.js';
export { DataError } from './errors.js';
export { loadInteractions, type LoadOptions } from './load.js';
export { detectFormat, type CsvOptions } from './formats.js';
export { buildSequences, seqLength } from './sequences.js';
export { leaveLastOut, MIN_EVAL_EVENTS, type EvalExamples, type Split, type SplitOptions } from './split.js';
export {
  batchTrainSequences,
  batchEvalExamples,
  countTrainBatches,
  trainableUsers,
  type TrainBatch,
  type TrainBatchOptions,
  type EvalBatch,
} from './batching.js';
export { generateSynthetic, SYNTHETIC_DEFAULTS, type SyntheticOptions, type SyntheticInteractions } from './synthetic.js';
export { itemCounts, StaticRanker, evaluatePopularity, evaluateScorer, type EvalOptions } from './popularity.js';
export { hitRate, ndcg, mrr, rankOfTarget, MetricAccumulator, DEFAULT_KS, formatMetrics, type MetricResult } from './metrics.js';
export { BEYOND_K, BeyondAccuracyAccumulator, beyondRecord, itemPopularity, EMPTY_SLOT, type BeyondAccuracy, type ItemPopularity } from './beyond_accuracy.js';
export { DataRng, mixSeed } from './rng.js';
