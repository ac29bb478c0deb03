/**
 * `prefix-tune experiment`: runs a plan of train + eval runs (variants × grid points × seeds),
 * resumable at any point, and writes results.md, results.json and plots (see run/experiment.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { UsageError, parseOptions, type Command } from '../cli.ts';
import { requireOutDir } from '../run/outpath.ts';
import { decodePlan, expandPlan, isFinished, runEvals, runPlan, type Plan } from '../run/experiment.ts';
import { writeReport } from '../run/experiment-report.ts';
import { EMBEDDED_MODEL } from './quickstart.ts';
import { trainCommand } from './train.ts';
import { evalCommand } from './eval.ts';

/** The named plans shipped with the CLI (packages/cli/plans/NAME.json). */
export const PLANS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'plans');
const namedPlans = (): string[] => (existsSync(PLANS_DIR) ? readdirSync(PLANS_DIR).filter((f) => f.endsWith('.json')).map((f) => basename(f, '.json')).sort() : []);

/** A plan's option record as the command line a user would type (`{lr: 0.1, quiet: true}` → `--lr=0.1 --quiet`). */
export const optionArgv = (o: Readonly<Record<string, unknown>>): string[] =>
  Object.entries(o).map(([k, v]) => (v === true ? `--${k}` : v === false ? `--no-${k}` : `--${k}=${String(v)}`));

/**
 * Runs a command on a plan's options exactly as the command line would: parsed by the command's
 * own option specs (types, lists, defaults; an unknown option is a usage error).
 */
const runAs = (c: Command) => (o: Readonly<Record<string, unknown>>): Promise<number> => c.run(parseOptions(c, optionArgv(o)).opts, []);

/** Checks every run's train and eval options against the commands before anything runs. */
const checkOptions = (p: Plan, file: string): void => {
  for (const s of expandPlan(p)) {
    // with the options runPlan adds (their values do not matter here)
    const train = { model: 'M', task: p.task, ...s.train, out: 'OUT' };
    for (const [c, o] of [[trainCommand, train], ...runEvals(p, s).map((e) => [evalCommand, { model: 'M', task: p.task, ...e.opts, adapter: 'A', out: 'OUT' }] as const)] as const) {
      try {
        parseOptions(c, optionArgv(o));
      } catch (e) {
        if (e instanceof UsageError) throw new UsageError(`${file}: run ${s.id}: ${c.name} options: ${e.message}`);
        throw e;
      }
    }
  }
};

/** Reads a plan by name or from a JSON file; a usage error says what is wrong and where. */
export const readPlan = (ref: string): Plan => {
  const file = existsSync(ref) ? ref : join(PLANS_DIR, `${ref}.json`);
  if (!existsSync(file)) throw new UsageError(`no plan '${ref}': neither a file nor a named plan (named plans: ${namedPlans().join(', ')})`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: not JSON: ${(e as Error).message}`);
  }
  const p = decodePlan(json);
  if (E.isLeft(p)) throw new UsageError(`${file}: ${p.left}`);
  checkOptions(p.right, file);
  return p.right;
};

export const experimentCommand: Command = {
  name: 'experiment',
  summary: 'run an experiment plan (variants × data sizes × seeds × settings), resumable; results.md, results.json and plots',
  usage: [
    'prefix-tune experiment --plan NAME|FILE [--out DIR] [--report DIR] [--model DIR] [--only TEXT] [--dry-run]',
    '',
    `Named plans: ${namedPlans().join(', ')} (packages/cli/plans/). Each run is an ordinary train (into OUT/runs/ID) and eval`,
    '(into OUT/runs/ID/eval); finished runs are never repeated and an interrupted run resumes exactly, so after Ctrl-C,',
    'a kill or a crash the same command continues where the plan stopped. The report is rebuilt from every finished run.',
  ].join('\n'),
  options: [
    { name: 'plan', short: 'p', type: 'string', description: 'a named plan or a plan JSON file', required: true },
    { name: 'out', short: 'o', type: 'string', description: 'directory of the runs (default: runs/experiments/PLAN)' },
    { name: 'report', type: 'string', description: 'directory of results.md, results.json and the plots (default: --out)' },
    { name: 'model', short: 'm', type: 'string', description: "base model (default: the plan's, else the embedded models/tiny-gpt2-en)" },
    { name: 'only', type: 'string', description: 'run only the runs whose id contains this text (the report still covers every finished run)' },
    { name: 'dry-run', type: 'boolean', description: 'list the runs and whether each has finished; run nothing' },
    { name: 'report-only', type: 'boolean', description: 'rebuild the report from the finished runs; run nothing' },
  ],
  run: async (opts, positionals) => {
    if (positionals.length > 0) throw new UsageError(`unexpected argument(s): ${positionals.join(' ')}`);
    const plan = readPlan(String(opts['plan']));
    const out = resolve(String(opts['out'] ?? join('runs', 'experiments', plan.name)));
    requireOutDir(out); // each run below it is locked by train
    const report = resolve(String(opts['report'] ?? out));
    const model = opts['model'] !== undefined ? String(opts['model']) : plan.model ?? EMBEDDED_MODEL;
    const only = opts['only'] !== undefined ? String(opts['only']) : undefined;
    const specs = expandPlan(plan);
    if (only !== undefined && !specs.some((s) => s.id.includes(only))) throw new UsageError(`--only '${only}' matches none of the plan's ${specs.length} run ids (see --dry-run)`);
    if (opts['dry-run'] === true) {
      for (const s of specs) console.log(`${isFinished(plan, out, s) ? 'done' : 'todo'}  ${s.id}`);
      return 0;
    }
    const command = `prefix-tune experiment --plan ${String(opts['plan'])}${opts['out'] !== undefined ? ` --out ${String(opts['out'])}` : ''}`;
    let code = 0;
    if (opts['report-only'] !== true) {
      code = await runPlan(plan, out, model, {
        train: runAs(trainCommand),
        eval: runAs(evalCommand),
        say: (line) => console.log(line),
      }, only !== undefined ? (s) => s.id.includes(only) : undefined);
    }
    const r = await writeReport(plan, out, report, command);
    console.log(`report: ${join(report, 'results.md')} (${r.finished} of ${r.total} runs finished; ${r.files.filter((f) => f !== 'results.md').join(', ')})`);
    return code;
  },
};
