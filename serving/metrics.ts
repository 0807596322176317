// Prometheus metrics of the server (GET /metrics, text format 0.0.4) on a private prom-client
// registry: requests by route and status, latency histogram, candidates scored (counter and the
// rate over the last 10 s), cache counters, GPU pass sizes and times, in-flight requests.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheStats } from './cache.js';
import type { PassEvent } from './mfalcon.js';

const RATE_WINDOW_S = 10;

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'status'>;
  private readonly latency: Histogram<'route'>;
  private readonly candidates: Counter;
  private readonly passSequences: Histogram<'kind'>;
  private readonly passTokens: Histogram<'kind'>;
  private readonly passSeconds: Histogram<'kind'>;
  readonly inflight: Gauge;
  /** (time ms, candidates) of recent scoring, for the rate gauge. */
  private recent: [number, number][] = [];

  constructor(cacheStats: () => CacheStats | null) {
    const registers = [this.registry];
    this.requests = new Counter({ name: 'hstu_requests_total', help: 'HTTP requests by route and status code.', labelNames: ['route', 'status'], registers });
    this.latency = new Histogram({ name: 'hstu_request_duration_seconds', help: 'Request latency (receipt of the body to the response).', labelNames: ['route'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    this.candidates = new Counter({ name: 'hstu_candidates_scored_total', help: 'Candidates scored by the ranking model.', registers });
    const self = this;
    new Gauge({
      name: 'hstu_candidates_per_second', help: `Candidates scored per second over the last ${RATE_WINDOW_S} s.`, registers,
      collect() {
        this.set(self.rate());
      },
    });
    const cacheGauge = (name: string, help: string, pick: (s: CacheStats) => number) =>
      new Gauge({
        name, help, registers,
        collect() {
          const s = cacheStats();
          this.set(s ? pick(s) : 0);
        },
      });
    // The engine keeps the cumulative counts; each scrape adds what happened since the last one.
    const cacheCounter = (name: string, help: string, pick: (s: CacheStats) => number) => {
      let seen = 0;
      return new Counter({
        name, help, registers,
        collect() {
          const s = cacheStats(), now = s ? pick(s) : 0;
          if (now > seen) this.inc(now - seen);
          seen = now;
        },
      });
    };
    cacheCounter('hstu_cache_hits_total', 'Requests whose exact history was cached.', (s) => s.hits);
    cacheCounter('hstu_cache_extensions_total', 'Requests that extended a cached history prefix (encoding only the new events).', (s) => s.extensions);
    cacheCounter('hstu_cache_misses_total', 'Requests that encoded the whole history.', (s) => s.misses);
    cacheCounter('hstu_cache_evictions_total', 'Cache entries evicted to stay within the byte budget.', (s) => s.evictions);
    cacheGauge('hstu_cache_entries', 'Cached user encodings.', (s) => s.entries);
    cacheGauge('hstu_cache_bytes', 'Bytes held by cached user encodings.', (s) => s.bytes);
    cacheGauge('hstu_cache_max_bytes', 'Byte budget of the cache.', (s) => s.maxBytes);
    this.passSequences = new Histogram({ name: 'hstu_gpu_pass_sequences', help: 'Sequences per GPU pass (score: microbatches packed from concurrent requests; encode: histories).', labelNames: ['kind'], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers });
    this.passTokens = new Histogram({ name: 'hstu_gpu_pass_tokens', help: 'New tokens per GPU pass (candidates or history events).', labelNames: ['kind'], buckets: [1, 8, 32, 128, 512, 1024, 2048, 4096, 8192, 16384], registers });
    this.passSeconds = new Histogram({ name: 'hstu_gpu_pass_seconds', help: 'Wall time of one GPU pass.', labelNames: ['kind'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers });
    this.inflight = new Gauge({ name: 'hstu_inflight_requests', help: 'Requests being processed.', registers });
  }

  request(route: string, status: number, seconds: number): void {
    this.requests.inc({ route, status: String(status) });
    this.latency.observe({ route }, seconds);
  }

  scored(n: number): void {
    this.candidates.inc(n);
    this.recent.push([Date.now(), n]);
  }

  pass(e: PassEvent): void {
    this.passSequences.observe({ kind: e.kind }, e.sequences);
    this.passTokens.observe({ kind: e.kind }, e.tokens);
    this.passSeconds.observe({ kind: e.kind }, e.ms / 1000);
  }

  private rate(): number {
    const cut = Date.now() - RATE_WINDOW_S * 1000;
    this.recent = this.recent.filter(([t]) => t >= cut);
    return this.recent.reduce((a, [, n]) => a + n, 0) / RATE_WINDOW_S;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
