// End to end: the HTTP server on loopback with tiny random-init ranking and retrieval models.
// Scores through HTTP equal scoring each candidate alone; JSON and protobuf bodies give identical
// scores; every validation error path answers a 4xx with a code and a HINT; a burst of malformed
// requests interleaved with good ones leaves the server up and every good answer exact; /metrics;
// two-stage /v1/recommend; graceful shutdown drains in-flight requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { expectClose } from '../kernels/testing/compare.js';
import { tinyConfig } from '../model/reference/fixtures.js';
import { NUM_TASKS } from '../model/ranking.js';
import { RATING_OFFSET, TASK_LIKE, TASK_RATING } from '../model/ranking_params.js';
import { loadRankingModel, type LoadedRankingModel } from '../trainer/ranking_checkpoint.js';
import { GpuLock } from './batcher.js';
import { messageType } from './codec.js';
import { randomCheckpoint } from './demo_checkpoint.js';
import { MfalconEngine } from './mfalcon.js';
import { scoreOneAtATime } from './naive.js';
import { Retriever } from './retrieval.js';
import { ServingServer } from './server.js';

const NUM_ITEMS = 40;
const MAX_LEN = 24;
const rankCfg = tinyConfig({ task: 'ranking', maxLen: MAX_LEN, headHidden: 7, numActions: 5, attnAlpha: -1 });
const retrCfg = tinyConfig({ task: 'retrieval', maxLen: MAX_LEN });

let gpu: Gpu;
let ranking: LoadedRankingModel;
let retriever: Retriever;
let server: ServingServer;
let url: string;
const lock = new GpuLock();

beforeAll(async () => {
  gpu = await createGpu();
  ranking = await loadRankingModel(gpu, randomCheckpoint(rankCfg, NUM_ITEMS, 3));
  retriever = await Retriever.load(gpu, randomCheckpoint(retrCfg, NUM_ITEMS, 4), lock);
  const engine = new MfalconEngine(ranking.model, { microbatch: 4, windowMs: 5 }, lock);
  server = new ServingServer({ ranking: { model: ranking.model, engine, itemRawIds: ranking.itemRawIds }, retrieval: retriever }, { port: 0, maxBodyBytes: 16 * 1024, maxCandidates: 50, maxTopK: 30 });
  url = (await server.listen()).url;
});
afterAll(async () => {
  await server?.close();
  retriever?.release();
  ranking?.model.release();
  gpu?.dispose();
});

const history = (n: number, seed = 1) =>
  Array.from({ length: n }, (_, i) => ({ item_id: String(((i * 7 + seed * 13) % NUM_ITEMS) + 1), timestamp: 1_000_000 + i * 3600 * (1 + ((i + seed) % 5)), action: ((i + seed) % 5) + 1 }));
const goodScore = (user: string, seed: number) => ({ user_id: user, history: history(5 + (seed % 10), seed), candidates: ['3', '17', 40, '1', '22', '9'], top_k: 3, request_time: 2_000_000 });

async function post(path: string, body: unknown, contentType = 'application/json'): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) });
  if (res.headers.get('content-type') === 'application/x-protobuf') {
    // protobuf requests get protobuf answers (errors too)
    const T = messageType(res.status === 200 ? (path === '/v1/score' ? 'ScoreResponse' : 'RecommendResponse') : 'ErrorResponse');
    return { status: res.status, json: T.toObject(T.decode(new Uint8Array(await res.arrayBuffer()))) as Record<string, any> };
  }
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

/** Ground truth for a score request: each candidate alone at position n on the GPU model. */
async function truth(req: ReturnType<typeof goodScore>) {
  const hist = { items: Uint32Array.from(req.history, (e) => Number(e.item_id)), timestamps: Uint32Array.from(req.history, (e) => e.timestamp), actions: Uint32Array.from(req.history, (e) => e.action) };
  return scoreOneAtATime(ranking.model, hist, req.candidates.map(Number), req.request_time);
}

function scoresOf(body: Record<string, any>): number[] {
  return body.scores.flatMap((s: any) => [Math.log(s.p_like / (1 - s.p_like)), s.rating - RATING_OFFSET]);
}

describe('serving over HTTP', () => {
  it('GET /healthz; POST /v1/score equals each candidate alone; top_k sorted; second call is a cache hit', async () => {
    const h = await fetch(url + '/healthz');
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok', ranking: true, retrieval: true });
    const req = goodScore('alice', 1);
    const r = await post('/v1/score', req);
    expect(r.status).toBe(200);
    expect(r.json.cache).toBe('miss');
    expect(r.json.scores.map((s: any) => s.item_id)).toEqual(['3', '17', '40', '1', '22', '9']);
    const want = await truth(req);
    expectClose('like logits', r.json.scores.map((s: any) => s.like_logit), Array.from({ length: 6 }, (_, i) => want[i * NUM_TASKS + TASK_LIKE]!), { atol: 3e-5, rtol: 3e-4 });
    expectClose('ratings', r.json.scores.map((s: any) => s.rating), Array.from({ length: 6 }, (_, i) => want[i * NUM_TASKS + TASK_RATING]! + RATING_OFFSET), { atol: 3e-5, rtol: 3e-4 });
    expect(r.json.top.map((s: any) => s.item_id)).toEqual([...r.json.scores].sort((a: any, b: any) => b.like_logit - a.like_logit).slice(0, 3).map((s: any) => s.item_id));
    const again = await post('/v1/score', req);
    expect(again.json.cache).toBe('hit');
    expect(again.json.scores).toEqual(r.json.scores);
  });

  it('protobuf and JSON bodies give identical scores', async () => {
    const req = goodScore('proto-user', 2);
    const asJson = await post('/v1/score', req);
    const Req = messageType('ScoreRequest'), Res = messageType('ScoreResponse');
    const bytes = Req.encode(Req.fromObject({ ...req, candidates: req.candidates.map(String) })).finish();
    const res = await fetch(url + '/v1/score', { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: bytes });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-protobuf');
    const decoded = Res.toObject(Res.decode(new Uint8Array(await res.arrayBuffer())), { defaults: true }) as Record<string, any>;
    expect(decoded.scores.map((s: any) => s.item_id)).toEqual(asJson.json.scores.map((s: any) => s.item_id));
    // protobuf floats are f32: compare against the JSON numbers rounded to f32.
    expect(decoded.scores.map((s: any) => s.like_logit)).toEqual(asJson.json.scores.map((s: any) => Math.fround(s.like_logit)));
    expect(decoded.scores.map((s: any) => s.rating)).toEqual(asJson.json.scores.map((s: any) => Math.fround(s.rating)));
    // a protobuf request that fails validation gets a protobuf ErrorResponse
    const bad = Req.encode(Req.fromObject({ ...req, candidates: [] })).finish();
    const er = await fetch(url + '/v1/score', { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: bad });
    expect(er.status).toBe(400);
    const Err = messageType('ErrorResponse');
    expect(Err.toObject(Err.decode(new Uint8Array(await er.arrayBuffer())))).toMatchObject({ code: 'no_candidates' });
  });

  const good = goodScore('v', 3);
  const cases: [string, string, unknown, string, number, string][] = [
    ['malformed JSON', '/v1/score', '{"history": [', 'application/json', 400, 'bad_json'],
    ['JSON that is not an object', '/v1/score', '[1,2]', 'application/json', 400, 'bad_json'],
    ['malformed protobuf', '/v1/score', new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), 'application/x-protobuf', 400, 'bad_protobuf'],
    ['wrong content type', '/v1/score', JSON.stringify(good), 'text/plain', 415, 'unsupported_media_type'],
    ['body over the size limit', '/v1/score', JSON.stringify({ ...good, user_id: 'x'.repeat(20_000) }), 'application/json', 413, 'body_too_large'],
    ['empty history', '/v1/score', { ...good, history: [] }, 'application/json', 400, 'empty_history'],
    ['history over maxLen − 1', '/v1/score', { ...good, history: history(MAX_LEN) }, 'application/json', 400, 'history_too_long'],
    ['no candidates', '/v1/score', { ...good, candidates: [] }, 'application/json', 400, 'no_candidates'],
    ['too many candidates', '/v1/score', { ...good, candidates: Array.from({ length: 51 }, () => '1') }, 'application/json', 400, 'too_many_candidates'],
    ['unknown candidate id', '/v1/score', { ...good, candidates: ['1', 'no-such-movie'] }, 'application/json', 400, 'unknown_item'],
    ['unknown history id', '/v1/score', { ...good, history: [...good.history, { item_id: '99999', timestamp: 5, action: 1 }] }, 'application/json', 400, 'unknown_item'],
    ['action 0', '/v1/score', { ...good, history: [{ item_id: '1', timestamp: 5, action: 0 }] }, 'application/json', 400, 'bad_field'],
    ['action over numActions', '/v1/score', { ...good, history: [{ item_id: '1', timestamp: 5, action: 9 }] }, 'application/json', 400, 'bad_action'],
    ['negative timestamp', '/v1/score', { ...good, history: [{ item_id: '1', timestamp: -1, action: 1 }] }, 'application/json', 400, 'bad_field'],
    ['string timestamp', '/v1/score', { ...good, history: [{ item_id: '1', timestamp: 'yesterday', action: 1 }] }, 'application/json', 400, 'bad_field'],
    ['missing item id', '/v1/score', { ...good, history: [{ timestamp: 5, action: 1 }] }, 'application/json', 400, 'bad_item_id'],
    ['unknown field (typo)', '/v1/score', { ...good, candidate: ['1'] }, 'application/json', 400, 'unknown_field'],
    ['top_k over the limit', '/v1/score', { ...good, top_k: 31 }, 'application/json', 400, 'bad_field'],
    ['retrieve_k below top_k', '/v1/recommend', { history: good.history, top_k: 10, retrieve_k: 5 }, 'application/json', 400, 'bad_field'],
  ];
  it.each(cases)('%s → 4xx with code and HINT', async (_name, path, body, type, status, code) => {
    const r = await post(path, body as string, type);
    expect(r.status).toBe(status);
    expect(r.json.code).toBe(code);
    expect(typeof r.json.error).toBe('string');
    expect(r.json.hint.length).toBeGreaterThan(5);
  });

  it('unknown routes and methods: 404 / 405', async () => {
    expect((await fetch(url + '/v2/score', { method: 'POST' })).status).toBe(404);
    expect((await fetch(url + '/v1/score')).status).toBe(405);
    expect((await fetch(url + '/metrics', { method: 'POST' })).status).toBe(405);
  });

  it('skip_unknown_items drops unknown ids and lists them', async () => {
    const req = { ...good, user_id: 'skipper', candidates: ['1', 'nope', '2'], history: [...good.history, { item_id: 'ghost', timestamp: 1_900_000, action: 2 }], skip_unknown_items: true };
    const r = await post('/v1/score', req);
    expect(r.status).toBe(200);
    expect(r.json.scores.map((s: any) => s.item_id)).toEqual(['1', '2']);
    expect(r.json.skipped_items.sort()).toEqual(['ghost', 'nope']);
    const want = await truth({ ...good, candidates: ['1', '2'] });
    expectClose('skipped', scoresOf(r.json), want, { atol: 3e-5, rtol: 3e-4 });
  });

  it('survives a burst of malformed requests interleaved with good ones; every good answer is exact', async () => {
    const before = server.models.ranking!.engine.cacheStats();
    const junk = ['{', '[]', 'null', '{"history": 5}', JSON.stringify({ ...good, candidates: ['zzz'] }), JSON.stringify({ ...good, history: [{ item_id: '1', timestamp: 1.5, action: 1 }] })];
    const goods = Array.from({ length: 12 }, (_, i) => goodScore(`burst${i % 6}`, 10 + (i % 6))); // each request twice (the second a hit)
    const calls: Promise<{ kind: 'good' | 'bad'; i: number; r: Awaited<ReturnType<typeof post>> }>[] = [];
    for (let i = 0; i < 36; i++) {
      if (i % 3 === 0) calls.push(post('/v1/score', goods[i / 3]!).then((r) => ({ kind: 'good' as const, i: i / 3, r })));
      else calls.push(post('/v1/score', junk[i % junk.length]!).then((r) => ({ kind: 'bad' as const, i, r })));
    }
    calls.push(post('/v1/score', new Uint8Array([1, 2, 3]), 'application/x-protobuf').then((r) => ({ kind: 'bad' as const, i: -1, r })));
    const results = await Promise.all(calls);
    for (const x of results.filter((x) => x.kind === 'bad')) expect([400, 413, 415]).toContain(x.r.status);
    const oks = results.filter((x) => x.kind === 'good');
    expect(oks.map((x) => x.r.status)).toEqual(new Array(12).fill(200));
    for (const x of oks) expectClose(`good ${x.i}`, scoresOf(x.r.json), await truth(goods[x.i]!), { atol: 1e-4, rtol: 1e-3 });
    const after = server.models.ranking!.engine.cacheStats();
    expect(after.entries - before.entries).toBe(6); // one entry per distinct good history, none from bad requests
    expect([after.misses - before.misses, after.hits - before.hits]).toEqual([6, 6]); // each repeat is a hit (cached, or joining the encode in flight)
    expect((await fetch(url + '/healthz')).status).toBe(200);
  });

  it('GET /metrics: Prometheus text with requests, latency, candidates, cache and GPU pass sizes', async () => {
    const res = await fetch(url + '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/hstu_requests_total\{route="\/v1\/score",status="200"\} \d+/);
    expect(text).toMatch(/hstu_requests_total\{route="\/v1\/score",status="400"\} \d+/);
    expect(text).toMatch(/hstu_request_duration_seconds_bucket\{le="0.1",route="\/v1\/score"\} \d+/);
    expect(text).toMatch(/hstu_candidates_scored_total [1-9]\d*/);
    expect(text).toMatch(/hstu_candidates_per_second \d/);
    expect(text).toMatch(/# TYPE hstu_cache_hits_total counter\nhstu_cache_hits_total [1-9]/);
    expect(text).toMatch(/hstu_cache_misses_total [1-9]/);
    expect(text).toMatch(/hstu_cache_bytes [1-9]/);
    expect(text).toMatch(/hstu_gpu_pass_sequences_count\{kind="score"\} [1-9]/);
    expect(text).toMatch(/hstu_gpu_pass_tokens_sum\{kind="encode"\} [1-9]/);
  });

  it('POST /v1/recommend: retrieval top-K′ re-ranked by the ranking model, history filtered', async () => {
    const hist = history(8, 5);
    const r = await post('/v1/recommend', { user_id: 'rec', history: hist, top_k: 5, retrieve_k: 20, request_time: 3_000_000 });
    expect(r.status).toBe(200);
    expect(r.json.stage).toBe('retrieval+ranking');
    const ids = r.json.items.map((x: any) => x.item_id);
    expect(ids.length).toBe(5);
    for (const e of hist) expect(ids).not.toContain(e.item_id);
    const logits = r.json.items.map((x: any) => Math.log(x.p_like / (1 - x.p_like)));
    for (let i = 1; i < logits.length; i++) expect(logits[i - 1]).toBeGreaterThanOrEqual(logits[i] - 1e-6);
    // The re-ranked items are the ranking model's best among retrieval's top 20.
    const retrieved = await retriever.retrieve({ items: Uint32Array.from(hist, (e) => Number(e.item_id)), timestamps: Uint32Array.from(hist, (e) => e.timestamp) }, 20);
    const raw = Array.from(retrieved.ids, (i) => retriever.itemRawIds[i]!);
    const s = await post('/v1/score', { user_id: 'rec', history: hist, candidates: raw, top_k: 5, request_time: 3_000_000 });
    expect(s.json.top.map((x: any) => x.item_id)).toEqual(ids);
  });

  it('retrieval alone when no ranking model is loaded; /v1/score then answers 501', async () => {
    const solo = new ServingServer({ retrieval: retriever }, { port: 0 });
    const at = await solo.listen();
    try {
      const hist = history(6, 7);
      const r = await fetch(at.url + '/v1/recommend', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ history: hist.map(({ item_id, timestamp }) => ({ item_id, timestamp })), top_k: 7 }) });
      const body = (await r.json()) as Record<string, any>;
      expect(r.status).toBe(200);
      expect(body.stage).toBe('retrieval');
      expect(body.items.length).toBe(7);
      const scores = body.items.map((x: any) => x.retrieval_score);
      for (let i = 1; i < scores.length; i++) expect(scores[i - 1]).toBeGreaterThanOrEqual(scores[i]);
      for (const e of hist) expect(body.items.map((x: any) => x.item_id)).not.toContain(e.item_id);
      const sc = await fetch(at.url + '/v1/score', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(good) });
      expect(sc.status).toBe(501);
    } finally {
      await solo.close();
    }
  });

  it('graceful shutdown: in-flight requests finish, then the listener is closed', async () => {
    // A microbatch larger than the three requests and a long window: none is answered before all
    // three are in flight, however loaded the machine (a fixed sleep here was flaky under load).
    const engine = new MfalconEngine(ranking.model, { microbatch: 4, windowMs: 1000 }, lock);
    const s2 = new ServingServer({ ranking: { model: ranking.model, engine, itemRawIds: ranking.itemRawIds } }, { port: 0 });
    const at = await s2.listen();
    const send = (i: number) => fetch(at.url + '/v1/score', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(goodScore(`drain${i}`, 30 + i)) });
    const inflight = [send(0), send(1), send(2)];
    const inFlightNow = async () => (await s2.metrics.inflight.get()).values[0]?.value ?? 0;
    for (const t0 = Date.now(); (await inFlightNow()) < 3; await new Promise((r) => setTimeout(r, 2))) {
      if (Date.now() - t0 > 20_000) throw new Error(`only ${await inFlightNow()} of 3 requests reached the server in 20 s`);
    }
    const closing = s2.close();
    const statuses = await Promise.all(inflight.map(async (p) => (await p).status));
    await closing;
    expect(statuses).toEqual([200, 200, 200]);
    await expect(send(3)).rejects.toThrow();
  });
});
