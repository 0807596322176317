// Sweep plots with Vega-Lite (compiled to Vega, rendered headless to SVG by vega's own renderer)
// and PNG from that SVG with resvg: metric vs training compute on log–log axes (points + fitted
// line, one colour per model family), and the training-loss curve of every run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import { predict, type Fit } from './fit.js';
import type { RunRecord } from './sweep-run.js';

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const CONFIG = { font: FONT, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14 } };

/** Renders a Vega-Lite spec to `<base>.svg` and `<base>.png`; returns the two paths. */
export async function renderChart(spec: vl.TopLevelSpec, base: string): Promise<{ svg: string; png: string }> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
  writeFileSync(`${base}.svg`, svg);
  writeFileSync(`${base}.png`, png);
  return { svg: `${base}.svg`, png: `${base}.png` };
}

/** Metric vs training FLOPs, log–log: points per run, each family's preferred fit as a solid line
 *  and its other fitted form (if any) dashed. `fits[family]` lists the preferred fit first. */
export function scalingChart(runs: RunRecord[], metric: string, fits: Record<string, Fit[]>, title: string): vl.TopLevelSpec {
  const points = runs.map((r) => ({ family: r.family, flops: r.train_flops, value: r.test[metric], run: r.id, layers: r.config.numLayers, dim: r.config.dim, epochs: r.epochs }));
  const lines: { family: string; flops: number; value: number; fit: string }[] = [];
  for (const [family, list] of Object.entries(fits)) {
    const cs = runs.filter((r) => r.family === family).map((r) => r.train_flops);
    const lo = Math.log(Math.min(...cs)), hi = Math.log(Math.max(...cs));
    for (const [k, f] of list.entries()) {
      const fit = k === 0 ? 'preferred' : 'other form';
      for (let i = 0; i <= 40; i++) {
        const C = Math.exp(lo + ((hi - lo) * i) / 40);
        lines.push({ family, flops: C, value: predict(f, C), fit });
      }
    }
  }
  const x = { field: 'flops', type: 'quantitative' as const, scale: { type: 'log' as const }, title: 'training compute (FLOPs)', axis: { format: '.0e' } };
  const y = { field: 'value', type: 'quantitative' as const, scale: { type: 'log' as const }, title: `test ${metric.toUpperCase()} (best validation epoch)` };
  const color = { field: 'family', type: 'nominal' as const, title: 'model' };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 520,
    height: 340,
    config: CONFIG,
    layer: [
      { data: { values: lines }, mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, color, strokeDash: { field: 'fit', type: 'nominal', title: 'fit', sort: ['preferred', 'other form'] }, detail: { field: 'fit' } } },
      { data: { values: points }, mark: { type: 'point', filled: true, size: 60 }, encoding: { x, y, color, shape: color, tooltip: [{ field: 'run' }, { field: 'layers' }, { field: 'dim' }, { field: 'epochs' }] } },
    ],
  } as vl.TopLevelSpec;
}

/** Training loss per optimizer step, one line per run, one panel per family. */
export function lossChart(runs: RunRecord[], title: string): vl.TopLevelSpec {
  const values = runs.flatMap((r) => r.losses.map((loss, step) => ({ run: `l${r.config.numLayers} d${r.config.dim} h${r.config.numHeads} e${r.epochs} s${r.config.seed}`, family: r.family, step: step + 1, loss })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    config: CONFIG,
    data: { values },
    facet: { column: { field: 'family', type: 'nominal', title: null } },
    spec: {
      width: 320,
      height: 240,
      mark: { type: 'line', strokeWidth: 1.2 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'optimizer step' },
        y: { field: 'loss', type: 'quantitative', scale: { zero: false }, title: 'training loss (sampled softmax)' },
        color: { field: 'run', type: 'nominal', title: 'run' },
      },
    },
    resolve: { scale: { color: 'independent' } },
  } as vl.TopLevelSpec;
}

/** Both charts into `outDir`; returns the files written (relative names). */
export async function writePlots(outDir: string, runs: RunRecord[], metric: string, fits: Record<string, Fit[]>, sweepName: string): Promise<string[]> {
  const a = await renderChart(scalingChart(runs, metric, fits, `${sweepName}: ${metric} vs training compute`), join(outDir, 'scaling'));
  const b = await renderChart(lossChart(runs, `${sweepName}: training loss per run`), join(outDir, 'loss_curves'));
  return [a.svg, a.png, b.svg, b.png].map((p) => p.slice(outDir.length + 1));
}
