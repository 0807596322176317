// What the server needs before it faces a network (issue 16 item 6): range checks on every option,
// a connection cap, header / whole-request timeouts (a slow body cannot hold a socket for Node's
// default 300 s), and an optional bearer token checked in constant time.
//
// Policy:
//   - With a token (--authToken or the HSTU_AUTH_TOKEN environment variable, which keeps it out of
//     `ps`), every route needs `Authorization: Bearer <token>` — /v1/*, /metrics and unknown paths
//     alike — except GET /healthz: load-balancer and orchestrator probes call it without
//     credentials, and it reveals only "up" and which model kinds are loaded.
//   - Binding beyond loopback (e.g. --host=0.0.0.0) without a token is REFUSED at listen() unless
//     allowUnauthenticated is set (--allowUnauthenticated=true), and then it is warned about loudly.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { isIP } from 'node:net';
import { totalmem } from 'node:os';
import { Counter, Gauge, type Registry } from 'prom-client';
import { RequestError } from './errors.js';

/** The exposure-related server options (part of ServerOptions). */
export interface ExposureOptions {
  /** Open TCP connections at most; further ones are closed at once (Node's server.maxConnections). */
  maxConnections: number;
  /** Time to receive a request's headers (ms); slower clients get 408 and are disconnected. */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (ms); a body trickling slower gets 408. */
  requestTimeoutMs: number;
  /** Idle time a kept-alive connection waits for its next request (ms). */
  keepAliveTimeoutMs: number;
  /** Bearer token required on every route but /healthz; '' = no authentication. */
  authToken: string;
  /** Allow listening beyond loopback without a token (warned about loudly). */
  allowUnauthenticated: boolean;
}

export const defaultExposureOptions: ExposureOptions = {
  maxConnections: 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  authToken: '',
  allowUnauthenticated: false,
};

/** Environment variable read by `npm run serve` when --authToken is not given. */
export const AUTH_TOKEN_ENV = 'HSTU_AUTH_TOKEN';

type Range = { min: number; max: number; integer: boolean; hint: string };

/** Accepted range of every numeric option of `npm run serve` (server and engine). */
export const OPTION_RANGES: Record<string, Range> = {
  port: { min: 0, max: 65535, integer: true, hint: '0 picks a free port' },
  maxBodyBytes: { min: 256, max: 256 * 2 ** 20, integer: true, hint: 'the default 1 MiB fits ~10k candidates' },
  maxCandidates: { min: 1, max: 1_000_000, integer: true, hint: 'candidates per /v1/score request' },
  maxTopK: { min: 1, max: 100_000, integer: true, hint: 'largest top_k / retrieve_k' },
  drainTimeoutMs: { min: 0, max: 600_000, integer: true, hint: 'at most 10 minutes' },
  maxConnections: { min: 1, max: 65_536, integer: true, hint: 'open TCP connections' },
  headersTimeoutMs: { min: 100, max: 600_000, integer: true, hint: 'time to send the headers' },
  requestTimeoutMs: { min: 100, max: 3_600_000, integer: true, hint: 'time to send the whole request' },
  keepAliveTimeoutMs: { min: 0, max: 600_000, integer: true, hint: 'idle keep-alive time' },
  microbatch: { min: 1, max: 65_536, integer: true, hint: 'candidates per microbatch' },
  windowMs: { min: 0, max: 1000, integer: false, hint: 'the batching window adds this much latency to every request' },
  maxPassCandidates: { min: 1, max: 1 << 20, integer: true, hint: 'candidates per GPU pass' },
  maxPassHistoryTokens: { min: 1, max: 1 << 22, integer: true, hint: 'history tokens per encode pass' },
  cacheBytes: { min: 0, max: Math.floor(totalmem()), integer: true, hint: `0 disables the cache; at most this machine's memory (${Math.floor(totalmem())} bytes)` },
};

/** Throws "--key: expected …, got …. HINT: …" unless every given numeric option is in range. */
export function checkOptionRanges(o: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(o)) {
    const r = OPTION_RANGES[k];
    if (!r || v === undefined) continue;
    const n = v as number;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < r.min || n > r.max || (r.integer && !Number.isInteger(n))) {
      throw new Error(`--${k}: expected ${r.integer ? 'an integer' : 'a number'} in [${r.min}, ${r.max}], got ${String(v)}. HINT: ${r.hint}.`);
    }
  }
  const h = o.headersTimeoutMs as number | undefined, q = o.requestTimeoutMs as number | undefined;
  if (h !== undefined && q !== undefined && h > q) throw new Error(`--headersTimeoutMs: expected ≤ --requestTimeoutMs (${q}), got ${h}. HINT: the headers are part of the request.`);
}

/** Whether a bind address only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Refuses (or loudly warns about) an unauthenticated bind beyond loopback. Returns the warning. */
export function checkBind(host: string, o: ExposureOptions, warn: (s: string) => void = (s) => console.error(s)): string | null {
  if (isLoopback(host) || o.authToken !== '') return null;
  if (!o.allowUnauthenticated) {
    throw new Error(
      `serve: refusing to listen on ${host} (beyond loopback) without authentication: anyone who can reach it could score, read /metrics and load the GPU. ` +
        `HINT: set a token with the ${AUTH_TOKEN_ENV} environment variable (or --authToken=...), or pass --allowUnauthenticated=true if a proxy in front authenticates, or bind --host=127.0.0.1.`,
    );
  }
  const msg = `WARNING: serving on ${host} WITHOUT AUTHENTICATION (--allowUnauthenticated=true): every route, /metrics included, is open to anyone who can reach this address.`;
  warn('!'.repeat(msg.length) + '\n' + msg + '\n' + '!'.repeat(msg.length));
  return msg;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Bearer-token check; constant-time in the token's content (both sides hashed to 32 bytes). */
export class BearerAuth {
  private readonly want: Buffer | null;
  constructor(token: string) {
    this.want = token === '' ? null : digest(token);
  }
  get enabled(): boolean {
    return this.want !== null;
  }
  /** Throws a 401 RequestError unless the request carries the token (no-op when disabled). */
  check(req: IncomingMessage): void {
    if (!this.want) return;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer +(\S+) *$/i.exec(h);
    if (!m) throw new RequestError(401, 'unauthorized', h === '' ? 'this server requires a bearer token.' : 'the Authorization header is not "Bearer <token>".', 'send the header "Authorization: Bearer <token>" with the token the server was started with.');
    if (!timingSafeEqual(digest(m[1]!), this.want)) throw new RequestError(401, 'unauthorized', 'the bearer token is wrong.', 'send the token the server was started with (HSTU_AUTH_TOKEN).');
  }
}

/** Applies the cap and the timeouts to a node:http server and exports connection gauges. */
export function applyConnectionLimits(http: Server, o: ExposureOptions, registry: Registry): void {
  http.maxConnections = o.maxConnections;
  http.headersTimeout = o.headersTimeoutMs;
  http.requestTimeout = o.requestTimeoutMs;
  http.keepAliveTimeout = o.keepAliveTimeoutMs;
  const registers = [registry];
  const dropped = new Counter({ name: 'hstu_connections_dropped_total', help: 'Connections closed at once because maxConnections were open.', registers });
  http.on('drop', () => dropped.inc());
  new Gauge({
    name: 'hstu_open_connections', help: 'Open TCP connections.', registers,
    async collect() {
      this.set(await new Promise<number>((r) => http.getConnections((_e, n) => r(n ?? 0))));
    },
  });
  new Gauge({ name: 'hstu_max_connections', help: 'The connection cap (maxConnections).', registers, collect() { this.set(o.maxConnections); } });
}

/** How often Node looks for timed-out requests: often enough for the configured timeouts. */
export function connectionsCheckingInterval(o: Pick<ExposureOptions, 'headersTimeoutMs' | 'requestTimeoutMs'>): number {
  return Math.max(50, Math.min(1000, Math.floor(Math.min(o.headersTimeoutMs, o.requestTimeoutMs) / 4)));
}

/** The raw reply for a connection-level error (before any request handler ran). */
export function clientErrorReply(err: NodeJS.ErrnoException): string {
  const code = err.code ?? '';
  const [status, text] =
    code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout'] : code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large'] : [400, 'Bad Request'];
  return `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
}
