// Text rendering of a plan (the CLI's default output) and its JSON form (--json).
import { formatBytes } from './memory.js';
import type { Plan } from './plan.js';

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return String(s);
  if (s < 1e-3) return `${(s * 1e6).toFixed(1)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(2)} ms`;
  if (s < 120) return `${s.toFixed(2)} s`;
  if (s < 7200) return `${(s / 60).toFixed(1)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

const num = (x: number) => (Math.abs(x) >= 1e6 ? x.toExponential(3) : x.toLocaleString('en-US', { maximumFractionDigits: 2 }));
const usd = (x: number) => `$${x < 100 ? x.toFixed(2) : Math.round(x).toLocaleString('en-US')}`;

export function formatPlan(p: Plan): string {
  const i = p.input, c = i.config, t = p.tiers, s = p.step;
  const lines: string[] = [];
  const h = (x: string) => lines.push('', x);
  lines.push(`plan: ${i.name} — ${c.model} ${c.task}, ${c.numLayers} layers, d = ${c.dim}, H = ${c.numHeads}, N = ${c.maxLen}, B = ${c.batchSize}; ${num(i.items)} items, ${num(i.users)} users, ${num(i.events)} events; ${i.workers} × ${i.device.description}; store ${p.store}; compute ${i.computeDtype}`);
  h('parameters');
  lines.push(`  embedding      ${num(p.params.embedding)}  (${num(p.tableRows)} rows × d = ${c.dim})`);
  lines.push(`  non-embedding  ${num(p.params.nonEmbedding)}`);
  lines.push(`  total          ${num(p.params.total)}`);
  h(`bytes per row (d = ${c.dim}; training uses ${p.rowFormat})`);
  for (const r of p.bytesPerRow) lines.push(`  ${r.format.padEnd(13)} ${String(r.bytes).padStart(7)} B   ${r.description}  → table ${formatBytes(r.bytes * p.tableRows)}`);
  h('memory per tier');
  lines.push(`  device   ${formatBytes(t.device.perDevice)} per device: dense state ${formatBytes(t.device.dense)}, activations ${formatBytes(t.device.activations)}, loss ${formatBytes(t.device.lossScratch)}, ${num(t.device.rowsOnDevice)} rows ${p.store === 'device' ? '(its table shard)' : '(cache)'}; the whole table on devices needs ${t.device.devicesNeeded} × ${i.device.name}${t.device.fits ? '' : ' (more than --workers)'}`);
  lines.push(`  host     ${formatBytes(t.host.bytes)} of rows + optimizer state: ${t.host.machinesNeeded} machine(s) of ${formatBytes(i.hostMemoryBytes ?? 2e12)} RAM at 80% use`);
  lines.push(`  redis    ${t.redis.bytesPerRow} B per row (payload + ${t.redis.overheadPerRow} B: jemalloc classes, key, dict entry) → ${formatBytes(t.redis.bytes)}, ${formatBytes(t.redis.bytesWithReplicas)} with ${i.redisReplicas ?? 1} replica(s): ${t.redis.primaries} primaries, ${t.redis.nodes} nodes of ${formatBytes(i.redisNodeBytes ?? 256 * 1024 ** 3)}${p.store === 'redis' ? `; ${t.redis.primariesForThroughput} primaries keep up with the device` : ''}`);
  h('FLOPs (training, forward + backward)');
  const f = p.flops.perExample;
  lines.push(`  per example  ${f.total.toExponential(3)}  (dense ${f.dense.toExponential(2)}, attention ${f.attention.toExponential(2)}, loss ${f.loss.toExponential(2)}; ${p.flops.tokensPerExample.toFixed(0)} tokens)`);
  lines.push(`  per step     ${p.flops.perStep.toExponential(3)}  (${num(p.flops.tokensPerStep)} tokens per worker)`);
  h('activation memory per layer');
  lines.push(`  paper (bf16, fused): ${p.activation.paperPerLayerPerToken} B per token (${c.model === 'hstu' ? '14d' : '33d'} × 2 B); ours (f32): ${p.activation.oursPerLayerPerToken} B per token; per layer per step (${p.activation.model}): ${formatBytes(p.activation.perLayerPerStep)}`);
  h('step time (per worker)');
  for (const x of [...s.compute, s.memory, s.overhead, s.host, s.device, s.store, s.network]) lines.push(`  ${x.name.padEnd(20)} ${formatSeconds(x.seconds).padStart(10)}   ${x.detail}`);
  lines.push(`  step                 ${formatSeconds(s.seconds).padStart(10)}   BINDING: ${s.binding}`);
  lines.push(`  rows touched per step ${num(Math.round(s.uniqueRows))}, device-cache hit rate ${(100 * s.cacheHitRate).toFixed(1)}%`);
  h('time and cost');
  lines.push(`  epoch  ${num(p.epoch.steps)} steps of ${c.batchSize} × ${i.workers} examples (${num(p.epoch.examples)} per epoch): ${formatSeconds(p.epoch.seconds)}, ${usd(p.epoch.usd)}`);
  lines.push(`  run    ${i.epochs} epoch(s): ${formatSeconds(p.run.seconds)}, ${usd(p.run.usd)}`);
  if (p.notes.length) {
    h('notes');
    for (const n of p.notes) lines.push(`  - ${n}`);
  }
  return lines.join('\n');
}

/** The plan as plain JSON (the input's device profile inlined, numbers as numbers). */
export function planJson(p: Plan): unknown {
  const { input, ...rest } = p;
  const { config, device, ...inp } = input;
  return { input: { ...inp, device: device.name, config }, ...rest };
}
