/**
 * A line chart as a small hand-written SVG: one polyline per series, points with ±1 standard
 * deviation bars, labelled axes, a legend, an optional logarithmic x axis. Used for the
 * experiment plots (score vs training examples, score vs prefix length, loss curves).
 */
import { ticks } from './svg.ts';

/** One point: x, mean y, and the spread drawn as a bar (0: none). */
export interface ChartPoint {
  readonly x: number;
  readonly y: number;
  readonly sd?: number;
}
export interface Series {
  readonly label: string;
  readonly points: readonly ChartPoint[];
}
export interface ChartSpec {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly logX?: boolean;
  /** Draw point markers and error bars (off for dense curves such as losses). */
  readonly markers?: boolean;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number): string => (Math.abs(v) >= 10000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(3))));

/** The SVG text of a chart (a note in place of the plot when no series has a finite point). */
export const lineChartSvg = (c: ChartSpec): string => {
  const series = c.series.map((s) => ({ ...s, points: s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!c.logX || p.x > 0)) }))
    .filter((s) => s.points.length > 0);
  const legendRows = Math.ceil(series.length / 3);
  const W = 720, L = 64, R = 20, T = 36, B = 48 + 16 * legendRows, H = 380 + 16 * legendRows;
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">\n` +
    `<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>\n<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(c.title)}</text>\n`;
  if (series.length === 0) return `${head}<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#666">no results yet</text>\n</svg>\n`;
  const tx = (x: number) => (c.logX ? Math.log10(x) : x);
  const pts = series.flatMap((s) => s.points);
  let xLo = Math.min(...pts.map((p) => tx(p.x))), xHi = Math.max(...pts.map((p) => tx(p.x)));
  if (!(xHi - xLo > 1e-9 * Math.max(1, Math.abs(xLo), Math.abs(xHi)))) { const d = 0.5 * Math.max(1, Math.abs(xLo)); xLo -= d; xHi += d; }
  let yLo = Math.min(...pts.map((p) => p.y - (p.sd ?? 0))), yHi = Math.max(...pts.map((p) => p.y + (p.sd ?? 0)));
  if (!(yHi - yLo > 1e-9 * Math.max(1, Math.abs(yLo), Math.abs(yHi)))) { const d = 0.5 * Math.max(1, Math.abs(yLo)); yLo -= d; yHi += d; }
  const pad = (yHi - yLo) * 0.06;
  yLo -= pad; yHi += pad;
  const plotB = H - B;
  const X = (x: number) => L + ((tx(x) - xLo) / (xHi - xLo)) * (W - L - R);
  const Y = (y: number) => T + (1 - (y - yLo) / (yHi - yLo)) * (plotB - T);
  const parts: string[] = [head, '<g stroke="#ddd" stroke-width="0.5">'];
  const yTicks = ticks(yLo, yHi);
  const xTicks = c.logX
    ? [...new Set(pts.map((p) => p.x))].sort((a, b) => a - b)
    : ticks(xLo, xHi);
  for (const v of yTicks) parts.push(`<line x1="${L}" y1="${Y(v).toFixed(1)}" x2="${W - R}" y2="${Y(v).toFixed(1)}"/>`);
  parts.push('</g>', '<g fill="#333">');
  for (const v of yTicks) parts.push(`<text x="${L - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`);
  for (const v of xTicks) parts.push(`<text x="${X(v).toFixed(1)}" y="${plotB + 16}" text-anchor="middle">${fmt(v)}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${plotB + 34}" text-anchor="middle">${esc(c.xLabel)}${c.logX ? ' (log scale)' : ''}</text>`);
  parts.push(`<text x="14" y="${(T + plotB) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(T + plotB) / 2})">${esc(c.yLabel)}</text>`, '</g>');
  parts.push(`<path d="M${L},${T}V${plotB}H${W - R}" fill="none" stroke="#333"/>`);
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="${c.markers === false ? 1.5 : 2}" points="${sorted.map((p) => `${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' ')}"/>`);
    if (c.markers !== false)
      for (const p of sorted) {
        if ((p.sd ?? 0) > 0) parts.push(`<line x1="${X(p.x).toFixed(1)}" y1="${Y(p.y - p.sd!).toFixed(1)}" x2="${X(p.x).toFixed(1)}" y2="${Y(p.y + p.sd!).toFixed(1)}" stroke="${color}"/>`);
        parts.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="3" fill="${color}"/>`);
      }
    const lx = L + (i % 3) * ((W - L - R) / 3), ly = plotB + 48 + Math.floor(i / 3) * 16;
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 18}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/><text x="${lx + 24}" y="${ly}" fill="#333">${esc(s.label)}</text>`);
  });
  parts.push('</svg>\n');
  return parts.join('\n');
};
