// The trainer's side of `embeddingStore: 'redis'` (issue 19, one worker): the item table lives on
// a Redis Cluster (redis_store.ts) behind the same device cache as the host store (host_tier.ts).
// The cache is authoritative for the rows it holds: the device's row-wise Adam updates them in
// slots, and they go back to Redis (the store's `write`, whole rows with their Adam state)
//   - when a dirty row is evicted to make room,
//   - every `storeWriteBackSteps` steps (all dirty rows; 0 = never on a schedule),
//   - before every checkpoint, streamed evaluation scan and at the end of training.
// Staleness bound (what Redis may lack at any moment): the updates of at most the last
// storeWriteBackSteps steps to rows still resident in the cache (with 0: since the last
// checkpoint / evaluation). With one worker nothing else reads the table, so training sees no
// stale row; a crash loses at most those updates in Redis, and --resume restores the rows from
// the checkpoint's rows file anyway. Durability against a primary's loss is the store's flush()
// bound (redis_store.ts), and writeBack() ends with flush().
//
// Rows are created on first touch with the per-row seeded init (row_codec.ts initRow), not the
// device table's stream init: a host store with itemRowInit 'per-row' starts from the same rows,
// so the two stores train to identical bits (redis_tier.test.ts).
//
// Each run works on its own table `<redisTable>_<pid>_<random>` and drops it when it ends: the
// checkpoint's rows file (item_checkpoint.ts) is the durable copy of the rows.
import { randomBytes } from 'node:crypto';
import type { Config } from '../../model/config.js';
import { paramLayout } from '../../model/params.js';
import { autoCacheRows, checkCacheRows } from './device_cache.js';
import { createHostItemStore } from './host_tier.js';
import { HostEmbeddingStore } from './host_store.js';
import { RedisEmbeddingStore } from './redis_store.js';
import { initRow } from './row_codec.js';
import type { EmbeddingStore } from './store.js';

export interface ItemStoreSetup {
  store: EmbeddingStore;
  cacheRows: number;
  /** Closes the store (redis: drops the run's table first). */
  close(): Promise<void>;
}

/** The item table's init std (model/params.ts item_emb). */
function itemInitStd(c: Config, tableRows: number): number {
  const spec = paramLayout(c, tableRows - 1).find((s) => s.name === 'item_emb')!;
  const init = spec.init as { kind: string; std?: number };
  if (init.kind !== 'truncnormal' || init.std === undefined) throw new Error(`item table init '${init.kind}' has no per-row equivalent. HINT: internal: redis_tier.ts assumes a truncated normal`);
  return init.std;
}

/** A host store whose rows start as initRow(seed, id): the redis store's init. */
function perRowHostStore(c: Config, tableRows: number, restoring: boolean): HostEmbeddingStore {
  const std = itemInitStd(c, tableRows);
  const d = c.dim;
  return new HostEmbeddingStore(tableRows, d, {
    storage: c.embeddingBf16 ? 'bf16' : 'f32',
    init: restoring ? undefined : (w, r0) => {
      for (let i = 0; i < w.length / d; i++) initRow(c.seed, r0 + i, d, std, w, i * d);
    },
  });
}

/** A fresh per-run table name (letters, digits, _ . - only, as redis_store requires). */
export function runTableName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** The item store for embeddingStore 'host' or 'redis' and its device-cache size. */
export async function createItemStore(c: Config, tableRows: number, o: { restoring?: boolean; table?: string; drop?: boolean } = {}): Promise<ItemStoreSetup> {
  const restoring = !!o.restoring;
  if (c.embeddingStore === 'host') {
    if (c.itemRowInit === 'per-row') {
      const cacheRows = autoCacheRows(c.deviceCacheRows, tableRows);
      checkCacheRows(cacheRows, tableRows);
      const store = perRowHostStore(c, tableRows, restoring);
      return { store, cacheRows, close: () => store.close() };
    }
    const h = createHostItemStore(c, tableRows, { restoring });
    return { ...h, close: () => h.store.close() };
  }
  if (c.embeddingStore !== 'redis') throw new Error(`createItemStore: embeddingStore '${c.embeddingStore}' has no store. HINT: internal: the device table needs none`);
  const cacheRows = autoCacheRows(c.deviceCacheRows, tableRows);
  checkCacheRows(cacheRows, tableRows);
  const store = await RedisEmbeddingStore.open({
    address: c.redisAddress,
    table: o.table ?? runTableName(c.redisTable),
    rows: tableRows,
    dim: c.dim,
    storage: c.embeddingBf16 ? 'bf16' : 'f32',
    seed: c.seed,
    initStd: itemInitStd(c, tableRows),
    rowsPerStep: Math.min(tableRows, Math.max(64, c.batchSize * c.maxLen)),
    // --workers with an asynchronous embeddingSync: the rank's own row updates go this way.
    ...(c.embeddingSync !== 'sync' ? { mode: c.embeddingSync } : {}),
  });
  return {
    store,
    cacheRows,
    async close() {
      try {
        if (o.drop ?? true) await dropTable(store);
      } finally {
        await store.close();
      }
    },
  };
}

/** Deletes every key of the store's table on every primary (UNLINK in batches). */
export async function dropTable(store: RedisEmbeddingStore): Promise<void> {
  for (const node of store.cluster.nodes('master')) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${store.table}:*`, 'COUNT', 1000);
      cursor = next;
      // One UNLINK per hash tag: a multi-key command must stay within one slot.
      const bySlot = new Map<string, string[]>();
      for (const k of keys) {
        const tag = /\{([^}]*)\}/.exec(k)?.[1] ?? k;
        bySlot.set(tag, [...(bySlot.get(tag) ?? []), k]);
      }
      for (const group of bySlot.values()) await node.unlink(...group);
    } while (cursor !== '0');
  }
}
