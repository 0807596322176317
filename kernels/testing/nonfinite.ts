// Checks for NaN/Inf isolation tests: an injected non-finite input must make the outputs it feeds
// non-finite (never a finite number), and leave every other output BIT-identical to a clean run
// (so a masked entry was skipped, not multiplied by zero).

/** Element e of `got` must be non-finite where isBad(e) is 'bad', unchecked where 'any', else
 *  ('clean') equal to `clean[e]` bit for bit. */
export function expectIsolatedWhere(name: string, got: Float32Array, clean: Float32Array, isBad: (e: number) => boolean | 'any'): void {
  if (got.length !== clean.length) throw new Error(`${name}: length ${got.length}, clean run ${clean.length}`);
  const gb = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const cb = new Uint32Array(clean.buffer, clean.byteOffset, clean.length);
  const problems: string[] = [];
  for (let e = 0; e < got.length && problems.length < 8; e++) {
    const bad = isBad(e);
    if (bad === 'any') continue;
    if (bad) {
      if (Number.isFinite(got[e]!)) problems.push(`[${e}] = ${got[e]} is finite, but it is fed a non-finite input`);
    } else if (gb[e] !== cb[e]) problems.push(`[${e}] = ${got[e]}, clean run ${clean[e]} (not fed a non-finite input: must be bit-identical)`);
  }
  if (problems.length) throw new Error(`${name}: non-finite values not isolated:\n  ${problems.join('\n  ')}`);
}

/** Rows [r·width, (r+1)·width) of `got`: rows in `bad` must hold a non-finite element (every
 *  element when `allBad`), all other rows must equal `clean` bit for bit. Throws a report. */
export function expectIsolated(
  name: string,
  got: Float32Array,
  clean: Float32Array,
  bad: Iterable<number>,
  width: number,
  opts: { allBad?: boolean } = {},
): void {
  const badRows = new Set(bad);
  const rowOf = (e: number) => Math.floor(e / width);
  if (opts.allBad) return expectIsolatedWhere(name, got, clean, (e) => badRows.has(rowOf(e)));
  for (const r of badRows) {
    const row = got.subarray(r * width, (r + 1) * width);
    if (row.every((v) => Number.isFinite(v))) throw new Error(`${name}: row ${r} is all finite (${Array.from(row.slice(0, 4))}, …) but it is fed a non-finite input`);
  }
  expectIsolatedWhere(name, got, clean, (e) => (badRows.has(rowOf(e)) ? 'any' : false));
}

/** Throws unless every element is non-finite (NaN or ±Inf). */
export function expectAllNonFinite(name: string, got: ArrayLike<number>): void {
  for (let i = 0; i < got.length; i++) {
    if (Number.isFinite(got[i]!)) throw new Error(`${name}[${i}] = ${got[i]}: expected a non-finite value (a NaN/Inf input must not turn into a number)`);
  }
}
