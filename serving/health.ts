// Model health for GET /healthz: a server must not report "ok" while it serves a model whose
// parameters are NaN or ±Inf (issue 16: such a checkpoint was served with HTTP 200 and a constant
// score for every item). Checked once, when the server is built: one GPU sum-of-squares probe per
// parameter tensor (trainer/divergence.ts SquaredNorms; NaN/Inf anywhere make the sum non-finite),
// a few dispatches and one small readback. Parameters do not change while serving.
import type { EmbeddingTable } from '../kernels/embedding/embedding.js';
import type { Gpu, Tensor } from '../kernels/gpu/index.js';
import type { RankingModel } from '../model/ranking.js';
import { SquaredNorms, type Probe } from '../trainer/divergence.js';
import type { Retriever } from './retrieval.js';

export interface ModelHealth {
  ok: boolean;
  /** Why not ok: names the model and the first non-finite tensor. */
  reason?: string;
}

/** The name of the first non-finite parameter tensor of one model, or undefined when all are finite. */
export async function firstNonFiniteParameter(gpu: Gpu, dense: Iterable<{ name: string; w: Tensor<'f32'> }>, table: EmbeddingTable): Promise<string | undefined> {
  const probes: Probe[] = [...dense].map((p) => ({ name: p.name, t: p.w }));
  if (table.storage === 'f32') table.shards.forEach((s, k) => probes.push({ name: table.shards.length > 1 ? `item_emb (shard ${k})` : 'item_emb', t: s.w, n: s.rows * table.dim }));
  else {
    const w = await table.read('w'); // bf16 rows widened on the host (a probe needs f32 words)
    if (!w.every(Number.isFinite)) return 'item_emb';
  }
  const rec = gpu.recorder('health');
  const sq = new SquaredNorms(gpu, rec, probes, 'health:sumsq');
  await rec.submit();
  for (const [name, s] of await sq.read(gpu)) if (!Number.isFinite(s)) return name;
  return undefined;
}

/** Health of everything a server loaded (ranking and/or retrieval model). */
export async function servingHealth(models: { ranking?: { model: RankingModel }; retrieval?: Retriever }): Promise<ModelHealth> {
  const problems: string[] = [];
  const r = models.ranking?.model;
  if (r) {
    const bad = await firstNonFiniteParameter(r.gpu, r.denseParams(), r.encoder.items);
    if (bad) problems.push(`the ranking model's parameter '${bad}' holds NaN or ±Inf`);
  }
  const q = models.retrieval;
  if (q) {
    const bad = await firstNonFiniteParameter(q.gpu, q.encoder.dense.byName.values(), q.encoder.items);
    if (bad) problems.push(`the retrieval model's parameter '${bad}' holds NaN or ±Inf`);
  }
  if (!problems.length) return { ok: true };
  return { ok: false, reason: `${problems.join('; ')}: its scores are meaningless. HINT: serve a checkpoint from a run that did not diverge (training refuses to save non-finite ones).` };
}
