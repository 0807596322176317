// Float64 CPU reference of HSTU and SASRec (forward + tape gradients). See model.ts.
export { type RefBatch, type Layout, batchLayout, timeBucket, visible } from './batch.js';
export { HSTU_LN_EPS, hstuAttention, hstuAttentionRef, hstuAttentionVjp, hstuLayer, hstuLayerRef } from './hstu.js';
export { SASREC_LN_EPS, SASREC_LAYER_PARAMS, sasrecAttention, sasrecLayer, sasrecLayerRef } from './sasrec.js';
export { L2_EPS, sampledSoftmaxLoss } from './loss.js';
export { type ParamMap, type ReferenceResult, buildReference, referenceLoss, referenceLossValue } from './model.js';
export { Tensor, backward, constant, param } from './tape.js';
export { randomBatch, randomParams, tinyConfig } from './fixtures.js';
