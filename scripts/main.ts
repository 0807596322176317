// `npm start`: the main job. Finds the device and prints it, trains a small HSTU end to end on
// the built-in synthetic dataset (users with drifting interests over item clusters, where order
// and time carry signal), prints the test metrics next to a popularity baseline, and leaves a
// checkpoint in runs/quickstart/. `npm start -- --data <path> [--format <fmt>]` trains on a file.
import { createGpu } from '../kernels/gpu/index.js';
import { buildConfig, loadData, parseArgs } from '../trainer/cli.js';
import { train, type EvalRecord } from '../trainer/train.js';

const OUT = 'runs/quickstart';

async function main(): Promise<void> {
  const t0 = performance.now();
  const { flags, overrides } = parseArgs(process.argv.slice(2));
  if (!flags.has('config')) flags.set('config', 'trainer/configs/synthetic/hstu.json');
  const out = flags.get('out') ?? OUT;
  const gpu = await createGpu();
  try {
    const l = gpu.device.limits;
    console.log(`device: ${gpu.adapter.description} (${gpu.deviceClass === 'cpu' ? 'CPU adapter' : 'GPU'}; features ${gpu.adapter.features.join(', ')}; maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize})`);
    const c = buildConfig(flags, overrides);
    const data = await loadData(flags, c);
    const r = await train({ config: c, data, outDir: out, gpu });
    if (!r.test || !r.popularity) throw new Error('training finished without an evaluation (epochs < evalEvery?)');
    const f = (x: number) => x.toFixed(4);
    const row = (name: string, m: EvalRecord) => `${name.padEnd(11)} ${f(m['hr@10'])}  ${f(m['hr@50'])}  ${f(m['hr@200'])}  ${f(m['ndcg@10'])}  ${f(m['ndcg@200'])}  ${f(m.mrr)}`;
    console.log(`\ntest set (${r.test.count} users), model from the best validation epoch (${r.best!.epoch}):`);
    console.log(`${''.padEnd(11)} HR@10   HR@50   HR@200  NDCG@10 NDCG@200 MRR`);
    console.log(row(c.model.toUpperCase(), r.test));
    console.log(row('popularity', r.popularity.test));
    console.log(`\nHR@10 is ${(r.test['hr@10'] / r.popularity.test['hr@10']).toFixed(1)}× popularity; training ran at ${Math.round(r.trainTokensPerSec)} tokens/s`);
    console.log(`checkpoint: ${out}/best.hstu (evaluate it: npm run eval -- --checkpoint ${out}/best.hstu${flags.has('data') ? ` --data ${flags.get('data')}` : ''})`);
    console.log(`metrics:    ${out}/metrics.jsonl; total time ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    gpu.dispose();
  }
}

main().catch((e: Error) => {
  console.error(`error: ${e.message}`);
  process.exit(1);
});
