// A data-parallel training worker (issue 19): what `npm run train -- --workers W` forks W times,
// and what any other launcher runs once per worker with RANK, WORLD_SIZE, HSTU_REDIS and
// HSTU_RUN_ID set (README "Beyond one machine"). Arguments: the `train` command's, less --workers.
// Rank 0 writes metrics.jsonl and checkpoints and evaluates; the other ranks only train.
// Exit codes: 0 done, 3 a peer stopped (PeerLostError: this rank stopped too), 1 any other error
// (the run is aborted so the peers stop at once).
// HSTU_PRINT_LOSSES=1: prints {"rank", "losses", "transport", "rowUpdates", "store"} as one JSON
// line at the end (tests); HSTU_KEEP_TABLE=1: rank 0 leaves the run's table on Redis (tests).
import { createHash } from 'node:crypto';
import { buildConfig, loadData, parseArgs } from '../cli.js';
import { train } from '../train.js';
import { workerIdentityFromEnv } from './env.js';
import { PeerLostError } from './rendezvous.js';
import { WorkerSync } from './worker_sync.js';

async function main(): Promise<number> {
  const id = workerIdentityFromEnv();
  const { flags, overrides } = parseArgs(process.argv.slice(2));
  const c = buildConfig(flags, overrides);
  if (c.embeddingStore !== 'redis') throw new Error(`--workers needs the item table on Redis (got embeddingStore '${c.embeddingStore}'). HINT: add --store redis`);
  const data = await loadData(flags, c);
  const maxSteps = flags.has('max-steps') ? Number(flags.get('max-steps')) : undefined;
  // Every worker of a run must train the same model on the same data.
  const digest = createHash('sha256').update(JSON.stringify(c)).update(`${data.source}|${data.count}|${data.numItems}|${data.numUsers}`).digest('hex').slice(0, 16);
  const worker = await WorkerSync.join(id, digest, { allReduceTransport: c.allReduceTransport, embeddingSync: c.embeddingSync });
  const leader = worker.isLeader;
  try {
    const r = await train({
      config: c, data, maxSteps, worker,
      outDir: leader ? flags.get('out') : undefined,
      resume: flags.get('resume'),
      noEval: !leader,
      log: leader ? (s) => console.log(s) : (s) => { if (/step time split/.test(s)) console.log(s); },
    });
    await worker.finish(); // the last dense all-reduce's digest, compared across ranks
    if (process.env.HSTU_PRINT_LOSSES === '1') {
      console.log(JSON.stringify({ rank: id.rank, losses: r.losses, transport: worker.allReduceTransport, rowUpdates: [...worker.rowUpdates], store: worker.storeStats }));
    }
    if (leader && r.test && r.best) console.log(`test metrics at the best validation epoch (${r.best.epoch}): ${JSON.stringify(r.test)}`);
    return 0;
  } catch (e) {
    if (e instanceof PeerLostError) {
      console.error(e.message);
      return 3;
    }
    await worker.rdv.abort((e as Error).message);
    const msg = (e as Error).message;
    if (/Connection is closed|ECONNREFUSED|CLUSTERDOWN|None of startup nodes/.test(msg) && !/HINT/.test(msg)) {
      throw new Error(`${msg}: the Redis Cluster at ${c.redisAddress} stopped answering. HINT: check it (npm run cluster -- status), then continue with --resume <out>/checkpoint.hstu`);
    }
    throw e;
  } finally {
    await worker.close();
  }
}

main().then((code) => process.exit(code), (e: Error) => {
  console.error(`error: ${e.message}`);
  process.exit(1);
});
