// Float64 reference for batched matmul, written from the math:
//   C[b,i,j] = (accumulate ? C0[b,i,j] : 0) + alpha · Σ_p opA[b,i,p] · opB[b',p,j] + bias[j]
// opA[b,i,p] = transA ? A[b,p,i] : A[b,i,p];  opB[b',p,j] = transB ? B[b',j,p] : B[b',p,j];
// b' = broadcastB ? 0 : b.

export interface MatmulRefOptions {
  m: number;
  n: number;
  k: number;
  batch?: number;
  transA?: boolean;
  transB?: boolean;
  broadcastB?: boolean;
  alpha?: number;
  bias?: ArrayLike<number>;
  /** Present = accumulate into this (the C before the call). */
  c0?: ArrayLike<number>;
}

export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, o: MatmulRefOptions): Float64Array {
  const { m, n, k } = o;
  const batch = o.batch ?? 1;
  const alpha = o.alpha ?? 1;
  const out = new Float64Array(batch * m * n);
  for (let bt = 0; bt < batch; bt++) {
    const bb = o.broadcastB ? 0 : bt;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = o.transA ? a[(bt * k + p) * m + i]! : a[(bt * m + i) * k + p]!;
          const bv = o.transB ? b[(bb * n + j) * k + p]! : b[(bb * k + p) * n + j]!;
          s += av * bv;
        }
        const idx = (bt * m + i) * n + j;
        out[idx] = (o.c0 ? o.c0[idx]! : 0) + alpha * s + (o.bias ? o.bias[j]! : 0);
      }
    }
  }
  return out;
}
