// Element-by-element comparison of a GPU result against a float64 reference.
// Passes when |gpu − ref| ≤ atol + rtol·|ref| for EVERY element; NaN/Inf never pass
// (unless the reference itself is the same non-finite value).

export interface CompareOptions {
  atol?: number;
  rtol?: number;
  /** How many mismatches to print. */
  show?: number;
  /** Shape used to print multi-dimensional indices. */
  shape?: readonly number[];
}

export interface CompareResult {
  ok: boolean;
  mismatches: number;
  maxAbsErr: number;
  maxRelErr: number;
  report: string;
}

export function compare(name: string, got: ArrayLike<number>, want: ArrayLike<number>, opts: CompareOptions = {}): CompareResult {
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-4;
  const show = opts.show ?? 8;
  const lines: string[] = [];
  if (got.length !== want.length) {
    return { ok: false, mismatches: Math.max(got.length, want.length), maxAbsErr: Infinity, maxRelErr: Infinity, report: `${name}: length ${got.length}, expected ${want.length}` };
  }
  let mismatches = 0;
  let maxAbsErr = 0;
  let maxRelErr = 0;
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    const err = Math.abs(g - w);
    const sameNonFinite = !Number.isFinite(w) && Object.is(g, w);
    const bad = sameNonFinite ? false : !Number.isFinite(g) || !(err <= atol + rtol * Math.abs(w));
    if (Number.isFinite(err)) {
      maxAbsErr = Math.max(maxAbsErr, err);
      maxRelErr = Math.max(maxRelErr, err / Math.max(Math.abs(w), 1e-30));
    } else if (!sameNonFinite) maxAbsErr = Infinity;
    if (bad) {
      if (mismatches < show) lines.push(`  [${index(i, opts.shape)}] got ${g}, expected ${w} (|err| ${err.toExponential(2)})`);
      mismatches++;
    }
  }
  const head = `${name}: ${got.length} elements, ${mismatches} mismatches, max |err| ${maxAbsErr.toExponential(2)} (atol ${atol}, rtol ${rtol})`;
  return { ok: mismatches === 0, mismatches, maxAbsErr, maxRelErr, report: [head, ...lines].join('\n') };
}

/** Throws with the report when the comparison fails (for tests: `expectClose(...)`). */
export function expectClose(name: string, got: ArrayLike<number>, want: ArrayLike<number>, opts: CompareOptions = {}): CompareResult {
  const r = compare(name, got, want, opts);
  if (!r.ok) throw new Error(r.report);
  return r;
}

function index(flat: number, shape?: readonly number[]): string {
  if (!shape || shape.length < 2) return String(flat);
  const idx: number[] = [];
  let rest = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(rest % shape[d]!);
    rest = Math.floor(rest / shape[d]!);
  }
  return idx.join(', ');
}
