// The server facing a network: bearer token on every route but /healthz, refused unauthenticated
// binds beyond loopback, header / body timeouts, the connection cap, and range checks on every
// serve option. The server here serves a stand-in retrieval model (these paths never reach a model:
// auth and timeouts act before, /metrics does not use it), so no GPU is needed. /healthz probes
// the model's parameters (serving/health.ts) and reports the stub as unhealthy (503): here it only
// matters that it answers without a token, so 200 and 503 both count as served.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseServeArgs } from './cli.js';
import { checkBind, defaultExposureOptions, isLoopback } from './exposure.js';
import type { RankingModel } from '../model/ranking.js';
import { MfalconEngine } from './mfalcon.js';
import type { Retriever } from './retrieval.js';
import { ServingServer, type ServerOptions } from './server.js';

const TOKEN = 'test-token-0123456789abcdef';
const fakeRetriever = { itemRawIds: ['<pad>', '1', '2'], maxHistory: 10, config: {} } as unknown as Retriever;
/** /healthz answered (the stub model is reported unhealthy, 503; never 401 or a dropped socket). */
const SERVED = [200, 503];
let servers: ServingServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function start(o: Partial<ServerOptions>): Promise<{ url: string; port: number; server: ServingServer }> {
  const server = new ServingServer({ retrieval: fakeRetriever }, { port: 0, drainTimeoutMs: 1000, ...o });
  servers.push(server);
  const a = await server.listen();
  return { url: a.url, port: a.port, server };
}

/** Opens a raw socket, writes `text`, and resolves with what the server sent before closing. */
function raw(port: number, text: string, keepOpenMs = 10_000): Promise<{ data: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const s: Socket = connect(port, '127.0.0.1', () => s.write(text));
    let data = '';
    s.on('data', (d) => (data += d.toString()));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data, closedAfterMs: Date.now() - t0 });
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the server kept the connection open for ${keepOpenMs} ms`));
    }, keepOpenMs);
  });
}

describe('bearer token', () => {
  it('every route but /healthz needs the token; /metrics included', async () => {
    const { url } = await start({ authToken: TOKEN });
    const bearer = { authorization: `Bearer ${TOKEN}` };
    expect(SERVED).toContain((await fetch(`${url}/healthz`)).status);
    const m = await fetch(`${url}/metrics`);
    expect(m.status).toBe(401);
    expect(m.headers.get('www-authenticate')).toBe('Bearer');
    expect(await m.json()).toMatchObject({ code: 'unauthorized', hint: expect.stringMatching(/Authorization: Bearer/) });
    expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: TOKEN } })).status).toBe(401); // no "Bearer"
    expect((await fetch(`${url}/metrics`, { headers: bearer })).status).toBe(200);
    for (const path of ['/v1/score', '/v1/recommend', '/nope']) {
      const r = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"history": []}' });
      expect(r.status, path).toBe(401);
    }
    // with the token, the request reaches validation (here a 400 for the empty history)
    const ok = await fetch(`${url}/v1/recommend`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer }, body: '{"history": []}' });
    expect(ok.status).toBe(400);
  });

  it('no token configured: routes stay open (loopback default)', async () => {
    const { url } = await start({});
    expect((await fetch(`${url}/metrics`)).status).toBe(200);
  });
});

describe('binding beyond loopback', () => {
  it('is refused without a token, warned about with --allowUnauthenticated=true, fine with a token', async () => {
    const s = new ServingServer({ retrieval: fakeRetriever }, { host: '0.0.0.0', port: 0 });
    await expect(s.listen()).rejects.toThrow(/refusing to listen on 0\.0\.0\.0 .*without authentication.*HINT: set a token with the HSTU_AUTH_TOKEN/s);
    const warned: string[] = [];
    expect(checkBind('0.0.0.0', { ...defaultExposureOptions, allowUnauthenticated: true }, (w) => warned.push(w))).toMatch(/WITHOUT AUTHENTICATION/);
    expect(warned.length).toBe(1);
    expect(checkBind('::', { ...defaultExposureOptions, authToken: TOKEN })).toBeNull();
    expect(checkBind('127.0.0.1', defaultExposureOptions)).toBeNull();
  });

  it('isLoopback', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', '128.0.0.1']) expect(isLoopback(h), h).toBe(false);
  });
});

describe('timeouts and the connection cap', () => {
  it('a body that trickles past requestTimeoutMs gets 408 and the connection is closed', async () => {
    const { port } = await start({ headersTimeoutMs: 200, requestTimeoutMs: 400 });
    const r = await raw(port, 'POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"hist');
    expect(r.data).toMatch(/^HTTP\/1\.1 408/);
    expect(r.closedAfterMs).toBeLessThan(5000);
  });

  it('headers that never finish get 408 within headersTimeoutMs', async () => {
    const { port } = await start({ headersTimeoutMs: 200, requestTimeoutMs: 400 });
    const r = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    expect(r.data).toMatch(/^HTTP\/1\.1 408/);
    expect(r.closedAfterMs).toBeLessThan(5000);
  });

  it('connections over maxConnections are closed at once; the server serves again after', async () => {
    const { port, url } = await start({ maxConnections: 3 });
    const held: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((r) => {
        const s = connect(port, '127.0.0.1', () => r());
        s.on('error', () => {});
        held.push(s);
      });
    }
    await new Promise((r) => setTimeout(r, 50));
    const extra = await raw(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 5000);
    expect(extra.data).toBe(''); // dropped without an answer
    held.forEach((s) => s.destroy());
    await new Promise((r) => setTimeout(r, 100));
    expect(SERVED).toContain((await fetch(`${url}/healthz`)).status);
    expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/hstu_connections_dropped_total [1-9]/);
  });
});

describe('serve options: range checks', () => {
  it.each([
    ['--windowMs=1e9', /--windowMs: expected a number in \[0, 1000\], got 1000000000.*HINT/],
    ['--maxCandidates=0', /--maxCandidates: expected an integer in \[1, /],
    ['--maxTopK=0', /--maxTopK: expected an integer in \[1, /],
    ['--maxBodyBytes=0', /--maxBodyBytes: expected an integer in \[256, /],
    ['--port=70000', /--port: expected an integer in \[0, 65535\]/],
    ['--microbatch=1.5', /--microbatch: expected an integer/],
    ['--maxConnections=0', /--maxConnections: expected an integer in \[1, /],
    ['--requestTimeoutMs=1e12', /--requestTimeoutMs/],
    ['--cacheBytes=1e300', /--cacheBytes/],
    ['--drainTimeoutMs=-1', /--drainTimeoutMs/],
  ])('%s is refused with a clear error', (arg, re) => {
    expect(() => parseServeArgs(['--ranking=r.hstu', arg], {})).toThrow(re);
  });

  it('the same checks apply to an engine built in code (before the model is touched)', () => {
    expect(() => new MfalconEngine({} as RankingModel, { windowMs: 1e9 })).toThrow(/--windowMs: expected a number in \[0, 1000\]/);
  });

  it('the same checks apply to a server built in code', () => {
    expect(() => new ServingServer({ retrieval: fakeRetriever }, { maxTopK: 0 })).toThrow(/--maxTopK/);
    expect(() => new ServingServer({ retrieval: fakeRetriever }, { headersTimeoutMs: 5000, requestTimeoutMs: 1000 })).toThrow(/headersTimeoutMs: expected ≤/);
  });

  it('the token comes from --authToken or HSTU_AUTH_TOKEN; short tokens are refused', () => {
    expect(parseServeArgs(['--ranking=r'], { HSTU_AUTH_TOKEN: TOKEN }).server.authToken).toBe(TOKEN);
    expect(parseServeArgs(['--ranking=r', `--authToken=${TOKEN}x`], { HSTU_AUTH_TOKEN: TOKEN }).server.authToken).toBe(`${TOKEN}x`);
    expect(() => parseServeArgs(['--ranking=r', '--authToken=abc'], {})).toThrow(/at least 16 characters/);
    expect(parseServeArgs(['--ranking=r', '--allowUnauthenticated=true'], {}).server.allowUnauthenticated).toBe(true);
  });
});
