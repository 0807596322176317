// A worker's heartbeat on a thread of its own (started by Rendezvous.join in rendezvous.ts). On
// the main thread a heartbeat is only as regular as the event loop: a long synchronous stretch (a
// GPU submit or a garbage collection on a loaded CPU) starved it past its time-to-live and the
// peers stopped a healthy run (2 shared cores at load 28, ML-100K, W = 2). This thread beats while
// the process lives and dies with it — a SIGKILL still ends every heartbeat at once — so peers
// detect a dead process, not a busy one. Plain JavaScript: a thread is started by Node itself,
// without the TypeScript loader of its parent (tsx, vitest).
// workerData: { nodes: {host, port}[], key, heartbeatMs, ttlMs }. Messages: 'ready' after the first
// beat, 'stopped' after 'stop'.
import { parentPort, workerData } from 'node:worker_threads';
import { Cluster } from 'ioredis';

const { nodes, key, heartbeatMs, ttlMs } = workerData;
const redis = new Cluster(nodes, { scaleReads: 'master', redisOptions: { connectTimeout: 2000 } });
redis.on('error', () => { /* the next beat retries; peers judge by the key's TTL */ });
const beat = () => redis.set(key, String(Date.now()), 'PX', ttlMs);
const timer = setInterval(() => { beat().catch(() => {}); }, heartbeatMs);
beat().then(() => parentPort.postMessage('ready'), (e) => parentPort.postMessage(`error: ${e.message}`));
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  redis.quit().catch(() => redis.disconnect()).finally(() => parentPort.postMessage('stopped'));
});
