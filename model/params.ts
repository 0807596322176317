// Parameter layout (names, shapes, init) of HSTU and SASRec from a config. The GPU model and the
// float64 reference use exactly these names, shapes and values; matrices are row-major and act
// on row vectors (y = x · W), so a weight [in, out] has row stride `out`.
//
// Item ids: 1..numItems are real items, 0 = padding / "no target". The item table therefore has
// numItems + 1 rows; row 0 is initialised to zeros and is never read by the model (batches with
// item id 0 are rejected; negatives are drawn from 1..numItems), so its gradient is always zero
// and it stays zero under (row-wise) Adam(W).
import { type Config, resolvedDqk, resolvedDv } from './config.js';

export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  /** Normal(0, std) truncated to ±2 std (resampled). */
  | { kind: 'truncnormal'; std: number }
  /** Normal(0, std), untruncated. */
  | { kind: 'normal'; std: number }
  /** Uniform(±sqrt(6 / (fanIn + fanOut))). */
  | { kind: 'xavier'; fanIn: number; fanOut: number };

export interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
  /** Row 0 forced to zero after init (the item table's padding row). */
  zeroRow0?: boolean;
  /** True for embedding tables (row-wise Adam, sparse updates). */
  embedding?: boolean;
}

/** Rows of the item table for `numItems` real items (ids 1..numItems; row 0 = padding). */
export const itemTableRows = (numItems: number): number => numItems + 1;

/** Buckets of rab_time (bucket() in DESIGN §2 clamps to [0, 128]). */
export const RAB_TIME_BUCKETS = 129;

const xavier = (fanIn: number, fanOut: number): Init => ({ kind: 'xavier', fanIn, fanOut });
const zeros: Init = { kind: 'zeros' };
const ones: Init = { kind: 'ones' };

function embeddings(c: Config, numItems: number): ParamSpec[] {
  if (!Number.isInteger(numItems) || numItems < 1) throw new Error(`params: expected numItems ≥ 1, got ${numItems}`);
  return [
    { name: 'item_emb', shape: [itemTableRows(numItems), c.dim], init: { kind: 'truncnormal', std: 0.02 }, zeroRow0: true, embedding: true },
    { name: 'pos_emb', shape: [c.maxLen, c.dim], init: { kind: 'truncnormal', std: Math.sqrt(1 / c.dim) } },
  ];
}

/**
 * HSTU, per layer l:
 *   layers.l.w_uvqk [d, H·(2·dv + 2·dqk)]  columns U (H·dv) | V (H·dv) | Q (H·dqk) | K (H·dqk), each head-major
 *   layers.l.w_o    [H·dv, d]  (or [3·H·dv, d] with outputFromUOAndGate: rows U | O | U⊙LN(O))
 *   layers.l.b_o    [d]
 *   layers.l.rab_pos [2N−1], layers.l.rab_time [129]   (present even with useRab = false, then
 *     unused with zero gradient, so every HSTU config of one N has the same tensor list)
 */
function hstuLayout(c: Config): ParamSpec[] {
  const H = c.numHeads, dqk = resolvedDqk(c), dv = resolvedDv(c), d = c.dim;
  const uvqk = H * (2 * dv + 2 * dqk);
  const oIn = (c.outputFromUOAndGate ? 3 : 1) * H * dv;
  const out: ParamSpec[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `layers.${l}.`;
    // The research code draws w_uvqk from N(0, 0.02), not Xavier (≈ 4× larger at d = 50).
    const uvqkInit: Init = c.uvqkInitStd > 0 ? { kind: 'normal', std: c.uvqkInitStd } : xavier(d, uvqk);
    out.push({ name: p + 'w_uvqk', shape: [d, uvqk], init: uvqkInit });
    out.push({ name: p + 'w_o', shape: [oIn, d], init: xavier(oIn, d) });
    out.push({ name: p + 'b_o', shape: [d], init: zeros });
    out.push({ name: p + 'rab_pos', shape: [2 * c.maxLen - 1], init: { kind: 'truncnormal', std: 0.02 } });
    out.push({ name: p + 'rab_time', shape: [RAB_TIME_BUCKETS], init: { kind: 'truncnormal', std: 0.02 } });
  }
  return out;
}

/**
 * SASRec (Kang & McAuley 2018, as in its TF code and the PyTorch ports), per layer l:
 *   layers.l.ln1_gamma/ln1_beta [d], w_qkv [d, 3d] (columns Q | K | V, head-major), b_qkv [3d],
 *   w_attn_o [d, d], b_attn_o [d], ln2_gamma/ln2_beta [d], w1 [d, d], b1 [d], w2 [d, d], b2 [d];
 * then final_ln_gamma/final_ln_beta [d].
 */
function sasrecLayout(c: Config): ParamSpec[] {
  const d = c.dim;
  const out: ParamSpec[] = [];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `layers.${l}.`;
    out.push(
      { name: p + 'ln1_gamma', shape: [d], init: ones },
      { name: p + 'ln1_beta', shape: [d], init: zeros },
      { name: p + 'w_qkv', shape: [d, 3 * d], init: xavier(d, d) },
      { name: p + 'b_qkv', shape: [3 * d], init: zeros },
      { name: p + 'w_attn_o', shape: [d, d], init: xavier(d, d) },
      { name: p + 'b_attn_o', shape: [d], init: zeros },
      { name: p + 'ln2_gamma', shape: [d], init: ones },
      { name: p + 'ln2_beta', shape: [d], init: zeros },
      { name: p + 'w1', shape: [d, d], init: xavier(d, d) },
      { name: p + 'b1', shape: [d], init: zeros },
      { name: p + 'w2', shape: [d, d], init: xavier(d, d) },
      { name: p + 'b2', shape: [d], init: zeros },
    );
  }
  out.push({ name: 'final_ln_gamma', shape: [d], init: ones }, { name: 'final_ln_beta', shape: [d], init: zeros });
  return out;
}

/** The parameter list (in a fixed order) for `config` and `numItems` real items. */
export function paramLayout(c: Config, numItems: number): ParamSpec[] {
  const emb = embeddings(c, numItems);
  return [...emb, ...(c.model === 'hstu' ? hstuLayout(c) : sasrecLayout(c))];
}

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** FNV-1a of a string, mixed with the seed: each tensor has its own stream (adding one shifts no other). */
function streamSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h || 1;
}

/** mulberry32 uniform in [0, 1). */
function uniformStream(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A tensor's init as a stream: each call fills `out` with the next out.length values, so a table
 *  too large for one array (the host embedding store) is initialised chunk by chunk with exactly
 *  the values one whole-tensor fill gives. */
export function initStream(spec: ParamSpec, seed: number): (out: Float32Array) => void {
  const u = uniformStream(streamSeed(seed, spec.name));
  const init = spec.init;
  let done = 0;
  const row0 = spec.zeroRow0 ? (spec.shape[1] ?? 1) : 0;
  return (a: Float32Array) => {
    switch (init.kind) {
      case 'zeros':
        a.fill(0);
        break;
      case 'ones':
        a.fill(1);
        break;
      case 'xavier': {
        const r = Math.sqrt(6 / (init.fanIn + init.fanOut));
        for (let i = 0; i < a.length; i++) a[i] = (2 * u() - 1) * r;
        break;
      }
      case 'truncnormal':
      case 'normal': {
        const limit = init.kind === 'truncnormal' ? 2 : Infinity;
        for (let i = 0; i < a.length; i++) {
          let z: number;
          do z = Math.sqrt(-2 * Math.log(Math.max(u(), 1e-300))) * Math.cos(2 * Math.PI * u());
          while (Math.abs(z) > limit);
          a[i] = z * init.std;
        }
        break;
      }
    }
    if (done < row0) a.fill(0, 0, Math.min(a.length, row0 - done));
    done += a.length;
  };
}

function fill(spec: ParamSpec, seed: number): Float32Array {
  const a = new Float32Array(numel(spec.shape));
  initStream(spec, seed)(a);
  return a;
}

/** Seeded initial values of arbitrary specs (each tensor its own stream of `seed` and its name). */
export function initSpecs(specs: readonly ParamSpec[], seed: number): Map<string, Float32Array> {
  return new Map(specs.map((s) => [s.name, fill(s, seed)]));
}

/** Seeded initial values for every tensor of paramLayout(config, numItems). */
export function initParams(c: Config, numItems: number, seed: number = c.seed): Map<string, Float32Array> {
  return new Map(paramLayout(c, numItems).map((s) => [s.name, fill(s, seed)]));
}
