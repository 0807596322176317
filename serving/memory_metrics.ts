// Memory gauges for GET /metrics (issue 16 item 7): what the user-encoding cache holds (GPU
// buffers and host copies, the same bytes its budget counts), the shared GPU buffer pool (working
// buffers of the passes; it only grows), and the process's resident set, so the total can be
// watched against the machine's budget. See README "Reliability" for the measured relation.
import { Gauge, type Registry } from 'prom-client';
import type { CacheStats } from './cache.js';

export function registerMemoryMetrics(registry: Registry, cacheStats: () => CacheStats | null, poolBytes: () => number): void {
  const registers = [registry];
  const gauge = (name: string, help: string, value: () => number) =>
    new Gauge({
      name, help, registers,
      collect() {
        this.set(value());
      },
    });
  gauge('hstu_cache_gpu_bytes', 'GPU buffer bytes held by cached user encodings (exact buffer sizes).', () => cacheStats()?.gpuBytes ?? 0);
  gauge('hstu_cache_host_bytes', 'Host bytes held by cached user encodings (history copies and estimated JS objects).', () => cacheStats()?.hostBytes ?? 0);
  gauge('hstu_gpu_pool_bytes', 'GPU buffers allocated by the shared buffer pool (pass working memory; never shrinks).', poolBytes);
  gauge('hstu_process_resident_bytes', 'Resident set size of the server process (includes the driver\'s host memory on CPU backends such as lavapipe).', () => process.memoryUsage.rss());
}
