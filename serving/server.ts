// The HTTP front of serving (node:http, 127.0.0.1 by default):
//   POST /v1/score      history + candidates → per-candidate head outputs (+ top_k), M-FALCON
//   POST /v1/recommend  history → top-k of the catalogue: retrieval top-K' re-ranked by the ranking
//                       model when both are loaded, retrieval alone otherwise
//   GET  /healthz, GET /metrics (Prometheus text)
// Bodies: JSON or protobuf (serving/proto/serving.proto), answered in the request's format. Every
// client mistake is a 4xx with a HINT; validation happens before the engine or the cache is
// touched, and any unexpected failure is a 500 for that request only. close() drains: new requests
// get 503, in-flight ones finish, then the listener and the engine shut down.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RankingModel } from '../model/ranking.js';
import { decodeBody, encodeBody, formatOf, type BodyFormat } from './codec.js';
import { RequestError, badRequest } from './errors.js';
import type { MfalconEngine } from './mfalcon.js';
import { ServerMetrics } from './metrics.js';
import { registerMemoryMetrics } from './memory_metrics.js';
import { BearerAuth, applyConnectionLimits, checkBind, checkOptionRanges, clientErrorReply, connectionsCheckingInterval, defaultExposureOptions, type ExposureOptions } from './exposure.js';
import type { Retriever } from './retrieval.js';
import { parseRecommendRequest, parseScoreRequest, type Limits, type ParsedEvent } from './request.js';
import { ItemVocab } from './vocab.js';
import { servingHealth, type ModelHealth } from './health.js';
import { scoreEntry } from './score_entries.js';

/** Exposure options (connection cap, timeouts, bearer token): see serving/exposure.ts. */
export interface ServerOptions extends ExposureOptions {
  host: string;
  port: number;
  /** Largest request body (bytes); larger ones get 413. */
  maxBodyBytes: number;
  /** Most candidates per /v1/score request. */
  maxCandidates: number;
  /** Largest top_k / retrieve_k. */
  maxTopK: number;
  /** close(): how long in-flight requests may take before connections are cut (ms). */
  drainTimeoutMs: number;
}

export const defaultServerOptions: ServerOptions = { host: '127.0.0.1', port: 8080, maxBodyBytes: 1 << 20, maxCandidates: 8192, maxTopK: 1000, drainTimeoutMs: 30_000, ...defaultExposureOptions };

export interface ServingModels {
  ranking?: { model: RankingModel; engine: MfalconEngine; itemRawIds: string[] };
  retrieval?: Retriever;
}

export class ServingServer {
  readonly options: ServerOptions;
  readonly metrics: ServerMetrics;
  private readonly http: Server;
  private readonly rankVocab?: ItemVocab;
  private readonly retrVocab?: ItemVocab;
  private inflight = 0;
  private draining = false;
  private drained: (() => void) | null = null;
  /** Finiteness of the loaded models' parameters, checked once at construction (serving/health.ts). */
  private readonly health: Promise<ModelHealth>;
  private readonly auth: BearerAuth;

  constructor(readonly models: ServingModels, options: Partial<ServerOptions> = {}) {
    this.options = { ...defaultServerOptions, ...options };
    checkOptionRanges(this.options as unknown as Record<string, unknown>);
    this.auth = new BearerAuth(this.options.authToken);
    if (!models.ranking && !models.retrieval) throw new Error('server: no model to serve. HINT: pass --ranking=<checkpoint> and/or --retrieval=<checkpoint>.');
    this.rankVocab = models.ranking && new ItemVocab(models.ranking.itemRawIds);
    this.retrVocab = models.retrieval && new ItemVocab(models.retrieval.itemRawIds);
    this.metrics = new ServerMetrics(() => models.ranking?.engine.cacheStats() ?? null);
    this.health = servingHealth(models).catch((e: unknown) => ({ ok: false, reason: `the model health check failed: ${(e as Error)?.message ?? String(e)}` }));
    if (models.ranking) models.ranking.engine.onPass = (e) => this.metrics.pass(e);
    const gpu = models.ranking?.model.gpu ?? models.retrieval?.gpu;
    registerMemoryMetrics(this.metrics.registry, () => models.ranking?.engine.cacheStats() ?? null, () => gpu?.pool?.bytesAllocated ?? 0);
    this.http = createServer({ connectionsCheckingInterval: connectionsCheckingInterval(this.options) }, (req, res) => void this.handle(req, res));
    applyConnectionLimits(this.http, this.options, this.metrics.registry);
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (socket.writable) socket.end(clientErrorReply(err));
      else socket.destroy();
    });
  }

  /** Starts listening; resolves with the bound address (port 0 = any free port). */
  listen(): Promise<{ host: string; port: number; url: string }> {
    try {
      checkBind(this.options.host, this.options); // refuses an unauthenticated bind beyond loopback
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.options.port, this.options.host, () => {
        const a = this.http.address() as AddressInfo;
        resolve({ host: a.address, port: a.port, url: `http://${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` });
      });
    });
  }

  /** Graceful shutdown: refuse new requests, finish in-flight ones, close the listener and the engine. */
  async close(): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((r) => this.http.close(() => r()));
    this.http.closeIdleConnections();
    if (this.inflight > 0) {
      await Promise.race([new Promise<void>((r) => (this.drained = r)), new Promise<void>((r) => setTimeout(r, this.options.drainTimeoutMs).unref())]);
    }
    this.http.closeAllConnections();
    await closed;
    this.models.ranking?.engine.close();
  }

  private limits(needRankingHistory: boolean): Limits {
    const r = this.models.ranking?.engine.maxHistory ?? Infinity;
    const q = this.models.retrieval?.maxHistory ?? Infinity;
    return { maxHistory: needRankingHistory ? Math.min(r, q) : q, maxCandidates: this.options.maxCandidates, maxTopK: this.options.maxTopK };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const path = (req.url ?? '/').split('?')[0]!;
    const route = ['/v1/score', '/v1/recommend', '/healthz', '/metrics'].includes(path) ? path : 'other';
    let format: BodyFormat = 'json';
    this.inflight++;
    this.metrics.inflight.inc();
    try {
      if (this.draining) throw new RequestError(503, 'shutting_down', 'the server is shutting down.', 'retry against another instance or after the restart.');
      if (route !== '/healthz') this.auth.check(req); // /healthz stays open for probes (exposure.ts)
      if (route === '/healthz' || route === '/metrics') {
        if (req.method !== 'GET') throw new RequestError(405, 'method_not_allowed', `${req.method} ${path} is not supported.`, `use GET ${path}.`);
        if (route === '/metrics') {
          const text = await this.metrics.text();
          this.reply(res, 200, Buffer.from(text), this.metrics.contentType);
        } else {
          const h = await this.health; // a model with non-finite parameters is not healthy: 503 with the reason
          const body = { status: h.ok ? 'ok' : 'unhealthy', ...(h.ok ? {} : { reason: h.reason }), ranking: !!this.models.ranking, retrieval: !!this.models.retrieval };
          this.reply(res, h.ok ? 200 : 503, Buffer.from(JSON.stringify(body)), 'application/json; charset=utf-8');
        }
        return;
      }
      if (route === 'other') throw new RequestError(404, 'not_found', `no route ${req.method} ${path}.`, 'use POST /v1/score, POST /v1/recommend, GET /healthz or GET /metrics.');
      if (req.method !== 'POST') throw new RequestError(405, 'method_not_allowed', `${req.method} ${path} is not supported.`, `use POST ${path}.`);
      format = formatOf(req.headers['content-type']);
      const body = await this.readBody(req);
      const out = route === '/v1/score' ? await this.score(decodeBody(body, format, 'ScoreRequest')) : await this.recommend(decodeBody(body, format, 'RecommendRequest'));
      const enc = encodeBody(out, format, route === '/v1/score' ? 'ScoreResponse' : 'RecommendResponse');
      this.reply(res, 200, enc.body, enc.contentType);
    } catch (e) {
      const err = e instanceof RequestError ? e : null;
      const status = err?.status ?? 500;
      const payload = err
        ? { error: err.message.replace(/ HINT: .*$/s, ''), code: err.code, hint: err.hint }
        : { error: `internal error: ${(e as Error)?.message ?? String(e)}`, code: 'internal', hint: 'this is a server bug or a GPU failure; the request was not applied. Retry; report it if it persists.' };
      if (!err) console.error(`[serve] ${req.method} ${path}: ${(e as Error)?.stack ?? String(e)}`);
      const enc = encodeBody(payload, format, 'ErrorResponse');
      if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
      this.reply(res, status, enc.body, enc.contentType, status === 413 || status === 503 || status === 401);
    } finally {
      this.metrics.request(route, res.statusCode, (performance.now() - t0) / 1000);
      this.inflight--;
      this.metrics.inflight.dec();
      if (this.inflight === 0 && this.drained) this.drained();
    }
  }

  private reply(res: ServerResponse, status: number, body: Buffer, contentType: string, closeConnection = false): void {
    if (res.headersSent) return;
    res.statusCode = status;
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', body.length);
    if (closeConnection || this.draining) res.setHeader('Connection', 'close');
    res.end(body);
  }

  private readBody(req: IncomingMessage): Promise<Buffer> {
    const max = this.options.maxBodyBytes;
    const tooLarge = (n: string) => new RequestError(413, 'body_too_large', `the body is ${n} bytes, over the limit of ${max}.`, `send fewer events or candidates per request (or start the server with --maxBodyBytes).`);
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      req.resume(); // discard; the connection is closed after the reply
      return Promise.reject(tooLarge(String(declared)));
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0, done = false;
      req.on('data', (c: Buffer) => {
        if (done) return;
        size += c.length;
        if (size > max) {
          done = true;
          reject(tooLarge(`more than ${max}`));
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        if (!done) resolve(Buffer.concat(chunks));
        done = true;
      });
      req.on('error', (e) => {
        if (!done) reject(badRequest('bad_body', `reading the body failed (${e.message}).`, 'resend the request.'));
        done = true;
      });
      req.on('close', () => {
        if (!done) reject(badRequest('bad_body', 'the connection closed before the body was complete.', 'resend the request.'));
        done = true;
      });
    });
  }

  /** Maps raw events to dense ids of a vocabulary (dropping unknown items when asked). */
  private historyOf(events: ParsedEvent[], vocab: ItemVocab, skip: boolean) {
    const m = vocab.map(events.map((e) => e.itemId), skip, 'history');
    if (m.ids.length === 0) throw badRequest('empty_history', 'no history event has a known item id.', 'send events with item ids the checkpoint was trained on.');
    const kept = m.keep.map((i) => events[i]!);
    return {
      hist: { items: m.ids, timestamps: Uint32Array.from(kept, (e) => e.timestamp), actions: Uint32Array.from(kept, (e) => e.action) },
      skipped: m.skipped,
    };
  }

  private requestTime(t: number, hist: { timestamps: Uint32Array }): number {
    if (t > 0) return t;
    return Math.max(Math.floor(Date.now() / 1000), hist.timestamps[hist.timestamps.length - 1] ?? 0);
  }

  private async score(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const r = this.models.ranking;
    if (!r) throw new RequestError(501, 'no_ranking_model', 'this server has no ranking model loaded.', 'start it with --ranking=<ranking checkpoint>, or use /v1/recommend.');
    const p = parseScoreRequest(body, this.limits(true));
    const { hist, skipped } = this.historyOf(p.history, this.rankVocab!, p.skipUnknown);
    const cands = this.rankVocab!.map(p.candidates, p.skipUnknown, 'candidates');
    if (cands.ids.length === 0) throw badRequest('no_candidates', 'no candidate has a known item id.', 'send candidates the checkpoint was trained on.');
    const out = await r.engine.score({ userId: p.userId, history: hist, candidates: cands.ids, candidateTime: this.requestTime(p.requestTime, hist) });
    this.metrics.scored(cands.ids.length);
    // A candidate whose outputs are not finite gets a per-item `error` instead of numbers (never a
    // JSON null on 200); it is left out of `top`. Other candidates are unaffected (M-FALCON mask).
    const scores = cands.keep.map((i, j) => scoreEntry(p.candidates[i]!, out.scores, j));
    const top = p.topK > 0 ? scores.filter((s) => !('error' in s)).sort((a, b) => b.like_logit! - a.like_logit!).slice(0, p.topK) : [];
    return { scores, top, cache: out.cache, skipped_items: [...skipped, ...cands.skipped] };
  }

  private async recommend(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const q = this.models.retrieval, r = this.models.ranking;
    if (!q) throw new RequestError(501, 'no_retrieval_model', 'this server has no retrieval model loaded, so it cannot search the catalogue.', 'start it with --retrieval=<retrieval checkpoint>, or send candidates to /v1/score.');
    const p = parseRecommendRequest(body, this.limits(!!r), !!r);
    const retr = this.historyOf(p.history, this.retrVocab!, p.skipUnknown);
    const found = await q.retrieve(retr.hist, r ? p.retrieveK : p.topK, this.requestTime(p.requestTime, retr.hist));
    const raw = Array.from(found.ids, (id) => q.itemRawIds[id]!);
    // cos(u, e), or u·e for a checkpoint trained with similarity 'dot' (serving/retrieval.ts).
    const retrievalScore = new Map(raw.map((id, i) => [id, found.scores[i]!]));
    if (!r) {
      return { items: raw.slice(0, p.topK).map((item_id) => ({ item_id, retrieval_score: retrievalScore.get(item_id)! })), stage: 'retrieval', cache: 'off', skipped_items: retr.skipped };
    }
    const rank = this.historyOf(p.history, this.rankVocab!, p.skipUnknown);
    const cands = this.rankVocab!.map(raw, true, 'retrieved items'); // items the ranking model does not know cannot be ranked
    if (cands.ids.length === 0) return { items: [], stage: 'retrieval+ranking', cache: 'off', skipped_items: retr.skipped };
    const out = await r.engine.score({ userId: p.userId, history: rank.hist, candidates: cands.ids, candidateTime: this.requestTime(p.requestTime, rank.hist) });
    this.metrics.scored(cands.ids.length);
    // Items the ranking model scores non-finite carry a per-item `error` and sort after every
    // ranked item (never as NaN in the order).
    const items = cands.keep.map((i, j) => {
      const { like_logit, ...e } = scoreEntry(raw[i]!, out.scores, j);
      return { ...e, retrieval_score: retrievalScore.get(raw[i]!)!, logit: like_logit ?? -Infinity };
    });
    items.sort((a, b) => b.logit - a.logit);
    return { items: items.slice(0, p.topK).map(({ logit: _l, ...x }) => x), stage: 'retrieval+ranking', cache: out.cache, skipped_items: [...new Set([...retr.skipped, ...rank.skipped])] };
  }
}
