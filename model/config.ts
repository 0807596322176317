// Typed model + training config, nanoGPT style: one object of defaults (one comment per key),
// `--key=value` overrides type-checked against the default's type, unknown keys rejected with a
// hint of close matches. Defaults follow DESIGN §2 (the paper's public ML-1M configs).
import { readFileSync } from 'node:fs';

export const defaultConfig = {
  /** Which encoder: 'hstu' (DESIGN §2) or 'sasrec' (the baseline). */
  model: 'hstu' as 'hstu' | 'sasrec',
  /** 'retrieval' (next item, sampled softmax) or 'ranking' (num_targets candidates, MLP head). */
  task: 'retrieval' as 'retrieval' | 'ranking',
  /** N: max sequence length; history is truncated to the most recent N. */
  maxLen: 200,
  /** d: model and embedding dim. */
  dim: 50,
  /** Number of encoder layers. */
  numLayers: 2,
  /** H: attention heads. */
  numHeads: 1,
  /** dqk: per-head query/key dim; 0 = auto = dim / numHeads. */
  dqk: 0,
  /** dv: per-head value (and U) dim; 0 = auto = dim / numHeads. */
  dv: 0,
  /** Dropout rate (input embeddings and each layer's output branch). */
  dropout: 0.2,
  /** alpha scaling Q·K: 0 = off (alpha 1), > 0 = that value, -1 = 1/sqrt(dqk). */
  attnAlpha: 0,
  /** HSTU: add rab_pos + rab_time relative attention bias. */
  useRab: true,
  /** HSTU: divide SiLU(S) by the sequence's length instead of N (see resolvedNormaliser). */
  normalizeByLength: false,
  /** HSTU: SiLU on U only (V, Q, K stay linear) instead of on all of n·W_uvqk. */
  siluOnUOnly: false,
  /** HSTU: the query time of each sequence's last history token in rab_time. 'own': its own
   *  timestamp (every other token queries at t_{i+1}, the time of the event it predicts). 'next':
   *  t_{i+1} for it too, as the research code does: in training the target's timestamp, in
   *  evaluation the held-out event's (its time, not its item), in serving the request time. On
   *  ML-100K 'next' did not help (BENCHMARKS.md), and 'own' keeps the held-out event unseen. */
  lastQueryTime: 'own' as 'next' | 'own',
  /** HSTU: w_uvqk init std, N(0, std) as in the research code; 0 = Xavier-uniform instead. */
  uvqkInitStd: 0.02,
  /** HSTU: W_o input is [U, O, U⊙LN(O)] (3·H·dv wide) instead of U⊙LN(O). */
  outputFromUOAndGate: false,
  /** R: uniformly sampled negatives per predicted token. */
  numNegatives: 128,
  /** 'per-position': every position draws its own R negatives (the paper's research code);
   *  'shared': one draw of R negatives per batch, scored by every position (cheaper for very
   *  large catalogues, but each step then pushes down only R items). */
  negativeSampling: 'per-position' as 'per-position' | 'shared',
  /** Per-position sampling only: this many more negatives per position drawn from the batch's
   *  own targets (popular items come up more often), with the log-Q correction (Yi et al. 2019;
   *  model/retrieval_negatives.ts). 0 = uniform negatives only (the paper's default). */
  inBatchNegatives: 0,
  /** How per-position negatives are scored: 'catalogue' (dense GEMMs against every item, fast
   *  for small catalogues on CPU adapters), 'gathered' (only the drawn rows, O(L·R·d) whatever
   *  the catalogue size), or 'auto' = the cost rule in model/retrieval_loss.ts. Env
   *  HSTU_LOSS_PATH overrides it. Both give the same loss and gradients for the same draws. */
  sampledSoftmaxPath: 'auto' as 'auto' | 'catalogue' | 'gathered',
  /** tau: logits = sim(u, item) / tau (sim per `similarity`). */
  temperature: 0.05,
  /** Retrieval logit before the 1/tau scale, in the loss and in evaluation / serving ranking:
   *  'cosine' (default, the paper): cos(u, e), u and the item rows L2-normalised; 'dot': the plain
   *  dot product u·e of the raw rows, so item norms can carry popularity (eSASRec / RecTools'
   *  SASRecModel; use --similarity=dot --temperature=1 for their logits u·e). Items are then
   *  ranked by u·e over the raw rows. Checkpoints without the key load as 'cosine'. */
  similarity: 'cosine' as 'cosine' | 'dot',
  /** Retrieval: where absolute positions (pos_emb rows) are counted from. 'start' (default):
   *  p_i = i, token i of the sequence. 'end': p_i = maxLen − n + i for a sequence of n tokens,
   *  what left padding to maxLen gives in the original SASRec (Kang & McAuley, the pmixer port,
   *  RecTools' SASRecModel), so the most recent token is always at maxLen − 1 and a short history's
   *  query token sits at the same position whatever its length. HSTU's rab_pos uses position
   *  differences, which do not change. Not with task 'ranking' (its targets sit one past the
   *  history). Checkpoints without the key load as 'start'. */
  positionAnchor: 'start' as 'start' | 'end',
  /** Sequences per batch. */
  batchSize: 128,
  /** Learning rate (AdamW). */
  lr: 1e-3,
  /** Adam beta1. */
  beta1: 0.9,
  /** Adam beta2. */
  beta2: 0.98,
  /** Decoupled weight decay (AdamW). */
  weightDecay: 0,
  /** Training epochs (upper bound; early stopping may end sooner). */
  epochs: 100,
  /** Evaluate on validation every this many epochs. */
  evalEvery: 1,
  /** Stop after this many evaluations without a better validation NDCG@10; 0 = never. */
  earlyStopPatience: 10,
  /** Seed for init, sampling and dropout. */
  seed: 42,
  /** Learning-rate schedule (trainer/schedule.ts). */
  lrSchedule: 'constant' as 'constant' | 'cosine' | 'linear-warmup',
  /** Warmup steps for 'linear-warmup' and 'cosine'. */
  warmupSteps: 0,
  /** Optimizer for embedding tables: row-wise Adam (DESIGN §2) or plain Adam. */
  embeddingOptimizer: 'rowwise-adam' as 'rowwise-adam' | 'adam',
  /** Store embedding weights and first moment as bf16. */
  embeddingBf16: false,
  /** Where the item table and its row-wise Adam state live (trainer/store, DESIGN §7): 'device'
   *  (all rows in GPU buffers) or 'host' (host memory, a device cache of deviceCacheRows hot rows
   *  in front, LRU, write-back; for catalogues larger than the device) or 'redis' (rows on a Redis
   *  Cluster at redisAddress, the same device cache in front; trainer/store/redis_tier.ts). */
  embeddingStore: 'device' as 'device' | 'host' | 'redis',
  /** Redis store: a node of the cluster, "host:port[,host:port…]" (`npm run cluster -- start`). */
  redisAddress: '127.0.0.1:7100',
  /** Redis store: prefix of the run's table name (`<prefix>_<pid>_<random>`, dropped at the end). */
  redisTable: 'items',
  /** Host / redis store: write the device cache's dirty rows back every this many steps (the
   *  staleness bound of the store's copy); 0 = only on eviction, checkpoint, evaluation and end.
   *  With --workers rows are updated on Redis every step (no dirty cache rows): unused. */
  storeWriteBackSteps: 0,
  /** --workers: transport of the exact dense-gradient all-reduce: 'ring' (TCP between the
   *  workers, Redis only for the rendezvous; measured faster as W or the parameters grow) or
   *  'redis' (through the cluster; for launchers where workers cannot connect to each other).
   *  trainer/distributed/dense_allreduce.ts. */
  allReduceTransport: 'ring' as 'ring' | 'redis',
  /** --workers: how item-row gradients reach the Redis table. 'sync': all ranks' rows summed,
   *  one row-wise Adam per row per step (W workers ≡ one worker with their global batch, up to
   *  float reassociation). 'atomic' / 'cas' (asynchronous, Persia-style): each rank applies
   *  row-wise Adam to its own rows as they come (atomic: Redis Function on the shard; cas: on the
   *  worker, version-checked, atomic on conflict), no all-gather, no barrier on them: a row
   *  touched by k ranks in a step gets k updates, and a rank's reads may miss other ranks'
   *  updates of the previous step (staleness ≤ 1 step). trainer/distributed/sparse_async.ts. */
  embeddingSync: 'sync' as 'sync' | 'atomic' | 'cas',
  /** Initial item rows: 'table' (one seeded stream over the whole table, as the device table) or
   *  'per-row' (row_codec.ts initRow(seed, id), what the redis store always uses; host store only). */
  itemRowInit: 'table' as 'table' | 'per-row',
  /** Host store: rows of the device cache (≥ the rows one step touches, ≤ the table); 0 = auto:
   *  every row up to 65,536 rows, else max(65,536, 10% of the rows). */
  deviceCacheRows: 0,
  /** Evaluate on the first this-many validation / test users only (exact full ranking over every
   *  item, on a fixed sample: catalogues of millions); 0 = every user. */
  evalMaxUsers: 0,
  /** Ranking: action vocabulary size (action ids 1..numActions; 0 = none, e.g. candidates). MovieLens: the rating 1–5. */
  numActions: 5,
  /** Ranking: k, candidates per training example (the last k interactions before the cut). */
  rankingCandidates: 8,
  /** Ranking: training examples per user per epoch (the last window before the evaluation cut, then random earlier cuts). */
  rankingWindows: 4,
  /** Ranking: g, candidates per validation / test example. 1: leave-last-out (the second-to-last
   *  and last event). g > 1: leave-last-2g-out, the last g events are the test group and the g
   *  before them the validation group, each scored as one example under the target mask; users
   *  with fewer than 2g + 1 events are training only. */
  rankingEvalGroup: 1,
  /** Ranking: hidden width of the MLP head. */
  headHidden: 64,
  /** Ranking: weight of the rating-regression MSE next to the `like` BCE. */
  ratingLossWeight: 0.25,
  /** Ranking: an interaction is a `like` when its rating is ≥ this. */
  likeThreshold: 4,
  /** Gradient-norm clipping: when the global L2 norm of all gradients (dense and item table)
   *  exceeds this, every gradient is scaled down to it before the optimizer step; 0 = off. */
  gradClipNorm: 0,
  /** Divergence guard (trainer/divergence.ts): loss and gradient norms are checked every step;
   *  parameters' finiteness and the update/weight ratio every this many steps (and on a run's
   *  first step); 0 = first step only. Checkpoints are always checked before they are written. */
  divergenceCheckEvery: 50,
  /** Stochastic Length α (paper §3.2, Eq. 4), in (0, 2]: a history of n > N^{α/2} tokens is
   *  trained on as a subsequence of N^{α/2} tokens with probability 1 − N^α/n². 0 = off. */
  stochasticLengthAlpha: 0,
  /** Out-of-core training (--ooc): sequences in the seeded shuffle buffer. */
  oocShuffleBuffer: 4096,
  /** Out-of-core training (--ooc): users sampled for validation/test (0 = every user). */
  oocEvalUsers: 10000,
};

export type Config = typeof defaultConfig;
export type ConfigKey = keyof Config;

/** Allowed values of the string-enum keys (every string key is an enum). */
export const configEnums: { [K in ConfigKey]?: readonly string[] } = {
  model: ['hstu', 'sasrec'],
  task: ['retrieval', 'ranking'],
  negativeSampling: ['per-position', 'shared'],
  sampledSoftmaxPath: ['auto', 'catalogue', 'gathered'],
  similarity: ['cosine', 'dot'],
  positionAnchor: ['start', 'end'],
  lastQueryTime: ['next', 'own'],
  lrSchedule: ['constant', 'cosine', 'linear-warmup'],
  embeddingOptimizer: ['rowwise-adam', 'adam'],
  embeddingStore: ['device', 'host', 'redis'],
  itemRowInit: ['table', 'per-row'],
  allReduceTransport: ['ring', 'redis'],
  embeddingSync: ['sync', 'atomic', 'cas'],
};

const SIMILARITY_HINT = "HINT: 'cosine' is the paper's logit cos(u, e)/τ; 'dot' is eSASRec's u·e (use it with --temperature=1).";

/** Keys that must hold integers (all other numbers are reals). */
const integerKeys = new Set<ConfigKey>([
  'maxLen', 'dim', 'numLayers', 'numHeads', 'dqk', 'dv', 'numNegatives', 'batchSize', 'epochs',
  'evalEvery', 'earlyStopPatience', 'seed', 'inBatchNegatives', 'warmupSteps', 'numActions', 'rankingCandidates', 'rankingWindows', 'rankingEvalGroup', 'headHidden',
  'divergenceCheckEvery', 'deviceCacheRows', 'evalMaxUsers', 'oocShuffleBuffer', 'oocEvalUsers', 'storeWriteBackSteps',
]);

const keys = Object.keys(defaultConfig) as ConfigKey[];

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** Config keys close to `name` (edit distance ≤ 3, or case-insensitive substring). */
export function closeKeys(name: string): string[] {
  const n = name.toLowerCase();
  return keys
    .map((k) => ({ k, dist: levenshtein(n, k.toLowerCase()) }))
    .filter(({ k, dist }) => dist <= 3 || k.toLowerCase().includes(n) || n.includes(k.toLowerCase()))
    .sort((x, y) => x.dist - y.dist)
    .map(({ k }) => k);
}

function unknownKeyError(key: string, where: string): Error {
  const close = closeKeys(key);
  const hint = close.length ? `did you mean ${close.map((k) => `'${k}'`).join(', ')}?` : `known keys: ${keys.join(', ')}`;
  return new Error(`unknown config key '${key}'${where}. HINT: ${hint}`);
}

function isConfigKey(key: string): key is ConfigKey {
  return Object.prototype.hasOwnProperty.call(defaultConfig, key);
}

/** Check one value against the default's type (and the enum / integer constraints). */
function checkValue(key: ConfigKey, value: unknown): Config[ConfigKey] {
  const want = typeof defaultConfig[key];
  if (typeof value !== want) {
    throw new Error(`config key '${key}': expected a ${want}, got ${JSON.stringify(value)} (${typeof value})`);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`config key '${key}': expected a finite number, got ${value}`);
    if (integerKeys.has(key) && !Number.isInteger(value)) {
      throw new Error(`config key '${key}': expected an integer, got ${value}`);
    }
  }
  const allowed = configEnums[key];
  if (allowed && !allowed.includes(value as string)) {
    const hint = key === 'similarity' ? `. ${SIMILARITY_HINT}` : '';
    throw new Error(`config key '${key}': expected one of ${allowed.map((v) => `'${v}'`).join(' | ')}, got '${String(value)}'${hint}`);
  }
  return value as Config[ConfigKey];
}

/** Parse a command-line string for `key` into the default's type. */
function parseValue(key: ConfigKey, text: string): unknown {
  switch (typeof defaultConfig[key]) {
    case 'number': {
      const v = text.trim() === '' ? NaN : Number(text);
      if (Number.isNaN(v)) throw new Error(`--${key}: expected a number, got '${text}'`);
      return v;
    }
    case 'boolean':
      if (text === 'true' || text === '1') return true;
      if (text === 'false' || text === '0') return false;
      throw new Error(`--${key}: expected true or false, got '${text}'`);
    default:
      return text;
  }
}

/**
 * Parse `--key=value` arguments into typed overrides. A bare `--flag` sets a boolean key to true.
 * Throws on anything else, unknown keys (with close matches) and type errors.
 */
export function parseOverrides(args: readonly string[]): Partial<Config> {
  const out: Record<string, unknown> = {};
  for (const arg of args) {
    const m = /^--([A-Za-z0-9_]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new Error(`expected an override of the form --key=value, got '${arg}'`);
    const key = m[1]!;
    if (!isConfigKey(key)) throw unknownKeyError(key, ` in '${arg}'`);
    const text = m[2];
    if (text === undefined) {
      if (typeof defaultConfig[key] !== 'boolean') throw new Error(`--${key}: expected --${key}=<${typeof defaultConfig[key]}>, got no value`);
      out[key] = true;
    } else {
      out[key] = checkValue(key, parseValue(key, text));
    }
  }
  return out as Partial<Config>;
}

/** A new config: `base` with `overrides` applied; every key and value type-checked, then validated. */
export function applyOverrides(base: Config, overrides: Record<string, unknown>, where = ''): Config {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    if (!isConfigKey(key)) throw unknownKeyError(key, where);
    out[key] = checkValue(key, value);
  }
  const config = out as Config;
  validateConfig(config);
  return config;
}

/** Load a JSON config file (an object of overrides) on top of `base` (defaults). */
export function loadConfigFile(path: string, base: Config = defaultConfig): Config {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8').replace(/^\uFEFF/, '')); // a UTF-8 BOM (Windows editors), as data files allow
  } catch (e) {
    throw new Error(`cannot read config file ${path}: ${(e as Error).message}. HINT: the file must be a JSON object of config keys`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`config file ${path}: expected a JSON object, got ${Array.isArray(json) ? 'an array' : typeof json}. HINT: write {"dim": 64, ...}`);
  }
  return applyOverrides(base, json as Record<string, unknown>, ` in ${path}`);
}

/** Range and consistency checks ("expected X, got Y"). */
export function validateConfig(c: Config): void {
  const positive: ConfigKey[] = ['maxLen', 'dim', 'numLayers', 'numHeads', 'numNegatives', 'batchSize', 'epochs', 'evalEvery'];
  for (const k of positive) if ((c[k] as number) < 1) throw new Error(`config key '${k}': expected ≥ 1, got ${c[k]}`);
  const nonNegative: ConfigKey[] = ['inBatchNegatives', 'dqk', 'dv', 'earlyStopPatience', 'warmupSteps', 'weightDecay', 'lr', 'ratingLossWeight', 'uvqkInitStd', 'gradClipNorm', 'divergenceCheckEvery', 'deviceCacheRows', 'evalMaxUsers', 'storeWriteBackSteps'];
  for (const k of ['numActions', 'rankingCandidates', 'rankingWindows', 'rankingEvalGroup', 'headHidden'] as const) if (c[k] < 1) throw new Error(`config key '${k}': expected ≥ 1, got ${c[k]}`);
  for (const k of nonNegative) if ((c[k] as number) < 0) throw new Error(`config key '${k}': expected ≥ 0, got ${c[k]}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`config key 'dropout': expected in [0, 1), got ${c.dropout}`);
  if (!(c.attnAlpha >= 0 || c.attnAlpha === -1)) throw new Error(`config key 'attnAlpha': expected 0 (off), > 0, or -1 (1/sqrt(dqk)), got ${c.attnAlpha}`);
  if (c.inBatchNegatives > 0 && c.negativeSampling !== 'per-position') {
    throw new Error(`config key 'inBatchNegatives': expected 0 with negativeSampling '${c.negativeSampling}', got ${c.inBatchNegatives}. HINT: in-batch negatives are drawn per position; use --negativeSampling=per-position.`);
  }
  if (c.inBatchNegatives > 0 && c.sampledSoftmaxPath === 'catalogue') {
    throw new Error(`config key 'sampledSoftmaxPath': expected 'auto' or 'gathered' with inBatchNegatives > 0, got 'catalogue'. HINT: the log-Q correction runs on the gathered path only.`);
  }
  if (!(c.stochasticLengthAlpha === 0 || (c.stochasticLengthAlpha > 0 && c.stochasticLengthAlpha <= 2))) {
    throw new Error(`config key 'stochasticLengthAlpha': expected 0 (off) or in (0, 2], got ${c.stochasticLengthAlpha}. HINT: the paper uses 1.6 to 2.0.`);
  }
  if (c.oocShuffleBuffer < 1 || c.oocEvalUsers < 0) throw new Error(`config keys 'oocShuffleBuffer' ≥ 1 and 'oocEvalUsers' ≥ 0 expected, got ${c.oocShuffleBuffer}, ${c.oocEvalUsers}`);
  if (!(c.temperature > 0)) throw new Error(`config key 'temperature': expected > 0, got ${c.temperature}`);
  // Also for configs built in code (not through checkValue's enum check).
  if (c.similarity !== 'cosine' && c.similarity !== 'dot') {
    throw new Error(`config key 'similarity': expected 'cosine' | 'dot', got ${JSON.stringify(c.similarity)}. ${SIMILARITY_HINT}`);
  }
  if (c.positionAnchor !== 'start' && c.positionAnchor !== 'end') {
    throw new Error(`config key 'positionAnchor': expected 'start' | 'end', got ${JSON.stringify(c.positionAnchor)}. HINT: 'end' anchors positions at the sequence end as the original SASRec's left padding does.`);
  }
  // Ranking appends its candidates at position h (the history length): anchored at the end, a
  // full history would put them at maxLen, one past the pos_emb table.
  if (c.positionAnchor === 'end' && c.task === 'ranking') {
    throw new Error(`config key 'positionAnchor': expected 'start' with task 'ranking', got 'end'. HINT: end-anchored positions are for retrieval (ranking candidates would sit past the position table); use --positionAnchor=start.`);
  }
  for (const k of ['beta1', 'beta2'] as const) if (!(c[k] >= 0 && c[k] < 1)) throw new Error(`config key '${k}': expected in [0, 1), got ${c[k]}`);
  if ((c.dqk === 0 || c.dv === 0 || c.model === 'sasrec') && c.dim % c.numHeads !== 0) {
    throw new Error(`config: expected dim divisible by numHeads (for auto dqk/dv or SASRec), got dim ${c.dim}, numHeads ${c.numHeads}`);
  }
}

/** Per-head query/key dim (dqk, or dim / numHeads when 0). SASRec always uses dim / numHeads. */
export function resolvedDqk(c: Config): number {
  return c.model === 'hstu' && c.dqk > 0 ? c.dqk : c.dim / c.numHeads;
}

/** Per-head value dim (dv, or dim / numHeads when 0). SASRec always uses dim / numHeads. */
export function resolvedDv(c: Config): number {
  return c.model === 'hstu' && c.dv > 0 ? c.dv : c.dim / c.numHeads;
}

/** HSTU's alpha multiplying Q·K: 1 when attnAlpha is 0, 1/sqrt(dqk) when -1, else attnAlpha. */
export function attentionAlpha(c: Config): number {
  if (c.attnAlpha === 0) return 1;
  if (c.attnAlpha === -1) return 1 / Math.sqrt(resolvedDqk(c));
  return c.attnAlpha;
}

/**
 * HSTU's normaliser of SiLU(S) for a sequence of length n with k targets: N (maxLen) by default;
 * with normalizeByLength, the history length plus one if it has targets (= n when k = 0), so a
 * candidate scored among k others gets the same normaliser as scored alone (M-FALCON), min 1.
 */
export function resolvedNormaliser(c: Config, n: number, k: number): number {
  if (!c.normalizeByLength) return c.maxLen;
  return Math.max(1, n - k + (k > 0 ? 1 : 0));
}

/** The retrieval logit's similarity (config `similarity`): 'cosine' or 'dot'. */
export type Similarity = Config['similarity'];

/** Where absolute positions are counted from (config `positionAnchor`): 'start' or 'end'. */
export type PositionAnchor = Config['positionAnchor'];
