/**
 * The resolved configuration of a training run (io-ts: written to `run.json` and into every
 * checkpoint, read back by `--resume`): command-line options over a recipe over the defaults.
 */
import { dirname } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { VariantC, type TrainState, type Variant } from '@prefix-tuning/core';
import { hasRunCheckpoint, type RunManifest, type RunStorage } from '@prefix-tuning/hub';
import { TaskName } from '@prefix-tuning/tasks';
import { UsageError } from '../cli.ts';
import { RECIPE_DEFAULTS as DEFAULTS, RecipeName, recipeValues, type RecipeValues } from '@prefix-tuning/tasks';
import { BACKENDS, backendName } from './backend.ts';
import type { DataSpec } from './data.ts';
import { requireFile } from './model.ts';

const Nullable = <C extends t.Mixed>(c: C) => t.union([c, t.null]);
const PosInt = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1, 'PositiveInt');
const Count = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, 'NonNegativeInt');
const Pos = t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'Positive');
const NonNeg = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'NonNegative');

export const DataSpecC = t.union([
  t.type({ kind: t.literal('task'), task: TaskName, dataDir: Nullable(t.string) }),
  t.type({ kind: t.literal('jsonl'), train: t.string, dev: Nullable(t.string) }),
], 'DataSpec');

export const RunConfigC = t.intersection([t.type({
  model: t.string,
  data: DataSpecC,
  variant: VariantC,
  recipe: Nullable(RecipeName),
  epochs: PosInt,
  batchSize: PosInt,
  lr: Pos,
  warmupSteps: Count,
  weightDecay: NonNeg,
  maxGradNorm: Nullable(Pos),
  gradAccum: PosInt,
  loss: t.keyof({ mean: null, sum: null }),
  adam: t.keyof({ torch: null, hf: null }),
  maxExamples: Nullable(PosInt),
  maxDevExamples: Nullable(Count),
  maxLength: Nullable(PosInt),
  seed: t.refinement(t.number, Number.isInteger, 'Integer'),
  patience: Nullable(PosInt),
  checkpointEvery: PosInt,
  backend: t.keyof(Object.fromEntries(BACKENDS.map((b) => [b, null])) as Record<(typeof BACKENDS)[number], null>),
}), t.partial({
  /** What a non-finite loss or gradient does (absent in runs written before it existed: stop). */
  onNonFinite: t.keyof({ stop: null, skip: null }),
})], 'RunConfig');
export type RunConfig = t.TypeOf<typeof RunConfigC>;

/** Decodes a stored run config; Left names the bad field. */
export const decodeRunConfig = (v: unknown): E.Either<string, RunConfig> => {
  const r = RunConfigC.decode(v);
  return E.isLeft(r) ? E.left(PathReporter.report(r).join('; ')) : r;
};

/** The options that select the variant (all resolve into `variant`). */
export const VARIANT_OPTIONS = ['variant', 'variant-json', 'prefix-length', 'reparam', 'mlp-hidden', 'prefix-dropout', 'init-text'] as const;
/** Options mapped to one field each. */
export const FIELD_OF_OPTION: Readonly<Record<string, keyof RunConfig>> = {
  model: 'model', task: 'data', 'data-dir': 'data', jsonl: 'data', 'dev-jsonl': 'data', recipe: 'recipe',
  epochs: 'epochs', 'batch-size': 'batchSize', lr: 'lr', 'warmup-steps': 'warmupSteps', 'weight-decay': 'weightDecay',
  'max-grad-norm': 'maxGradNorm', 'grad-accum': 'gradAccum', loss: 'loss', 'max-examples': 'maxExamples',
  'max-dev-examples': 'maxDevExamples', 'max-length': 'maxLength', seed: 'seed', patience: 'patience',
  'checkpoint-every': 'checkpointEvery', backend: 'backend', 'on-nonfinite': 'onNonFinite',
  ...Object.fromEntries(VARIANT_OPTIONS.map((o) => [o, 'variant'])),
};

type Opts = Readonly<Record<string, unknown>>;

const num = (opts: Opts, name: string, check: (n: number) => boolean, what: string): number | undefined => {
  const v = opts[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!check(n)) throw new UsageError(`--${name} must be ${what}, got ${String(v)}`);
  return n;
};
const posInt = (o: Opts, n: string) => num(o, n, (x) => Number.isInteger(x) && x >= 1, 'a positive integer');
const count = (o: Opts, n: string) => num(o, n, (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer');
const pos = (o: Opts, n: string) => num(o, n, (x) => Number.isFinite(x) && x > 0, 'a positive number');
const nonNeg = (o: Opts, n: string) => num(o, n, (x) => Number.isFinite(x) && x >= 0, 'a non-negative number');

/** `--steps-per-run N` (default 1): micro-batches per backend run; not part of the run's settings (results do not depend on it). */
export const stepsPerRunOf = (opts: Opts): number => posInt(opts, 'steps-per-run') ?? 1;

const VARIANTS = ['prefix', 'embedding', 'infix', 'finetune', 'finetune-top2'] as const;

/** The variant from --variant/--variant-json and the prefix options (recipe values fill the gaps). */
export const resolveVariant = (opts: Opts, rv: RecipeValues): Variant => {
  const json = opts['variant-json'];
  if (json !== undefined) {
    for (const o of VARIANT_OPTIONS)
      if (o !== 'variant-json' && opts[o] !== undefined) throw new UsageError(`--${o} cannot be combined with --variant-json (put it in the JSON)`);
    let v: unknown;
    try {
      v = JSON.parse(String(json));
    } catch (e) {
      throw new UsageError(`--variant-json is not valid JSON (${(e as Error).message})`);
    }
    const r = VariantC.decode(v);
    if (E.isLeft(r)) throw new UsageError(`--variant-json: ${PathReporter.report(r).slice(0, 2).join('; ')}`);
    return r.right;
  }
  const kind = String(opts['variant'] ?? 'prefix');
  if (!(VARIANTS as readonly string[]).includes(kind)) throw new UsageError(`unknown variant '${kind}' (one of ${VARIANTS.join(', ')}, or --variant-json)`);
  if (kind === 'finetune' || kind === 'finetune-top2') {
    for (const o of ['prefix-length', 'reparam', 'mlp-hidden', 'prefix-dropout', 'init-text'])
      if (opts[o] !== undefined) throw new UsageError(`--${o} does not apply to --variant ${kind}`);
    return { kind: 'finetune', layers: kind === 'finetune' ? 'all' : { top: 2 } };
  }
  const reparamName = String(opts['reparam'] ?? 'mlp');
  if (reparamName !== 'mlp' && reparamName !== 'direct') throw new UsageError(`--reparam must be mlp or direct, got '${reparamName}'`);
  if (reparamName === 'direct' && opts['mlp-hidden'] !== undefined) throw new UsageError('--mlp-hidden needs --reparam mlp');
  const dropout = num(opts, 'prefix-dropout', (x) => x >= 0 && x < 1, 'in [0, 1)');
  const initText = opts['init-text'] !== undefined ? String(opts['init-text']) : rv.initText;
  // initialised from words without an explicit length: the words' token count (filled in by
  // `wordsLength` once the tokenizer is known; 0 marks it until then)
  const length = posInt(opts, 'prefix-length') ?? (initText !== undefined ? 0 : rv.prefixLength ?? DEFAULTS.prefixLength);
  return {
    kind: kind as 'prefix' | 'embedding' | 'infix',
    length,
    reparam: reparamName === 'mlp' ? { kind: 'mlp', hidden: posInt(opts, 'mlp-hidden') ?? rv.mlpHidden ?? DEFAULTS.mlpHidden } : { kind: 'direct' },
    ...(dropout !== undefined && dropout > 0 ? { dropout } : {}),
    ...(initText !== undefined ? { init: { kind: 'words' as const, text: initText } } : {}),
  };
};

/**
 * Fills the length of word-initialised parts left open by `resolveVariant` (length 0) with the
 * token count of their words, as the official code does (preseqlen = len(words)).
 */
export const wordsLength = (v: Variant, count: (text: string) => number): Variant => {
  if (v.kind === 'compose') return { ...v, parts: v.parts.map((p) => wordsLength(p, count)) };
  if (v.kind === 'finetune' || v.kind === 'custom' || v.length !== 0 || v.init?.kind !== 'words') return v;
  const n = count(v.init.text);
  if (n === 0) throw new UsageError(`the initialisation text ${JSON.stringify(v.init.text)} has no tokens`);
  return { ...v, length: n };
};

/** Where the data comes from. */
export const resolveData = (opts: Opts): DataSpec | undefined => {
  const task = opts['task'], jsonl = opts['jsonl'];
  if (task !== undefined && jsonl !== undefined) throw new UsageError('give --task or --jsonl, not both');
  if (task !== undefined) {
    if (opts['dev-jsonl'] !== undefined) throw new UsageError('--dev-jsonl goes with --jsonl (a task has its own dev split)');
    if (!TaskName.is(task)) throw new UsageError(`unknown task '${String(task)}' (one of ${Object.keys(TaskName.keys).join(', ')})`);
    return { kind: 'task', task, dataDir: opts['data-dir'] !== undefined ? String(opts['data-dir']) : null };
  }
  if (jsonl !== undefined) {
    if (opts['data-dir'] !== undefined) throw new UsageError('--data-dir goes with --task');
    return { kind: 'jsonl', train: String(jsonl), dev: opts['dev-jsonl'] !== undefined ? String(opts['dev-jsonl']) : null };
  }
  if (opts['dev-jsonl'] !== undefined || opts['data-dir'] !== undefined) throw new UsageError('--dev-jsonl/--data-dir need --jsonl/--task');
  return undefined;
};

/**
 * The run configuration from options; `fallback` supplies model, data and recipe when absent
 * (a resumed run).
 */
export const resolveRun = (opts: Opts, fallback?: Pick<RunConfig, 'model' | 'data' | 'recipe'>): RunConfig => {
  const model = opts['model'] !== undefined ? String(opts['model']) : fallback?.model;
  if (model === undefined) throw new UsageError('missing required option --model (see prefix-tune train --help)');
  const data = resolveData(opts) ?? fallback?.data;
  if (data === undefined) throw new UsageError('give the data: --task NAME or --jsonl FILE (see prefix-tune train --help)');
  const recipeOpt = opts['recipe'];
  if (recipeOpt !== undefined && !RecipeName.is(recipeOpt)) throw new UsageError(`unknown recipe '${String(recipeOpt)}' (one of ${Object.keys(RecipeName.keys).join(', ')})`);
  const recipe = (recipeOpt as RecipeName | undefined) ?? fallback?.recipe ?? null;
  const rv = recipe === null ? {} : recipeValues(recipe, data.kind === 'task' ? data.task : undefined);
  const loss = opts['loss'] ?? rv.loss ?? DEFAULTS.loss;
  if (loss !== 'mean' && loss !== 'sum') throw new UsageError(`--loss must be mean or sum, got '${String(loss)}'`);
  const maxExamples = posInt(opts, 'max-examples') ?? null;
  if (recipe === 'low-data' && maxExamples === null) throw new UsageError('the low-data recipe needs --max-examples N (the paper uses 50, 100, 200 and 500)');
  const mgn = opts['max-grad-norm'] !== undefined ? nonNeg(opts, 'max-grad-norm')! : rv.maxGradNorm !== undefined ? rv.maxGradNorm : DEFAULTS.maxGradNorm;
  return {
    model, data, recipe,
    variant: resolveVariant(opts, rv),
    epochs: posInt(opts, 'epochs') ?? rv.epochs ?? DEFAULTS.epochs,
    batchSize: posInt(opts, 'batch-size') ?? rv.batchSize ?? DEFAULTS.batchSize,
    lr: pos(opts, 'lr') ?? rv.lr ?? DEFAULTS.lr,
    warmupSteps: count(opts, 'warmup-steps') ?? rv.warmupSteps ?? DEFAULTS.warmupSteps,
    weightDecay: nonNeg(opts, 'weight-decay') ?? rv.weightDecay ?? DEFAULTS.weightDecay,
    maxGradNorm: mgn === null || mgn === 0 ? null : mgn,
    gradAccum: posInt(opts, 'grad-accum') ?? rv.gradAccum ?? DEFAULTS.gradAccum,
    loss, adam: rv.adam ?? DEFAULTS.adam,
    maxExamples,
    maxDevExamples: count(opts, 'max-dev-examples') ?? null,
    maxLength: posInt(opts, 'max-length') ?? null,
    seed: num(opts, 'seed', Number.isInteger, 'an integer') ?? 42,
    patience: posInt(opts, 'patience') ?? null,
    checkpointEvery: posInt(opts, 'checkpoint-every') ?? 100,
    backend: backendName(opts['backend']),
    onNonFinite: onNonFiniteOf(opts),
  };
};

const onNonFiniteOf = (opts: Opts): 'stop' | 'skip' => {
  const v = opts['on-nonfinite'] ?? 'stop';
  if (v !== 'stop' && v !== 'skip') throw new UsageError(`--on-nonfinite must be stop or skip, got '${String(v)}'`);
  return v;
};

/** Run-control values a resumed run may change (the results do not depend on them, or the user asks for it). */
const RESUMABLE: readonly (keyof RunConfig)[] = ['checkpointEvery', 'backend', 'onNonFinite'];

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

const mismatch = (o: string, field: string, fresh: unknown, saved: unknown): UsageError =>
  new UsageError(`--${o} give${o.includes(',') ? '' : 's'} ${field} ${show(fresh)}, but the checkpoint's run has ${show(saved)}; a resumed run keeps its settings (drop the option, or train into another --out)`);

/**
 * Options given to a resumed run must agree with the checkpoint's run (an exact resume needs
 * the same settings); `checkpoint-every` and `backend` may change. Throws naming the option.
 * The variant is returned for `checkResumeVariant` (its word-initialised lengths need the tokenizer).
 */
export const checkResumeOptions = (opts: Opts, saved: RunConfig): { run: RunConfig; variant?: { option: string; fresh: Variant }; changed: string[] } => {
  const fresh = resolveRun({ ...opts, 'max-examples': opts['max-examples'] ?? saved.maxExamples ?? undefined }, saved);
  const variantOptions = VARIANT_OPTIONS.filter((o) => opts[o] !== undefined);
  const variant = variantOptions.length > 0 ? { option: variantOptions.join(', --'), fresh: fresh.variant } : undefined;
  for (const [o, field] of Object.entries(FIELD_OF_OPTION)) {
    if (opts[o] === undefined || RESUMABLE.includes(field) || field === 'variant') continue;
    if (JSON.stringify(fresh[field]) !== JSON.stringify(saved[field])) throw mismatch(o, field, fresh[field], saved[field]);
  }
  // every saved run-control value stands unless its option is given
  const run: RunConfig = { ...saved };
  const changed: string[] = [];
  for (const [o, field] of Object.entries(FIELD_OF_OPTION)) {
    if (!RESUMABLE.includes(field) || opts[o] === undefined) continue;
    const was = saved[field] ?? (field === 'onNonFinite' ? 'stop' : undefined);
    if (JSON.stringify(fresh[field]) !== JSON.stringify(was)) changed.push(`--${o} ${show(was)} -> ${show(fresh[field])}`);
    (run as Record<string, unknown>)[field] = fresh[field];
  }
  return { run, ...(variant ? { variant } : {}), changed };
};

/** The variant options of a resumed run must give the checkpoint's variant. */
export const checkResumeVariant = (given: { option: string; fresh: Variant }, saved: Variant, count: (text: string) => number): void => {
  const fresh = wordsLength(given.fresh, count);
  if (JSON.stringify(fresh) !== JSON.stringify(saved)) throw mismatch(given.option, 'variant', fresh, saved);
};

/**
 * The run `train` is asked for: resolved from the options, or (`--resume`) the checkpoint's own
 * with the run-control options given again, and the checkpoint itself; with the options outside
 * the run's settings checked too (usage errors before anything loads or is written).
 */
export const runOrResume = async (opts: Opts, storage: RunStorage, say: (line: string) => void): Promise<{
  run: RunConfig; stepsPerRun: number; resumeFrom?: { state: TrainState; manifest: RunManifest }; resumeVariant?: { option: string; fresh: Variant };
}> => {
  const r = await readRun(opts, storage, say);
  const { run } = r;
  const stepsPerRun = stepsPerRunOf(opts);
  if (run.onNonFinite === 'skip' && (stepsPerRun > 1 || run.gradAccum > 1))
    throw new UsageError(`--on-nonfinite skip needs --grad-accum 1 and --steps-per-run 1 (got ${run.gradAccum} and ${stepsPerRun}): a skipped batch must be one whole update`);
  if (run.data.kind === 'jsonl') {
    requireFile(run.data.train, '--jsonl');
    if (run.data.dev !== null) requireFile(run.data.dev, '--dev-jsonl');
  }
  return { ...r, stepsPerRun };
};

const readRun = async (opts: Opts, storage: RunStorage, say: (line: string) => void): Promise<{
  run: RunConfig; resumeFrom?: { state: TrainState; manifest: RunManifest }; resumeVariant?: { option: string; fresh: Variant };
}> => {
  const dir = storage.where;
  if (opts['resume'] !== true) {
    if (hasRunCheckpoint(dir)) throw new UsageError(`${dirname(dir)} already holds a training run (${dir}); pass --resume to continue it, or choose another --out`);
    return { run: resolveRun(opts) };
  }
  const c = await storage.load();
  if (E.isLeft(c)) throw new UsageError(`cannot resume: ${c.left}`);
  if (c.right === undefined) throw new UsageError(`nothing to resume: ${dir} holds no checkpoint.json`);
  const saved = decodeRunConfig(c.right.manifest.run);
  if (E.isLeft(saved)) throw new UsageError(`cannot resume: ${dir}/checkpoint.json: corrupt checkpoint: run: ${saved.left}`);
  const checked = checkResumeOptions(opts, saved.right);
  for (const line of checked.changed) say(`resume: ${line}`);
  return { run: checked.run, resumeFrom: c.right, ...(checked.variant ? { resumeVariant: checked.variant } : {}) };
};
