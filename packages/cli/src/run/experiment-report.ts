/**
 * An experiment's report, rebuilt from the finished runs on disk: `results.md` (a table of mean ±
 * standard deviation over seeds per variant and grid point, the machine and the command),
 * `results.json` (every run's numbers), and SVG plots — score vs each grid axis and the loss
 * curves per variant — with a PNG beside each where `rsvg-convert` is on the PATH.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { writeFileAtomic } from '@prefix-tuning/hub';
import { lineChartSvg, type Series } from './chart.ts';
import { aggregate, expandPlan, readResult, type AggregateRow, type Plan, type RunResult } from './experiment.ts';

/** Title and scale of a metric as results.md shows it. */
const COLUMNS: Readonly<Record<string, { title: string; scale: number; digits: number }>> = {
  bleu: { title: 'BLEU', scale: 100, digits: 1 },
  nist: { title: 'NIST', scale: 1, digits: 2 },
  meteor: { title: 'METEOR', scale: 100, digits: 1 },
  rouge_l: { title: 'ROUGE-L', scale: 100, digits: 1 },
  cider: { title: 'CIDEr', scale: 1, digits: 2 },
  rouge1: { title: 'R-1', scale: 100, digits: 1 },
  rouge2: { title: 'R-2', scale: 100, digits: 1 },
  rougeL: { title: 'R-L', scale: 100, digits: 1 },
  slot_error: { title: 'SER %', scale: 100, digits: 1 },
};
/** A metric's name without its evaluation ("seen/bleu" → "bleu") and the evaluation (or null). */
const splitMetric = (m: string): [string, string | null] => {
  const i = m.indexOf('/');
  return i < 0 ? [m, null] : [m.slice(i + 1), m.slice(0, i)];
};
const column = (m: string) => {
  const [base, ev] = splitMetric(m);
  const c = COLUMNS[base] ?? { title: base, scale: 1, digits: 3 };
  return ev === null ? c : { ...c, title: `${c.title} (${ev})` };
};
const cell = (m: string, v: { mean: number; sd: number; n: number } | undefined): string => {
  if (v === undefined || v.n === 0) return '–';
  const c = column(m);
  return v.n > 1 ? `${(v.mean * c.scale).toFixed(c.digits)} ± ${(v.sd * c.scale).toFixed(c.digits)}` : (v.mean * c.scale).toFixed(c.digits);
};

/** The metrics a report shows: the plan's, else those the runs have (task metrics, then SER). */
const shownMetrics = (p: Plan, results: readonly RunResult[]): string[] => {
  const evals = p.evals === undefined ? [null] : Object.keys(p.evals);
  const full = (base: string) => evals.map((e) => (e === null ? base : `${e}/${base}`));
  if (p.metrics !== undefined) return p.metrics.flatMap(full);
  const have = new Set(results.flatMap((r) => Object.keys(r.metrics)));
  const bases = [...new Set([...have].map((m) => splitMetric(m)[0]))];
  return [...Object.keys(COLUMNS).filter((m) => bases.includes(m)), ...bases.filter((m) => !(m in COLUMNS)).sort()].flatMap(full).filter((m) => have.has(m));
};

/** The markdown table of aggregated rows. */
export const resultsTable = (p: Plan, rows: readonly AggregateRow[], metrics: readonly string[]): string => {
  const axes = (p.grid ?? []).map((a) => a.name);
  const head = ['variant', ...axes, 'seeds', ...metrics.map((m) => column(m).title), 'final train loss'];
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${[r.variant, ...axes.map((a) => String(r.point[a] ?? '')), String(r.seeds), ...metrics.map((m) => cell(m, r.metrics[m])),
      r.finalLoss === undefined ? '–' : r.finalLoss.n > 1 ? `${r.finalLoss.mean.toFixed(3)} ± ${r.finalLoss.sd.toFixed(3)}` : r.finalLoss.mean.toFixed(3)].join(' | ')} |`),
  ].join('\n');
};

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');

/** The plots of a report: name (without extension) → SVG text. */
export const reportPlots = (p: Plan, results: readonly RunResult[], rows: readonly AggregateRow[], metrics: readonly string[]): [string, string][] => {
  const plots: [string, string][] = [];
  const plotted = metrics.filter((m) => ['bleu', 'slot_error', 'rougeL', 'rouge_l'].includes(splitMetric(m)[0])).slice(0, 3);
  for (const axis of p.grid ?? []) {
    if (axis.values.length < 2) continue;
    const others = (p.grid ?? []).filter((a) => a.name !== axis.name).map((a) => a.name);
    for (const m of plotted) {
      const bySeries = new Map<string, Series['points'][number][]>();
      for (const r of rows) {
        const v = r.metrics[m];
        if (v === undefined || r.point[axis.name] === undefined) continue;
        const label = [r.variant, ...others.map((o) => `${o} ${r.point[o]}`)].join(', ');
        bySeries.set(label, [...(bySeries.get(label) ?? []), { x: r.point[axis.name]!, y: v.mean * column(m).scale, sd: v.sd * column(m).scale }]);
      }
      plots.push([`${slug(m)}-vs-${slug(axis.name)}`, lineChartSvg({
        title: `${p.name}: ${column(m).title} vs ${axis.name} (mean ± sd over seeds)`,
        xLabel: axis.name, yLabel: column(m).title, logX: axis.log === true,
        series: [...bySeries].map(([label, points]) => ({ label, points })),
      })]);
    }
  }
  // loss curves: the first seed of each variant at each grid point (at most 12 curves)
  const firsts = new Map<string, RunResult>();
  for (const r of results) {
    const k = `${r.spec.variant} ${JSON.stringify(r.spec.point)}`;
    if (!firsts.has(k)) firsts.set(k, r);
  }
  const curves = [...firsts.values()].slice(0, 12).map((r): Series => {
    const w = Math.max(1, Math.round(r.losses.length / 40));
    const points = r.losses.map(([step], i) => {
      const win = r.losses.slice(Math.max(0, i - w + 1), i + 1);
      return { x: step, y: win.reduce((a, l) => a + l[1], 0) / win.length };
    });
    const pt = Object.entries(r.spec.point).map(([k, v]) => `${k} ${v}`).join(', ');
    return { label: pt === '' ? r.spec.variant : `${r.spec.variant}, ${pt}`, points };
  });
  plots.push(['loss-curves', lineChartSvg({ title: `${p.name}: training loss (moving average; seed ${results[0]?.spec.seed ?? ''})`, xLabel: 'optimizer step', yLabel: 'loss', series: curves, markers: false })]);
  return plots;
};

/** The machine, for the record: CPU model and core count. */
export const machineLine = (): string => {
  const c = cpus();
  return `${c[0]?.model.trim() ?? 'unknown CPU'}, ${c.length} cores`;
};

/** Whether `rsvg-convert` can turn SVG into PNG here. */
const rsvg = (): boolean => spawnSync('rsvg-convert', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * Rebuilds the report of a plan from the runs under `out` into `reportDir`: returns the finished
 * and total run counts and the files written. `command` is the command line recorded in results.md.
 */
export const writeReport = async (p: Plan, out: string, reportDir: string, command: string): Promise<{ finished: number; total: number; files: string[] }> => {
  const specs = expandPlan(p);
  const results = specs.flatMap((s) => readResult(p, out, s) ?? []);
  const rows = aggregate(results);
  const metrics = shownMetrics(p, results);
  const plots = reportPlots(p, results, rows, metrics);
  const png = rsvg();
  const files: string[] = [];
  const write = async (name: string, text: string) => {
    const w = await writeFileAtomic(join(reportDir, name), text);
    if (E.isLeft(w)) throw new Error(w.left);
    files.push(name);
  };
  for (const [name, svg] of plots) {
    await write(`${name}.svg`, svg);
    if (png && spawnSync('rsvg-convert', ['-o', join(reportDir, `${name}.png`), join(reportDir, `${name}.svg`)], { stdio: 'ignore' }).status === 0) files.push(`${name}.png`);
  }
  const hours = results.reduce((s, r) => s + r.trainSeconds, 0) / 3600;
  const md = [
    `# ${p.name}`,
    '',
    ...(p.description !== undefined ? [p.description, ''] : []),
    `${results.length} of ${specs.length} runs finished (${hours.toFixed(2)} h of training). Command: \`${command}\`. Machine: ${machineLine()}.`,
    '',
    `Scores: mean ± sample standard deviation over seeds; BLEU, METEOR, ROUGE-L ×100; SER = slot error rate in % (missing or contradicted input slot values, lower is better); final train loss = mean over the last tenth of the steps.`,
    '',
    resultsTable(p, rows, metrics),
    '',
    ...plots.map(([name]) => `![${name}](${png ? `${name}.png` : `${name}.svg`})`),
    ...(png ? [] : ['', 'PNG copies: install `rsvg-convert` (Debian: librsvg2-bin) and run the plan again (finished runs are not repeated).']),
    '',
  ].join('\n');
  await write('results.md', md);
  await write('results.json', `${JSON.stringify({ plan: p.name, machine: machineLine(), runs: results.map((r) => ({ id: r.spec.id, variant: r.spec.variant, point: r.spec.point, seed: r.spec.seed, metrics: r.metrics, train_seconds: r.trainSeconds })) }, null, 2)}\n`);
  return { finished: results.length, total: specs.length, files };
};
