// The whole float64 reference model: embeddings → layers → L2-normalised outputs → sampled
// softmax loss, with gradients of every parameter from the tape. Dropout is off.
//   x0 = item_emb[items]·sqrt(d) + pos_emb[p_i]   (p_i as in batch.ts: targets sit at position h;
//   config positionAnchor 'end': p_i = maxLen − n + i)
//   HSTU:   u = l2norm(layers(x0))
//   SASRec: u = l2norm(LN_final(layers(x0)))
// (similarity 'dot': u without the l2norm, and dot-product logits in the loss)
import type { Config } from '../config.js';
import { itemTableRows, paramLayout } from '../params.js';
import { type Layout, type RefBatch, batchLayout } from './batch.js';
import { hstuLayer, hstuLayerLeaves } from './hstu.js';
import { L2_EPS, sampledSoftmaxLoss } from './loss.js';
import * as op from './ops.js';
import { affineLayerNorm, sasrecLayer, sasrecLayerLeaves } from './sasrec.js';
import { type Tensor, backward, param } from './tape.js';

export type ParamMap = Map<string, ArrayLike<number>>;

export interface ReferenceResult {
  loss: number;
  /** d loss / d parameter, one entry per parameter of paramLayout (zeros where unused). */
  grads: Map<string, Float64Array>;
  /** u per token [L, d] (L2-normalised model output; as is with similarity 'dot'). */
  outputs: Float64Array;
  /** hidden[0] = x0 (embeddings), hidden[l+1] = output of layer l; each [L, d]. */
  hidden: Float64Array[];
}

/** Number of real items implied by the item table (rows − 1, row 0 = padding). */
function numItemsOf(c: Config, params: ParamMap): number {
  const t = params.get('item_emb');
  if (!t) throw new Error('reference: expected parameter item_emb, got none');
  if (t.length % c.dim !== 0) throw new Error(`reference: expected item_emb of rows × ${c.dim}, got ${t.length} values`);
  return t.length / c.dim - 1;
}

/** Check every parameter of the layout is present with the right size; returns the shapes. */
function checkParams(c: Config, params: ParamMap, numItems: number): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  for (const spec of paramLayout(c, numItems)) {
    const t = params.get(spec.name);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (!t) throw new Error(`reference: expected parameter ${spec.name} [${spec.shape}], got none`);
    if (t.length !== n) throw new Error(`reference: expected ${spec.name} of ${n} values [${spec.shape}], got ${t.length}`);
    shapes.set(spec.name, spec.shape);
  }
  if (itemTableRows(numItems) * c.dim !== params.get('item_emb')!.length) throw new Error('reference: item table size mismatch');
  return shapes;
}

/** The encoder's layers (HSTU or SASRec, per c.model) on x0, registering each layer's parameters
 *  in `leaves` as `layers.<l>.<name>`; returns every layer's output. Shared by the retrieval and
 *  ranking references. */
export function encoderLayers(c: Config, x0: Tensor, params: ParamMap, shapes: Map<string, number[]>, layout: Layout, timestamps: RefBatch['timestamps'], leaves: Map<string, Tensor>): Tensor[] {
  const outs: Tensor[] = [];
  let x = x0;
  for (let l = 0; l < c.numLayers; l++) {
    if (c.model === 'hstu') {
      const lp = hstuLayerLeaves(c, params, l, shapes);
      for (const [k, t] of Object.entries(lp)) leaves.set(`layers.${l}.${k}`, t as Tensor);
      x = hstuLayer(c, x, lp, layout, timestamps).y;
    } else {
      const lp = sasrecLayerLeaves(params, l, shapes);
      for (const [k, t] of Object.entries(lp)) leaves.set(`layers.${l}.${k}`, t);
      x = sasrecLayer(c, x, lp, layout);
    }
    outs.push(x);
  }
  return outs;
}

/** Build the graph; returns the loss tensor, the leaves by name, the output and the hidden states. */
export function buildReference(c: Config, params: ParamMap, batch: RefBatch) {
  const numItems = numItemsOf(c, params);
  const shapes = checkParams(c, params, numItems);
  const layout: Layout = batchLayout(c.lastQueryTime === 'next' ? batch : { ...batch, nextTimestamps: undefined }, c.maxLen, numItems, c.positionAnchor);
  if (c.model === 'hstu' && c.useRab && !batch.timestamps) throw new Error('reference: expected batch.timestamps for HSTU with useRab, got none');
  const leaves = new Map<string, Tensor>();
  const leaf = (name: string): Tensor => {
    const t = param(params.get(name)!, shapes.get(name)!);
    leaves.set(name, t);
    return t;
  };
  const itemEmb = leaf('item_emb');
  const x0 = op.add(op.scale(op.gatherRows(itemEmb, batch.items), Math.sqrt(c.dim)), op.gatherRows(leaf('pos_emb'), layout.positions));
  const hidden = [x0, ...encoderLayers(c, x0, params, shapes, layout, batch.timestamps, leaves)];
  let x = hidden[hidden.length - 1]!;
  if (c.model === 'sasrec') x = affineLayerNorm(x, leaf('final_ln_gamma'), leaf('final_ln_beta'));
  const u = c.similarity === 'dot' ? x : op.l2Normalize(x, L2_EPS);
  const loss = sampledSoftmaxLoss(u, itemEmb, batch, c.temperature, c.similarity);
  return { loss, leaves, u, hidden, layout, shapes };
}

/** Loss, parameter gradients and outputs of the float64 reference model. */
export function referenceLoss(c: Config, params: ParamMap, batch: RefBatch): ReferenceResult {
  const { loss, leaves, u, hidden, shapes } = buildReference(c, params, batch);
  backward(loss);
  const grads = new Map<string, Float64Array>();
  for (const [name, shape] of shapes) {
    const t = leaves.get(name);
    grads.set(name, t?.grad ?? new Float64Array(shape.reduce((a, b) => a * b, 1)));
  }
  return { loss: loss.data[0]! + 0, grads, outputs: u.data, hidden: hidden.map((h) => h.data) };
}

/** Loss only (no backward): what finite differences evaluate. */
export function referenceLossValue(c: Config, params: ParamMap, batch: RefBatch): number {
  return buildReference(c, params, batch).loss.data[0]!;
}
