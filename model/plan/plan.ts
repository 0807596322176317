// The planner: one training setup (model config, catalogue, data, workers, device, store) →
// parameters, bytes per row, memory per tier and machines/shards, FLOPs, activation memory, a
// step-time model with its binding term, and time and cost per epoch and run. Pure functions.
//
// Step-time model (per worker, per step; every term printed):
//   compute  = Σ_class FLOPs_class / (peak(dtype) × efficiency_class), classes dense / attention / loss;
//              attention adds (pair × head)s × a per-pair cost where the profile measured one; the
//              per-position loss as implemented is priced on the path the trainer's cost rule picks
//              (catalogue GEMMs over every item, or the gathered rows at their own rate)
//   memory   = bytes moved (activations written and read back, weights, gradients, AdamW, the
//              embedding rows gathered and updated) / (bandwidth × efficiency_memory)
//   overhead = dispatches × dispatch cost + one submit
//   host     = where measured (the local device): the step's host work, serial with the device —
//              slots of the gathered loss (P·K draws + slot plan) + recorded commands + reads
//              back, each × its calibrated seconds (HostStepCosts in devices.ts)
//   device   = max(compute, memory) + overhead + host on a GPU (a kernel is bound by one of them);
//              compute + memory + overhead + host on a CPU-emulated device (the same cores do both)
//   store    = host: missed rows fetched and written back over the host link (or the host tier's
//              measured per-row work where slower: per missed row in whole steps, a + b·d, where
//              calibrated, else the cache's ensure() alone);
//              redis: (missed reads / reads per s + row updates / updates per s) / primaries
//              + the device cache's per-row work of the rows read (the host tier's rate)
//   network  = per worker: Redis row traffic + ring all-reduce of dense gradients 2(W−1)/W · 4P
//   step     = max(device, store, network): the next batch's rows are prefetched while this step
//              computes, and the all-reduce overlaps backward. The largest term is THE BINDING TERM.
import { expectedExampleFlops, flopShapeOf, paramCounts, type FlopBreakdown } from '../flops.js';
import { resolvedDqk, resolvedDv, type Config } from '../config.js';
import type { DeviceProfile, HostTierStepCost } from './devices.js';
import { attentionFeatures, attentionSeconds } from './attention_cost.js';
import { paramLayout } from '../params.js';
import { perPositionLossPath, type LossPath } from '../loss_path.js';
import { negativesPerPosition } from '../retrieval_negatives.js';
import { activationBytes, denseBytes, expectedUniqueRows, formatBytes, GiB, redisBytesPerRow, REDIS_VERSION_BYTES, rowBytes, ROW_FORMATS, trainingRowFormat, type RowFormat } from './memory.js';

export type StoreKind = 'device' | 'host' | 'redis';

export interface PlanInput {
  name: string;
  config: Config;
  items: number;
  extraRows?: number;
  users: number;
  events: number;
  epochs: number;
  workers: number;
  device: DeviceProfile;
  /** Where the embedding rows live; 'auto' = the first tier they fit (device, host, redis). */
  store: StoreKind | 'auto';
  stochasticLengthAlpha?: number;
  computeDtype: 'bf16' | 'fp32';
  /** Count the loss as this implementation computes it: per-position negatives on the path the
   *  trainer's cost rule picks for this device class and catalogue (model/loss_path.ts) — the
   *  catalogue path as GEMMs over every item (every item's row updated), the gathered path as
   *  the drawn rows only (L·K·d scoring, dU and item gradient, at its own measured rate) — instead
   *  of the algorithm's R + 1 logits at the generic loss efficiency. */
  lossAsImplemented?: boolean;
  /** Activation memory model: the paper's fused bf16 kernels (14d per layer) or ours (f32). */
  activations?: 'paper' | 'ours';
  /** One step's example lengths (validation uses the real batch); default B × the mean length. */
  stepLengths?: number[];
  /** Hit rate of the device cache (host / redis stores) for input ids; negatives hit at cache/rows. */
  inputHitRate?: number;
  /** Rows the device cache holds (default: what fits in 80% of the device memory left). */
  cacheRows?: number;
  redisReplicas?: number;
  /** Redis primaries to plan with (default: as many as the table's bytes need): a given cluster. */
  redisPrimaries?: number;
  /** The W workers share one device (here: this machine's CPU-emulated device and its cores):
   *  each runs its slice at 1/W of the calibrated rates. Default false (a device per worker). */
  workersShareDevice?: boolean;
  /** Transport of the dense all-reduce and the item-row all-gather: a ring between the workers
   *  (the network term's 2(W−1)/W · 4P), or through Redis as trainer/distributed/worker_sync.ts
   *  does (every rank writes its buffer and reads all W: (1 + W) buffers per rank, through the
   *  cluster at the calibrated bytes/s, plus round trips and the poll wait at each sync point). */
  allReduceVia?: 'ring' | 'redis';
  /** Memory per Redis node (default 256 GiB, a memory-optimised cloud instance: an assumption) and
   *  the usable fraction (default 0.75: fragmentation, copy-on-write of background saves). */
  redisNodeBytes?: number;
  redisUsable?: number;
  /** Host RAM per machine and GPUs per machine (host store). */
  hostMemoryBytes?: number;
  devicesPerMachine?: number;
  /** Prices (USD per hour) of a Redis node and of a host machine beyond the GPU price. */
  redisNodeUsd?: number;
  devicePriceUsd?: number;
}

export interface Term {
  name: string;
  seconds: number;
  detail: string;
}

export interface Plan {
  input: PlanInput;
  params: { embedding: number; nonEmbedding: number; total: number };
  rowFormat: RowFormat;
  bytesPerRow: { format: RowFormat; description: string; bytes: number }[];
  tableRows: number;
  tableBytes: number;
  tiers: {
    device: { perDevice: number; dense: number; activations: number; lossScratch: number; rowsOnDevice: number; devicesNeeded: number; fits: boolean };
    host: { bytes: number; machinesNeeded: number };
    redis: { bytesPerRow: number; overheadPerRow: number; bytes: number; bytesWithReplicas: number; primaries: number; nodes: number; primariesForThroughput: number };
  };
  store: StoreKind;
  /** Path of the per-position loss (retrieval, per-position negatives); null otherwise. */
  lossPath: LossPath | null;
  flops: { perExample: FlopBreakdown; perStep: number; attentionPairHeads: number; perStepByClass: { dense: number; attention: number; loss: number }; tokensPerExample: number; tokensPerStep: number };
  activation: { paperPerLayerPerToken: number; oursPerLayerPerToken: number; perLayerPerStep: number; model: 'paper' | 'ours' };
  step: { compute: Term[]; memory: Term; overhead: Term; host: Term; device: Term; store: Term; network: Term; seconds: number; binding: string; uniqueRows: number; cacheHitRate: number };
  epoch: { examples: number; steps: number; seconds: number; usd: number };
  run: { seconds: number; usd: number };
  notes: string[];
}

const REDIS_MAX_NODES = 1000; // Redis Cluster's documented practical upper bound

function checkInput(p: PlanInput): void {
  const pos = (k: string, v: number, int = true) => {
    if (!(v > 0) || !Number.isFinite(v) || (int && !Number.isInteger(v))) throw new Error(`plan: expected ${k} to be a positive ${int ? 'integer' : 'number'}, got ${v}. HINT: check --${k}.`);
  };
  pos('items', p.items);
  pos('users', p.users);
  pos('events', p.events);
  pos('workers', p.workers);
  pos('epochs', p.epochs, false);
}

/**
 * Bytes moved per step by the memory-bound kernels, per worker, counted like the bench suite's
 * napkin math (each operand read once, each output written once), so a calibrated memory rate
 * applies: per layer, layer norm fwd (2Ld) and bwd (3Ld), SiLU + split fwd (2Lw) and bwd (3Lw),
 * the gate fwd (3L·Hdv) and bwd (5L·Hdv), the residual copy (2Ld) and add (3Ld), the bias-gradient
 * column sum (Ld); per step the embedding gathers and dropout (≈ 10Ld), the gradient scatter-add,
 * row-wise Adam on the touched rows and AdamW on the dense parameters (28 B per parameter). GEMM
 * operands are part of the compute classes (their rates include them). The loss's gathered
 * negative rows count here unless the loss is counted as implemented (its rate then includes them).
 */
function memoryTraffic(p: PlanInput, tokens: number, uniqueRows: number, rowB: number, nonEmb: number): { bytes: number; detail: string } {
  const c = p.config, d = c.dim;
  const elt = p.computeDtype === 'bf16' ? 2 : 4;
  const H = c.numHeads, hv = H * resolvedDv(c), w = H * (2 * resolvedDv(c) + 2 * resolvedDqk(c));
  const perLayer = c.model === 'hstu' ? 9 * d + 5 * w + 8 * hv : 20 * d;
  const layers = tokens * c.numLayers * perLayer * elt;
  const embed = 10 * tokens * d * elt;
  const negRows = c.task === 'ranking' || p.lossAsImplemented ? 0 : c.negativeSampling === 'shared' ? c.numNegatives : tokens * c.numNegatives;
  const loss = 2 * negRows * d * elt;
  const update = 4 * d * (2 * tokens + negRows + uniqueRows) + uniqueRows * (4 * d + 2 * rowB) + 28 * nonEmb;
  const bytes = layers + embed + loss + update;
  return { bytes, detail: `${formatBytes(bytes)}: layers' element-wise ${formatBytes(layers)}, embedding ${formatBytes(embed)}, loss rows ${formatBytes(loss)}, scatter + optimizers ${formatBytes(update)}` };
}

/** Poll interval of the workers' waits (trainer/distributed/rendezvous.ts pollMs): a rank that
 *  reaches a sync point first sleeps in steps of it, so each sync point costs half of it on average. */
export const REDIS_POLL_SECONDS = 0.010;
/** Round trips per step of worker_sync.ts's synchronous step on Redis: two all-gathers (dense
 *  gradients + loss; item-row gradients), each SET of its chunks, HSET + PEXPIRE of the ready
 *  mark, ≥ 1 HGETALL poll, GET of the W buffers, HGET + DEL of the previous call's chunks (7),
 *  and the barrier after the row updates (INCR, ≥ 1 GET poll: 2). Three sync points (waits). */
export const REDIS_STEP_ROUND_TRIPS = 16;
export const REDIS_STEP_SYNC_POINTS = 3;

/**
 * The all-reduce through Redis as worker_sync.ts does it, per step: the dense gradients (4·P
 * bytes + the loss + an 8-byte header) and the item-row gradients of the rank's touched rows
 * (4 + 4u + 4ud bytes + header) are written once by every rank and read back by every rank
 * (W buffers), so (1 + W)·W buffers pass through the cluster, which all W workers share: at the
 * calibrated bytes/s (else the device's network rate), plus round trips and the poll waits.
 */
export function redisAllReduceTerm(W: number, denseParams: number, rowsPerWorker: number, d: number, dev: DeviceProfile): Term {
  const perRank = 4 * denseParams + 4 + 8 + (4 + 4 * rowsPerWorker * (1 + d) + 8);
  const bytes = (1 + W) * W * perRank;
  const rate = dev.redis.bytesPerSec ?? dev.network;
  const rtt = dev.redis.roundTripSeconds ?? 0;
  const seconds = bytes / rate + REDIS_STEP_ROUND_TRIPS * rtt + REDIS_STEP_SYNC_POINTS * REDIS_POLL_SECONDS / 2;
  return { name: 'network', seconds, detail: `all-reduce + row all-gather through Redis: ${formatBytes(bytes)} through the cluster per step ((1 + W)·W buffers of ${formatBytes(perRank)}) at ${(rate / 1e6).toFixed(0)} MB/s${dev.redis.bytesPerSec ? '' : ' (the network rate: no Redis bytes/s measured)'} + ${REDIS_STEP_ROUND_TRIPS} round trips × ${(rtt * 1e3).toFixed(2)} ms + ${REDIS_STEP_SYNC_POINTS} waits × ${(REDIS_POLL_SECONDS * 500).toFixed(0)} ms (half the poll interval)` };
}

/**
 * The step's host work where the profile measured it (HostStepCosts): `slots` of the gathered
 * per-position loss, `commands` recorded, `reads` back to the host; zero (and says so) otherwise.
 */
export function hostTerm(dev: DeviceProfile, slots: number, commands: number, reads: number): Term {
  const h = dev.host;
  if (!h) return { name: 'host work', seconds: 0, detail: `not priced: ${dev.name} has no measured host costs (npm run plan -- --calibrate measures them here)` };
  const seconds = slots * h.slotSeconds + commands * h.commandSeconds + reads * h.readSeconds;
  return { name: 'host work', seconds, detail: `${slots.toExponential(3)} gathered-loss slots × ${(h.slotSeconds * 1e9).toFixed(1)} ns + ${commands} commands recorded × ${(h.commandSeconds * 1e6).toFixed(1)} µs + ${reads} reads back × ${(h.readSeconds * 1e6).toFixed(0)} µs (${h.source})` };
}

/** Seconds per host-tier missed row at width d (HostTierStepCost in devices.ts). */
export const hostTierRowSeconds = (k: HostTierStepCost, d: number): number => k.baseSeconds + k.perDimSeconds * d;

/**
 * The line through two calibration widths' seconds per missed row (dLo < dHi). The slope is kept
 * ≥ 0 (a wider row never costs less: a negative slope is the noise of two timings, and then both
 * widths are priced at their mean); the base ≥ 0 likewise.
 */
export function fitHostTierStep(lo: { dim: number; seconds: number }, hi: { dim: number; seconds: number }, source: string): HostTierStepCost {
  if (!(hi.dim > lo.dim) || !(lo.seconds > 0) || !(hi.seconds > 0)) throw new Error(`host tier fit: expected two widths dLo < dHi with positive seconds per row, got ${lo.dim}: ${lo.seconds}, ${hi.dim}: ${hi.seconds}. HINT: internal`);
  let perDim = (hi.seconds - lo.seconds) / (hi.dim - lo.dim);
  let base = lo.seconds - perDim * lo.dim;
  if (perDim < 0) [perDim, base] = [0, (lo.seconds + hi.seconds) / 2];
  if (base < 0) [perDim, base] = [hi.seconds / hi.dim, 0];
  return { baseSeconds: base, perDimSeconds: perDim, points: [lo, hi], source };
}

/** Reads back per step of worker_sync.ts's step: the loss, every dense gradient tensor, the item-row gradients. */
export const workerReadsPerStep = (c: Config): number => 2 + paramLayout(c, 1).filter((s) => s.name !== 'item_emb').length;

export function plan(p: PlanInput): Plan {
  checkInput(p);
  const c = p.config;
  const notes: string[] = [];
  const W = p.workers, d = c.dim, dev = p.device;
  const pc = paramCounts({ ...c, maxLen: c.maxLen }, 1);
  const tableRows = p.items + 1 + (p.extraRows ?? 0);
  const embedding = pc.embedding - 2 * d + tableRows * d; // paramCounts(…, 1) counted a 2-row item table
  const params = { embedding, nonEmbedding: pc.nonEmbedding, total: embedding + pc.nonEmbedding };
  const rowFormat = trainingRowFormat(c);
  const rowB = rowBytes(rowFormat, d);
  const bytesPerRow = (Object.keys(ROW_FORMATS) as RowFormat[]).map((f) => ({ format: f, description: ROW_FORMATS[f], bytes: rowBytes(f, d) }));
  const tableBytes = tableRows * rowB;

  // FLOPs: one step's examples (real lengths if given, else B of the mean history capped at N).
  const meanLen = Math.max(1, Math.min(c.maxLen, Math.round(p.events / p.users)));
  const lengths = p.stepLengths ?? Array.from({ length: c.batchSize }, () => meanLen);
  const shape = flopShapeOf(c);
  const ranking = c.task === 'ranking' ? { candidates: c.rankingCandidates, head: { hidden: c.headHidden, tasks: 2 } } : undefined;
  const per = lengths.map((n) => expectedExampleFlops(shape, n, c.maxLen, p.stochasticLengthAlpha ?? 0, ranking));
  const tokensPerStep = per.reduce((a, f) => a + f.tokens, 0);
  const sum = (k: keyof FlopBreakdown) => per.reduce((a, f) => a + f[k], 0);
  let lossFlops = sum('loss');
  const perPosition = c.task === 'retrieval' && c.negativeSampling === 'per-position';
  const lossPath: LossPath | null = perPosition ? (p.lossAsImplemented ? perPositionLossPath(c, dev.deviceClass, tableRows) : 'gathered') : null;
  const K = negativesPerPosition(c) + 1; // slots per position: the positive and its negatives
  // Catalogue path: three GEMMs (logits, dU, item-column gradient) of P × items × d. Gathered
  // path: scoring, dU and the item gradient, each 2·d per slot: 6·P·K·d (in-batch slots included).
  if (p.lossAsImplemented && lossPath === 'catalogue') lossFlops = 3 * 2 * tokensPerStep * p.items * d;
  else if (perPosition) lossFlops = 3 * 2 * tokensPerStep * K * d;
  const perStepByClass = { dense: sum('dense'), attention: sum('attention'), loss: lossFlops };
  const perStep = perStepByClass.dense + perStepByClass.attention + perStepByClass.loss;
  const perExample = expectedExampleFlops(shape, meanLen, c.maxLen, p.stochasticLengthAlpha ?? 0, ranking);

  // Activations.
  const act = activationBytes({ model: c.model, dim: d, numHeads: c.numHeads, dqk: resolvedDqk(c), dv: resolvedDv(c) });
  const actModel = p.activations ?? (dev.efficiencySource === 'measured' ? 'ours' : 'paper');
  const actPerTokenLayer = actModel === 'paper' ? act.paperPerToken : act.retainedPerToken + act.backwardPerToken;
  const perLayerPerStep = tokensPerStep * actPerTokenLayer;
  const activations = c.numLayers * perLayerPerStep;
  const elt = p.computeDtype === 'bf16' ? 2 : 4;
  let lossScratch: number; // the loss's buffers: [P, items] logits as implemented, else the gathered negative rows
  if (c.task === 'ranking') lossScratch = tokensPerStep * (c.headHidden + 4) * 4;
  else if (p.lossAsImplemented && lossPath === 'gathered') {
    // model/retrieval_loss_gathered.ts + kernels/sampled_softmax_gathered as they allocate, for U
    // distinct rows of the P·K slots: û [P, stride], ê [U, stride] (the item gradient is written
    // over it in place), norms, coef, slots and order [P, K], dOut [P, d], one more [U, d], ids/
    // offsets; then the embedding's forward/backward rows (6 [P, d]), the input gradient rows
    // [P, d] and the summed rows to scatter [U + P, d].
    const P = tokensPerStep, stride = 4 * Math.ceil(d / 4);
    const U = Math.min(p.items, expectedUniqueRows(P * K, p.items));
    lossScratch = 4 * (P * stride + U * stride + 2 * P + 2 * U + 3 * P * K + 3 * P + P * d + U * d + 2 * U) + 4 * (7 * P * d + (U + P) * d);
  } else if (p.lossAsImplemented) {
    // trainer/retrieval_loss.ts + kernels/sampled_softmax as they allocate: Rn negative columns
    // (every item per-position, R shared); pos/neg rows, dOut, item grads, dPos, dNeg, û, ê, and
    // cos, g, gc of [P, Rn]; then the embedding's forward/backward rows (6 [L, d]), the gradient
    // rows to scatter [(2L + Rn), d] and the summed rows [unique, d].
    const P = tokensPerStep, Rn = c.negativeSampling === 'per-position' ? p.items : c.numNegatives;
    const unique = c.negativeSampling === 'per-position' ? p.items : Math.min(p.items, 2 * P + Rn);
    lossScratch = 4 * (5 * P * d + 4 * Rn * d + 3 * P * Rn) + 4 * (6 * P * d + (2 * P + Rn) * d + unique * d);
  } else lossScratch = (c.negativeSampling === 'shared' ? c.numNegatives : tokensPerStep * (c.numNegatives + 1)) * d * elt + 5 * tokensPerStep * d * 4;
  const dense = denseBytes(params.nonEmbedding);
  const fixed = dense + activations + lossScratch;
  if (fixed > dev.memoryBytes) {
    throw new Error(`plan: one step's dense state + activations need ${formatBytes(fixed)} on each device, more than ${dev.name}'s ${formatBytes(dev.memoryBytes)} (dense ${formatBytes(dense)}, activations ${formatBytes(activations)}, loss ${formatBytes(lossScratch)}). HINT: lower --batchSize to ≤ ${Math.max(1, Math.floor((c.batchSize * (dev.memoryBytes - dense)) / (activations + lossScratch)))} or use a device with more memory.`);
  }
  const freeForRows = dev.memoryBytes - fixed;
  const devicesNeeded = Math.ceil(tableBytes / (freeForRows * 0.9));
  const deviceFits = devicesNeeded <= W;

  // Host and Redis tiers.
  const hostMem = p.hostMemoryBytes ?? 2e12;
  const perMachine = p.devicesPerMachine ?? 8;
  const hostMachines = Math.ceil(tableBytes / (0.8 * hostMem));
  const hostFits = hostMachines <= Math.ceil(W / perMachine);
  const r = redisBytesPerRow(rowB + REDIS_VERSION_BYTES);
  const replicas = p.redisReplicas ?? 1;
  const nodeBytes = p.redisNodeBytes ?? 256 * GiB;
  const redisBytes = tableRows * r.total;
  const primaries = p.redisPrimaries ?? Math.ceil(redisBytes / (nodeBytes * (p.redisUsable ?? 0.75)));
  const nodes = primaries * (1 + replicas);

  let store: StoreKind;
  if (p.store === 'auto') store = deviceFits ? 'device' : hostFits ? 'host' : 'redis';
  else store = p.store;
  const needs = `device store: ${devicesNeeded} × ${dev.name} (--workers ${devicesNeeded}); host store: ${hostMachines} machines of ${formatBytes(hostMem)} RAM (--workers ${hostMachines * perMachine}); redis: ${primaries} primaries + ${primaries * replicas} replicas of ${formatBytes(nodeBytes)}`;
  if (store === 'redis' && nodes > REDIS_MAX_NODES) {
    throw new Error(`plan: the ${formatBytes(tableBytes)} table (${tableRows.toExponential(2)} rows × ${rowB} B) fits nowhere: Redis would need ${nodes} nodes (> ${REDIS_MAX_NODES}, Redis Cluster's practical limit); ${needs}. HINT: bf16 rows (--embeddingBf16), a smaller --items, or larger nodes.`);
  }
  if (store === 'device' && !deviceFits) throw new Error(`plan: the ${formatBytes(tableBytes)} table does not fit on ${W} × ${dev.name} (${formatBytes(freeForRows)} free each after dense state and activations). Needed: ${needs}. HINT: --workers ${devicesNeeded}, or --store host / --store redis.`);
  if (store === 'host' && !hostFits) throw new Error(`plan: the ${formatBytes(tableBytes)} table does not fit in the host RAM of ${Math.ceil(W / perMachine)} machine(s). Needed: ${needs}. HINT: --workers ${hostMachines * perMachine}, or --store redis.`);
  const rowsOnDevice = store === 'device' ? Math.ceil(tableRows / W) : Math.min(tableRows, p.cacheRows ?? Math.floor((0.8 * freeForRows) / rowB));

  // Rows touched per step per worker.
  const allItems = !!(p.lossAsImplemented && lossPath === 'catalogue');
  const negDraws = c.task === 'ranking' ? 0 : c.negativeSampling === 'shared' ? c.numNegatives : tokensPerStep * (K - 1);
  const uniqueInputs = expectedUniqueRows(2 * tokensPerStep, p.items);
  const uniqueNeg = allItems ? p.items : expectedUniqueRows(negDraws, p.items);
  const uniqueRows = Math.min(p.items, allItems ? p.items : uniqueInputs + uniqueNeg);
  const negHit = Math.min(1, rowsOnDevice / tableRows);
  const inHit = Math.max(negHit, p.inputHitRate ?? 0.9);
  // W > 1 on Redis (trainer/distributed/worker_sync.ts): other ranks updated rows since the last
  // step, so the device cache is invalidated after every step and every touched row is read.
  const freshEachStep = store === 'redis' && W > 1;
  const misses = store === 'device' ? 0 : freshEachStep ? uniqueRows : uniqueInputs * (1 - inHit) + uniqueNeg * (1 - negHit);
  // Rows updated per step over all workers: the union of their rows, each updated once (by its
  // owner rank on Redis). Shared negatives are the same R rows on every rank.
  const sharedNeg = c.task !== 'ranking' && c.negativeSampling === 'shared';
  const unionRows = W === 1 ? uniqueRows : Math.min(p.items, allItems ? p.items : expectedUniqueRows(2 * tokensPerStep * W, p.items) + (sharedNeg ? uniqueNeg : expectedUniqueRows(negDraws * W, p.items)));
  const cacheHitRate = store === 'device' ? 1 : 1 - misses / Math.max(uniqueRows, 1);

  // Step terms.
  const peak = p.computeDtype === 'bf16' ? dev.bf16Flops : dev.fp32Flops;
  // The shared-negatives loss is a different kernel path (one [R, d] block for all positions): its
  // own measured efficiency when the profile has one.
  // The gathered per-position loss likewise (gather-bound scoring, not GEMMs).
  const lossEff = c.negativeSampling === 'shared' && dev.efficiency.lossShared ? dev.efficiency.lossShared : p.lossAsImplemented && lossPath === 'gathered' && dev.efficiency.lossGathered ? dev.efficiency.lossGathered : dev.efficiency.loss;
  const eff = { ...dev.efficiency, loss: lossEff };
  const compute: Term[] = (['dense', 'attention', 'loss'] as const).map((k) => ({ name: `compute (${k})`, seconds: perStepByClass[k] / (peak * eff[k]), detail: `${perStepByClass[k].toExponential(3)} FLOPs at ${((peak * eff[k]) / 1e12).toFixed(4)} TFLOP/s (${(100 * eff[k]).toFixed(1)}% of ${p.computeDtype} peak, ${dev.efficiencySource})${k === 'loss' && lossPath ? `, ${lossPath} path` : ''}` }));
  // Attention = per-FLOP cost + per-(pair × head) cost where the profile has the latter: on
  // lavapipe a narrow head costs more per FLOP than a wide one (the per-pair mask, bias and SiLU
  // work does not shrink with the head width).
  const attentionPairHeads = perStepByClass.attention / (3 * 2 * (shape.dqk + shape.dv));
  if (dev.attentionPairHeadSeconds) {
    const a = compute[1]!, extra = attentionPairHeads * dev.attentionPairHeadSeconds;
    a.seconds += extra;
    a.detail += ` + ${attentionPairHeads.toExponential(3)} (pair × head)s × ${(dev.attentionPairHeadSeconds * 1e9).toFixed(2)} ns`;
  }
  if (dev.attentionCost) {
    // Per workgroup iteration as the kernels run (attention_cost.ts): each example's (expected)
    // token count is its sequence length.
    const a = compute[1]!;
    const f = attentionFeatures(per.map((e) => Math.min(c.maxLen, Math.round(e.tokens))), { H: c.numHeads, dqk: shape.dqk, dv: shape.dv, N: c.maxLen });
    const k = dev.attentionCost;
    a.seconds = c.numLayers * attentionSeconds(f, k);
    a.detail = `${c.numLayers} layers × (${f.iterations.toExponential(3)} workgroup iterations × (${k.baseNs.toFixed(2)} ns + (dqk + dv = ${shape.dqk + shape.dv}) × ${k.perWidthNs.toFixed(3)} ns)${f.unalignedIterations ? ` + ${f.unalignedIterations.toExponential(3)} unaligned × ${k.unalignedNs.toFixed(2)} ns` : ''}${f.stagedIterations ? ` + ${f.stagedIterations.toExponential(3)} staged dQ (N > 512) × ${k.stagedHistNs.toFixed(2)} ns` : ''}) (attention_cost.ts, measured)`;
  }
  const computeS = compute.reduce((a, t) => a + t.seconds, 0);
  const traffic = memoryTraffic(p, tokensPerStep, store === 'device' ? uniqueRows : Math.min(uniqueRows, rowsOnDevice), rowB, params.nonEmbedding);
  const memory: Term = { name: 'memory traffic', seconds: traffic.bytes / (dev.bandwidth * dev.efficiency.memory), detail: `${traffic.detail} at ${((dev.bandwidth * dev.efficiency.memory) / 1e9).toFixed(1)} GB/s` };
  const dispatches = dev.dispatchesFixed + c.numLayers * dev.dispatchesPerLayer;
  const overhead: Term = { name: 'dispatch overhead', seconds: dispatches * dev.dispatchSeconds + dev.submitSeconds, detail: `${dispatches} dispatches × ${(dev.dispatchSeconds * 1e6).toFixed(1)} µs + one submit ${(dev.submitSeconds * 1e6).toFixed(0)} µs` };
  // The host's share of the step: the gathered loss's P·K slots (per-position path as
  // implemented), every recorded command, and the reads back (trainStep's, or worker_sync.ts's).
  const gatheredSlots = p.lossAsImplemented && lossPath === 'gathered' ? tokensPerStep * K : 0;
  const reads = W > 1 && p.allReduceVia === 'redis' ? workerReadsPerStep(c) : (dev.host?.readsPerStep ?? 0);
  const host = hostTerm(dev, gatheredSlots, dispatches, reads);
  // Workers sharing one device each get 1/W of it (their kernels run at the same time on the
  // same cores: the synchronous step keeps them in phase). Their host work is one JS thread
  // each, side by side: not multiplied.
  const share = p.workersShareDevice ? W : 1;
  const deviceS = share * ((dev.overlap ? Math.max(computeS, memory.seconds) : computeS + memory.seconds) + overhead.seconds) + host.seconds;
  const device: Term = { name: 'device', seconds: deviceS, detail: `${dev.overlap ? 'max(compute, memory) + overhead' : 'compute + memory + overhead (CPU-emulated: one set of cores)'}${share > 1 ? ` × ${share} (${W} workers share the device)` : ''}${host.seconds ? ' + host work' : ''}` };

  let store_: Term, network: Term;
  const allReduce = W > 1 ? ((2 * (W - 1)) / W) * params.nonEmbedding * 4 : 0;
  if (store === 'device') {
    store_ = { name: 'store (device)', seconds: 0, detail: 'rows live on the device: their traffic is in the memory term' };
    // Rows sharded over W devices: (W − 1)/W of the gathered rows and of their gradients cross the
    // network (an all-to-all, TorchRec-style model parallelism).
    const allToAll = W > 1 ? ((W - 1) / W) * (tokensPerStep * (1 + (c.task === 'ranking' ? 0 : c.numNegatives)) * d * elt + uniqueRows * 4 * d) : 0;
    network = { name: 'network', seconds: (allReduce + allToAll) / dev.network, detail: `all-reduce ${formatBytes(allReduce)} + row all-to-all ${formatBytes(allToAll)} per worker per step at ${(dev.network / 1e9).toFixed(1)} GB/s` };
  } else if (store === 'host') {
    const bytes = 2 * misses * rowB;
    // A missed row costs its bytes over the link, or the host tier's measured per-row work where
    // that is slower (a CPU-emulated device): as whole steps see it where calibrated (draws,
    // prefetch, map, LRU, chunk read, dirty write-back, the uploads' copies), else ensure() alone.
    const rowSeconds = dev.hostTierStep ? hostTierRowSeconds(dev.hostTierStep, d) : dev.hostTierRowsPerSec ? 1 / dev.hostTierRowsPerSec : 0;
    const rowS = misses * rowSeconds;
    const how = dev.hostTierStep ? `, or ${(rowSeconds * 1e6).toFixed(2)} µs each of host-tier work in a step (${(dev.hostTierStep.baseSeconds * 1e6).toFixed(2)} µs + ${(dev.hostTierStep.perDimSeconds * 1e9).toFixed(1)} ns × d = ${d}; ${dev.hostTierStep.source})` : dev.hostTierRowsPerSec ? `, or at ${Math.round(dev.hostTierRowsPerSec)} rows/s of host-tier work (ensure() alone)` : '';
    store_ = { name: 'store (host)', seconds: Math.max(bytes / dev.hostLink, rowS), detail: `${Math.round(misses)} missed rows (hit rate ${(100 * cacheHitRate).toFixed(1)}%) fetched and written back: ${formatBytes(bytes)} over ${(dev.hostLink / 1e9).toFixed(0)} GB/s${how}` };
    network = { name: 'network', seconds: allReduce / dev.network, detail: `all-reduce ${formatBytes(allReduce)} per worker per step` };
  } else {
    const readS = (misses * W) / (primaries * dev.redis.readsPerSec);
    const updates = unionRows / (primaries * dev.redis.updatesPerSec);
    // The rows read go into each worker's device cache: the same per-row host work (map, LRU,
    // unpack, upload) as a host-tier miss, on each worker's own thread (not × W).
    const cacheS = dev.hostTierRowsPerSec ? misses / dev.hostTierRowsPerSec : 0;
    store_ = { name: 'store (redis)', seconds: readS + updates + cacheS, detail: `${W} worker(s) × ${Math.round(misses)} ${freshEachStep ? 'rows read fresh (cache invalidated each step)' : 'missed reads'}, ${Math.round(unionRows)} row updates (each row once) over ${primaries} primaries at ${dev.redis.readsPerSec} reads/s, ${dev.redis.updatesPerSec} updates/s each (${dev.redis.source})${cacheS ? `; the rows read into the device cache at ${Math.round(dev.hostTierRowsPerSec!)} rows/s of host-tier work` : ''}` };
    // Reads fetch the weights (the Redis Function applies row-wise Adam server-side); updates send
    // f32 gradient rows; ≈ 40 B of key and protocol per row.
    const rowTraffic = misses * (rowB >= 8 * d ? 4 * d : 2 * d) + misses * 40 + uniqueRows * (4 * d + 40);
    network = { name: 'network', seconds: (rowTraffic + allReduce) / dev.network, detail: `${formatBytes(rowTraffic)} row traffic + ${formatBytes(allReduce)} all-reduce per worker per step at ${(dev.network / 1e9).toFixed(1)} GB/s` };
  }
  if (W > 1 && p.allReduceVia === 'redis') network = redisAllReduceTerm(W, params.nonEmbedding, store === 'device' ? 0 : uniqueRows, d, dev);
  // A CPU-emulated device runs the store's host work on the same cores: it adds, not overlaps.
  // With W > 1 the synchronous steps of worker_sync.ts run their all-reduce after the backward
  // on the same cores, so on such a device the network term adds too.
  const seconds = dev.overlap ? Math.max(deviceS, store_.seconds, network.seconds) : W > 1 ? deviceS + store_.seconds + network.seconds : Math.max(deviceS + store_.seconds, network.seconds);
  const top = [device, store_, network].sort((a, b) => b.seconds - a.seconds)[0]!;
  const binding = top === device ? [...compute, memory, overhead, host].sort((a, b) => b.seconds - a.seconds)[0]!.name : top.name;
  // Redis primaries so that the store keeps up with the device (≤ the device time).
  const perPrimaryS = (misses * W) / dev.redis.readsPerSec + unionRows / dev.redis.updatesPerSec;
  const primariesForThroughput = store === 'redis' ? Math.max(1, Math.ceil(perPrimaryS / Math.max(deviceS, 1e-12))) : 0;

  const examples = p.users;
  const steps = Math.ceil(examples / (c.batchSize * W));
  const epochS = steps * seconds;
  const price = p.devicePriceUsd ?? dev.hourlyUsd;
  const usdPerHour = W * price + (store === 'redis' ? nodes * (p.redisNodeUsd ?? 0.8) : 0);
  const epochUsd = (epochS / 3600) * usdPerHour;
  if (dev.efficiencySource === 'assumed') notes.push(`${dev.name}: peak numbers from ${dev.source}; kernel efficiencies (dense ${dev.efficiency.dense}, attention ${dev.efficiency.attention}, loss ${dev.efficiency.loss}, memory ${dev.efficiency.memory}) are assumptions, not measurements`);
  if (!p.stepLengths) notes.push(`every example has the mean history length ${meanLen} (events / users, capped at N = ${c.maxLen}); real length spread raises attention FLOPs (quadratic)`);
  if (p.stochasticLengthAlpha) notes.push(`Stochastic Length α = ${p.stochasticLengthAlpha}: histories over N^(α/2) = ${Math.floor(c.maxLen ** (p.stochasticLengthAlpha / 2))} tokens are subsampled (expected ${(tokensPerStep / lengths.length).toFixed(0)} tokens per example)`);
  if (actModel === 'paper') notes.push('activation memory uses the paper\'s 14d bf16 per layer (fused kernels); this implementation keeps more (see "ours")');
  return {
    input: p,
    params,
    rowFormat,
    bytesPerRow,
    tableRows,
    tableBytes,
    tiers: {
      device: { perDevice: fixed + rowsOnDevice * rowB, dense, activations, lossScratch, rowsOnDevice, devicesNeeded, fits: deviceFits },
      host: { bytes: tableBytes, machinesNeeded: hostMachines },
      redis: { bytesPerRow: r.total, overheadPerRow: r.overhead, bytes: redisBytes, bytesWithReplicas: redisBytes * (1 + replicas), primaries, nodes, primariesForThroughput },
    },
    store,
    lossPath,
    flops: { perExample, perStep, attentionPairHeads, perStepByClass, tokensPerExample: perExample.tokens, tokensPerStep },
    activation: { paperPerLayerPerToken: act.paperPerToken, oursPerLayerPerToken: act.retainedPerToken + act.backwardPerToken, perLayerPerStep, model: actModel },
    step: { compute, memory, overhead, host, device, store: store_, network, seconds, binding, uniqueRows, cacheHitRate },
    epoch: { examples, steps, seconds: epochS, usd: epochUsd },
    run: { seconds: epochS * p.epochs, usd: epochUsd * p.epochs },
    notes,
  };
}
