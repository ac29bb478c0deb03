/**
 * Experiment plans: runs over variants × grid points × seeds on one base model and task, each an
 * ordinary resumable `train` into `<out>/runs/<id>/` followed by an `eval` into
 * `<out>/runs/<id>/eval/`. A run whose `eval/metrics.json` exists is finished and never repeated;
 * a run interrupted at any point is resumed (`train --resume`, whose result equals an
 * uninterrupted run's), so a plan killed at any moment continues where it stopped.
 *
 * A plan (JSON):
 * ```json
 * { "name": "e2e-lengths", "task": "e2e",
 *   "train": { "max-examples": 2000, "epochs": 3, "batch-size": 10, "lr": 5e-3 },
 *   "eval": { "split": "test", "max-examples": 50, "greedy": true, "no-repeat-ngram": 3 },
 *   "variants": [{ "label": "prefix (MLP)", "train": { "variant": "prefix" } }],
 *   "grid": [{ "name": "prefix length", "values": [1, 5, 10], "option": "prefix-length" }],
 *   "seeds": [1, 2, 3] }
 * ```
 * `train` and `eval` hold options of `prefix-tune train` / `eval` (names without dashes);
 * a variant's and a grid point's options override the plan's. A grid axis sets `option` to each
 * value, or a value is `{ "x": 50, "train": {...}, "eval": {...} }` with options of its own (`x`
 * is where it is plotted). Runs are the product variants × grid points × seeds.
 *
 * `evals` names several evaluations of each trained adapter (WebNLG's seen and unseen
 * categories, say): `{ "seen": { "webnlg-categories": "seen" }, "unseen": {...} }`, each an eval
 * into `<run>/eval-<name>/` with its options over the run's `eval`; their metrics are reported as
 * `<name>/<metric>` (results.md: "BLEU (seen)"). Without it a run has one eval, into `eval/`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { parseLog } from './log.ts';

const Options = t.record(t.string, t.union([t.string, t.number, t.boolean]));
type Options = t.TypeOf<typeof Options>;

const GridValue = t.union([
  t.number,
  t.intersection([t.type({ x: t.number }), t.partial({ label: t.string, train: Options, eval: Options })]),
]);
const GridAxis = t.intersection([
  t.type({ name: t.string, values: t.array(GridValue) }),
  t.partial({ option: t.string, log: t.boolean }),
]);
const Variant = t.intersection([t.type({ label: t.string }), t.partial({ train: Options, eval: Options })]);

/** An experiment plan (see the module comment). */
export const PlanC = t.intersection([
  t.type({ name: t.string, task: t.string, variants: t.array(Variant) }),
  t.partial({
    description: t.string,
    /** A model directory or hub id; default: the embedded model. */
    model: t.string,
    train: Options,
    eval: Options,
    grid: t.array(GridAxis),
    seeds: t.array(t.number),
    /** Named evaluations of each adapter (see the module comment). */
    evals: t.record(t.string, Options),
    /** Metrics shown in results.md and plotted (default: the task's). */
    metrics: t.array(t.string),
  }),
], 'Plan');
export type Plan = t.TypeOf<typeof PlanC>;

/** Decodes a plan, checking that its labels and grid names make unique run ids. */
export const decodePlan = (json: unknown): E.Either<string, Plan> => {
  const r = PlanC.decode(json);
  if (E.isLeft(r)) return E.left(PathReporter.report(r).slice(0, 3).join('; '));
  const p = r.right;
  if (p.variants.length === 0) return E.left('the plan has no variants');
  if ((p.seeds ?? [0]).length === 0) return E.left('"seeds" is empty');
  if (p.evals !== undefined) {
    const names = Object.keys(p.evals);
    if (names.length === 0) return E.left('"evals" is empty (leave it out for one evaluation)');
    const bad = names.find((n) => !/^[a-z0-9][a-z0-9_-]*$/.test(n));
    if (bad !== undefined) return E.left(`evaluation name "${bad}" is not lowercase letters, digits, - and _ (it names a directory and a metric prefix)`);
  }
  for (const a of p.grid ?? []) {
    if (a.values.length === 0) return E.left(`grid axis "${a.name}" has no values`);
    if (a.values.some((v) => typeof v === 'number') && a.option === undefined)
      return E.left(`grid axis "${a.name}" has plain values but no "option" to set`);
  }
  const runs = expandPlan(p);
  const ids = new Set(runs.map((x) => x.id));
  if (ids.size !== runs.length) return E.left('two runs share an id: give the variants distinct labels and the grid values distinct x');
  return E.right(p);
};

/** One run of a plan. */
export interface RunSpec {
  readonly id: string;
  readonly variant: string;
  /** Grid axis name → plotted value. */
  readonly point: Readonly<Record<string, number>>;
  readonly seed: number;
  readonly train: Options;
  readonly eval: Options;
}

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-+|-+$/g, '') || 'x';

/** The runs of a plan, in the order they run: seeds innermost, so a first result comes early. */
export const expandPlan = (p: Plan): RunSpec[] => {
  const axes = p.grid ?? [];
  let points: { point: Record<string, number>; train: Options; eval: Options }[] = [{ point: {}, train: {}, eval: {} }];
  for (const a of axes)
    points = points.flatMap((pt) =>
      a.values.map((v) => {
        const x = typeof v === 'number' ? v : v.x;
        const train = typeof v === 'number' ? { [a.option!]: v } : { ...(a.option !== undefined ? { [a.option]: v.x } : {}), ...(v.train ?? {}) };
        return { point: { ...pt.point, [a.name]: x }, train: { ...pt.train, ...train }, eval: { ...pt.eval, ...(typeof v === 'number' ? {} : v.eval ?? {}) } };
      }),
    );
  const seeds = p.seeds ?? [42];
  return p.variants.flatMap((v) =>
    points.flatMap((pt) =>
      seeds.map((seed): RunSpec => ({
        id: [slug(v.label), ...Object.entries(pt.point).map(([k, x]) => `${slug(k)}-${x}`), `s${seed}`].join('__'),
        variant: v.label,
        point: pt.point,
        seed,
        train: { ...(p.train ?? {}), ...(v.train ?? {}), ...pt.train, seed },
        eval: { ...(p.eval ?? {}), ...(v.eval ?? {}), ...pt.eval },
      })),
    ),
  );
};

/** One evaluation of a run: its name (null: the plan has no `evals`), directory and options. */
export interface RunEval {
  readonly name: string | null;
  readonly dir: string;
  readonly opts: Options;
}

/** The evaluations of a run, in the plan's order. */
export const runEvals = (p: Plan, spec: RunSpec): RunEval[] =>
  p.evals === undefined
    ? [{ name: null, dir: 'eval', opts: spec.eval }]
    : Object.entries(p.evals).map(([name, o]) => ({ name, dir: `eval-${name}`, opts: { ...spec.eval, ...o } }));

/** What a finished run left: its metrics and its loss curve. */
export interface RunResult {
  readonly spec: RunSpec;
  readonly metrics: Readonly<Record<string, number>>;
  /** (step, loss) of every optimizer step. */
  readonly losses: readonly (readonly [number, number])[];
  readonly trainSeconds: number;
}

export const runDir = (out: string, spec: RunSpec): string => join(out, 'runs', spec.id);
const metricsFile = (out: string, spec: RunSpec, e: RunEval): string => join(runDir(out, spec), e.dir, 'metrics.json');
/** Every evaluation of the run has written its metrics. */
export const isFinished = (p: Plan, out: string, spec: RunSpec): boolean => runEvals(p, spec).every((e) => existsSync(metricsFile(out, spec, e)));

const scalar = (v: unknown): number | undefined =>
  typeof v === 'number' ? v : typeof v === 'object' && v !== null ? ((v as Record<string, number>)['fmeasure'] ?? undefined) : undefined;

/** Reads a finished run's results (undefined while it is not finished). */
export const readResult = (p: Plan, out: string, spec: RunSpec): RunResult | undefined => {
  if (!isFinished(p, out, spec)) return undefined;
  const metrics: Record<string, number> = {};
  for (const e of runEvals(p, spec)) {
    const m = JSON.parse(readFileSync(metricsFile(out, spec, e), 'utf8')) as { metrics: Record<string, unknown>; slot_error?: { rate: number } };
    const key = (k: string) => (e.name === null ? k : `${e.name}/${k}`);
    for (const [k, v] of Object.entries(m.metrics)) {
      const x = scalar(v);
      if (x !== undefined) metrics[key(k)] = x;
    }
    if (m.slot_error !== undefined) metrics[key('slot_error')] = m.slot_error.rate;
  }
  const logFile = join(runDir(out, spec), 'train-log.jsonl');
  const log = existsSync(logFile) ? parseLog(readFileSync(logFile, 'utf8')) : [];
  const steps = log.filter((r) => r.type === 'step');
  return {
    spec,
    metrics,
    losses: steps.map((r) => [r.step, r.loss] as const),
    trainSeconds: steps.length > 0 ? steps[steps.length - 1]!.elapsed : 0,
  };
};

/** How a plan's runs are carried out: the train and eval commands (or stand-ins in tests). */
export interface Runner {
  readonly train: (opts: Options & Record<string, unknown>) => Promise<number>;
  readonly eval: (opts: Options & Record<string, unknown>) => Promise<number>;
  readonly say: (line: string) => void;
}

/**
 * Runs every unfinished run of a plan, in order; returns the first non-zero exit code of a
 * command (the plan stops there), else 0. `model` is the resolved base model.
 */
export const runPlan = async (p: Plan, out: string, model: string, runner: Runner, only?: (s: RunSpec) => boolean): Promise<number> => {
  const runs = expandPlan(p).filter((s) => only === undefined || only(s));
  const todo = runs.filter((s) => !isFinished(p, out, s));
  runner.say(`experiment ${p.name}: ${runs.length} runs, ${runs.length - todo.length} already finished, ${todo.length} to run`);
  for (const [i, spec] of todo.entries()) {
    const dir = runDir(out, spec);
    // the adapter's two files are written last, each atomically: both there = training ended
    const trained = ['adapter_config.json', 'adapter_model.safetensors'].every((f) => existsSync(join(dir, 'adapter', f)));
    const resume = !trained && existsSync(join(dir, 'checkpoint', 'checkpoint.json'));
    runner.say(`[${i + 1}/${todo.length}] ${spec.id}${resume ? ' (resumed)' : trained ? ' (trained; evaluating)' : ''}`);
    if (!trained) {
      const code = await runner.train(resume ? { out: dir, resume: true, quiet: true } : { model, task: p.task, ...spec.train, out: dir, quiet: true });
      if (code !== 0) return code;
    }
    for (const e of runEvals(p, spec)) {
      if (existsSync(metricsFile(out, spec, e))) continue;
      const code = await runner.eval({ model, task: p.task, ...e.opts, adapter: join(dir, 'adapter'), out: join(dir, e.dir) });
      if (code !== 0) return code;
    }
  }
  return 0;
};

/** Mean and sample standard deviation (0 for one value). */
export const meanSd = (xs: readonly number[]): { mean: number; sd: number; n: number } => {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
};

/** One row of the aggregated table: a variant at a grid point, over its seeds. */
export interface AggregateRow {
  readonly variant: string;
  readonly point: Readonly<Record<string, number>>;
  readonly seeds: number;
  readonly metrics: Readonly<Record<string, { mean: number; sd: number; n: number }>>;
  readonly finalLoss: { mean: number; sd: number; n: number } | undefined;
}

const pointKey = (pt: Readonly<Record<string, number>>): string => JSON.stringify(Object.entries(pt));

/** Groups finished runs by variant and grid point, in plan order. */
export const aggregate = (results: readonly RunResult[]): AggregateRow[] => {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const k = `${r.spec.variant}\u0000${pointKey(r.spec.point)}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const names = [...new Set(rs.flatMap((r) => Object.keys(r.metrics)))];
    const finals = rs.flatMap((r) => (r.losses.length > 0 ? [tailMean(r.losses.map((l) => l[1]))] : []));
    return {
      variant: rs[0]!.spec.variant,
      point: rs[0]!.spec.point,
      seeds: rs.length,
      metrics: Object.fromEntries(names.map((n) => [n, meanSd(rs.flatMap((r) => (r.metrics[n] !== undefined ? [r.metrics[n]!] : [])))])),
      finalLoss: finals.length > 0 ? meanSd(finals) : undefined,
    };
  });
};

/** Mean of the last tenth of a loss series (at least one step): the loss at the end of training. */
const tailMean = (xs: readonly number[]): number => {
  const k = Math.max(1, Math.round(xs.length / 10));
  const tail = xs.slice(-k);
  return tail.reduce((a, b) => a + b, 0) / tail.length;
};
