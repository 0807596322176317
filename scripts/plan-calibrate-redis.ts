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
function answers(host: string, port: number, ms = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(ms, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
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
    log(`  redis: ${readsPerSec} reads/s, ${updatesPerSec} row updates/s per primary (${primaries} primaries at ${address}, d = ${dim}, ${rows} rows per call)`);
    return { readsPerSec, updatesPerSec, source: `measured by --calibrate on the local cluster at ${address} (${primaries} primaries, loopback, d = ${dim}, ${rows} rows per call, ${store.mode} updates)` };
  } finally {
    await store?.close();
    await deleteTable(admin, table).catch(() => {});
    admin.disconnect();
  }
}
