// `npm run kernels`: finds the device, prints it, runs every kernel benchmark in quick mode
// (each one checks its kernel against the float64 reference before timing it) and prints the table.
import { createGpu } from '../kernels/gpu/index.js';
import { measureCeiling } from '../kernels/ceiling/ceiling.js';
import { formatTable, makeContext, type BenchRow } from '../kernels/testing/bench.js';
import { loadBenches } from './bench-registry.js';

export async function checkKernels(quick = true): Promise<BenchRow[]> {
  const gpu = await createGpu();
  try {
    console.log(`device: ${gpu.adapter.description}`);
    console.log(`  class ${gpu.deviceClass}, vendor ${gpu.adapter.vendor || '?'}, architecture ${gpu.adapter.architecture || '?'}`);
    console.log(`  features: ${gpu.adapter.features.join(', ')}`);
    const l = gpu.device.limits;
    console.log(`  limits: maxBufferSize ${l.maxBufferSize}, maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize}, workgroup storage ${l.maxComputeWorkgroupStorageSize}, invocations ${l.maxComputeInvocationsPerWorkgroup}`);
    const ctx = makeContext(gpu, quick, measureCeiling);
    const rows: BenchRow[] = [];
    for (const spec of await loadBenches()) {
      process.stdout.write(`verifying and timing ${spec.name} ... `);
      const r = await spec.run(ctx);
      console.log(`ok (${r.length} rows)`);
      rows.push(...r);
    }
    console.log('\n' + formatTable(rows));
    return rows;
  } finally {
    gpu.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  checkKernels(!process.argv.includes('--full')).catch((e: Error) => {
    console.error(`kernels: ${e.message}`);
    process.exit(1);
  });
}
