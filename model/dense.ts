// Dense parameters on the GPU: weight, gradient and AdamW moments per named tensor.
import type { Gpu, Tensor } from '../kernels/gpu/index.js';
import { adamW, type AdamOptions } from '../kernels/optim/optim.js';
import type { Recorder } from '../kernels/gpu/index.js';

export interface DenseParam {
  name: string;
  shape: number[];
  w: Tensor<'f32'>;
  g: Tensor<'f32'>;
  m: Tensor<'f32'>;
  v: Tensor<'f32'>;
}

export class DenseParams {
  readonly byName = new Map<string, DenseParam>();

  constructor(private readonly gpu: Gpu) {}

  add(name: string, shape: number[], init: Float32Array): DenseParam {
    const n = shape.reduce((a, s) => a * s, 1);
    if (init.length !== n) throw new Error(`param ${name}: expected ${n} initial values for [${shape}], got ${init.length}`);
    const zeros = new Float32Array(n);
    const p: DenseParam = {
      name,
      shape,
      w: this.gpu.upload(init, shape, 'f32', `${name}:w`),
      g: this.gpu.upload(zeros, shape, 'f32', `${name}:g`),
      m: this.gpu.upload(zeros, shape, 'f32', `${name}:m`),
      v: this.gpu.upload(zeros, shape, 'f32', `${name}:v`),
    };
    this.byName.set(name, p);
    return p;
  }

  get(name: string): DenseParam {
    const p = this.byName.get(name);
    if (!p) throw new Error(`no dense parameter named ${name}`);
    return p;
  }

  /** One AdamW step on every dense parameter (gradients must be complete). */
  step(rec: Recorder, opts: AdamOptions): void {
    for (const p of this.byName.values()) adamW(rec, p.w, p.g, p.m, p.v, opts);
  }

  release(): void {
    for (const p of this.byName.values()) [p.w, p.g, p.m, p.v].forEach((t) => t.release());
    this.byName.clear();
  }
}

/** The initial values of `name`, checked to hold n values. */
export function initialValues(init: Map<string, Float32Array>, name: string, n: number): Float32Array {
  const v = init.get(name);
  if (!v) throw new Error(`initial parameters lack ${name}`);
  if (v.length !== n) throw new Error(`initial parameter ${name}: expected ${n} values, got ${v.length}`);
  return v;
}
