// A tiny reverse-mode autodiff over Float64Array tensors (define-by-run). Each op (ops.ts) makes
// a Tensor holding its value, its parents and a closure that adds its parents' gradients given
// its own; backward() runs the closures in reverse topological order. Float64 throughout: this
// is the reference the GPU model and the finite-difference checks compare against.

export class Tensor {
  /** Gradient of the loss w.r.t. this tensor, allocated on first accumulation. */
  grad: Float64Array | null = null;
  /** True when some leaf below this tensor requires a gradient. */
  readonly needsGrad: boolean;

  constructor(
    readonly data: Float64Array,
    readonly shape: readonly number[],
    readonly parents: readonly Tensor[] = [],
    /** Adds this op's contribution to its parents' grads, given this tensor's grad. */
    readonly backwardFn: ((g: Float64Array) => void) | null = null,
    requiresGrad = false,
  ) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`tensor: expected ${n} values for shape [${shape}], got ${data.length}`);
    this.needsGrad = requiresGrad || parents.some((p) => p.needsGrad);
  }

  get size(): number {
    return this.data.length;
  }

  /** The gradient buffer (zeros on first use). */
  gradBuf(): Float64Array {
    return (this.grad ??= new Float64Array(this.data.length));
  }
}

/** A leaf that collects a gradient (a parameter or an input of a VJP). */
export const param = (data: ArrayLike<number>, shape: readonly number[]): Tensor =>
  new Tensor(Float64Array.from(data), shape, [], null, true);

/** A leaf without gradient. */
export const constant = (data: ArrayLike<number>, shape: readonly number[]): Tensor =>
  new Tensor(Float64Array.from(data), shape);

/** Backpropagate from `root`; its gradient is `seed` (default: ones, i.e. d root / d root for a scalar). */
export function backward(root: Tensor, seed?: ArrayLike<number>): void {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative post-order DFS (graphs can be deep: one node per sequence, head and op).
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    if (i < t.parents.length) {
      top[1]++;
      const p = t.parents[i]!;
      if (p.needsGrad && !seen.has(p)) {
        seen.add(p);
        stack.push([p, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }
  const g = root.gradBuf();
  if (seed) {
    if (seed.length !== g.length) throw new Error(`backward: expected a seed of ${g.length} values, got ${seed.length}`);
    for (let i = 0; i < g.length; i++) g[i]! += seed[i]!;
  } else g.fill(1);
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k]!;
    if (t.backwardFn && t.grad) t.backwardFn(t.grad);
  }
}
