/**
 * The training loop, over any backend: the official trainer's recipe (AdamW without decay on
 * biases and norms, linear warmup then linear decay, gradient clipping, gradient
 * accumulation, per-token mean or per-sentence sum loss), dev evaluation each epoch with
 * early stopping, seeded and reproducible.
 *
 * Resumable exactly: the loop's whole state (trainable parameters, optimizer moments, step,
 * epoch, position in the epoch, best dev loss, patience) is a `TrainState` value handed to
 * `checkpoint` and accepted back as `resume`; the batch order of every epoch is a pure
 * function of (seed, epoch), so a run killed at any moment and resumed from its last
 * checkpoint ends with exactly the parameters of an uninterrupted run.
 *
 * Files, terminals and signals are the caller's: the loop reports through callbacks.
 *
 * `stepsPerRun: n` runs n micro-batches per backend call (`unrollTrainSteps`): a backend whose
 * state lives on the host between runs (onnxruntime-node on CUDA) then moves it to the device
 * and back once per n micro-batches. The results are those of one call per micro-batch (the same
 * operations in the same order); the loop then polls `shouldStop` and checkpoints between calls.
 *
 * A non-finite loss or gradient norm (and non-finite parameters about to be checkpointed) never
 * reaches a checkpoint: with `onNonFinite: 'stop'` (the default) the loop returns at once with
 * `stopped: 'non-finite'` and the last checkpointed state, so the checkpoint on disk stays the
 * last good one; with `'skip'` the micro-batch's update is undone (the state read before it is
 * written back) and training goes on (one micro-batch per run and no accumulation, so that a
 * skipped batch is exactly one update that did not happen).
 *
 * The batches are an array (epochs over a fixed set, re-ordered each epoch) or a `BatchStream`
 * read once in order (pretraining's corpus: one pass, as long as the stream gives batches or
 * until `shouldStop`; its position is the caller's to checkpoint beside the `TrainState`). The
 * learning rate follows a `ScheduleConfig` or any `LrSchedule` function of the update. A stream is
 * never read ahead, and gives whole updates (no gradient accumulation).
 */
import type { Backend, Executable } from '../backend/backend.ts';
import type { HostTensor } from '../backend/tensor.ts';
import type { Graph } from '../ir/graph.ts';
import { graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { trainStepGraph, trainState, trainStateNames, trainInternalOutputs, trainNames, unrollTrainSteps, type Trainable } from '../train/step.ts';
import type { AdamWConfig } from '../train/config.ts';
import { Sampler } from '../random.ts';

export interface ScheduleConfig {
  /** Peak learning rate. */
  readonly lr: number;
  /** Linear warmup steps (optimizer updates). */
  readonly warmupSteps: number;
  /** `linear`: decay to 0 at the last update (transformers' get_linear_schedule_with_warmup); `constant`. */
  readonly decay: 'linear' | 'constant';
}

/** Learning rate at optimizer update `step` (1-based) of `total`. */
export const learningRate = (s: ScheduleConfig, step: number, total: number): number => {
  const t = step - 1; // transformers' LambdaLR sees 0, 1, ... for the successive updates
  if (t < s.warmupSteps) return (s.lr * t) / Math.max(1, s.warmupSteps);
  if (s.decay === 'constant') return s.lr;
  return s.lr * Math.max(0, (total - t) / Math.max(1, total - s.warmupSteps));
};

/** A learning-rate schedule as a function: the rate of optimizer update `step` (1-based) of `total` (Infinity for a stream). */
export type LrSchedule = (step: number, total: number) => number;

/**
 * Training batches read once, in order (a corpus stream): `next` gives the next batch, or
 * undefined when the stream has ended.
 */
export interface BatchStream {
  readonly next: () => Promise<Batch | undefined>;
}

export interface TrainerConfig {
  /** Passes over array batches (a stream is read once: 1). */
  readonly epochs: number;
  readonly schedule: ScheduleConfig | LrSchedule;
  readonly optimizer: AdamWConfig;
  readonly seed: number;
  /** Stop when the dev loss has not improved for this many epochs (absent: never). */
  readonly patience?: number;
  /** Write a checkpoint every this many optimizer updates (and at each epoch end). */
  readonly checkpointEvery?: number;
  /**
   * Micro-batches per backend run (default 1; see the module comment). A checkpoint due inside
   * a run is written at its end.
   */
  readonly stepsPerRun?: number;
  /** What a non-finite loss or gradient norm does (see the module comment; default `stop`). */
  readonly onNonFinite?: 'stop' | 'skip';
}

/** Where training met a non-finite value. */
export interface NonFinite {
  readonly step: number;
  readonly epoch: number;
  /** 1-based micro-batch of the epoch. */
  readonly batch: number;
  readonly what: 'loss' | 'gradient norm' | 'parameters';
  readonly value: number;
}

/** A batch: graph feeds and the number of target tokens it holds (for tokens/s). */
export interface Batch {
  readonly feeds: Readonly<Record<string, HostTensor>>;
  readonly tokens: number;
}

export interface StepMetrics {
  readonly step: number;
  readonly epoch: number;
  readonly batch: number;
  readonly batchesPerEpoch: number;
  readonly totalSteps: number;
  readonly loss: number;
  readonly gradNorm: number;
  readonly lr: number;
  readonly tokens: number;
  readonly seconds: number;
}

export interface EpochMetrics {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly devLoss?: number;
  readonly best: boolean;
}

/** Everything needed to resume (a plain value; serialise it as you like). */
export interface TrainState {
  readonly step: number;
  readonly epoch: number;
  /** Micro-batches of the current epoch already consumed. */
  readonly batchInEpoch: number;
  readonly bestDevLoss: number | null;
  readonly badEpochs: number;
  /** Trainable parameters, optimizer moments and accumulators by state name. */
  readonly tensors: Readonly<Record<string, HostTensor>>;
  /** The best-on-dev trainable parameters so far (early stopping restores them). */
  readonly best: Readonly<Record<string, HostTensor>> | null;
  readonly done: boolean;
}

export interface TrainerHooks {
  readonly onStep?: (m: StepMetrics) => void | Promise<void>;
  readonly onEpoch?: (m: EpochMetrics) => void | Promise<void>;
  readonly checkpoint?: (s: TrainState) => Promise<void>;
  /** Polled between steps (e.g. set by SIGINT): the loop checkpoints and returns. */
  readonly shouldStop?: () => boolean;
  /** Extra feeds per micro-batch (e.g. dropout masks), from a generator seeded by the step. */
  readonly extraFeeds?: (step: number, batch: Batch, rng: Sampler) => Record<string, HostTensor>;
  /** A micro-batch skipped under `onNonFinite: 'skip'`. */
  readonly onSkip?: (m: NonFinite) => void | Promise<void>;
}

export interface TrainResult {
  readonly state: TrainState;
  /** Final trainable parameters (the best on dev when a dev set was given). */
  readonly params: Record<string, HostTensor>;
  readonly stopped: 'finished' | 'early-stopped' | 'interrupted' | 'non-finite';
  /** With `stopped: 'non-finite'`: where (`state` is then the last checkpointed state, or the starting one). */
  readonly nonFinite?: NonFinite;
}

/** The first non-finite float value of some tensors, if any. */
const firstNonFinite = (ts: Readonly<Record<string, HostTensor>>): number | undefined => {
  for (const t of Object.values(ts)) {
    if (t.dtype !== 'float32') continue;
    for (const v of t.data as Float32Array) if (!Number.isFinite(v)) return v;
  }
  return undefined;
};

const scalarF32 = (v: number): HostTensor => ({ dtype: 'float32', shape: [], data: Float32Array.of(v) });

/** The order of an epoch's batches: a pure function of (seed, epoch). */
export const epochOrder = (seed: number, epoch: number, n: number): number[] =>
  new Sampler((seed * 1000003 + epoch * 7919) >>> 0).shuffle(Array.from({ length: n }, (_, i) => i));

/**
 * The loop's view of its batches: how many per pass (Infinity for a stream) and, per epoch, a
 * function taking up to `n` batches from position `b` (`last`: nothing follows them).
 */
const batchSource = (batches: readonly Batch[] | BatchStream): {
  readonly count: number;
  readonly stream: boolean;
  readonly epoch: (seed: number, epoch: number) => (b: number, n: number) => Promise<{ batches: Batch[]; last: boolean }>;
} => {
  if (isBatchArray(batches)) {
    const count = batches.length;
    return {
      count, stream: false,
      epoch: (seed, epoch) => {
        const order = epochOrder(seed, epoch, count);
        return async (b, n) => ({ batches: order.slice(b, b + n).map((i) => batches[i]!), last: b + n >= count });
      },
    };
  }
  // read as needed and never ahead: the caller's stream position at a checkpoint is exactly what was trained on
  return {
    count: Infinity, stream: true,
    epoch: () => async (_b, n) => {
      const out: Batch[] = [];
      for (let i = 0; i < n; i++) {
        const x = await batches.next();
        if (x === undefined) return { batches: out, last: true };
        out.push(x);
      }
      return { batches: out, last: false };
    },
  };
};

const isBatchArray = (b: readonly Batch[] | BatchStream): b is readonly Batch[] => Array.isArray(b);

/**
 * Trains `trainable` params of `loss` (a float32 scalar node whose graph's other params are
 * `frozen`). `train` batches are re-ordered every epoch; `dev` batches are evaluated after
 * each epoch with the forward graph alone.
 */
export const train = async (args: {
  readonly backend: Backend;
  readonly loss: Node;
  readonly trainable: readonly Trainable[];
  readonly init: Readonly<Record<string, HostTensor>>;
  readonly frozen: Readonly<Record<string, HostTensor>>;
  readonly trainBatches: readonly Batch[] | BatchStream;
  readonly devBatches?: readonly Batch[];
  readonly config: TrainerConfig;
  readonly hooks?: TrainerHooks;
  readonly resume?: TrainState;
}): Promise<TrainResult> => {
  const { backend, loss, trainable, config, hooks = {} } = args;
  const k = config.optimizer.accumulation ?? 1;
  const source = batchSource(args.trainBatches);
  const nBatches = source.count;
  if (nBatches === 0) throw new Error('train: no training batches');
  if (source.stream && config.epochs !== 1) throw new Error(`train: a batch stream is read once (epochs 1, got ${config.epochs})`);
  // an update's micro-batches must be known to be complete, and a stream is never read ahead
  if (source.stream && k > 1) throw new Error('train: gradient accumulation needs array batches (a stream gives whole updates: make its batches larger)');
  const updatesPerEpoch = Math.ceil(nBatches / k);
  const totalSteps = updatesPerEpoch * config.epochs;
  const schedule = config.schedule;
  if (source.stream && typeof schedule !== 'function' && schedule.decay === 'linear')
    throw new Error('train: a linear decay needs the number of updates, which a batch stream does not have (use a constant schedule or an LrSchedule function)');
  const lrAt = (step: number): number => (typeof schedule === 'function' ? schedule(step, totalSteps) : learningRate(schedule, step, totalSteps));
  const perRun = config.stepsPerRun ?? 1;
  if (!Number.isInteger(perRun) || perRun < 1) throw new Error(`train: stepsPerRun must be a positive integer, got ${perRun}`);
  const skipNonFinite = config.onNonFinite === 'skip';
  if (skipNonFinite && (perRun > 1 || k > 1)) throw new Error('train: onNonFinite \'skip\' needs stepsPerRun 1 and no gradient accumulation');
  const stepGraph: Graph = trainStepGraph(loss, trainable, config.optimizer);
  const stateNames = trainStateNames(trainable, config.optimizer);
  // one executable per run length (n micro-batches; the last run of an epoch may be shorter),
  // compiled when first needed; the state moves to the one in use
  // (an epoch whose length is not a multiple of stepsPerRun moves the state twice per epoch)
  const exes = new Map<number, Executable>();
  let exe: Executable | undefined;
  const use = async (n: number): Promise<Executable> => {
    let next = exes.get(n);
    if (next === undefined) {
      const g = unrollTrainSteps(stepGraph, trainable, config.optimizer, n);
      next = await backend.compile(g, { params: args.frozen, state: trainState(trainable, args.init, config.optimizer), internalOutputs: trainInternalOutputs(g) });
      exes.set(n, next);
    }
    if (exe !== undefined && next !== exe) for (const name of stateNames) await next.writeState(name, await exe.readState(name));
    return (exe = next);
  };
  await use(Math.min(perRun, nBatches));
  // forward-only graph for dev loss; trainable values are (read-only) state written before each evaluation
  const evalExe = args.devBatches && args.devBatches.length > 0
    ? await backend.compile(graph({ loss }), { params: args.frozen, state: Object.fromEntries(trainable.map((t) => [t.name, { init: args.init[t.name]! }])) })
    : undefined;
  const readAll = async (): Promise<Record<string, HostTensor>> =>
    Object.fromEntries(await Promise.all(stateNames.map(async (n) => [n, await exe!.readState(n)] as const)));
  const readParams = async (): Promise<Record<string, HostTensor>> =>
    Object.fromEntries(await Promise.all(trainable.map(async (t) => [t.name, await exe!.readState(t.name)] as const)));

  let st: TrainState = args.resume ?? { step: 0, epoch: 0, batchInEpoch: 0, bestDevLoss: null, badEpochs: 0, tensors: {}, best: null, done: false };
  if (args.resume) for (const [n, t] of Object.entries(args.resume.tensors)) await exe!.writeState(n, t);
  const snapshot = async (patch: Partial<TrainState>): Promise<TrainState> => ({ ...st, ...patch, tensors: await readAll() });
  let stopped: TrainResult['stopped'] = 'finished';
  let nonFinite: NonFinite | undefined;
  let lastGood: TrainState = st;
  /** Checkpoints `s` unless its parameters are non-finite (then records where and returns false). */
  const checkpointIfFinite = async (s: TrainState): Promise<boolean> => {
    const bad = firstNonFinite(s.tensors);
    if (bad !== undefined) {
      nonFinite = { step: s.step, epoch: s.epoch, batch: s.batchInEpoch, what: 'parameters', value: bad };
      return false;
    }
    if (hooks.checkpoint) await hooks.checkpoint(s);
    lastGood = s;
    return true;
  };
  try {
    epochs: while (!st.done && st.epoch < config.epochs) {
      const pick = source.epoch(config.seed, st.epoch);
      let lossSum = 0;
      let lossCount = 0;
      for (let b = st.batchInEpoch; b < nBatches; ) {
        if (hooks.shouldStop?.()) {
          stopped = 'interrupted';
          st = await snapshot({});
          break epochs;
        }
        const taken = await pick(b, Math.min(perRun, nBatches - b));
        const n = taken.batches.length;
        if (n === 0) break; // the stream has ended
        const run = await use(n);
        // the feeds of micro-batches b .. b+n-1, each under its step's names
        const feeds: Record<string, HostTensor> = {};
        const micros: { batch: Batch; step: number; lr: number; lastOfGroup: boolean }[] = [];
        let updates = st.step;
        for (let j = 0; j < n; j++) {
          const bj = b + j;
          const batch = taken.batches[j]!;
          const micro = bj % k;
          const lastOfGroup = micro === k - 1 || (taken.last && j === n - 1);
          const step = updates + 1; // the optimizer update this micro-batch contributes to
          const lr = lrAt(step);
          const extra = hooks.extraFeeds?.(step * k + micro, batch, new Sampler((config.seed ^ (step * 2654435761 + micro)) >>> 0)) ?? {};
          const own: Record<string, HostTensor> = {
            ...batch.feeds, ...extra,
            [trainNames.lr]: scalarF32(lr), [trainNames.step]: scalarF32(step),
            ...(k > 1 ? { [trainNames.apply]: scalarF32(lastOfGroup ? 1 : 0) } : {}),
          };
          for (const [name, t] of Object.entries(own)) feeds[trainNames.at(name, j)] = t;
          micros.push({ batch, step, lr, lastOfGroup });
          if (lastOfGroup) updates = step;
        }
        const before = skipNonFinite ? await readAll() : undefined;
        const t0 = performance.now();
        const out = await run.run(feeds, micros.flatMap((_, j) => [trainNames.at(trainNames.loss, j), trainNames.at(trainNames.gradNorm, j)]));
        const seconds = (performance.now() - t0) / 1000 / n;
        let checkpointDue = false;
        for (let j = 0; j < n; j++) {
          const { batch, step, lr, lastOfGroup } = micros[j]!;
          const l = Number(out[trainNames.at(trainNames.loss, j)]!.data[0]);
          const gn = Number(out[trainNames.at(trainNames.gradNorm, j)]!.data[0]);
          if (!Number.isFinite(l) || !Number.isFinite(gn)) {
            const where: NonFinite = { step, epoch: st.epoch, batch: b + j + 1, what: Number.isFinite(l) ? 'gradient norm' : 'loss', value: Number.isFinite(l) ? gn : l };
            if (!before) {
              nonFinite = where;
              break epochs;
            }
            for (const [name, v] of Object.entries(before)) await run.writeState(name, v);
            st = { ...st, batchInEpoch: b + j + 1, step };
            await hooks.onSkip?.(where);
            continue;
          }
          lossSum += l;
          lossCount++;
          st = { ...st, batchInEpoch: b + j + 1, step: lastOfGroup ? step : st.step };
          await hooks.onStep?.({
            step, epoch: st.epoch, batch: b + j + 1, batchesPerEpoch: nBatches, totalSteps, loss: l,
            gradNorm: gn, lr, tokens: batch.tokens, seconds,
          });
          if (lastOfGroup && config.checkpointEvery && step % config.checkpointEvery === 0) checkpointDue = true;
        }
        b += n;
        if (taken.last) b = Math.max(b, nBatches); // a stream's last batch ends the pass
        if (checkpointDue && hooks.checkpoint && !(await checkpointIfFinite(await snapshot({})))) break epochs;
      }
      // end of epoch: dev evaluation and early stopping
      let devLoss: number | undefined;
      if (evalExe) {
        const params = await readParams();
        for (const [n, v] of Object.entries(params)) await evalExe.writeState(n, v);
        let s = 0;
        for (const d of args.devBatches!) s += Number((await evalExe.run(d.feeds, ['loss']))['loss']!.data[0]);
        devLoss = s / args.devBatches!.length;
      }
      const improved = devLoss !== undefined && (st.bestDevLoss === null || devLoss < st.bestDevLoss);
      const best = improved ? await readParams() : st.best;
      const badEpochs = devLoss === undefined || improved ? 0 : st.badEpochs + 1;
      const early = config.patience !== undefined && badEpochs >= config.patience;
      st = {
        ...st, epoch: st.epoch + 1, batchInEpoch: 0, best, badEpochs,
        bestDevLoss: improved ? devLoss! : st.bestDevLoss, done: early || st.epoch + 1 >= config.epochs,
      };
      await hooks.onEpoch?.({ epoch: st.epoch, trainLoss: lossSum / Math.max(1, lossCount), ...(devLoss !== undefined ? { devLoss } : {}), best: improved });
      if (early) stopped = 'early-stopped';
      st = await snapshot({});
      if (!(await checkpointIfFinite(st))) break;
    }
    if (nonFinite) return { state: lastGood, params: {}, stopped: 'non-finite', nonFinite };
    const params = st.best ? { ...st.best } : await readParams();
    return { state: st, params, stopped };
  } finally {
    for (const e of exes.values()) await e.dispose();
    await evalExe?.dispose();
  }
};
