// Kernel benchmarks. Stable interface:
//   npm run bench -- [names...] [--json] [--quick] [--list] [--out FILE]
// With no names (or `all`) every kernel's benchmark runs. The table goes to stdout; with --json,
// one JSON object per line instead (keys: kernel, variant, shape, ms, gflops, gbps, pct_ceiling,
// plus extras). --out FILE also writes the JSON lines to FILE.
import { writeFileSync } from 'node:fs';
import { createGpu } from '../kernels/gpu/index.js';
import { measureCeiling } from '../kernels/ceiling/ceiling.js';
import { formatTable, makeContext, type BenchRow } from '../kernels/testing/bench.js';
import { loadBenches } from './bench-registry.js';

const USAGE = `usage: npm run bench -- [names...|all] [--json] [--quick] [--list] [--out FILE]
  names    benchmarks to run (see --list); default: all
  --json   print one JSON object per row instead of a table
  --quick  tiny shapes, few repetitions (a smoke run)
  --out    also write the JSON lines to FILE
  env HSTU_ADAPTER=auto|cpu|gpu|<name> picks the adapter (README: Choosing the adapter)`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  // `npm run bench -- serving …`: the M-FALCON serving benchmark has its own options (serving/bench.ts).
  if (args[0] === 'serving') return (await import('../serving/bench.js')).runServingBench(args.slice(1));
  // `npm run bench -- catalogue …`: training and full-ranking eval as the catalogue grows (scripts/bench-catalogue.ts).
  if (args[0] === 'catalogue') return (await import('./bench-catalogue.js')).runCatalogueBench(args.slice(1));
  const json = args.includes('--json');
  const quick = args.includes('--quick');
  const outIdx = args.indexOf('--out');
  const outFile = outIdx >= 0 ? args[outIdx + 1] : undefined;
  if (outIdx >= 0 && !outFile) throw new Error('--out needs a file path');
  if (args.includes('--help') || args.includes('-h')) return void console.log(USAGE);
  const unknownFlag = args.find((a) => a.startsWith('--') && !['--json', '--quick', '--out', '--list'].includes(a));
  if (unknownFlag) throw new Error(`unknown option ${unknownFlag}\n${USAGE}`);
  const names = args.filter((a, i) => !a.startsWith('--') && !(outIdx >= 0 && i === outIdx + 1));

  const specs = await loadBenches();
  if (args.includes('--list')) {
    for (const s of specs) console.log(`${s.name.padEnd(18)} ${s.description}`);
    return;
  }
  const wanted = names.length === 0 || names.includes('all') ? specs : specs.filter((s) => names.includes(s.name));
  const missing = names.filter((n) => n !== 'all' && !specs.some((s) => s.name === n));
  if (missing.length) throw new Error(`no benchmark named ${missing.join(', ')}; available: ${specs.map((s) => s.name).join(', ')}`);

  const gpu = await createGpu();
  try {
    const log = (msg: string) => (json ? process.stderr : process.stdout).write(msg + '\n');
    log(`device: ${gpu.adapter.description} (${gpu.deviceClass}; features: ${gpu.adapter.features.join(', ')})`);
    const ctx = makeContext(gpu, quick, measureCeiling);
    const all: BenchRow[] = [];
    for (const spec of wanted) {
      log(`running ${spec.name}: ${spec.description}`);
      const t0 = performance.now();
      const rows = await spec.run(ctx);
      all.push(...rows);
      if (json) for (const r of rows) console.log(JSON.stringify({ ...r, device: gpu.adapter.description }));
      else console.log(formatTable(rows) + `\n(${spec.name}: ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    }
    if (outFile) writeFileSync(outFile, all.map((r) => JSON.stringify({ ...r, device: gpu.adapter.description })).join('\n') + '\n');
  } finally {
    gpu.dispose();
  }
}

main().catch((e: Error) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
