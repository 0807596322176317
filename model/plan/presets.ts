// Planner presets: the HSTU paper's public configurations (the same keys as
// trainer/configs/<dataset>/*.json), its industrial ranking and retrieval settings, the
// trillion-parameter table, the largest scaling point, and DLRMv3's defaults. Each preset names its
// source; where a source gives no number (heads of the industrial models, catalogue sizes, events
// per epoch), the value is an assumption, marked `assumed` in the text, and can be overridden on the
// command line (--items, --users, --events, --key=value).
import type { Config } from '../config.js';

export interface Preset {
  name: string;
  description: string;
  source: string;
  /** Config keys over model/config.ts's defaults. */
  config: Partial<Config>;
  /** Real items (rows of the item table = items + 1). */
  items: number;
  /** Rows of other tables at the same d (user ids, categories): stored and updated, never sampled. */
  extraRows?: number;
  users: number;
  /** Events per epoch (each user's history truncated to N). */
  events: number;
  /** Stochastic Length α (0 = off). */
  stochasticLengthAlpha?: number;
  /** Compute dtype of the dense math on a GPU (the paper trains in bf16). */
  computeDtype: 'bf16' | 'fp32';
  /** Epochs of a whole run. */
  epochs: number;
  /** Devices (workers) by default: 1 for the public data sets; industrial counts are assumed. */
  workers: number;
}

const base = { dropout: 0.2, numNegatives: 128, batchSize: 128 } satisfies Partial<Config>;

export const PRESETS: Record<string, Preset> = {
  // The paper's public experiments (arXiv 2402.17152, §4.1.1 and its research code's configs:
  // github.com/meta-recsys/generative-recommenders configs/ml-1m/*.gin); dataset statistics are
  // the MovieLens README figures (6,040 users, 3,706 rated movies, 1,000,209 ratings).
  'ml-1m-hstu': { name: 'ml-1m-hstu', description: 'ML-1M, HSTU (2 layers, d = 50, N = 200)', source: 'HSTU paper §4.1.1; trainer/configs/ml-1m/hstu.json', config: { ...base, maxLen: 200, dim: 50, numLayers: 2, numHeads: 1 }, items: 3706, users: 6040, events: 1_000_209, computeDtype: 'bf16', epochs: 100, workers: 1 },
  'ml-1m-hstu-large': { name: 'ml-1m-hstu-large', description: 'ML-1M, HSTU-large (8 layers, 2 heads)', source: 'HSTU paper §4.1.1; trainer/configs/ml-1m/hstu-large.json', config: { ...base, maxLen: 200, dim: 50, numLayers: 8, numHeads: 2, dqk: 25, dv: 25 }, items: 3706, users: 6040, events: 1_000_209, computeDtype: 'bf16', epochs: 100, workers: 1 },
  // ML-20M: 138,493 users, 26,744 movies, 20,000,263 ratings (MovieLens README).
  'ml-20m-hstu': { name: 'ml-20m-hstu', description: 'ML-20M, HSTU (2 layers, d = 256, 4 heads)', source: 'HSTU paper §4.1.1; trainer/configs/ml-20m/hstu.json', config: { ...base, maxLen: 200, dim: 256, numLayers: 2, numHeads: 4, dqk: 64, dv: 64 }, items: 26_744, users: 138_493, events: 20_000_263, computeDtype: 'bf16', epochs: 100, workers: 1 },
  'ml-20m-hstu-large': { name: 'ml-20m-hstu-large', description: 'ML-20M, HSTU-large (8 layers)', source: 'HSTU paper §4.1.1; trainer/configs/ml-20m/hstu-large.json', config: { ...base, maxLen: 200, dim: 256, numLayers: 8, numHeads: 4, dqk: 64, dv: 64 }, items: 26_744, users: 138_493, events: 20_000_263, computeDtype: 'bf16', epochs: 100, workers: 1 },
  // Amazon Books (the paper's Table 2 statistics: 694,897 users, 674,044 items, 10,053,086
  // events), N = 50, d = 64, 512 negatives, dropout 0.5.
  'books-hstu': { name: 'books-hstu', description: 'Amazon Books, HSTU (4 layers, d = 64, N = 50)', source: 'HSTU paper §4.1.1, Table 2; trainer/configs/amazon-books/hstu.json', config: { ...base, dropout: 0.5, numNegatives: 512, maxLen: 50, dim: 64, numLayers: 4, numHeads: 4, dqk: 16, dv: 16 }, items: 674_044, users: 694_897, events: 10_053_086, computeDtype: 'bf16', epochs: 100, workers: 1 },
  'books-hstu-large': { name: 'books-hstu-large', description: 'Amazon Books, HSTU-large (16 layers, 8 heads)', source: 'HSTU paper §4.1.1, Table 2; trainer/configs/amazon-books/hstu-large.json', config: { ...base, dropout: 0.5, numNegatives: 512, maxLen: 50, dim: 64, numLayers: 16, numHeads: 8, dqk: 8, dv: 8 }, items: 674_044, users: 694_897, events: 10_053_086, computeDtype: 'bf16', epochs: 100, workers: 1 },
  // The paper's industrial settings (§4.2 / §4.3): ranking l = 3, n = 2048, d = 512; retrieval
  // l = 6, n = 512, d = 256. Heads (4), candidates per ranking example (32, as DLRMv3's streaming
  // setting), negatives (512), 64 GPUs, a 1B-row catalogue, 100M users and 100B events per epoch are assumed.
  'industrial-ranking': { name: 'industrial-ranking', description: 'paper industrial ranking (l = 3, n = 2048, d = 512); 1B items assumed', source: 'HSTU paper §4.3 (heads, candidates, catalogue, events assumed)', config: { ...base, task: 'ranking', maxLen: 2048, dim: 512, numLayers: 3, numHeads: 4, dqk: 128, dv: 128, rankingCandidates: 32, batchSize: 32 }, items: 1e9, users: 1e8, events: 1e11, stochasticLengthAlpha: 1.6, computeDtype: 'bf16', epochs: 1, workers: 64 },
  'industrial-retrieval': { name: 'industrial-retrieval', description: 'paper industrial retrieval (l = 6, n = 512, d = 256); 1B items assumed', source: 'HSTU paper §4.3 (heads, negatives, catalogue, events assumed)', config: { ...base, maxLen: 512, dim: 256, numLayers: 6, numHeads: 4, dqk: 64, dv: 64, numNegatives: 512, batchSize: 64 }, items: 1e9, users: 1e8, events: 1e11, stochasticLengthAlpha: 1.6, computeDtype: 'bf16', epochs: 1, workers: 64 },
  // The trillion-parameter scale: 10B-row tables at d = 512 (the "1.5T configuration";
  // 10e9 × 512 = 5.1e12 embedding parameters, so the paper's 1.5T presumably counts fewer or
  // narrower rows: the row count is the issue's) with fp32 plain Adam: 10e9 · 512 · 12 B = 61.4 TB.
  // The ranking shape is the industrial one above; 256 GPUs assumed.
  'table-10b': { name: 'table-10b', description: '10B-row item table at d = 512 (the trillion-parameter scale), ranking l = 3, n = 2048', source: 'HSTU paper §1/§4.3 (61 TB for fp32 Adam); issue #18', config: { ...base, task: 'ranking', maxLen: 2048, dim: 512, numLayers: 3, numHeads: 4, dqk: 128, dv: 128, rankingCandidates: 32, batchSize: 32, embeddingOptimizer: 'adam' }, items: 10e9, users: 1e8, events: 1e11, stochasticLengthAlpha: 1.6, computeDtype: 'bf16', epochs: 1, workers: 256 },
  // The paper's largest scaling-law point (§4.4, Fig. 7): 24 layers, d = 1024, n = 8192. 8 heads
  // of 128, 512 negatives, a 1B-row catalogue and 256 GPUs assumed.
  'largest-scaling': { name: 'largest-scaling', description: 'paper largest scaling point (24 layers, d = 1024, n = 8192)', source: 'HSTU paper §4.4 (heads, negatives, catalogue assumed)', config: { ...base, maxLen: 8192, dim: 1024, numLayers: 24, numHeads: 8, dqk: 128, dv: 128, numNegatives: 512, batchSize: 8 }, items: 1e9, users: 1e8, events: 1e11, stochasticLengthAlpha: 1.6, computeDtype: 'bf16', epochs: 1, workers: 256 },
  // DLRMv3 (github.com/meta-recsys/generative-recommenders, generative_recommenders/dlrm_v3/
  // configs.py get_hstu_configs and get_embedding_table_config('streaming...'); max_seq_len from
  // modules/dlrm_hstu.py DlrmHSTUConfig): 5 layers, 4 heads, attention qk and linear dims 128,
  // d = 512, max_seq_len 16384, 32 candidates, fp16 tables: item_id 1B rows (HASH_SIZE_1B),
  // user_id 10M, category 128. Batch 16, 64 GPUs and 100B events per epoch assumed.
  dlrmv3: { name: 'dlrmv3', description: 'DLRMv3 defaults (5 layers, d = 512, N = 16384, 1B-row fp16 item table)', source: 'meta-recsys/generative-recommenders dlrm_v3/configs.py, modules/dlrm_hstu.py', config: { ...base, task: 'ranking', maxLen: 16384, dim: 512, numLayers: 5, numHeads: 4, dqk: 128, dv: 128, rankingCandidates: 32, batchSize: 16, embeddingBf16: true }, items: 1e9, extraRows: 10_000_000 + 128, users: 1e7, events: 1e11, computeDtype: 'bf16', epochs: 1, workers: 64 },
};

export const presetNames = (): string[] => Object.keys(PRESETS);

export function preset(name: string): Preset {
  const p = PRESETS[name];
  if (!p) throw new Error(`plan: unknown preset '${name}'. HINT: valid presets: ${presetNames().join(', ')}.`);
  return p;
}
