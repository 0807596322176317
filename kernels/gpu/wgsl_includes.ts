// Shared WGSL helpers spliced into shaders by the preprocessor (DESIGN §4: "WGSL has no includes";
// helpers live once). A line `//#include <name>` is replaced by kernels/gpu/<name>.wgsl.
import { readFileSync } from 'node:fs';

const LIBRARIES: Record<string, string> = {
  nan: readFileSync(new URL('./nan.wgsl', import.meta.url), 'utf8'),
};

/** Replaces each `//#include <name>` line (at most once per name) by the library's text. */
export function spliceIncludes(kernel: string, wgsl: string): string {
  const seen = new Set<string>();
  return wgsl.replace(/^[ \t]*\/\/#include ([a-z_]+)[ \t]*$/gm, (_m, name: string) => {
    const lib = LIBRARIES[name];
    if (lib === undefined) throw new Error(`kernel ${kernel}: //#include ${name}: no such WGSL library (have: ${Object.keys(LIBRARIES).join(', ')}). HINT: add kernels/gpu/${name}.wgsl to wgsl_includes.ts.`);
    if (seen.has(name)) return '';
    seen.add(name);
    return lib;
  });
}
