// HTTP fuzz target: malformed requests against a real ServingServer on 127.0.0.1 (tiny random
// ranking + retrieval models, bearer token on). Every generated request is malformed by
// construction and must get a 4xx; every 8th case is a valid control whose answer must equal the
// answer given before any fuzzing. Raw sockets, so broken HTTP reaches the server as sent.
import { connect } from 'node:net';
import { createGpu } from '../../kernels/gpu/index.js';
import { tinyConfig } from '../../model/reference/fixtures.js';
import { loadRankingModel } from '../../trainer/ranking_checkpoint.js';
import { DataRng } from '../../trainer/data/rng.js';
import { GpuLock } from '../../serving/batcher.js';
import { messageType } from '../../serving/codec.js';
import { randomCheckpoint } from '../../serving/demo_checkpoint.js';
import { MfalconEngine } from '../../serving/mfalcon.js';
import { Retriever } from '../../serving/retrieval.js';
import { ServingServer } from '../../serving/server.js';
import { report, type CaseResult, type TargetReport } from './common.js';

const NUM_ITEMS = 40, MAX_LEN = 24, MAX_CANDIDATES = 50, MAX_TOP_K = 30;
const TOKEN = 'fuzz-token-0123456789abcdef';
const HEADERS_TIMEOUT_MS = 300, REQUEST_TIMEOUT_MS = 600;
/** A case that gets no complete answer within this is a hang (well above the server's timeouts). */
const HANG_MS = 5000;

interface Raw {
  name: string;
  /** Pieces written in order, `delayMs` before each (slow clients). */
  pieces: { bytes: Buffer; delayMs?: number }[];
  /** Stop writing after the pieces but keep the socket open (a client that went silent). */
  expect: 'refuse' | { control: string };
}

const history = (n: number, seed: number) =>
  Array.from({ length: n }, (_, i) => ({ item_id: String(((i * 7 + seed * 13) % NUM_ITEMS) + 1), timestamp: 1_000_000 + i * 3600, action: ((i + seed) % 5) + 1 }));
const goodScore = (seed: number) => ({ user_id: `u${seed % 5}`, history: history(3 + (seed % 10), seed), candidates: ['3', '17', '1', '22', '9'], top_k: 3, request_time: 2_000_000 });
const goodRecommend = (seed: number) => ({ user_id: `r${seed % 5}`, history: history(3 + (seed % 8), seed), top_k: 5, request_time: 2_000_000 });

function request(method: string, path: string, body: Buffer | string | null, headers: Record<string, string> = {}): Buffer {
  const b = body === null ? Buffer.alloc(0) : Buffer.from(body);
  const h: Record<string, string> = { host: '127.0.0.1', connection: 'close', authorization: `Bearer ${TOKEN}`, ...headers };
  if (body !== null && !('content-length' in h) && !('transfer-encoding' in h)) h['content-length'] = String(b.length);
  const head = `${method} ${path} HTTP/1.1\r\n` + Object.entries(h).filter(([, v]) => v !== '').map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), b]);
}
const json = (path: string, body: unknown, extra: Record<string, string> = {}) => request('POST', path, typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': 'application/json', ...extra });
const proto = (path: string, bytes: Uint8Array) => request('POST', path, Buffer.from(bytes), { 'content-type': 'application/x-protobuf' });
const one = (name: string, bytes: Buffer): Raw => ({ name, pieces: [{ bytes }], expect: 'refuse' });

/** Values that break a field's contract (serving/request.ts), per field kind. */
const BAD = {
  u32: [-1, 1.5, 2 ** 32, 1e300, '123', true, [], {}, 'NaN'],
  action: [0, -1, 2.5, 2 ** 32, 'x'],
  itemId: ['', [], {}, true, 'x'.repeat(300), null],
  userId: [5, {}, [], 'u'.repeat(300), true],
  topK: [-1, MAX_TOP_K + 1, 1e9, 1.5, 'ten'],
};

function generators(rng: DataRng): ((k: number) => Raw)[] {
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(0, xs.length - 1)]!;
  const path = () => pick(['/v1/score', '/v1/recommend']);
  const validFor = (p: string, seed: number) => (p === '/v1/score' ? goodScore(seed) : goodRecommend(seed));
  return [
    // bad JSON: truncated, junk, wrong top-level type, trailing garbage
    (k) => {
      const p = path(), text = JSON.stringify(validFor(p, k));
      const cut = rng.int(0, text.length - 1);
      return one(`json-truncated ${p} at ${cut}/${text.length}`, json(p, text.slice(0, cut)));
    },
    (k) => {
      const junk = Buffer.from(Array.from({ length: rng.int(1, 300) }, () => rng.int(0, 255)));
      return one(`json-junk ${junk.length} bytes #${k}`, request('POST', path(), junk, { 'content-type': 'application/json' }));
    },
    () => {
      const v = pick(['[]', '42', '"s"', 'null', 'true', '[{"history": []}]', '{"history": [1, 2]}']);
      return one(`json-wrong-type ${v}`, json(path(), v));
    },
    (k) => {
      const p = path();
      return one(`json-trailing-garbage ${p}`, json(p, JSON.stringify(validFor(p, k)) + pick(['x', '}', ' {}', '\u0000'])));
    },
    // bad protobuf: junk, an invalid wire type, truncation inside a field
    (k) => {
      const junk = Uint8Array.from({ length: rng.int(1, 200) }, () => rng.int(0, 255));
      junk[0] = 0x0f; // field 1, wire type 7: never valid
      return one(`proto-junk ${junk.length} bytes #${k}`, proto(path(), junk));
    },
    (k) => {
      const p = path(), T = messageType(p === '/v1/score' ? 'ScoreRequest' : 'RecommendRequest');
      const bytes = T.encode(T.fromObject(validFor(p, k))).finish();
      // cut inside the first history event (field 2, length-delimited): never a complete message
      const at = bytes.indexOf(0x12);
      const cut = at + 2 + rng.int(0, Math.max(0, bytes[at + 1]! - 2));
      return one(`proto-truncated ${p} at ${cut}/${bytes.length}`, proto(p, bytes.subarray(0, cut)));
    },
    // bad numbers and ids, one field at a time
    (k) => {
      const p = path(), body = validFor(p, k) as Record<string, any>;
      const field = pick(['timestamp', 'action', 'item_id']);
      const v = field === 'timestamp' ? pick(BAD.u32) : field === 'action' ? pick(BAD.action) : pick(BAD.itemId);
      const i = rng.int(0, body.history.length - 1);
      if (field === 'action' && p === '/v1/recommend' && v === 0) body.history[i][field] = -1; // recommend without ranking-needs may accept 0
      else body.history[i][field] = v;
      return one(`bad-number ${p} history[${i}].${field}=${JSON.stringify(v)?.slice(0, 20)}`, json(p, body));
    },
    (k) => {
      const p = path(), body = validFor(p, k) as Record<string, any>;
      const field = pick(['top_k', 'request_time', 'user_id', 'unknown']);
      const v = field === 'top_k' ? pick(BAD.topK) : field === 'request_time' ? pick(BAD.u32) : field === 'user_id' ? pick(BAD.userId) : 1;
      if (field === 'unknown') body.bogus_field = v;
      else body[field] = v;
      return one(`bad-field ${p} ${field}=${JSON.stringify(v)?.slice(0, 20)}`, json(p, body));
    },
    (k) => {
      const body = goodScore(k) as Record<string, any>;
      const what = pick(['empty', 'too-many', 'null-entry', 'object', 'unknown-item']);
      body.candidates = what === 'empty' ? [] : what === 'too-many' ? Array.from({ length: MAX_CANDIDATES + 1 + rng.int(0, 50) }, (_, i) => String((i % NUM_ITEMS) + 1)) : what === 'null-entry' ? ['1', null] : what === 'object' ? { a: 1 } : ['1', String(NUM_ITEMS + 1 + rng.int(0, 1000))];
      return one(`bad-candidates ${what}`, json('/v1/score', body));
    },
    (k) => {
      const p = path(), body = validFor(p, k) as Record<string, any>;
      const what = pick(['empty', 'too-long', 'not-array', 'unknown-items']);
      body.history = what === 'empty' ? [] : what === 'too-long' ? history(MAX_LEN + rng.int(0, 30), k) : what === 'not-array' ? { item_id: '1' } : [{ item_id: 'nope', timestamp: 5, action: 1 }];
      return one(`bad-history ${p} ${what}`, json(p, body));
    },
    // odd / huge headers and broken HTTP framing
    () => one('header-huge-value', request('POST', '/v1/score', '{}', { 'content-type': 'application/json', 'x-big': 'a'.repeat(rng.int(17_000, 120_000)) })),
    () => {
      const h: Record<string, string> = { 'content-type': 'application/json' };
      for (let i = 0; i < rng.int(1500, 4000); i++) h[`x-h${i}`] = 'v';
      return one('header-count-huge', request('POST', '/v1/score', '{}', h));
    },
    () => one('header-bad-name', request('POST', '/v1/score', '{}', { 'content-type': 'application/json', 'bad header': 'x' })),
    () => one('content-length-nan', request('POST', '/v1/score', '{}', { 'content-type': 'application/json', 'content-length': pick(['abc', '-1', '1e3', '0x10']) })),
    () => {
      const b = Buffer.from(JSON.stringify(goodScore(1)));
      const head = `POST /v1/score HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: ${b.length}\r\ncontent-length: ${b.length + 5}\r\n\r\n`;
      return one('content-length-conflict', Buffer.concat([Buffer.from(head), b]));
    },
    () => one('chunked-bad-size', request('POST', '/v1/score', 'zz\r\n{}\r\n0\r\n\r\n', { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })),
    () => one('request-line-garbage', Buffer.from(pick(['GARBAGE\r\n\r\n', 'GET /healthz HTTP/9.9\r\n\r\n', 'GET  HTTP/1.1\r\n\r\n', '\u0000\u0001\u0002\r\n\r\n', 'GET /v1/sc\u0000ore HTTP/1.1\r\nhost: x\r\n\r\n']), 'latin1')),
    () => one('body-too-large', json('/v1/score', JSON.stringify({ ...goodScore(1), user_id: 'u'.repeat(20_000) }))),
    // wrong methods and paths
    () => {
      const [m, p] = pick([['GET', '/v1/score'], ['PUT', '/v1/score'], ['DELETE', '/v1/recommend'], ['PATCH', '/v1/recommend'], ['POST', '/metrics'], ['POST', '/healthz'], ['DELETE', '/metrics'], ['OPTIONS', '/v1/score'], ['HEAD', '/healthz']] as const);
      return one(`method ${m} ${p}`, request(m, p, m === 'POST' ? '{}' : null));
    },
    () => {
      const p = pick(['/', '/v2/score', '/v1/score/extra', '/v1/../metrics', '/%00', '/' + 'a'.repeat(5000)]);
      return one(`path ${p.slice(0, 30)}`, request('POST', p, '{}', { 'content-type': 'application/json' }));
    },
    // authentication
    () => {
      const a = pick(['', 'Bearer', 'Bearer wrong-token-0123456789', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, TOKEN]);
      return one(`auth ${JSON.stringify(a.slice(0, 20))}`, json(pick(['/v1/score', '/v1/recommend']), goodScore(1), { authorization: a }));
    },
    () => one('auth-missing /metrics', request('GET', '/metrics', null, { authorization: '' })),
    // slow clients: a body that stops, headers that trickle
    () => {
      const b = json('/v1/score', goodScore(2));
      const cut = b.indexOf('\r\n\r\n') + 4 + rng.int(0, 20);
      return { name: `slow-body stops at ${cut}`, pieces: [{ bytes: b.subarray(0, cut) }], expect: 'refuse' };
    },
    () => {
      const b = json('/v1/score', goodScore(3));
      const pieces = Array.from({ length: 12 }, (_, i) => ({ bytes: b.subarray(i * 8, i * 8 + 8), delayMs: 60 }));
      return { name: 'slow-headers trickle 8 bytes / 60 ms', pieces, expect: 'refuse' };
    },
  ];
}

interface Answer {
  status: number;
  body: string;
  ms: number;
}

function send(port: number, r: Raw): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (e?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      if (e) return reject(e);
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : 0, body: text.slice(text.indexOf('\r\n\r\n') + 4), ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(new Error('hang')), HANG_MS);
    s.on('data', (d) => chunks.push(d));
    s.on('error', () => finish());
    s.on('close', () => finish());
    s.on('connect', async () => {
      for (const p of r.pieces) {
        if (p.delayMs) await new Promise((res) => setTimeout(res, p.delayMs));
        if (s.destroyed) return;
        s.write(p.bytes);
      }
    });
  });
}

/** Strips the per-request cache status so answers compare across cache states. */
const stable = (body: string) => body.replace(/"cache":"[a-z]+",?/, '');

export async function fuzzHttp(opts: { seed: number; cases: number; log?: (s: string) => void }): Promise<TargetReport> {
  const rng = new DataRng(opts.seed);
  const gpu = await createGpu();
  const lock = new GpuLock();
  const rankCfg = tinyConfig({ task: 'ranking', maxLen: MAX_LEN, headHidden: 7, numActions: 5, attnAlpha: -1 });
  const retrCfg = tinyConfig({ task: 'retrieval', maxLen: MAX_LEN });
  const ranking = await loadRankingModel(gpu, randomCheckpoint(rankCfg, NUM_ITEMS, 3));
  const retriever = await Retriever.load(gpu, randomCheckpoint(retrCfg, NUM_ITEMS, 4), lock);
  const engine = new MfalconEngine(ranking.model, { microbatch: 4, windowMs: 1 }, lock);
  const server = new ServingServer(
    { ranking: { model: ranking.model, engine, itemRawIds: ranking.itemRawIds }, retrieval: retriever },
    { port: 0, maxBodyBytes: 16 * 1024, maxCandidates: MAX_CANDIDATES, maxTopK: MAX_TOP_K, authToken: TOKEN, headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, maxConnections: 256, drainTimeoutMs: 2000 },
  );
  const uncaught: string[] = [];
  const onUncaught = (e: unknown) => uncaught.push(String((e as Error)?.stack ?? e));
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const results: CaseResult[] = [];
  const origError = console.error;
  try {
    const { port } = await server.listen();
    // Baseline answers of the valid controls, before any fuzzing.
    const controls = Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? ['/v1/score', goodScore(100 + i)] : ['/v1/recommend', goodRecommend(100 + i)]) as [string, object]);
    const baseline = new Map<string, string>();
    for (const [p, body] of controls) {
      const a = await send(port, { name: 'baseline', pieces: [{ bytes: json(p, body) }], expect: 'refuse' });
      if (a.status !== 200) throw new Error(`fuzz http: the baseline request ${p} got ${a.status}: ${a.body}`);
      baseline.set(p + JSON.stringify(body), stable(a.body));
    }
    console.error = () => {}; // the server logs 5xx stacks; they are counted below instead
    const gens = generators(rng);
    for (let k = 0; k < opts.cases; k++) {
      let r: Raw;
      if (k % 8 === 7) {
        const [p, body] = controls[rng.int(0, controls.length - 1)]!;
        r = { name: `control ${p}`, pieces: [{ bytes: json(p, body) }], expect: { control: p + JSON.stringify(body) } };
      } else r = gens[rng.int(0, gens.length - 1)]!(k);
      const before = uncaught.length;
      let outcome: CaseResult['outcome'];
      let detail = '';
      try {
        const a = await send(port, r);
        detail = `${a.status} in ${a.ms} ms: ${a.body.slice(0, 160)}`;
        if (typeof r.expect === 'object') outcome = a.status === 200 && stable(a.body) === baseline.get(r.expect.control) ? 'ok' : a.status >= 500 ? 'server-error' : 'wrong';
        else if (a.status >= 400 && a.status < 500) outcome = 'refused';
        else if (a.status >= 500) outcome = 'server-error';
        else if (a.status === 0) outcome = 'crash'; // closed without any answer
        else outcome = 'accepted';
      } catch (e) {
        outcome = (e as Error).message === 'hang' ? 'hang' : 'crash';
        detail = (e as Error).message;
      }
      if (uncaught.length > before) {
        outcome = 'crash';
        detail = uncaught.slice(before).join(' | ').slice(0, 300);
      }
      results.push({ target: 'http', name: r.name, outcome, detail });
    }
    // The server must still be healthy and answer exactly as before.
    const h = await send(port, { name: 'healthz', pieces: [{ bytes: request('GET', '/healthz', null) }], expect: 'refuse' });
    results.push({ target: 'http', name: 'final /healthz', outcome: h.status === 200 ? 'ok' : 'crash', detail: `${h.status}` });
    for (const [p, body] of controls) {
      const a = await send(port, { name: 'final', pieces: [{ bytes: json(p, body) }], expect: 'refuse' });
      results.push({ target: 'http', name: `final control ${p}`, outcome: a.status === 200 && stable(a.body) === baseline.get(p + JSON.stringify(body)) ? 'ok' : 'wrong', detail: `${a.status}` });
    }
  } finally {
    console.error = origError;
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await server.close();
    retriever.release();
    ranking.model.release();
    gpu.dispose();
  }
  return report("http", opts.seed, results);
}
