// Serving benchmark (`npm run bench -- serving [--json] [--quick] [options]`): one user history of
// n events and m candidates, scored by the ranking model in three modes, side by side in one run:
//   naive           one full forward pass per candidate ([history, candidate], serving/naive.ts)
//   mfalcon         M-FALCON with the cache off: the history is encoded once per request, then the
//                   candidates in microbatches of b_m against its K/V
//   mfalcon_cached  M-FALCON with a warm cache: only the candidate tokens run
// then the same engine behind the HTTP server under concurrent load from autocannon on loopback
// (http_mfalcon_cached: U users with warm caches; http_mfalcon: cache off).
// Reports candidates/s and p50/p99 request latency; --json prints one object per row.
// Model: --checkpoint=FILE (a ranking checkpoint), else a random-init model of the ML-100K HSTU
// ranking shape (trainer/configs/ml-100k/hstu-ranking.json) with maxLen n + 1 so n = 200 fits.
import autocannon from 'autocannon';
import { execSync } from 'node:child_process';
import { createGpu } from '../kernels/gpu/index.js';
import { Rng } from '../kernels/testing/rng.js';
import { applyOverrides, loadConfigFile } from '../model/config.js';
import { loadRankingModel, type LoadedRankingModel } from '../trainer/ranking_checkpoint.js';
import type { History } from './cache.js';
import { ML100K_CONFIG, ML100K_ITEMS, randomCheckpoint } from './demo_checkpoint.js';
import { MfalconEngine } from './mfalcon.js';
import { scoreOneAtATime } from './naive.js';
import { ServingServer } from './server.js';

interface Row {
  mode: string;
  m: number;
  n: number;
  candidates_per_s: number;
  p50_ms: number;
  p99_ms: number;
  requests: number;
  /** Candidates actually scored per request (naive is capped at --naiveMax for large m). */
  measured_candidates: number;
  microbatch?: number;
  connections?: number;
  speedup_vs_naive?: number;
}

const USAGE = `usage: npm run bench -- serving [--json] [--quick] [--checkpoint=FILE] [--n=200] [--m=64,256,1024,4096]
    [--microbatch=128] [--reps=8] [--naiveMax=1024] [--http=true] [--connections=8] [--users=8] [--duration=10]`;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

function randomHistory(rng: Rng, n: number, numItems: number, numActions: number): History {
  const h = { items: new Uint32Array(n), timestamps: new Uint32Array(n), actions: new Uint32Array(n) };
  let t = 880_000_000;
  for (let i = 0; i < n; i++) {
    h.items[i] = rng.int(1, numItems);
    h.actions[i] = rng.int(1, numActions);
    h.timestamps[i] = t;
    t += rng.int(1, 86_400 * 3);
  }
  return h;
}

export async function runServingBench(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) return void console.log(USAGE);
  const opt = new Map<string, string>();
  for (const a of argv) {
    const m = /^--([A-Za-z]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`serving bench: unexpected argument '${a}'\n${USAGE}`);
    opt.set(m[1]!, m[2] ?? 'true');
  }
  const known = ['json', 'quick', 'checkpoint', 'n', 'm', 'microbatch', 'reps', 'naiveMax', 'http', 'connections', 'users', 'duration'];
  for (const k of opt.keys()) if (!known.includes(k)) throw new Error(`serving bench: unknown option --${k}\n${USAGE}`);
  const json = opt.get('json') === 'true', quick = opt.get('quick') === 'true';
  const num = (k: string, d: number) => {
    const v = Number(opt.get(k) ?? d);
    if (!(Number.isFinite(v) && v >= 0)) throw new Error(`serving bench: --${k} expects a number, got ${opt.get(k)}`);
    return v;
  };
  const n = num('n', quick ? 50 : 200);
  const ms = (opt.get('m') ?? (quick ? '16,64' : '64,256,1024,4096')).split(',').map(Number);
  const microbatch = num('microbatch', 128), reps = num('reps', quick ? 2 : 8), naiveMax = num('naiveMax', quick ? 16 : 1024);
  const http = opt.get('http') !== 'false', connections = num('connections', quick ? 2 : 8), users = num('users', quick ? 2 : 8), duration = num('duration', quick ? 2 : 10);
  const log = (s: string) => (json ? process.stderr : process.stdout).write(s + '\n');

  const gpu = await createGpu();
  let loaded: LoadedRankingModel | undefined;
  try {
    const ckPath = opt.get('checkpoint');
    if (ckPath) loaded = await loadRankingModel(gpu, ckPath);
    else {
      const c = applyOverrides(loadConfigFile(ML100K_CONFIG), { maxLen: Math.max(n + 1, 2) });
      loaded = await loadRankingModel(gpu, randomCheckpoint(c, ML100K_ITEMS, 1));
    }
    const { model, config: c } = loaded;
    if (n > c.maxLen - 1) throw new Error(`serving bench: n = ${n} does not fit the model's maxLen ${c.maxLen} (n ≤ maxLen − 1). HINT: pass --n=${c.maxLen - 1}.`);
    const numItems = loaded.itemRawIds.length - 1;
    log(`device: ${gpu.adapter.description}; model: ${ckPath ?? `random-init ML-100K HSTU ranking shape (d=${c.dim}, ${c.numLayers} layers, H=${c.numHeads}, maxLen ${c.maxLen}, ${numItems} items)`}; n = ${n}, b_m = ${microbatch}`);
    log(`load: ${execSync('uptime').toString().trim()}`);
    const rng = new Rng(123);
    const hist = randomHistory(rng, n, numItems, c.numActions);
    const time = hist.timestamps[n - 1]! + 3600;
    const rows: Row[] = [];
    const emit = (r: Row) => {
      rows.push(r);
      if (json) console.log(JSON.stringify(r));
      else log(`${r.mode.padEnd(20)} m=${String(r.m).padStart(5)}  ${r.candidates_per_s.toFixed(0).padStart(9)} cand/s  p50 ${r.p50_ms.toFixed(1).padStart(8)} ms  p99 ${r.p99_ms.toFixed(1).padStart(8)} ms  (${r.requests} requests${r.measured_candidates !== r.m ? `, ${r.measured_candidates} candidates each` : ''}${r.speedup_vs_naive ? `, ${r.speedup_vs_naive.toFixed(1)}× naive` : ''})`);
    };
    const timed = async (count: number, f: () => Promise<unknown>) => {
      const lat: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        await f();
        lat.push(performance.now() - t0);
      }
      return lat;
    };
    const row = (mode: string, m: number, measured: number, lat: number[], extra: Partial<Row> = {}): Row => ({
      mode, m, n, candidates_per_s: (measured * lat.length) / (lat.reduce((a, b) => a + b, 0) / 1000), p50_ms: quantile(lat, 0.5), p99_ms: quantile(lat, 0.99), requests: lat.length, measured_candidates: measured, microbatch, ...extra,
    });

    const uncached = new MfalconEngine(model, { microbatch, cacheBytes: 0, windowMs: 0 });
    const cached = new MfalconEngine(model, { microbatch, windowMs: 0 });
    for (const m of ms) {
      const cands = Uint32Array.from({ length: m }, () => rng.int(1, numItems));
      const req = { userId: 'bench', history: hist, candidates: cands, candidateTime: time };
      // Warm-up (pipelines compiled, pools filled) outside the timings.
      await uncached.score({ ...req, candidates: cands.subarray(0, Math.min(m, microbatch)) });
      await scoreOneAtATime(model, hist, cands.subarray(0, 2), time);
      const naiveCount = Math.min(m, naiveMax);
      const naive = row('naive', m, naiveCount, await timed(m <= naiveMax ? Math.max(1, Math.min(reps, Math.floor(256 / m))) : 1, () => scoreOneAtATime(model, hist, cands.subarray(0, naiveCount), time)));
      emit(naive);
      const mf = row('mfalcon', m, m, await timed(reps, () => uncached.score(req)));
      emit({ ...mf, speedup_vs_naive: mf.candidates_per_s / naive.candidates_per_s });
      await cached.score(req); // warm the cache
      const mc = row('mfalcon_cached', m, m, await timed(reps, () => cached.score(req)));
      emit({ ...mc, speedup_vs_naive: mc.candidates_per_s / naive.candidates_per_s });
    }
    uncached.close();
    cached.close();

    if (http) {
      for (const [mode, cacheBytes] of [['http_mfalcon_cached', undefined], ['http_mfalcon', 0]] as const) {
        const engine = new MfalconEngine(model, { microbatch, windowMs: 2, ...(cacheBytes === 0 ? { cacheBytes: 0 } : {}) });
        const server = new ServingServer({ ranking: { model, engine, itemRawIds: loaded.itemRawIds } }, { port: 0, maxBodyBytes: 4 << 20, maxCandidates: Math.max(...ms) });
        const at = await server.listen();
        try {
          for (const m of ms) {
            const bodies = Array.from({ length: users }, (_, u) => {
              const h = randomHistory(new Rng(1000 + u), n, numItems, c.numActions);
              return JSON.stringify({
                user_id: `user${u}`,
                history: Array.from(h.items, (it, i) => ({ item_id: loaded!.itemRawIds[it], timestamp: h.timestamps[i], action: h.actions[i] })),
                candidates: Array.from({ length: m }, () => loaded!.itemRawIds[rng.int(1, numItems)]),
                request_time: h.timestamps[n - 1]! + 3600,
              });
            });
            const requests = bodies.map((body) => ({ method: 'POST', path: '/v1/score', headers: { 'content-type': 'application/json' }, body }));
            // Warm: each user once (fills the cache in the cached mode), then the timed load.
            for (const r of requests) {
              const res = await fetch(at.url + r.path, { method: 'POST', headers: r.headers, body: r.body });
              if (res.status !== 200) throw new Error(`serving bench: warm-up request failed with ${res.status}: ${await res.text()}`);
            }
            const result = await autocannon({ url: at.url, connections, duration, requests, timeout: 120 });
            if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) throw new Error(`serving bench: ${mode} m=${m}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx responses`);
            const ok = result['2xx'];
            const r: Row = { mode, m, n, candidates_per_s: (ok * m) / result.duration, p50_ms: result.latency.p50, p99_ms: result.latency.p99, requests: ok, measured_candidates: m, microbatch, connections };
            emit(r);
          }
        } finally {
          await server.close();
        }
      }
    }
    if (!json) {
      const at1024 = (mode: string) => rows.find((r) => r.mode === mode && r.m === 1024)?.candidates_per_s;
      const a = at1024('naive'), cc = at1024('mfalcon_cached');
      if (a && cc) log(`bar: mfalcon_cached / naive at m=1024 = ${(cc / a).toFixed(1)}× (target ≥ 10×)`);
    }
  } finally {
    loaded?.model.release();
    gpu.dispose();
  }
}
