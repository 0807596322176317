// M-FALCON (DESIGN §3, HSTU paper §3.4): score m candidates for one user at the cost of one history
// encode plus O(m) candidate tokens. The engine
//   1. finds the user's cached encoding (K/V of every history token, every layer): exact hit, or a
//      cached prefix of the history (then only the new events — and the last cached event, whose
//      query time changes once it is no longer last — are encoded), or nothing (encode it all);
//   2. splits the candidates into microbatches of b_m; each microbatch is one sequence of the
//      delta pass (serving/delta_pass.ts) whose target mask lets candidate i see the history and
//      itself only, so its scores equal scoring it alone appended at position n;
//   3. packs microbatches (and history encodes) of concurrent requests into shared GPU passes
//      through a short batching window (serving/batcher.ts).
import type { RankingModel } from '../model/ranking.js';
import { NUM_TASKS } from '../model/ranking.js';
import { PassBatcher, GpuLock } from './batcher.js';
import { EncodingCache, cacheKey, historyDigest, type CacheStats, type History } from './cache.js';
import { PaddedRab, runDeltaPass, type DeltaSeq } from './delta_pass.js';
import { UserEncoding } from './encoding.js';
import { badRequest } from './errors.js';
import { checkOptionRanges } from './exposure.js';

export interface MfalconOptions {
  /** b_m: candidates per microbatch (one sequence of a pass). */
  microbatch: number;
  /** Batching window: the longest a queued microbatch waits for others (ms). */
  windowMs: number;
  /** Candidates per GPU pass (microbatches of concurrent requests packed up to this). */
  maxPassCandidates: number;
  /** History tokens per encode pass. */
  maxPassHistoryTokens: number;
  /** Byte budget of the user-encoding cache; 0 = no cache (every request encodes its history). */
  cacheBytes: number;
}

export const defaultMfalconOptions: MfalconOptions = {
  microbatch: 128,
  windowMs: 2,
  maxPassCandidates: 4096,
  maxPassHistoryTokens: 16384,
  cacheBytes: 256 * 2 ** 20,
};

/** One scoring request in dense ids (validated by the caller's schema; checked again here). */
export interface ScoreInput {
  userId: string;
  history: History;
  /** Dense item ids of the candidates. */
  candidates: Uint32Array;
  /** Timestamp (u32 seconds) of every candidate token: the request time. */
  candidateTime: number;
}

export interface ScoreOutput {
  /** [m, NUM_TASKS] head outputs per candidate, in request order. */
  scores: Float32Array;
  /** How the history was obtained. */
  cache: 'hit' | 'extend' | 'miss' | 'off';
  /** History events run through the model for this request (0 on a hit). */
  encodedEvents: number;
}

export interface PassEvent {
  kind: 'encode' | 'score';
  sequences: number;
  tokens: number;
  ms: number;
}

interface EncodeJob {
  prefix: UserEncoding | null;
  prefixLen: number;
  history: History;
  writeTo: UserEncoding;
}

interface ScoreJob {
  entry: UserEncoding | null;
  history: History;
  items: Uint32Array;
  time: number;
}

export class MfalconEngine {
  readonly options: MfalconOptions;
  readonly cache: EncodingCache<UserEncoding>;
  private readonly encoder: PassBatcher<EncodeJob, void>;
  private readonly scorer: PassBatcher<ScoreJob, Float32Array>;
  private readonly inflight = new Map<string, Promise<UserEncoding>>();
  private readonly rab: PaddedRab;
  onPass?: (e: PassEvent) => void;

  constructor(readonly model: RankingModel, options: Partial<MfalconOptions> = {}, lock = new GpuLock()) {
    this.options = { ...defaultMfalconOptions, ...options };
    const o = this.options;
    for (const k of ['microbatch', 'maxPassCandidates', 'maxPassHistoryTokens'] as const) {
      if (!(Number.isInteger(o[k]) && o[k] >= 1)) throw new Error(`mfalcon: expected an integer ${k} ≥ 1, got ${o[k]}`);
    }
    checkOptionRanges({ windowMs: o.windowMs, cacheBytes: o.cacheBytes }); // e.g. windowMs = 1e9 would hold every request
    model.hstuAttentionOptions(); // throws (with a HINT) unless the encoder is HSTU
    this.cache = new EncodingCache<UserEncoding>(o.cacheBytes);
    this.rab = new PaddedRab(model, o.microbatch);
    this.encoder = new PassBatcher<EncodeJob, void>((jobs) => this.encodePass(jobs), { windowMs: o.windowMs, maxWeight: o.maxPassHistoryTokens, weight: (j) => j.history.items.length - j.prefixLen, lock });
    this.scorer = new PassBatcher<ScoreJob, Float32Array>((jobs) => this.scorePass(jobs), { windowMs: o.windowMs, maxWeight: o.maxPassCandidates, weight: (j) => j.items.length, lock });
  }

  /** Largest history the model can score (a candidate sits at position n, so n ≤ maxLen − 1). */
  get maxHistory(): number {
    return this.model.config.maxLen - 1;
  }

  /** Item ids 1..numItems are valid (0 is padding). */
  get numItems(): number {
    return this.model.tableRows - 1;
  }

  cacheStats(): CacheStats {
    return this.cache.stats();
  }

  /** Scores every candidate against the user's history (see the header). */
  async score(req: ScoreInput): Promise<ScoreOutput> {
    this.check(req);
    const { entry, cache, encodedEvents } = await this.encoding(req.userId, req.history);
    try {
      const b = this.options.microbatch, m = req.candidates.length;
      const parts: Promise<Float32Array>[] = [];
      for (let i = 0; i < m; i += b) {
        parts.push(this.scorer.push({ entry, history: req.history, items: req.candidates.subarray(i, Math.min(m, i + b)), time: req.candidateTime }));
      }
      const scores = new Float32Array(m * NUM_TASKS);
      (await Promise.all(parts)).forEach((s, j) => scores.set(s, j * b * NUM_TASKS));
      return { scores, cache, encodedEvents };
    } finally {
      entry?.unpin();
      if (entry && cache === 'off') entry.evict();
    }
  }

  /** Drops every cached encoding (buffers are freed once no pass uses them). */
  close(): void {
    this.cache.clear();
    this.rab.release();
  }

  private check(req: ScoreInput): void {
    const { items, timestamps, actions } = req.history;
    const n = items.length, numActions = this.model.config.numActions;
    if (timestamps.length !== n || actions.length !== n) throw new Error(`mfalcon: expected ${n} timestamps and actions, got ${timestamps.length} and ${actions.length}`);
    if (n > this.maxHistory) throw badRequest('history_too_long', `history has ${n} events, the model scores at most ${this.maxHistory}.`, `send the most recent ${this.maxHistory} events.`);
    if (req.candidates.length === 0) throw badRequest('no_candidates', 'no candidates to score.', 'send at least one candidate item id.');
    for (let i = 0; i < n; i++) {
      if (!(items[i]! >= 1 && items[i]! <= this.numItems)) throw badRequest('unknown_item', `history event ${i} has dense item id ${items[i]}.`, 'use item ids from the checkpoint.');
      if (!(actions[i]! >= 1 && actions[i]! <= numActions)) throw badRequest('bad_action', `history event ${i} has action ${actions[i]}, expected 1..${numActions}.`, 'send the action id (MovieLens: the rating 1–5).');
    }
    for (const c of req.candidates) if (!(c >= 1 && c <= this.numItems)) throw badRequest('unknown_item', `candidate dense item id ${c} is out of range.`, 'use item ids from the checkpoint.');
    if (!(Number.isInteger(req.candidateTime) && req.candidateTime >= 0 && req.candidateTime < 2 ** 32)) throw badRequest('bad_timestamp', `candidate time ${req.candidateTime} is not a u32 second count.`, 'send Unix seconds.');
  }

  /** The user's encoding, pinned (the caller unpins): from the cache, extended, or encoded. */
  private async encoding(userId: string, hist: History): Promise<{ entry: UserEncoding | null; cache: ScoreOutput['cache']; encodedEvents: number }> {
    const n = hist.items.length;
    if (n === 0) return { entry: null, cache: 'off', encodedEvents: 0 };
    const useCache = this.options.cacheBytes > 0;
    if (!useCache) {
      const entry = this.newEntry(hist).pin();
      try {
        await this.encoder.push({ prefix: null, prefixLen: 0, history: hist, writeTo: entry });
      } catch (e) {
        entry.unpin();
        entry.evict();
        throw e;
      }
      return { entry, cache: 'off', encodedEvents: n };
    }
    const digest = historyDigest(hist);
    const key = cacheKey(userId, digest);
    const pending = this.inflight.get(key);
    if (pending) {
      this.cache.counters.hits++; // joins the same history's encode in flight: no work of its own
      return { entry: (await pending).pin(), cache: 'hit', encodedEvents: 0 };
    }
    const found = this.cache.lookup(userId, hist);
    if (found.kind === 'hit') return { entry: found.value.pin(), cache: 'hit', encodedEvents: 0 };
    // Re-encode from the last cached event on: its query time (rab_time) was its own timestamp
    // while it was last, and is the next event's now, so its layer outputs change.
    const prefix = found.kind === 'extend' ? found.value.pin() : null;
    const prefixLen = found.kind === 'extend' ? found.length - 1 : 0;
    const entry = this.newEntry(hist).pin(); // the creator's pin: alive even if the cache refuses it
    const work = (async () => {
      try {
        await this.encoder.push({ prefix, prefixLen, history: hist, writeTo: entry });
        if (!this.cache.insert(userId, digest, n, entry, prefix ?? undefined)) entry.evict(); // over the budget: freed after use
        return entry;
      } catch (e) {
        entry.unpin();
        entry.evict();
        throw e;
      } finally {
        prefix?.unpin();
        this.inflight.delete(key);
      }
    })();
    this.inflight.set(key, work);
    await work;
    return { entry, cache: found.kind, encodedEvents: n - prefixLen };
  }

  private newEntry(hist: History): UserEncoding {
    const { H, dqk, dv } = this.model.hstuAttentionOptions();
    return new UserEncoding(this.model.gpu, hist, { numLayers: this.model.config.numLayers, kWidth: H * dqk, vWidth: H * dv });
  }

  private async encodePass(jobs: EncodeJob[]): Promise<void[]> {
    const t0 = performance.now();
    const seqs: DeltaSeq[] = jobs.map((j) => ({
      prefix: j.prefix,
      prefixLen: j.prefixLen,
      timestamps: j.history.timestamps,
      items: j.history.items.subarray(j.prefixLen),
      actions: j.history.actions.subarray(j.prefixLen),
      candidates: false,
      writeTo: j.writeTo,
    }));
    await runDeltaPass(this.model, this.rab, seqs);
    this.onPass?.({ kind: 'encode', sequences: jobs.length, tokens: seqs.reduce((a, s) => a + s.items.length, 0), ms: performance.now() - t0 });
    return jobs.map(() => undefined);
  }

  private async scorePass(jobs: ScoreJob[]): Promise<Float32Array[]> {
    const t0 = performance.now();
    const seqs: DeltaSeq[] = jobs.map((j) => {
      const n = j.history.items.length, m = j.items.length;
      const ts = new Uint32Array(n + m);
      ts.set(j.history.timestamps);
      ts.fill(j.time, n);
      return { prefix: j.entry, prefixLen: n, timestamps: ts, items: j.items, actions: new Uint32Array(m), candidates: true };
    });
    const out = await runDeltaPass(this.model, this.rab, seqs);
    this.onPass?.({ kind: 'score', sequences: jobs.length, tokens: seqs.reduce((a, s) => a + s.items.length, 0), ms: performance.now() - t0 });
    return out;
  }
}
