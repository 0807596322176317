// Central finite differences (float64) against analytic gradients, on a random sample of entries
// of every tensor: shared by the retrieval and ranking reference gradient checks.
import type { Rng } from '../../kernels/testing/rng.js';
import type { ParamSpec } from '../params.js';

export const FD_STEP = 1e-6;
/** Relative errors are measured against max(|analytic|, |fd|, FD_FLOOR). */
export const FD_FLOOR = 1e-4;

export interface FdReport {
  name: string;
  /** Worst relative error |analytic − fd| / max(|analytic|, |fd|, FD_FLOOR) over the sampled entries. */
  worst: number;
  /** Entries with a non-zero analytic gradient. */
  nonzero: number;
}

/** Samples `perTensor` entries with a non-zero gradient (the informative ones) plus one arbitrary
 *  entry of each tensor, perturbs it in place by ±FD_STEP and compares (up − down) / 2h with the
 *  analytic gradient. `params` is restored afterwards. */
export function finiteDifferenceCheck(
  specs: readonly ParamSpec[],
  params: Map<string, Float64Array>,
  grads: Map<string, Float64Array>,
  lossValue: () => number,
  rng: Rng,
  perTensor = 4,
): FdReport[] {
  const report: FdReport[] = [];
  for (const spec of specs) {
    const p = params.get(spec.name)!, g = grads.get(spec.name)!;
    if (g.length !== p.length) throw new Error(`${spec.name}: expected a gradient of ${p.length} values, got ${g.length}`);
    const nz = [...g.keys()].filter((i) => Math.abs(g[i]!) > 1e-9);
    const picks = new Set<number>();
    for (let s = 0; s < perTensor && nz.length; s++) picks.add(nz[rng.int(0, nz.length - 1)]!);
    picks.add(rng.int(0, p.length - 1));
    let worst = 0;
    for (const i of picks) {
      const orig = p[i]!;
      p[i] = orig + FD_STEP;
      const up = lossValue();
      p[i] = orig - FD_STEP;
      const down = lossValue();
      p[i] = orig;
      const fd = (up - down) / (2 * FD_STEP);
      worst = Math.max(worst, Math.abs(g[i]! - fd) / Math.max(Math.abs(g[i]!), Math.abs(fd), FD_FLOOR));
    }
    report.push({ name: spec.name, worst, nonzero: nz.length });
    if (process.env.GRADCHECK_VERBOSE) console.log(spec.name, worst.toExponential(2), nz.length);
  }
  return report;
}
