// What one f32 element costs to load or store in a storage buffer on this adapter, one lane per
// row, whole vec4s per access (the pattern of the per-distinct-row passes: row-wise Adam, the
// gathered loss's gather and item gradient): 205k distinct rows (ascending) of a 500k × 64 table
// ("table": rows spread over 128 MB) and a compact [205k, 64] buffer. On lavapipe a storage load
// at per-lane addresses is a gather and a store is one scalar store per element, so these costs
// times the elements a pass moves bound that pass. Prints the median CPU ms of 5 dispatches.
// Usage: tsx scripts/bench-memops.ts
import { createGpu, Params } from '../kernels/gpu/index.js';
import { Rng } from '../kernels/testing/rng.js';
const gpu = await createGpu();
const rows = 500_000, U = 205_000;
const rng = new Rng(1);
const tab = gpu.f32(rng.f32(rows * 64), [rows, 64], 'tab');
const comp = gpu.f32(rng.f32(U * 64), [U, 64], 'comp');
const pick = new Set<number>(); while (pick.size < U) pick.add(rng.int(0, rows - 1));
const ids = gpu.upload(Uint32Array.from(pick).sort(), [U], 'u32', 'ids');
const hdr = `struct P { n: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> t: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4f>;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let u = (wid.x + wid.y * nwg.x) * 64u + lid; if (u >= p.n) { return; }
  let r = ids[u] * 16u;
  if (u == 0xffffffffu) { c[0] = t[0]; }`;
const K: Record<string, string> = {
  empty: `}`,
  load_table: `var s = vec4f(0.0); for (var q = 0u; q < 16u; q++) { s += t[r + q]; } c[u * 16u] = s; }`,
  load_compact: `var s = vec4f(0.0); for (var q = 0u; q < 16u; q++) { s += c[u * 16u + q]; } c[u * 16u] = s; }`,
  store_compact: `let x = f32(u); for (var q = 0u; q < 16u; q++) { c[u * 16u + q] = vec4f(x); } }`,
  store_table: `let x = f32(u); for (var q = 0u; q < 16u; q++) { t[r + q] = vec4f(x); } }`,
  copy_table_to_compact: `for (var q = 0u; q < 16u; q++) { c[u * 16u + q] = t[r + q]; } }`,
};
const res: Record<string, number[]> = {};
for (let rep = 0; rep < 6; rep++) for (const [name, body] of Object.entries(K)) {
  const c0 = process.cpuUsage();
  const rec = gpu.recorder('x');
  rec.dispatch({ name: `ldst_${name}`, wgsl: `${hdr}\n  ${body}` }, [ids, tab, comp], Math.ceil(U / 64), new Params().u32(U).done());
  await rec.submit(); await gpu.sync();
  const cu = process.cpuUsage(c0);
  if (rep > 0) (res[name] ??= []).push((cu.user + cu.system) / 1000);
}
for (const [name, v] of Object.entries(res)) { v.sort((a, b) => a - b); console.log(name.padEnd(24), 'CPU ms median', v[2]!.toFixed(1), ' ns/element', (v[2]! * 1e6 / (U * 64)).toFixed(2)); }
gpu.dispose();
