// Export and import of an embedding table on a Redis Cluster (trainer/store/table_export.ts):
//   npx tsx scripts/table.ts export --redis 127.0.0.1:7100 --table item_emb --out DIR [--shard-rows 1048576]
//   npx tsx scripts/table.ts import --redis 127.0.0.1:7300 --table item_emb --in DIR [--buckets B]
// export: every existing row, as safetensors shards of sorted ids + index.json (run it while no
// worker updates the table). import: creates the table from index.json's facts (dim, storage,
// rows, seed, init) on the target cluster, whatever its number of primaries, and writes the rows.
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RedisEmbeddingStore } from '../trainer/store/redis_store.js';
import { exportRedisTable, importTable, readExportIndex } from '../trainer/store/table_export.js';

const USAGE = 'usage: npx tsx scripts/table.ts export --redis HOST:PORT --table NAME --out DIR [--shard-rows N]\n' +
  '       npx tsx scripts/table.ts import --redis HOST:PORT --table NAME --in DIR [--buckets B]';

export async function tableCommand(args: string[], log: (s: string) => void = console.log): Promise<void> {
  const [cmd, ...rest] = args;
  const flags = new Map<string, string>();
  for (let i = 0; i < rest.length; i += 2) {
    if (!rest[i]!.startsWith('--') || rest[i + 1] === undefined) throw new Error(`table: bad argument ${rest[i]}. HINT: ${USAGE}`);
    flags.set(rest[i]!.slice(2), rest[i + 1]!);
  }
  const need = (k: string) => {
    const v = flags.get(k);
    if (!v) throw new Error(`table: --${k} is required. HINT: ${USAGE}`);
    return v;
  };
  if (cmd === 'export') {
    const store = await RedisEmbeddingStore.openExisting(need('redis'), need('table'));
    try {
      const idx = await exportRedisTable(store, resolve(need('out')), { shardRows: Number(flags.get('shard-rows') ?? 1 << 20) });
      log(`exported ${idx.shards.reduce((a, s) => a + s.rows, 0)} rows of ${idx.table} (d ${idx.dim}, ${idx.storage}) in ${idx.shards.length} shards to ${need('out')}`);
    } finally {
      await store.close();
    }
  } else if (cmd === 'import') {
    const dir = resolve(need('in'));
    const idx = readExportIndex(dir);
    const store = await RedisEmbeddingStore.open({
      address: need('redis'), table: need('table'), rows: idx.rows, dim: idx.dim, storage: idx.storage, seed: idx.seed, initStd: idx.initStd,
      ...(flags.has('buckets') ? { buckets: Number(flags.get('buckets')) } : {}),
    });
    try {
      const { rowsWritten } = await importTable(store, dir);
      await store.flush();
      log(`imported ${rowsWritten} rows into ${need('table')} at ${need('redis')}`);
    } finally {
      await store.close();
    }
  } else throw new Error(`table: unknown command ${String(cmd)}. HINT: ${USAGE}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  tableCommand(process.argv.slice(2)).then(() => process.exit(0), (e: Error) => {
    console.error(e.message);
    process.exit(1);
  });
}
