// Checks for NaN/Inf isolation tests: an injected non-finite input must make the outputs it feeds
// non-finite (never a finite number), and leave every other output BIT-identical to a clean run
// (so a masked entry was skipped, not multiplied by zero).

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
  if (got.length !== clean.length) throw new Error(`${name}: length ${got.length}, clean run ${clean.length}`);
  const badRows = new Set(bad);
  const gb = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const cb = new Uint32Array(clean.buffer, clean.byteOffset, clean.length);
  const problems: string[] = [];
  const rows = got.length / width;
  for (let r = 0; r < rows; r++) {
    const row = got.subarray(r * width, (r + 1) * width);
    if (badRows.has(r)) {
      const nonFinite = row.filter((v) => !Number.isFinite(v)).length;
      const ok = opts.allBad ? nonFinite === width : nonFinite > 0;
      if (!ok) problems.push(`row ${r} (fed a non-finite input): ${nonFinite}/${width} non-finite, e.g. ${Array.from(row.slice(0, 4))}`);
    } else {
      for (let c = 0; c < width; c++) {
        const i = r * width + c;
        if (gb[i] !== cb[i]) {
          problems.push(`row ${r} (clean) [${c}]: ${got[i]} vs ${clean[i]} in the clean run`);
          break;
        }
      }
    }
    if (problems.length >= 8) break;
  }
  if (problems.length) throw new Error(`${name}: non-finite values not isolated:\n  ${problems.join('\n  ')}`);
}

/** Throws unless every element is non-finite (NaN or ±Inf). */
export function expectAllNonFinite(name: string, got: ArrayLike<number>): void {
  for (let i = 0; i < got.length; i++) {
    if (Number.isFinite(got[i]!)) throw new Error(`${name}[${i}] = ${got[i]}: expected a non-finite value (a NaN/Inf input must not turn into a number)`);
  }
}
