// Scaling-law fits of a metric y against training compute C, by least squares in log space:
//   power law    y = a·C^b            ln y = ln a + b·ln C          (ordinary least squares)
//   saturating   y = a − b·C^(−c)     min Σ (ln y − ln(a − b·C^(−c)))²   (Levenberg–Marquardt)
//                (y = a + b·C^(−c) for metrics where lower is better, e.g. NE: a floor approached from above)
// with R² in log space (comparable between the two), and confidence intervals from the usual
// linearised covariance s²·(JᵀJ)⁻¹ with Student-t quantiles (n − p degrees of freedom). The
// saturating form is preferred only where it converges to a > 0, b > 0, c > 0 and its adjusted
// R² beats the power law's (it has one more parameter, so plain R² would always favour it).

export interface Interval {
  lo: number;
  hi: number;
}

export interface PowerLawFit {
  kind: 'power';
  a: number;
  b: number;
  r2: number;
  adj_r2: number;
  n: number;
  /** Confidence intervals at `level` (a's from ln a's, so it stays positive). */
  intervals: { a: Interval; b: Interval };
  level: number;
}

export interface SaturatingFit {
  kind: 'saturating';
  /** −1: y = a − b·C^(−c) (rising to a ceiling a); +1: y = a + b·C^(−c) (falling to a floor a). */
  sign: -1 | 1;
  a: number;
  b: number;
  c: number;
  r2: number;
  adj_r2: number;
  n: number;
  intervals: { a: Interval; b: Interval; c: Interval };
  level: number;
}

export type Fit = PowerLawFit | SaturatingFit;

export function predict(f: Fit, C: number): number {
  return f.kind === 'power' ? f.a * Math.pow(C, f.b) : f.a + f.sign * f.b * Math.pow(C, -f.c);
}

function checkData(C: readonly number[], y: readonly number[], minPoints: number): void {
  if (C.length !== y.length) throw new Error(`fit: expected as many compute values as metric values, got ${C.length} and ${y.length}`);
  if (C.length < minPoints) throw new Error(`fit: expected ≥ ${minPoints} points, got ${C.length}. HINT: run more sweep points`);
  for (let i = 0; i < C.length; i++) {
    if (!(C[i]! > 0) || !(y[i]! > 0) || !Number.isFinite(C[i]!) || !Number.isFinite(y[i]!)) {
      throw new Error(`fit: expected positive finite compute and metric (log space), got C = ${C[i]}, y = ${y[i]} at point ${i}. HINT: a run with metric 0 cannot be fitted in log space; train it longer or drop it`);
    }
  }
  if (new Set(C).size < 2) throw new Error('fit: every point has the same compute. HINT: vary model size or epochs');
}

const mean = (x: readonly number[]) => x.reduce((a, b) => a + b, 0) / x.length;

function r2Of(yLog: readonly number[], predLog: readonly number[], p: number): { r2: number; adj: number; ssr: number } {
  const m = mean(yLog);
  let ssr = 0, sst = 0;
  for (let i = 0; i < yLog.length; i++) {
    ssr += (yLog[i]! - predLog[i]!) ** 2;
    sst += (yLog[i]! - m) ** 2;
  }
  const n = yLog.length;
  const r2 = sst > 0 ? 1 - ssr / sst : ssr === 0 ? 1 : 0;
  const adj = n - p > 0 ? 1 - ((1 - r2) * (n - 1)) / (n - p) : NaN;
  return { r2, adj, ssr };
}

/** y = a·C^b by OLS on (ln C, ln y). */
export function fitPowerLaw(C: readonly number[], y: readonly number[], level = 0.95): PowerLawFit {
  checkData(C, y, 3);
  const x = C.map(Math.log), ly = y.map(Math.log);
  const n = x.length, xm = mean(x), ym = mean(ly);
  let sxx = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i]! - xm) ** 2;
    sxy += (x[i]! - xm) * (ly[i]! - ym);
  }
  const b = sxy / sxx;
  const lnA = ym - b * xm;
  const pred = x.map((xi) => lnA + b * xi);
  const { r2, adj, ssr } = r2Of(ly, pred, 2);
  const s2 = ssr / (n - 2);
  const t = studentTQuantile(0.5 + level / 2, n - 2);
  const seB = Math.sqrt(s2 / sxx);
  const seLnA = Math.sqrt(s2 * (1 / n + (xm * xm) / sxx));
  return {
    kind: 'power',
    a: Math.exp(lnA),
    b,
    r2,
    adj_r2: adj,
    n,
    intervals: { a: { lo: Math.exp(lnA - t * seLnA), hi: Math.exp(lnA + t * seLnA) }, b: { lo: b - t * seB, hi: b + t * seB } },
    level,
  };
}

/**
 * y = a − b·C^(−c). Internally x = ln(C/C0) with C0 the geometric mean of C and
 * y = a − β·e^(−c·x), β = b·C0^(−c), which keeps the problem well conditioned; several starts.
 * Returns undefined when no start converges to a valid fit (a, β, c > 0, every prediction > 0).
 */
export function fitSaturating(C: readonly number[], y: readonly number[], level = 0.95, decreasing = false): SaturatingFit | undefined {
  checkData(C, y, 4);
  const n = C.length;
  const sign: -1 | 1 = decreasing ? 1 : -1;
  const lnC0 = mean(C.map(Math.log));
  const x = C.map((c) => Math.log(c) - lnC0), ly = y.map(Math.log);
  const ymax = Math.max(...y), ymin = Math.min(...y);
  const model = (p: number[], xi: number) => p[0]! + sign * p[1]! * Math.exp(-p[2]! * xi);
  const residuals = (p: number[]) => x.map((xi, i) => {
    const m = model(p, xi);
    return m > 0 ? ly[i]! - Math.log(m) : NaN;
  });
  const jacobian = (p: number[]) => x.map((xi) => {
    const e = Math.exp(-p[2]! * xi), m = model(p, xi);
    // residual r = ly − ln m, so J = ∂r/∂p = −(∂m/∂p) / m.
    return [-1 / m, (-sign * e) / m, (sign * p[1]! * xi * e) / m];
  });
  let best: { p: number[]; ssr: number } | undefined;
  const starts = decreasing ? [0.98, 0.9, 0.7, 0.5, 0.25, 0.05].map((f) => ymin * f) : [1.02, 1.1, 1.3, 1.6, 2.5, 5].map((f) => ymax * f);
  for (const a0 of starts) {
    for (const c0 of [0.1, 0.3, 0.7, 1.5]) {
      // β from linear least squares of ±(y − a) on e^(−c x) at this (a, c).
      const z = x.map((xi) => Math.exp(-c0 * xi));
      const beta0 = z.reduce((s, zi, i) => s + zi * sign * (y[i]! - a0), 0) / z.reduce((s, zi) => s + zi * zi, 0);
      if (!(beta0 > 0)) continue;
      const r = levenbergMarquardt([a0, beta0, c0], residuals, jacobian);
      if (r && r.p.every((v) => v > 0) && (!best || r.ssr < best.ssr)) best = r;
    }
  }
  if (!best || n <= 3) return undefined;
  const [a, beta, c] = best.p as [number, number, number];
  const pred = x.map((xi) => Math.log(model(best!.p, xi)));
  const { r2, adj, ssr } = r2Of(ly, pred, 3);
  const cov = invert(normalMatrix(jacobian(best.p)));
  if (!cov) return undefined;
  const s2 = ssr / (n - 3);
  const t = studentTQuantile(0.5 + level / 2, n - 3);
  const se = (i: number, j = i) => s2 * cov[i]![j]!;
  // b = β·C0^c: ln b = ln β + c·ln C0; delta method for its standard error.
  const b = beta * Math.exp(c * lnC0);
  const varLnB = se(1) / (beta * beta) + lnC0 * lnC0 * se(2) + (2 * lnC0 * se(1, 2)) / beta;
  const ci = (v: number, s: number): Interval => ({ lo: v - t * s, hi: v + t * s });
  return {
    kind: 'saturating',
    sign,
    a,
    b,
    c,
    r2,
    adj_r2: adj,
    n,
    intervals: {
      a: ci(a, Math.sqrt(se(0))),
      b: { lo: b * Math.exp(-t * Math.sqrt(Math.max(varLnB, 0))), hi: b * Math.exp(t * Math.sqrt(Math.max(varLnB, 0))) },
      c: ci(c, Math.sqrt(se(2))),
    },
    level,
  };
}

/** Both fits and the preferred one (see the header); `decreasing` for lower-is-better metrics. */
export function fitScaling(C: readonly number[], y: readonly number[], level = 0.95, decreasing = false): { power: PowerLawFit; saturating?: SaturatingFit; best: 'power' | 'saturating' } {
  const power = fitPowerLaw(C, y, level);
  const saturating = C.length >= 5 ? fitSaturating(C, y, level, decreasing) : undefined;
  const best = saturating && saturating.adj_r2 > power.adj_r2 ? 'saturating' : 'power';
  return { power, saturating, best };
}

// --- numerics -------------------------------------------------------------------------------

function normalMatrix(J: number[][]): number[][] {
  const p = J[0]!.length;
  const A = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  for (const row of J) for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) A[i]![j]! += row[i]! * row[j]!;
  return A;
}

/** Gauss–Jordan inverse with partial pivoting; undefined when singular. */
export function invert(A: number[][]): number[][] | undefined {
  const n = A.length;
  const M = A.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(M[r]![col]!) > Math.abs(M[piv]![col]!)) piv = r;
    if (!(Math.abs(M[piv]![col]!) > 1e-300)) return undefined;
    [M[col], M[piv]] = [M[piv]!, M[col]!];
    const d = M[col]![col]!;
    for (let j = 0; j < 2 * n; j++) M[col]![j]! /= d;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = M[r]![col]!;
      if (f !== 0) for (let j = 0; j < 2 * n; j++) M[r]![j]! -= f * M[col]![j]!;
    }
  }
  return M.map((row) => row.slice(n));
}

function levenbergMarquardt(p0: number[], residuals: (p: number[]) => number[], jacobian: (p: number[]) => number[][]): { p: number[]; ssr: number } | undefined {
  const ssrOf = (r: number[]) => (r.some((v) => !Number.isFinite(v)) ? Infinity : r.reduce((s, v) => s + v * v, 0));
  let p = [...p0];
  let r = residuals(p);
  let ssr = ssrOf(r);
  if (!Number.isFinite(ssr)) return undefined;
  let lambda = 1e-3;
  for (let iter = 0; iter < 500; iter++) {
    const J = jacobian(p);
    const A = normalMatrix(J);
    const g = A.map((_, i) => J.reduce((s, row, k) => s + row[i]! * r[k]!, 0));
    let improved = false;
    while (lambda < 1e12) {
      const Ad = A.map((row, i) => row.map((v, j) => (i === j ? v * (1 + lambda) + 1e-12 : v)));
      const inv = invert(Ad);
      if (!inv) break;
      const step = inv.map((row) => -row.reduce((s, v, j) => s + v * g[j]!, 0));
      const q = p.map((v, i) => v + step[i]!);
      const rq = residuals(q);
      const sq = ssrOf(rq);
      if (sq < ssr) {
        const done = ssr - sq < 1e-14 * (1 + ssr);
        p = q;
        r = rq;
        ssr = sq;
        lambda = Math.max(lambda / 3, 1e-12);
        improved = true;
        if (done) return { p, ssr };
        break;
      }
      lambda *= 4;
    }
    if (!improved) break;
  }
  return { p, ssr };
}

/** ln Γ (Lanczos). */
function lnGamma(z: number): number {
  const g = [676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (z < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * z))) - lnGamma(1 - z);
  z -= 1;
  let x = 0.99999999999980993;
  for (let i = 0; i < g.length; i++) x += g[i]! / (z + i + 1);
  const t = z + g.length - 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(x);
}

/** Regularised incomplete beta I_x(a, b) (continued fraction, Numerical Recipes' betacf). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  let c = 1, d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < 1e-300) d = 1e-300;
  d = 1 / d;
  let f = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let num = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + num * d; if (Math.abs(d) < 1e-300) d = 1e-300; d = 1 / d;
    c = 1 + num / c; if (Math.abs(c) < 1e-300) c = 1e-300;
    f *= d * c;
    num = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + num * d; if (Math.abs(d) < 1e-300) d = 1e-300; d = 1 / d;
    c = 1 + num / c; if (Math.abs(c) < 1e-300) c = 1e-300;
    const del = d * c;
    f *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return (front * f) / a;
}

/** Student-t CDF with ν degrees of freedom. */
export function studentTCdf(t: number, nu: number): number {
  const tail = 0.5 * incompleteBeta(nu / (nu + t * t), nu / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** Student-t quantile (bisection on the CDF). */
export function studentTQuantile(p: number, nu: number): number {
  if (!(nu > 0)) return NaN;
  if (!(p > 0 && p < 1)) throw new Error(`studentTQuantile: expected 0 < p < 1, got ${p}`);
  if (p < 0.5) return -studentTQuantile(1 - p, nu);
  let lo = 0, hi = 1;
  while (studentTCdf(hi, nu) < p) hi *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, nu) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
