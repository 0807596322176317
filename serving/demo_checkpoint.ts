// Random-init checkpoints of the right shape, for the serving benchmark, the tests and a demo of
// the server without a trained model (the scores then mean nothing). Item raw ids are "1".."N".
//   npx tsx serving/demo_checkpoint.ts --task=ranking|retrieval --out=FILE [--config=JSON] [--numItems=1682] [--key=value ...]
import { fileURLToPath } from 'node:url';
import { applyOverrides, loadConfigFile, parseOverrides, type Config } from '../model/config.js';
import { initParams, paramLayout } from '../model/params.js';
import { initRankingParams, rankingParamLayout } from '../model/ranking_params.js';
import { saveCheckpoint, type CheckpointData } from '../trainer/checkpoint.js';

/** The ML-100K HSTU ranking shape (trainer/configs/ml-100k/hstu-ranking.json) and catalogue size. */
export const ML100K_CONFIG = fileURLToPath(new URL('../trainer/configs/ml-100k/hstu-ranking.json', import.meta.url));
export const ML100K_ITEMS = 1682;

export function randomCheckpoint(c: Config, numItems: number, seed = c.seed): CheckpointData {
  const params = c.task === 'ranking' ? initRankingParams(c, numItems, seed) : initParams(c, numItems, seed);
  const shapes = new Map((c.task === 'ranking' ? rankingParamLayout(c, numItems) : paramLayout(c, numItems)).map((s) => [s.name, s.shape]));
  return {
    task: c.task,
    config: { ...c },
    step: 0,
    epoch: 0,
    params: [...params].map(([name, data]) => ({ name, shape: shapes.get(name) ?? [data.length], dtype: 'f32' as const, data })),
    optimizerState: [],
    itemRawIds: ['', ...Array.from({ length: numItems }, (_, i) => String(i + 1))],
    trainerState: { note: 'random init (serving/demo_checkpoint.ts): not trained' },
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const take = (k: string) => {
    const i = args.findIndex((a) => a.startsWith(`--${k}=`));
    return i < 0 ? undefined : args.splice(i, 1)[0]!.slice(k.length + 3);
  };
  const out = take('out'), task = take('task') ?? 'ranking', configPath = take('config'), numItems = Number(take('numItems') ?? ML100K_ITEMS);
  if (!out) throw new Error('expected --out=FILE. HINT: npx tsx serving/demo_checkpoint.ts --task=ranking --out=runs/serving-demo/ranking.hstu');
  if (task !== 'ranking' && task !== 'retrieval') throw new Error(`expected --task=ranking or --task=retrieval, got ${task}`);
  if (!(Number.isInteger(numItems) && numItems >= 1)) throw new Error(`expected --numItems ≥ 1, got ${numItems}`);
  const base = configPath ? loadConfigFile(configPath) : loadConfigFile(ML100K_CONFIG);
  const c = applyOverrides(base, { ...parseOverrides(args), task });
  saveCheckpoint(out, randomCheckpoint(c, numItems));
  console.log(`wrote a random-init ${task} checkpoint (${c.model}, d=${c.dim}, ${c.numLayers} layers, maxLen ${c.maxLen}, ${numItems} items) to ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: Error) => {
    console.error(`demo_checkpoint: ${e.message}`);
    process.exit(1);
  });
}
