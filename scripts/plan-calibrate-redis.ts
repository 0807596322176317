// Redis rows/s for the planner's calibration (`npm run plan -- --calibrate`): when the local
// cluster answers (npm run cluster -- start; 127.0.0.1:7100 by default), reads and row-wise Adam
// updates of 4,096 rows per call at d = 64 (DESIGN §7's shape), timed over a few calls after one
// that creates the rows, divided by the primaries: rows/s per shard. Otherwise DESIGN §7's
// figures, marked as such. The table is deleted afterwards.
import { connect } from 'node:net';
import { Cluster } from 'ioredis';
import { DESIGN_REDIS, type CalibrationFile } from '../model/plan/devices.js';
import { RedisEmbeddingStore } from '../trainer/store/redis_store.js';
import { deleteTable } from '../trainer/store/redis_testing.js';

/** Whether something accepts TCP connections at host:port within `ms`. */
export function answers(host: string, port: number, ms = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(ms, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * What the workers' all-reduce through Redis costs (trainer/distributed/allreduce.ts): 1 MiB
 * values (its chunk size) under 16 hash tags (its spread), 16 written then read back in parallel,
 * three times, best kept: bytes/s of a value written and read once; and the round trip of one
 * small command (PING to a primary, 50 times, median).
 */
async function transportRates(admin: Cluster, table: string): Promise<{ bytesPerSec: number; roundTripSeconds: number }> {
  const chunk = Buffer.alloc(1 << 20, 7), n = 16;
  const key = (i: number) => `${table}:{${table}.x${i}}:bw`;
  let best = Infinity;
  try {
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: n }, (_, i) => admin.set(key(i), chunk, 'PX', 60_000)));
      const got = await Promise.all(Array.from({ length: n }, (_, i) => admin.getBuffer(key(i))));
      if (got.some((g) => g?.length !== chunk.length)) throw new Error('calibration: a 1 MiB value came back torn. HINT: check the cluster (npm run cluster -- status)');
      best = Math.min(best, (performance.now() - t0) / 1000);
    }
  } finally {
    await Promise.all(Array.from({ length: n }, (_, i) => admin.del(key(i)).catch(() => 0)));
  }
  const primary = admin.nodes('master')[0]!;
  const rtts: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    await primary.ping();
    rtts.push((performance.now() - t0) / 1000);
  }
  rtts.sort((a, b) => a - b);
  return { bytesPerSec: (n * chunk.length) / best, roundTripSeconds: rtts[rtts.length >> 1]! };
}

export async function calibrateRedis(log: (s: string) => void, address = '127.0.0.1:7100', o: { rowsPerCall?: number; calls?: number; dim?: number } = {}): Promise<CalibrationFile['redis']> {
  const [host, portS] = address.split(':');
  if (!(await answers(host!, Number(portS)))) {
    log(`  redis: no cluster at ${address}; keeping ${DESIGN_REDIS.source}`);
    return { ...DESIGN_REDIS };
  }
  const rows = o.rowsPerCall ?? 4096, calls = o.calls ?? 4, dim = o.dim ?? 64;
  const admin = new Cluster([{ host: host!, port: Number(portS) }], { enableOfflineQueue: true });
  const table = `plan_calibrate_${process.pid}`;
  let store: RedisEmbeddingStore | undefined;
  try {
    await admin.ping();
    const primaries = admin.nodes('master').length;
    store = await RedisEmbeddingStore.open({ address, table, rows: 1 << 20, dim, storage: 'f32', seed: 1, buckets: Math.max(1, Math.floor(rows / 64)) });
    const ids = Uint32Array.from({ length: rows }, (_, i) => 1 + i * 7);
    const grads = Float32Array.from({ length: rows * dim }, (_, i) => Math.sin(i) * 1e-3);
    let readS = 0, updS = 0;
    for (let s = 0; s <= calls; s++) {
      const t0 = performance.now();
      await store.read(ids);
      const t1 = performance.now();
      await store.applyRowwiseAdam(ids, grads, { lr: 1e-3, step: s + 1 });
      const t2 = performance.now();
      if (s > 0) { readS += (t1 - t0) / 1000; updS += (t2 - t1) / 1000; } // call 0 creates the rows
    }
    const readsPerSec = Math.round((rows * calls) / readS / primaries), updatesPerSec = Math.round((rows * calls) / updS / primaries);
    const { bytesPerSec, roundTripSeconds } = await transportRates(admin, table);
    log(`  redis: ${readsPerSec} reads/s, ${updatesPerSec} row updates/s per primary (${primaries} primaries at ${address}, d = ${dim}, ${rows} rows per call); ${(bytesPerSec / 1e6).toFixed(0)} MB/s of 1 MiB values (SET + GET), round trip ${(roundTripSeconds * 1e3).toFixed(2)} ms`);
    return { readsPerSec, updatesPerSec, bytesPerSec, roundTripSeconds, primaries, source: `measured by --calibrate on the local cluster at ${address} (${primaries} primaries, loopback, d = ${dim}, ${rows} rows per call, ${store.mode} updates)` };
  } finally {
    await store?.close();
    await deleteTable(admin, table).catch(() => {});
    admin.disconnect();
  }
}
