/**
 * A loss curve as a small hand-written SVG: training loss per step (thin), its moving average
 * (thick), and the development loss at the end of each epoch (dots), with labelled axes.
 */
import type { LogRecord } from './log.ts';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** "Nice" tick values covering [lo, hi]. */
export const ticks = (lo: number, hi: number, n = 5): number[] => {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  // by index, not by accumulation: a step below the values' precision must not loop forever
  const start = Math.ceil(lo / step) * step;
  const count = Math.min(1000, Math.floor((hi + step * 1e-9 - start) / step) + 1);
  const out = [...new Set(Array.from({ length: Math.max(0, count) }, (_, i) => Number((start + i * step).toPrecision(12))))];
  return Number.isFinite(start) && out.length > 0 ? out : [lo];
};

const fmt = (v: number): string => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(3))));

/** The SVG text of a loss curve for log records (an empty chart with a note when there are none). */
export const lossCurveSvg = (records: readonly LogRecord[], title = 'training loss'): string => {
  const W = 640, H = 360, L = 60, R = 20, T = 36, B = 44;
  const steps = records.filter((r) => r.type === 'step' && Number.isFinite(r.loss)) as Extract<LogRecord, { type: 'step' }>[];
  const devs = records.filter((r) => r.type === 'epoch' && r.dev_loss !== null && Number.isFinite(r.dev_loss)) as Extract<LogRecord, { type: 'epoch' }>[];
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">\n` +
    `<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>\n<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>\n`;
  if (steps.length === 0) return `${head}<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#666">no steps yet</text>\n</svg>\n`;
  const ys = [...steps.map((s) => s.loss), ...devs.map((d) => d.dev_loss!)];
  let yLo = Math.min(...ys), yHi = Math.max(...ys);
  if (yHi - yLo < 1e-9) { yLo -= 0.5; yHi += 0.5; }
  const pad = (yHi - yLo) * 0.05;
  yLo -= pad; yHi += pad;
  const xLo = Math.min(...steps.map((s) => s.step)), xHi = Math.max(xLo + 1, ...steps.map((s) => s.step), ...devs.map((d) => d.step));
  const X = (v: number) => L + ((v - xLo) / (xHi - xLo)) * (W - L - R);
  const Y = (v: number) => T + (1 - (v - yLo) / (yHi - yLo)) * (H - T - B);
  const pt = (x: number, y: number) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`;
  const parts: string[] = [head];
  // axes, grid and ticks
  parts.push(`<g stroke="#ccc" stroke-width="0.5">`);
  for (const v of ticks(yLo, yHi)) parts.push(`<line x1="${L}" y1="${Y(v).toFixed(1)}" x2="${W - R}" y2="${Y(v).toFixed(1)}"/>`);
  parts.push(`</g>`);
  parts.push(`<g fill="#333">`);
  for (const v of ticks(yLo, yHi)) parts.push(`<text x="${L - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`);
  for (const v of ticks(xLo, xHi)) parts.push(`<text x="${X(v).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${fmt(v)}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">optimizer step</text>`);
  parts.push(`<text x="14" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">loss</text>`);
  parts.push(`</g>`);
  parts.push(`<path d="M${L},${T}V${H - B}H${W - R}" fill="none" stroke="#333"/>`);
  // training loss and its moving average
  parts.push(`<polyline fill="none" stroke="#9ecae1" stroke-width="1" points="${steps.map((s) => pt(s.step, s.loss)).join(' ')}"/>`);
  const k = Math.max(1, Math.round(steps.length / 25));
  const avg = steps.map((s, i) => {
    const w = steps.slice(Math.max(0, i - k + 1), i + 1);
    return pt(s.step, w.reduce((a, b) => a + b.loss, 0) / w.length);
  });
  parts.push(`<polyline fill="none" stroke="#08519c" stroke-width="2" points="${avg.join(' ')}"/>`);
  // development loss per epoch
  if (devs.length > 0) {
    parts.push(`<polyline fill="none" stroke="#e6550d" stroke-width="1.5" stroke-dasharray="4 3" points="${devs.map((d) => pt(d.step, d.dev_loss!)).join(' ')}"/>`);
    for (const d of devs) parts.push(`<circle cx="${X(d.step).toFixed(1)}" cy="${Y(d.dev_loss!).toFixed(1)}" r="3.5" fill="#e6550d"><title>epoch ${d.epoch}: dev loss ${d.dev_loss!.toFixed(4)}</title></circle>`);
  }
  // legend
  const lx = W - R - 150;
  parts.push(`<g font-size="11"><line x1="${lx}" y1="${T + 6}" x2="${lx + 18}" y2="${T + 6}" stroke="#08519c" stroke-width="2"/><text x="${lx + 24}" y="${T + 10}">train (moving avg)</text>`);
  if (devs.length > 0) parts.push(`<circle cx="${lx + 9}" cy="${T + 22}" r="3.5" fill="#e6550d"/><text x="${lx + 24}" y="${T + 26}">dev (per epoch)</text>`);
  parts.push(`</g>`);
  parts.push('</svg>\n');
  return parts.join('\n');
};
