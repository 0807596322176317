// Memory formulas of the planner: bytes per embedding row by optimizer and dtype (DESIGN §7),
// Redis's cost per row (jemalloc size classes, key, dict entry, replicas), activation memory per
// layer (the paper's 14d vs 33d and this implementation's own count), and the model's device
// footprint. Pure arithmetic, no I/O; every number here is derived, none is measured.

/** How an embedding table is stored and optimized. */
export type RowFormat = 'adam-f32' | 'rowwise-f32' | 'rowwise-bf16' | 'weights-f32' | 'weights-bf16';

export const ROW_FORMATS: Record<RowFormat, string> = {
  'adam-f32': 'plain Adam, f32 w, m, v (per element)',
  'rowwise-f32': 'row-wise Adam, f32 w and m, one f32 v per row (ours)',
  'rowwise-bf16': 'row-wise Adam, bf16 w and m, one f32 v per row',
  'weights-f32': 'weights only, f32 (serving)',
  'weights-bf16': 'weights only, bf16 (serving)',
};

/** Bytes of one row of d values with its optimizer state (DESIGN §7: 12d, 8d + 4, 4d + 4). */
export function rowBytes(format: RowFormat, d: number): number {
  if (!Number.isInteger(d) || d < 1) throw new Error(`plan: expected an embedding dim ≥ 1, got ${d}`);
  switch (format) {
    case 'adam-f32':
      return 12 * d;
    case 'rowwise-f32':
      return 8 * d + 4;
    case 'rowwise-bf16':
      return 4 * d + 4;
    case 'weights-f32':
      return 4 * d;
    case 'weights-bf16':
      return 2 * d;
  }
}

/** The row format a model config trains with (config keys embeddingOptimizer, embeddingBf16). */
export function trainingRowFormat(c: { embeddingOptimizer: 'rowwise-adam' | 'adam'; embeddingBf16: boolean }): RowFormat {
  if (c.embeddingOptimizer === 'adam') {
    if (c.embeddingBf16) throw new Error('plan: plain Adam with bf16 tables is not a format this project trains. HINT: use --embeddingOptimizer=rowwise-adam with bf16, or f32 with adam.');
    return 'adam-f32';
  }
  return c.embeddingBf16 ? 'rowwise-bf16' : 'rowwise-f32';
}

/**
 * jemalloc's size class of an allocation (Redis's allocator; jemalloc 5 defaults, 16-byte
 * quantum): 8, 16, then multiples of 16 up to 128, then four classes per doubling (160, 192, 224,
 * 256, 320, …) up to 14 KiB; large allocations round up to pages (4 KiB).
 */
export function jemallocClass(bytes: number): number {
  if (!(bytes >= 0)) throw new Error(`plan: expected a size ≥ 0, got ${bytes}`);
  if (bytes <= 8) return 8;
  if (bytes <= 128) return Math.ceil(bytes / 16) * 16;
  if (bytes <= 14336) {
    const group = 2 ** Math.floor(Math.log2(bytes - 1)); // the doubling below
    const step = group / 4;
    return group + Math.ceil((bytes - group) / step) * step;
  }
  return Math.ceil(bytes / 4096) * 4096;
}

/** Redis's row value: [u32 version][row] (DESIGN §7's layout: version, v, w, m). */
export const REDIS_VERSION_BYTES = 4;

/**
 * Bytes Redis spends per row: the value (sds header + payload + NUL, jemalloc class), the key
 * (`<table>:{<bucket>}:<id>`, ≈ keyBytes, as an sds), the dict entry (24 B → class 32) and its
 * bucket pointer (8 B at load factor ≈ 1), plus the Redis object header (16 B) of the value.
 * DESIGN §7 measured payload + 25–80 B at d = 64; this formula is the allocator's view.
 */
export function redisBytesPerRow(payload: number, keyBytes = 20): { total: number; overhead: number } {
  const sds = (n: number) => n + (n < 256 ? 3 : n < 65536 ? 5 : 9) + 1;
  const value = jemallocClass(sds(payload));
  const key = jemallocClass(sds(keyBytes));
  const total = value + key + jemallocClass(24) + 8 + jemallocClass(16);
  return { total, overhead: total - payload };
}

/** Activation memory of one layer per token, in bytes. */
export interface ActivationBytes {
  /** The paper's count for HSTU (14d, bf16: 2 bytes per value) or a Transformer (33d). */
  paperPerToken: number;
  /** This implementation: f32 tensors kept from forward to backward, per token. */
  retainedPerToken: number;
  /** This implementation: backward's f32 gradient tensors, live until the step ends, per token. */
  backwardPerToken: number;
}

export interface LayerShape {
  model: 'hstu' | 'sasrec';
  dim: number;
  numHeads: number;
  dqk: number;
  dv: number;
}

/**
 * Per-token activation bytes of one layer. The paper (§3.3): HSTU keeps 14d values per layer in
 * bf16 (vs 33d for a Transformer with a 4d FFN), with its fused kernels. This implementation
 * (model/hstu.ts) keeps, in f32: n (d), h = n·W_uvqk (w = H·(2dv + 2dqk)), u, v, q, k (w), o and
 * z (2·H·dv), y (d) and 4 layer-norm statistics; backward adds dz, dO, dU, dV (4·H·dv), dq, dk
 * (2·H·dqk), dh (w), dn, dx_ln, dx (3d), all released when the step ends.
 */
export function activationBytes(s: LayerShape): ActivationBytes {
  const d = s.dim;
  const w = s.numHeads * (2 * s.dv + 2 * s.dqk);
  const hv = s.numHeads * s.dv, hqk = s.numHeads * s.dqk;
  if (s.model === 'sasrec') {
    // Q, K, V, O, two LN outputs, FFN hidden and output, residuals: ≈ 12d kept, ≈ 12d of gradients.
    return { paperPerToken: 2 * 33 * d, retainedPerToken: 4 * (12 * d + 4), backwardPerToken: 4 * 12 * d };
  }
  return {
    paperPerToken: 2 * 14 * d,
    retainedPerToken: 4 * (d + w + w + 2 * hv + d + 4),
    backwardPerToken: 4 * (4 * hv + 2 * hqk + w + 3 * d),
  };
}

/** Bytes of dense (non-embedding) parameters on a device: w, m, v and g, f32 each. */
export const denseBytes = (nonEmbeddingParams: number): number => 16 * nonEmbeddingParams;

/** Expected distinct rows among `draws` uniform draws from `rows` rows. */
export function expectedUniqueRows(draws: number, rows: number): number {
  if (rows <= 0) return 0;
  return rows * -Math.expm1(draws * Math.log1p(-1 / Math.max(rows, 1 + 1e-12)));
}

export const GiB = 1024 ** 3;
export const TB = 1e12;

/** "61.4 TB", "3.2 GiB"-style figures (decimal units for totals, as the paper writes them). */
export function formatBytes(b: number): string {
  const units: [number, string][] = [[1e15, 'PB'], [1e12, 'TB'], [1e9, 'GB'], [1e6, 'MB'], [1e3, 'kB']];
  for (const [u, name] of units) if (Math.abs(b) >= u) return `${(b / u).toFixed(b / u >= 100 ? 0 : 1)} ${name}`;
  return `${Math.round(b)} B`;
}
