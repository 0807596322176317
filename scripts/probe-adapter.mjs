// Exits 0 when a WebGPU adapter can be had (used by scripts/bootstrap.sh); prints what it found.
// Plain JS on purpose: it must run before anything is compiled.
import { create, globals } from 'webgpu';
Object.assign(globalThis, globals);
const gpuRef = create([]);
const adapter = await gpuRef.requestAdapter();
if (!adapter) { console.error('no WebGPU adapter'); process.exit(1); }
const info = adapter.info ?? {};
console.log(JSON.stringify({ vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, fallback: adapter.isFallbackAdapter ?? info.isFallbackAdapter }));
process.exit(0);
