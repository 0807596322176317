// Non-finite values in serving (issue 16, items 3 and 6): with a +Inf in item 50's embedding row,
// every other candidate's scores stay BIT-identical whether scored alone, together with 50, in one
// microbatch or across concurrent requests packed into one pass (M-FALCON's guarantee: masked
// entries are skipped, never multiplied by zero); item 50 gets a per-item error over HTTP (not
// `null` on 200) and stays out of `top`; /healthz reports the model unhealthy (503 + reason).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGpu, type Gpu } from '../kernels/gpu/index.js';
import { tinyConfig } from '../model/reference/fixtures.js';
import { NUM_TASKS, RankingModel } from '../model/ranking.js';
import { GpuLock } from './batcher.js';
import type { History } from './cache.js';
import { messageType } from './codec.js';
import { randomCheckpoint } from './demo_checkpoint.js';
import { MfalconEngine } from './mfalcon.js';
import { Retriever } from './retrieval.js';
import { ServingServer } from './server.js';

const NUM_ITEMS = 60, BAD = 50, MAX_LEN = 24;
const cfg = tinyConfig({ task: 'ranking', maxLen: MAX_LEN, headHidden: 7, numActions: 5, attnAlpha: -1 });
const ck = randomCheckpoint(cfg, NUM_ITEMS, 3);

let gpu: Gpu;
let clean: RankingModel, bad: RankingModel;
const servers: ServingServer[] = [];

async function modelWith(poisonRow?: number): Promise<RankingModel> {
  const params = new Map(ck.params.map((b) => [b.name, Float32Array.from(b.data as Float32Array)]));
  if (poisonRow !== undefined) params.get('item_emb')![poisonRow * cfg.dim + 2] = Infinity;
  return RankingModel.create(gpu, cfg, NUM_ITEMS + 1, params);
}

beforeAll(async () => {
  gpu = await createGpu();
  clean = await modelWith();
  bad = await modelWith(BAD);
});
afterAll(async () => {
  for (const s of servers) await s.close();
  clean?.release();
  bad?.release();
  gpu?.dispose();
});

const history = (n: number, seed: number): History => ({
  items: Uint32Array.from({ length: n }, (_, i) => ((i * 7 + seed * 13) % 40) + 1), // never item 50
  timestamps: Uint32Array.from({ length: n }, (_, i) => 1_000_000 + i * 3600 * (1 + ((i + seed) % 5))),
  actions: Uint32Array.from({ length: n }, (_, i) => ((i + seed) % 5) + 1),
});
const bits = (x: Float32Array) => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
const row = (s: Float32Array, j: number) => s.slice(j * NUM_TASKS, (j + 1) * NUM_TASKS);

describe('M-FALCON: one candidate never changes another', () => {
  it.each([0, 2_000_000])('a +Inf item row leaves every other candidate bit-identical (cache %s bytes)', async (cacheBytes) => {
    const lock = new GpuLock();
    const engBad = new MfalconEngine(bad, { microbatch: 4, windowMs: 20, cacheBytes }, lock);
    const engClean = new MfalconEngine(clean, { microbatch: 4, windowMs: 20, cacheBytes }, lock);
    try {
      const h = history(9, 1), time = 2_000_000;
      const cands = Uint32Array.of(1, BAD, 7, 22, 3, 17, BAD, 9); // 50 shares both microbatches
      const together = await engBad.score({ userId: 'u', history: h, candidates: cands, candidateTime: time });
      const reference = await engClean.score({ userId: 'u', history: h, candidates: cands, candidateTime: time });
      for (let j = 0; j < cands.length; j++) {
        const got = row(together.scores, j);
        if (cands[j] === BAD) {
          expect(got.some((v) => !Number.isFinite(v)), `candidate ${j} (item 50)`).toBe(true);
          continue;
        }
        const alone = await engBad.score({ userId: 'u', history: h, candidates: cands.subarray(j, j + 1), candidateTime: time });
        expect(bits(got), `candidate ${j} (item ${cands[j]}) together vs alone`).toEqual(bits(alone.scores));
        expect(bits(got), `candidate ${j} vs the model without the Inf`).toEqual(bits(row(reference.scores, j)));
      }
      // Concurrent requests packed into shared passes: another user's scores are untouched too.
      const h2 = history(6, 2), c2 = Uint32Array.of(5, 11, 13);
      const [, other] = await Promise.all([
        engBad.score({ userId: 'v', history: h, candidates: Uint32Array.of(BAD, BAD, 4), candidateTime: time }),
        engBad.score({ userId: 'w', history: h2, candidates: c2, candidateTime: time }),
      ]);
      const otherClean = await engClean.score({ userId: 'w', history: h2, candidates: c2, candidateTime: time });
      expect(bits(other.scores)).toEqual(bits(otherClean.scores));
    } finally {
      engBad.close();
      engClean.close();
    }
  });
});

describe('HTTP: per-item errors and /healthz', () => {
  async function serve(model: RankingModel): Promise<string> {
    const engine = new MfalconEngine(model, { microbatch: 4, windowMs: 5 });
    const s = new ServingServer({ ranking: { model, engine, itemRawIds: ck.itemRawIds } }, { port: 0 });
    servers.push(s);
    return (await s.listen()).url;
  }
  const req = (cands: string[]) => ({
    user_id: 'alice',
    history: Array.from({ length: 5 }, (_, i) => ({ item_id: String(i + 1), timestamp: 1_000_000 + i * 3600, action: (i % 5) + 1 })),
    candidates: cands,
    top_k: 3,
    request_time: 2_000_000,
  });

  it('POST /v1/score: item 50 gets error code non_finite_score (JSON and protobuf), the others exact scores, top without it', async () => {
    const url = await serve(bad);
    const post = async (body: unknown) => {
      const r = await fetch(url + '/v1/score', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, json: (await r.json()) as Record<string, any> };
    };
    const r = await post(req(['1', String(BAD), '7']));
    expect(r.status).toBe(200);
    const [a, b, c] = r.json.scores as Record<string, any>[];
    expect(b!.item_id).toBe(String(BAD));
    expect(b!.error.code).toBe('non_finite_score');
    expect(b!.error.hint.length).toBeGreaterThan(10);
    expect(b!.p_like).toBeUndefined();
    for (const [s, id] of [[a, '1'], [c, '7']] as const) {
      expect(s!.error).toBeUndefined();
      const alone = await post(req([id]));
      expect(s).toEqual(alone.json.scores[0]);
      expect(Number.isFinite(s!.p_like)).toBe(true);
    }
    expect((r.json.top as { item_id: string }[]).map((t) => t.item_id).sort()).toEqual(['1', '7']);
    // protobuf: the same per-item error
    const Req = messageType('ScoreRequest'), Res = messageType('ScoreResponse');
    const pr = await fetch(url + '/v1/score', { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Req.encode(Req.fromObject(req(['1', String(BAD)]))).finish() });
    expect(pr.status).toBe(200);
    const pj = Res.toObject(Res.decode(new Uint8Array(await pr.arrayBuffer()))) as Record<string, any>;
    expect(pj.scores[1].error.code).toBe('non_finite_score');
    expect(pj.scores[0].error).toBeUndefined();
  });

  it('GET /healthz: 503 with a reason naming the tensor for a non-finite model, 200 for a finite one', async () => {
    const h = await fetch((await serve(bad)) + '/healthz');
    expect(h.status).toBe(503);
    const body = (await h.json()) as Record<string, any>;
    expect(body.status).toBe('unhealthy');
    expect(body.reason).toMatch(/ranking model's parameter 'item_emb' holds NaN or ±Inf.*HINT/);
    const ok = await fetch((await serve(clean)) + '/healthz');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: 'ok', ranking: true, retrieval: false });
  });

  it('retrieval with a NaN parameter: /healthz 503 names it; /v1/recommend answers 500 non_finite_output, not an empty 200', async () => {
    const rcfg = tinyConfig({ task: 'retrieval', maxLen: MAX_LEN });
    const retriever = await Retriever.load(gpu, randomCheckpoint(rcfg, NUM_ITEMS, 4));
    try {
      // Poisoned after loading (a load-time check may refuse such a checkpoint): the server must still notice.
      const pos = retriever.encoder.dense.get('pos_emb').w;
      gpu.write(pos, new Float32Array(pos.numel).fill(NaN));
      const s = new ServingServer({ retrieval: retriever }, { port: 0 });
      servers.push(s);
      const url = (await s.listen()).url;
      const h = await fetch(url + '/healthz');
      expect(h.status).toBe(503);
      expect(((await h.json()) as { reason: string }).reason).toMatch(/retrieval model's parameter 'pos_emb'/);
      const r = await fetch(url + '/v1/recommend', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ history: req([]).history, top_k: 5 }) });
      expect(r.status).toBe(500);
      expect(((await r.json()) as { code: string }).code).toBe('non_finite_output');
    } finally {
      await servers.pop()!.close();
      retriever.release();
    }
  });
});
