/**
 * `tune`: the training workflow, for any variant of a frozen model and for pretraining alike.
 * It owns what a training run is beyond the loop (core's `train`):
 *
 * - the variant injected into the model and its training graph (with dropout-mask inputs when a
 *   part has dropout), refused in one line when it does not fit;
 * - the data: (source, target) pairs made into batches within the model's position budget (its
 *   positions minus the variant's virtual ones), checked for empty examples and out-of-vocabulary
 *   ids, or a `BatchStream` (pretraining's corpus);
 * - initialisation (random, from the activations of words, or copies of the model's weights);
 * - dropout feeds, gradient accumulation, dev evaluation, early stopping, the learning-rate
 *   schedule and AdamW (the loop's);
 * - checkpoints through a `RunStorage`, and exact resumption: a resumed run is refused unless
 *   its model, variant and data are the checkpoint's, and logs exactly what an uninterrupted
 *   run would (the aggregates of a half-done update travel in the checkpoint);
 * - one log record per optimizer update and per epoch (`LogRecord`), and progress;
 * - the adapter at the end: the computed activations (MLP dropped), PEFT's format when PEFT can
 *   express the variant, with the base model's name and weights digest.
 *
 * `planTune` does everything that can be refused before a backend exists or a file is written
 * (a front checks its whole input first); `plan.run` trains. `tune` is both.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  describeModel, initialValues, initialiseInjection, inject, injectedTrainGraph, isEncoderDecoder, modelSites, trainingVirtualPositions, train,
  serializeAdapter, storedActivationsGraph, storedFeeds, storedParams, peftExpressible,
  type AdapterBytes, type Backend, type Kind, type Batch, type HostTensor, type Injection, type ModelConfig, type Node, type TrainState, type Variant,
} from '@prefix-tuning/core';
import type { AdamWConfig, BatchStream, LrSchedule, NonFinite, ScheduleConfig, TrainResult } from '@prefix-tuning/core/train';
import type { Pair } from '@prefix-tuning/tasks';
import type { LoadedModel } from './model.ts';
import { checkIds } from './generator.ts';
import { maxPositions, prependSpace, taskTokenizer } from './generation.ts';
import { batchesDigest, describeVariant, dropoutFeeds, makeBatches, modelDigest, paramCount, rowsOf } from './batches.ts';
import { weightsDigest } from './digest.ts';
import type { LogRecord } from './run-log.ts';
import type { RunManifest, RunStorage } from './run-checkpoint.ts';

/** A run that cannot be done as asked: the message is for the user, in one line. */
export class TuneError extends Error {
  override readonly name = 'TuneError';
}

/** What is trained on. */
export type TuneData =
  | {
    readonly kind: 'pairs';
    readonly train: readonly Pair[];
    readonly dev: readonly Pair[];
    /** Tokens per example (decoder-only: source + target); default: the model's positions minus the variant's. */
    readonly maxLength?: number;
    /** Where the pairs came from, for messages (a task name, a file). */
    readonly where: string;
  }
  | { readonly kind: 'stream'; readonly batches: BatchStream };

/** How it is trained. */
export interface TuneSettings {
  readonly variant: Variant;
  readonly loss: 'mean' | 'sum';
  /** Passes over pairs (a stream is read once). */
  readonly epochs: number;
  /** Examples per micro-batch (pairs). */
  readonly batchSize: number;
  readonly seed: number;
  readonly schedule: ScheduleConfig | LrSchedule;
  /** AdamW, with clipping and gradient accumulation. */
  readonly optimizer: AdamWConfig;
  readonly patience?: number;
  readonly checkpointEvery?: number;
  readonly stepsPerRun?: number;
  readonly onNonFinite?: 'stop' | 'skip';
}

export interface TuneArgs {
  /** The model: its config and weights; the tokenizer for pairs; `name` is recorded in the adapter. */
  readonly model: Pick<LoadedModel, 'config' | 'params'> & Partial<Pick<LoadedModel, 'tokenizer' | 'dir'>> & { readonly name: string };
  readonly data: TuneData;
  readonly settings: TuneSettings;
  /** User-defined kinds (`defineKind`) the variant's `custom` parts name. */
  readonly kinds?: readonly Kind[];
  /** A checkpoint to continue (read from the run's storage); refused unless it is this run's. */
  readonly resume?: { readonly state: TrainState; readonly manifest: RunManifest };
}

/** Progress of a run, after each update. */
export interface TuneProgress {
  /** Micro-batches done (all epochs) and in all (Infinity for a stream). */
  readonly done: number;
  readonly total: number;
  /** 1-based. */
  readonly epoch: number;
  readonly epochs: number;
  readonly step: number;
  readonly totalSteps: number;
  readonly loss: number;
  readonly tokensPerS: number;
  readonly etaS: number;
}

export interface TuneHooks {
  /** One record per optimizer update (aggregated over its micro-batches) and per epoch. */
  readonly onRecord?: (r: LogRecord) => void | Promise<void>;
  readonly onProgress?: (p: TuneProgress) => void;
  /** A micro-batch skipped under `onNonFinite: 'skip'`. */
  readonly onSkip?: (m: NonFinite) => void;
  /** Polled between steps (signals, budgets): the run checkpoints and returns `interrupted`. */
  readonly shouldStop?: () => boolean;
  /** Before each checkpoint is stored (e.g. a validation pass over `state`'s parameters). */
  readonly beforeSave?: (state: TrainState, at: { readonly elapsed: number }) => Promise<void>;
  /** After each checkpoint is stored. */
  readonly afterSave?: (state: TrainState) => Promise<void>;
  /** The caller's own bookkeeping stored with each checkpoint (e.g. a stream's position). */
  readonly extra?: () => Record<string, unknown>;
}

export interface TuneRunOptions {
  readonly backend: Backend;
  /** Where checkpoints go (none: the run keeps no checkpoint). */
  readonly storage?: RunStorage;
  /** The caller's resolved settings, recorded in each checkpoint (compared on resume by the caller). */
  readonly run?: Record<string, unknown>;
  /** Write the adapter at the end (default: true). */
  readonly adapter?: boolean;
  /** Seconds trained before this run that the checkpoint does not know of (a model continued from exported weights). */
  readonly elapsedBefore?: number;
  readonly hooks?: TuneHooks;
}

export interface TuneResult {
  readonly stopped: TrainResult['stopped'];
  readonly state: TrainState;
  /** Final trainable parameters (the best on dev when there is a dev set). */
  readonly params: Record<string, HostTensor>;
  readonly nonFinite?: NonFinite;
  /** The step of the last stored checkpoint (undefined: none yet). */
  readonly lastCheckpoint?: number;
  readonly lastLoss: number;
  /** Seconds of training in all (resumed runs included). */
  readonly elapsed: number;
  /** The adapter (a finished run, unless `adapter: false`): its files, values stored and whether PEFT can read it. */
  readonly adapter?: { readonly bytes: AdapterBytes; readonly values: number; readonly peft: boolean };
}

/** A checked run, ready to train. */
export interface TunePlan {
  readonly injection: Injection;
  readonly loss: Node;
  /** Examples per side (pairs; 0 for a stream), truncated examples and the length they were cut to. */
  readonly examples: { readonly train: number; readonly dev: number; readonly truncated: number; readonly maxLength: number };
  /** Optimizer updates per epoch and in all (Infinity for a stream). */
  readonly updatesPerEpoch: number;
  readonly totalSteps: number;
  /** For the user: the variant, the model, and the trainable parameters with the data. */
  readonly describeVariant: string;
  readonly describeModel: string;
  readonly details: string;
  readonly run: (o: TuneRunOptions) => Promise<TuneResult>;
}

/** Bookkeeping stored with each checkpoint, so a resumed run logs exactly what an uninterrupted one would. */
interface Book {
  elapsed: number;
  pending: { lossSum: number; n: number; tokens: number; seconds: number };
  epochLossSum: number;
  epochSteps: number;
}

const bookOf = (v: unknown): Book => {
  const x = (v ?? {}) as Partial<Book>;
  return {
    elapsed: Number(x.elapsed ?? 0),
    pending: { lossSum: 0, n: 0, tokens: 0, seconds: 0, ...(x.pending ?? {}) },
    epochLossSum: Number(x.epochLossSum ?? 0),
    epochSteps: Number(x.epochSteps ?? 0),
  };
};

const fail = (m: string): never => {
  throw new TuneError(m);
};

/** Checks a run and prepares its graph and batches; throws `TuneError` naming what does not fit. */
export const planTune = (args: TuneArgs): TunePlan => {
  const { model, data, settings: s, resume } = args;
  const cfg = model.config;
  const k = s.optimizer.accumulation ?? 1;
  let inj: Injection;
  let loss: Node;
  try {
    const kinds = args.kinds ? { kinds: args.kinds } : {};
    const plain = inject(modelSites(cfg), s.variant, kinds);
    // dropout masks are fed where a group has dropout
    inj = plain.groups.some((g) => g.dropout > 0) ? inject(modelSites(cfg), s.variant, { ...kinds, dropout: true }) : plain;
    loss = injectedTrainGraph(cfg, inj, { loss: s.loss }).outputs['loss']!;
  } catch (e) {
    if (e instanceof Error) return fail(`the variant does not fit model '${model.name}' (${describeModel(cfg)}): ${e.message}`);
    throw e;
  }
  if (paramCount(inj) === 0) fail('the variant has nothing to train (length 0?)');
  if (inj.groups.some((g) => g.initText !== undefined) && isEncoderDecoder(cfg))
    fail('initialisation from words (--init-text, the low-data recipe) is implemented for decoder-only models');
  const trainableNames = new Set(inj.trainable.map((p) => p.name));
  const frozen = Object.fromEntries(Object.entries(model.params).filter(([n]) => !trainableNames.has(n)));

  // the data: batches within the position budget, or the stream
  let trainBatches: readonly Batch[] | BatchStream;
  let devBatches: Batch[] = [];
  let examples = { train: 0, dev: 0, truncated: 0, maxLength: 0 };
  let dataDigest = 'stream';
  let wordIds: (text: string) => readonly number[] = () => fail('initialisation from words needs a tokenizer');
  if (data.kind === 'pairs') {
    if (!model.tokenizer || model.dir === undefined) return fail('training on pairs needs the model\'s tokenizer');
    const loaded = { ...model, tokenizer: model.tokenizer, dir: model.dir };
    const tok = taskTokenizer(loaded);
    if (E.isLeft(tok)) return fail(tok.left);
    const space = prependSpace(cfg);
    wordIds = (text) => tok.right.encode(space ? ` ${text}` : text);
    const virtual = trainingVirtualPositions(cfg, inj);
    const positions = maxPositions(cfg);
    const maxLength = data.maxLength ?? positions - virtual;
    if (maxLength < 2) fail(`the model has ${positions} positions and the variant takes ${virtual}: no room for examples`);
    if (maxLength + virtual > positions)
      fail(`--max-length ${maxLength} plus the variant's ${virtual} virtual positions exceeds the model's ${positions} positions (use --max-length ${positions - virtual} or less)`);
    const bopts = { batchSize: s.batchSize, maxLength, prependSpace: space, seed: s.seed };
    const tb = makeBatches(cfg, inj, tok.right, data.train, { ...bopts, shuffle: true });
    const db = makeBatches(cfg, inj, tok.right, data.dev, { ...bopts, shuffle: false });
    for (const [name, b, set] of [['training', tb, data.train], ['dev', db, data.dev]] as const) {
      if (b.emptyPairs.length > 0)
        fail(`${b.emptyPairs.length} of ${set.length} ${name} pairs have an empty source and an empty target (the first is pair ${b.emptyPairs[0]! + 1}): remove them from the data`);
      if (b.emptyTargets.length > 0)
        fail(`--max-length ${maxLength} leaves no target token in ${b.emptyTargets.length} of ${set.length} ${name} examples (the first is example ${b.emptyTargets[0]! + 1}): raise --max-length`);
    }
    const ids = checkIds([tb.maxId, db.maxId], cfg, model.tokenizer, data.where);
    if (E.isLeft(ids)) fail(ids.left);
    if (tb.batches.length === 0) fail(`no training examples in ${data.where}`);
    trainBatches = tb.batches;
    devBatches = db.batches.map((b) => ({ ...b, feeds: { ...b.feeds, ...dropoutFeeds(inj, rowsOf(b)) } }));
    examples = { train: data.train.length, dev: data.dev.length, truncated: tb.truncated, maxLength };
    dataDigest = batchesDigest([...tb.batches, ...db.batches]);
  } else {
    if (s.epochs !== 1) fail(`a batch stream is read once: epochs must be 1 (got ${s.epochs})`);
    trainBatches = data.batches;
  }
  const mDigest = modelDigest(cfg, frozen);

  // a resumed checkpoint must be this model, this variant, these batches
  if (resume) {
    const m = resume.manifest;
    if (m.model.digest !== mDigest)
      fail(`cannot resume: the checkpoint was written for another model (${m.model.description}); '${model.name}' is ${describeModel(cfg)} with different weights`);
    for (const p of inj.trainable) {
      const x = resume.state.tensors[p.name];
      if (!x || x.shape.join(',') !== p.shape.join(','))
        fail(`cannot resume: the checkpoint is for another variant (${p.name}: ${x ? `[${x.shape.join(',')}]` : 'absent'} in the checkpoint, [${p.shape.join(',')}] for ${describeVariant(inj)})`);
    }
    if (m.data.digest !== dataDigest)
      fail(`cannot resume: the training data differ from the checkpoint's (${m.data.train} train / ${m.data.dev} dev examples then, ${examples.train} / ${examples.dev} now, or different contents)`);
  }

  const microPerEpoch = Array.isArray(trainBatches) ? trainBatches.length : Infinity;
  const updatesPerEpoch = Math.ceil(microPerEpoch / k);
  const totalSteps = updatesPerEpoch * s.epochs;
  const variantText = describeVariant(inj);
  const details = `${paramCount(inj).toLocaleString('en-US')} trainable parameters` +
    (data.kind === 'pairs'
      ? `, ${examples.train} train / ${examples.dev} dev examples${examples.truncated > 0 ? ` (${examples.truncated} truncated to ${examples.maxLength} tokens)` : ''}, ${s.epochs} epochs x ${updatesPerEpoch} updates`
      : ', from a stream');

  const run = async (o: TuneRunOptions): Promise<TuneResult> => {
    const { backend, storage, hooks = {} } = o;
    let init: Record<string, HostTensor>;
    try {
      init = resume
        ? initialValues(inj.trainable, s.seed, model.params)
        : await initialiseInjection({ backend, cfg, frozen: model.params, groups: inj.groups, trainable: inj.trainable, seed: s.seed, wordIds });
    } catch (e) {
      if (e instanceof TuneError) throw e;
      return fail(`initialisation from words: ${(e as Error).message}`);
    }
    const book = bookOf(resume?.manifest.extra);
    if (!resume) book.elapsed += o.elapsedBefore ?? 0;
    const t0 = performance.now();
    const elapsed = () => book.elapsed + (performance.now() - t0) / 1000;
    let microDone = resume ? resume.state.epoch * microPerEpoch + resume.state.batchInEpoch : 0;
    const microTotal = microPerEpoch * s.epochs;
    let secondsHere = 0, microHere = 0;
    let lastLoss = NaN;
    let lastStep = resume?.state.step ?? 0;
    let saved: TrainState | undefined;
    let lastCheckpoint = resume ? resume.state.step : undefined;
    const meta = () => ({
      run: o.run ?? {},
      model: { digest: mDigest, description: `${model.name}: ${describeModel(cfg)}` },
      data: { digest: dataDigest, train: examples.train, dev: examples.dev },
      extra: { ...book, elapsed: elapsed(), ...(hooks.extra?.() ?? {}) },
    });
    const checkpoint = async (st: TrainState) => {
      if (!storage) return;
      await hooks.beforeSave?.(st, { elapsed: elapsed() });
      await storage.save(st, meta());
      saved = st;
      lastCheckpoint = st.step;
      await hooks.afterSave?.(st);
    };
    const record = async (r: LogRecord) => { await hooks.onRecord?.(r); };
    const result = await train({
      backend, loss, trainable: inj.trainable, init, frozen, trainBatches,
      ...(devBatches.length > 0 ? { devBatches } : {}),
      config: {
        epochs: s.epochs, seed: s.seed, schedule: s.schedule, optimizer: s.optimizer, onNonFinite: s.onNonFinite ?? 'stop',
        ...(s.checkpointEvery !== undefined ? { checkpointEvery: s.checkpointEvery } : {}),
        ...(s.stepsPerRun !== undefined ? { stepsPerRun: s.stepsPerRun } : {}),
        ...(s.patience !== undefined ? { patience: s.patience } : {}),
      },
      ...(resume ? { resume: resume.state } : {}),
      hooks: {
        ...(hooks.shouldStop ? { shouldStop: hooks.shouldStop } : {}),
        ...(hooks.onSkip ? { onSkip: hooks.onSkip } : {}),
        checkpoint,
        ...(inj.dropoutInputs ? { extraFeeds: (_step: number, batch: Batch, rng: Parameters<typeof dropoutFeeds>[2]) => dropoutFeeds(inj, rowsOf(batch), rng) } : {}),
        onStep: async (m) => {
          microDone++; microHere++; secondsHere += m.seconds;
          const p = book.pending;
          p.lossSum += m.loss; p.n += 1; p.tokens += m.tokens; p.seconds += m.seconds;
          const lastOfGroup = m.batch % k === 0 || m.batch === m.batchesPerEpoch;
          if (!lastOfGroup) return;
          const rec: LogRecord = {
            type: 'step', step: m.step, epoch: m.epoch + 1, loss: p.lossSum / p.n, lr: m.lr, grad_norm: m.gradNorm,
            tokens: p.tokens, tokens_per_s: p.seconds > 0 ? p.tokens / p.seconds : 0, elapsed: elapsed(),
          };
          book.epochLossSum += rec.loss; book.epochSteps += 1;
          book.pending = { lossSum: 0, n: 0, tokens: 0, seconds: 0 };
          lastLoss = rec.loss;
          lastStep = m.step;
          await record(rec);
          const eta = microHere > 0 ? ((microTotal - microDone) * secondsHere) / microHere : NaN;
          hooks.onProgress?.({ done: microDone, total: microTotal, epoch: m.epoch + 1, epochs: s.epochs, step: m.step, totalSteps, loss: rec.loss, tokensPerS: rec.tokens_per_s, etaS: eta });
        },
        onEpoch: async (e) => {
          const rec: LogRecord = {
            type: 'epoch', epoch: e.epoch, step: lastStep, train_loss: book.epochSteps > 0 ? book.epochLossSum / book.epochSteps : e.trainLoss,
            dev_loss: e.devLoss ?? null, best: e.best, elapsed: elapsed(),
          };
          book.epochLossSum = 0; book.epochSteps = 0;
          await record(rec);
        },
      },
    });
    const base = {
      stopped: result.stopped, state: result.state, params: result.params, lastLoss, elapsed: elapsed(),
      ...(result.nonFinite ? { nonFinite: result.nonFinite } : {}),
    };
    if (result.stopped === 'non-finite') return { ...base, ...(lastCheckpoint !== undefined ? { lastCheckpoint } : {}) };
    // an interrupted run ends on a checkpoint (unless the last one is this very state)
    const st = result.state;
    const same = saved !== undefined && saved.step === st.step && saved.epoch === st.epoch && saved.batchInEpoch === st.batchInEpoch;
    if (result.stopped === 'interrupted' && !same) await checkpoint(st);
    const done = { ...base, ...(lastCheckpoint !== undefined ? { lastCheckpoint } : {}) };
    if (result.stopped === 'interrupted' || o.adapter === false) return done;

    // the adapter: computed activations (MLP dropped), fine-tuned weights as they are
    let computed: Record<string, HostTensor> | undefined;
    if (inj.groups.some((g) => g.reparam.kind === 'mlp')) {
      const exe = await backend.compile(storedActivationsGraph(inj), { params: result.params });
      try {
        computed = await exe.run(storedFeeds(inj));
      } finally {
        await exe.dispose();
      }
    }
    const stored = storedParams(inj, result.params, computed);
    const bytes = serializeAdapter(cfg, inj, stored, { baseModel: model.name, baseModelDigest: weightsDigest(model.params) });
    return {
      ...done,
      adapter: { bytes, values: Object.values(stored).reduce((n, x) => n + x.data.length, 0), peft: bytes.peft || peftExpressible(cfg, inj) },
    };
  };
  return { injection: inj, loss, examples, updatesPerEpoch, totalSteps, describeVariant: variantText, describeModel: describeModel(cfg), details, run };
};

/** Plans and runs a training run (see the module comment). */
export const tune = async (args: TuneArgs & TuneRunOptions): Promise<TuneResult> => planTune(args).run(args);
