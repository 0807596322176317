// Stochastic Length's effect on the work of one training epoch, from the history lengths of a
// preprocessed log (no training): tokens and causal attention pairs (Σ n(n+1)/2 per sequence)
// with SL off and at each α, one epoch's draws (the same draws training makes for seed 42).
//   npx tsx scripts/stochastic-length-cost.ts --data FILE.parquet [--cache-dir DIR] [--n 1024,2048]
import { preprocessLog } from '../trainer/data/ooc/preprocess.js';
import { OocCache } from '../trainer/data/ooc/reader.js';
import { trainEvents } from '../trainer/data/ooc/stream_batches.js';
import { stochasticLengthSelect } from '../trainer/data/stochastic_length.js';

const args = process.argv.slice(2);
const get = (k: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const data = get('data');
if (!data) {
  console.error('usage: npx tsx scripts/stochastic-length-cost.ts --data FILE.parquet [--cache-dir DIR] [--n 1024,2048]');
  process.exit(1);
}
const { dir } = await preprocessLog(data, { cacheDir: get('cache-dir'), onInfo: (m) => console.error(m) });
const cache = new OocCache(dir);
const Ns = (get('n') ?? '1024,2048').split(',').map(Number);
console.log('| N | α | sequences subsampled | tokens / epoch | attention pairs / epoch | pairs vs off |');
console.log('|---|---|---|---|---|---|');
for (const N of Ns) {
  let offPairs = 0;
  for (const alpha of [0, 1.6, 1.8, 2.0]) {
    let tokens = 0, pairs = 0, sub = 0, seqs = 0;
    for (let k = 0; k < cache.count; k++) {
      const ev = trainEvents(cache.lengths[k]!);
      if (ev < 2) continue;
      seqs++;
      const sel = alpha > 0 ? stochasticLengthSelect(ev, N, alpha, 42, 0, cache.users[k]!) : null;
      const n = sel ? sel.length - 1 : Math.min(ev - 1, N);
      if (sel) sub++;
      tokens += n;
      pairs += (n * (n + 1)) / 2;
    }
    if (alpha === 0) offPairs = pairs;
    console.log(`| ${N} | ${alpha === 0 ? 'off' : alpha} | ${sub} / ${seqs} | ${tokens.toExponential(3)} | ${pairs.toExponential(3)} | ${(pairs / offPairs).toFixed(3)} |`);
  }
}
cache.close();
