// Finds every kernel benchmark: kernels/<kernel>/<kernel>.bench.ts exporting `bench: BenchSpec`.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BenchSpec } from '../kernels/testing/bench.js';

const KERNELS_DIR = fileURLToPath(new URL('../kernels/', import.meta.url));

export async function loadBenches(): Promise<BenchSpec[]> {
  const specs: BenchSpec[] = [];
  for (const dir of readdirSync(KERNELS_DIR).sort()) {
    const dirPath = join(KERNELS_DIR, dir);
    if (!existsSync(dirPath)) continue;
    for (const file of readdirSync(dirPath).filter((f) => f.endsWith('.bench.ts')).sort()) {
      const mod = (await import(pathToFileURL(join(dirPath, file)).href)) as { bench?: BenchSpec };
      if (!mod.bench) throw new Error(`${dir}/${file} does not export \`bench\``);
      specs.push(mod.bench);
    }
  }
  // The ceiling first: every other row reports a percentage of it.
  return specs.sort((a, b) => Number(b.name === 'ceiling') - Number(a.name === 'ceiling'));
}
