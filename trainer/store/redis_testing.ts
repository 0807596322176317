// Test helpers for code that needs a Redis Cluster: whether the local one (npm run cluster --
// start; .ci/run starts it) answers, and cleanup of a test's keys.
import { Cluster, Redis } from 'ioredis';

/** The cluster tests use: REDIS_TEST_ADDRESS or the local default 127.0.0.1:7100. */
export const TEST_REDIS_ADDRESS = process.env.REDIS_TEST_ADDRESS ?? '127.0.0.1:7100';

export const SKIP_MESSAGE = `no Redis Cluster at ${TEST_REDIS_ADDRESS}: skipped. HINT: npm run cluster -- start (CI's .ci/run starts it)`;

/** True when a node at `address` answers CLUSTER INFO with cluster_state:ok (2 s at most). */
export async function clusterReachable(address = TEST_REDIS_ADDRESS): Promise<boolean> {
  const [host, port] = address.split(',')[0]!.split(':');
  const r = new Redis({ host, port: Number(port), lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    const info = String(await r.call('CLUSTER', 'INFO'));
    return /cluster_state:ok/.test(info);
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** Deletes every key of `table` (rows and meta) on every primary. */
export async function deleteTable(cluster: Cluster, table: string): Promise<void> {
  for (const node of cluster.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${table}:*`, 'COUNT', 1000);
      cursor = next;
      for (const k of keys) await node.del(k);
    } while (cursor !== '0');
  }
}

export const uniqueTable = (what: string): string => `t_${what}_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
