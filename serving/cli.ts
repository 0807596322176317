// `npm run serve -- --ranking=CKPT [--retrieval=CKPT] [options]`: loads the checkpoint(s) on one
// GPU device and serves serving/server.ts until SIGINT/SIGTERM, then drains and exits.
import { fileURLToPath } from 'node:url';
import { createGpu } from '../kernels/gpu/index.js';
import { loadRankingModel } from '../trainer/ranking_checkpoint.js';
import { GpuLock } from './batcher.js';
import { MfalconEngine, defaultMfalconOptions, type MfalconOptions } from './mfalcon.js';
import { Retriever } from './retrieval.js';
import { ServingServer, defaultServerOptions, type ServerOptions, type ServingModels } from './server.js';
import { AUTH_TOKEN_ENV, checkBind, checkOptionRanges } from './exposure.js';

const USAGE = `usage: npm run serve -- --ranking=CKPT [--retrieval=CKPT] [options]
  --ranking=FILE      ranking checkpoint (task 'ranking', HSTU): /v1/score and re-ranking in /v1/recommend
  --retrieval=FILE    retrieval checkpoint: /v1/recommend (alone, or re-ranked when --ranking is given)
  --host=127.0.0.1    bind address (default loopback only)       --port=8080
  --microbatch=${defaultMfalconOptions.microbatch}     b_m, candidates per microbatch        --windowMs=${defaultMfalconOptions.windowMs}  batching window
  --maxPassCandidates=${defaultMfalconOptions.maxPassCandidates}  candidates per GPU pass  --cacheBytes=${defaultMfalconOptions.cacheBytes}  cache budget (0 = off)
  --maxBodyBytes=${defaultServerOptions.maxBodyBytes}  --maxCandidates=${defaultServerOptions.maxCandidates}  --maxTopK=${defaultServerOptions.maxTopK}  --drainTimeoutMs=${defaultServerOptions.drainTimeoutMs}
  --maxConnections=${defaultServerOptions.maxConnections}  --headersTimeoutMs=${defaultServerOptions.headersTimeoutMs}  --requestTimeoutMs=${defaultServerOptions.requestTimeoutMs}  --keepAliveTimeoutMs=${defaultServerOptions.keepAliveTimeoutMs}
  --authToken=TOKEN   require "Authorization: Bearer TOKEN" on every route but /healthz; prefer the
                      ${AUTH_TOKEN_ENV} environment variable (a flag is visible in ps)
  --allowUnauthenticated=true   allow a --host beyond loopback without a token (refused otherwise; warned)
  Every numeric option is range-checked (serving/exposure.ts OPTION_RANGES).`;

const NUMERIC = ['port', 'microbatch', 'windowMs', 'maxPassCandidates', 'cacheBytes', 'maxBodyBytes', 'maxCandidates', 'maxTopK', 'drainTimeoutMs', 'maxConnections', 'headersTimeoutMs', 'requestTimeoutMs', 'keepAliveTimeoutMs'] as const;

export function parseServeArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): { ranking?: string; retrieval?: string; server: Partial<ServerOptions>; engine: Partial<MfalconOptions> } {
  const out: { ranking?: string; retrieval?: string; server: Partial<ServerOptions>; engine: Partial<MfalconOptions> } = { server: {}, engine: {} };
  for (const a of args) {
    const m = /^--([A-Za-z]+)=(.*)$/s.exec(a);
    if (!m) throw new Error(`expected --key=value, got '${a}'.\n${USAGE}`);
    const [, k, v] = m as unknown as [string, string, string];
    if (k === 'ranking' || k === 'retrieval') out[k] = v;
    else if (k === 'host') out.server.host = v;
    else if (k === 'authToken') out.server.authToken = v;
    else if (k === 'allowUnauthenticated') {
      if (v !== 'true' && v !== 'false') throw new Error(`--allowUnauthenticated: expected true or false, got '${v}'`);
      out.server.allowUnauthenticated = v === 'true';
    }
    else if ((NUMERIC as readonly string[]).includes(k)) {
      const n = Number(v);
      if (!(v.trim() !== '' && Number.isFinite(n))) throw new Error(`--${k}: expected a number, got '${v}'`);
      if (k === 'microbatch' || k === 'windowMs' || k === 'maxPassCandidates' || k === 'cacheBytes') out.engine[k] = n;
      else out.server[k as Exclude<(typeof NUMERIC)[number], 'microbatch' | 'windowMs' | 'maxPassCandidates' | 'cacheBytes'>] = n;
    } else throw new Error(`unknown option --${k}.\n${USAGE}`);
  }
  if (out.server.authToken === undefined && env[AUTH_TOKEN_ENV]) out.server.authToken = env[AUTH_TOKEN_ENV];
  if (out.server.authToken !== undefined && out.server.authToken.length < 16) {
    throw new Error(`--authToken / ${AUTH_TOKEN_ENV}: expected at least 16 characters, got ${out.server.authToken.length}. HINT: generate one with: openssl rand -hex 32`);
  }
  checkOptionRanges({ ...out.server, ...out.engine });
  if (!out.ranking && !out.retrieval) throw new Error(`no checkpoint given. HINT: pass --ranking=<file> and/or --retrieval=<file>.\n${USAGE}`);
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) return void console.log(USAGE);
  const o = parseServeArgs(args);
  checkBind(o.server.host ?? defaultServerOptions.host, { ...defaultServerOptions, ...o.server }, () => {}); // refuse before loading models; the warning prints at listen()
  const gpu = await createGpu();
  const lock = new GpuLock();
  const models: ServingModels = {};
  if (o.ranking) {
    const r = await loadRankingModel(gpu, o.ranking);
    models.ranking = { model: r.model, engine: new MfalconEngine(r.model, o.engine, lock), itemRawIds: r.itemRawIds };
    console.log(`ranking: ${o.ranking} (${r.config.model}, d=${r.config.dim}, ${r.config.numLayers} layers, maxLen ${r.config.maxLen}, ${r.itemRawIds.length - 1} items)`);
  }
  if (o.retrieval) {
    models.retrieval = await Retriever.load(gpu, o.retrieval, lock);
    console.log(`retrieval: ${o.retrieval} (${models.retrieval.config.model}, ${models.retrieval.itemRawIds.length - 1} items)`);
  }
  const server = new ServingServer(models, o.server);
  const at = await server.listen();
  console.log(`serving on ${at.url} (device: ${gpu.adapter.description}); POST /v1/score, POST /v1/recommend, GET /healthz, GET /metrics. Ctrl-C drains and stops.`);
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${sig}: draining in-flight requests…`);
    await server.close();
    models.ranking?.model.release();
    models.retrieval?.release();
    gpu.dispose();
    console.log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: Error) => {
    console.error(`serve: ${e.message}`);
    process.exit(1);
  });
}
