/**
 * `prefix-tune train`: tunes a variant (the paper's prefix by default) of a frozen model on a
 * task or JSONL pairs, resumably. Writes into `--out`:
 *   run.json          the resolved configuration
 *   checkpoint/       TrainState (safetensors + checkpoint.json), crash-safe
 *   train-log.jsonl   one record per optimizer step and per epoch
 *   loss-curve.svg    updated at every checkpoint
 *   adapter/          at the end: the computed prefix (MLP dropped), PEFT format when PEFT can express it
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import {
  describeModel, flattenVariant, initialValues, initialiseInjection, inject, injectedTrainGraph, isEncoderDecoder, modelSites, modelTypeName, train, trainingVirtualPositions,
  type HostTensor, type Injection, type Node, type TrainState,
} from '@prefix-tuning/core';
import { weightsDigest, writeFileAtomic } from '@prefix-tuning/hub';
import { UsageError, type Command, type OptionSpec } from '../cli.ts';
import {
  serializeAdapter, storedActivationsGraph, storedFeeds, storedParams, peftExpressible,
} from '@prefix-tuning/core';
import { RECIPES, recipesMarkdown } from '@prefix-tuning/tasks';
import { checkResumeOptions, checkResumeVariant, decodeRunConfig, resolveRun, stepsPerRunOf, wordsLength, type RunConfig } from '../run/config.ts';
import { loadModelOrExit, maxPositions, prependSpace, taskTokenizer, checkIds, requireFile } from '../run/model.ts';
import { batchesDigest, makeBatches, trainingPairs } from '../run/data.ts';
import { backendChoice, deviceOption, selectBackend } from '../run/backend.ts';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint, type Manifest } from '../run/checkpoint.ts';
import { LOG_FILE, appendLog, readLog, truncateLog, type LogRecord } from '../run/log.ts';
import { lossCurveSvg } from '../run/svg.ts';
import { formatDuration, progressReporter } from '../run/progress.ts';
import { writeAdapterDir } from '../run/adapter.ts';
import { describeVariant, dropoutFeeds, modelDigest, paramCount, rowsOf } from '../run/describe.ts';
import { claimRunDir, type RunLock } from '../run/lock.ts';
import { checkOutDir, writeFailure } from '../run/outpath.ts';
import { onStopSignals } from '../run/signals.ts';

const options: OptionSpec[] = [
  { name: 'model', short: 'm', type: 'string', description: 'model directory or hub id (config.json, model.safetensors, tokenizer.json); required unless --resume' },
  { name: 'task', type: 'string', description: 'task: e2e, webnlg, dart, xsum, dialogsum, samsum, bbc-news, scitldr' },
  { name: 'data-dir', type: 'string', description: 'read the task from this directory (default: the shared copy, then the cache)' },
  { name: 'download', type: 'boolean', description: 'download the task\'s data into the cache when it is not on disk (default: off)' },
  { name: 'jsonl', type: 'string', description: 'training pairs instead of a task: JSONL of {"source", "target"}' },
  { name: 'dev-jsonl', type: 'string', description: 'development pairs for --jsonl (dev loss per epoch, early stopping)' },
  { name: 'variant', type: 'string', description: 'prefix | embedding | infix | finetune | finetune-top2 (default: prefix)' },
  { name: 'variant-json', type: 'string', description: 'any variant as JSON, e.g. {"kind":"prefix","length":10,"layers":{"top":12}}' },
  { name: 'prefix-length', type: 'number', description: 'virtual tokens (default: recipe, else 10)' },
  { name: 'reparam', type: 'string', description: 'mlp (the paper\'s P = MLP(P\')) | direct (default: mlp)' },
  { name: 'mlp-hidden', type: 'number', description: 'hidden width of the reparametrisation MLP (default: recipe, else 512)' },
  { name: 'prefix-dropout', type: 'number', description: 'dropout on the prefix activations (default: 0)' },
  { name: 'init-text', type: 'string', description: 'initialise the prefix from the activations of these words (its length becomes their token count)' },
  { name: 'recipe', type: 'string', description: `paper hyperparameters: ${Object.keys(RECIPES).join(', ')} (each value overridable)` },
  { name: 'epochs', type: 'number', description: 'epochs (default: recipe, else 10)' },
  { name: 'batch-size', type: 'number', description: 'examples per micro-batch (default: recipe, else 5)' },
  { name: 'lr', type: 'number', description: 'peak learning rate (default: recipe, else 5e-5)' },
  { name: 'warmup-steps', type: 'number', description: 'linear warmup updates, then linear decay to 0 (default: 0)' },
  { name: 'weight-decay', type: 'number', description: 'AdamW decoupled weight decay, not on biases/norms (default: 0)' },
  { name: 'max-grad-norm', type: 'number', description: 'clip the global gradient norm; 0 = off (default: 1)' },
  { name: 'grad-accum', type: 'number', description: 'micro-batches per optimizer update (default: 1)' },
  { name: 'loss', type: 'string', description: 'mean (per token, Hugging Face) | sum (per sentence, official code) (default: recipe, else mean)' },
  { name: 'max-examples', type: 'number', description: 'train on N sampled examples and ⌊0.3·N⌋ dev examples (the paper\'s low-data procedure)' },
  { name: 'max-dev-examples', type: 'number', description: 'cap the development examples; 0 = no dev evaluation' },
  { name: 'max-length', type: 'number', description: 'tokens per example (decoder-only: source + target; default: the model\'s positions minus the prefix)' },
  { name: 'seed', type: 'number', description: 'seed of sampling, initialisation, batch order and dropout (default: 42)' },
  { name: 'patience', type: 'number', description: 'stop after this many epochs without a better dev loss (default: never)' },
  { name: 'checkpoint-every', type: 'number', description: 'also checkpoint every N optimizer updates (default: 100; always at each epoch end)' },
  { name: 'on-nonfinite', type: 'string', description: 'a NaN/Inf loss or gradient: stop (exit 1, the last good checkpoint kept) | skip (undo that batch\'s update; needs --grad-accum 1, --steps-per-run 1) (default: stop)' },
  { name: 'backend', type: 'string', description: 'onnx | tfjs | reference (default: onnx)' },
  deviceOption,
  {
    name: 'steps-per-run', type: 'number',
    description: 'micro-batches per backend run (default 1). On CUDA, onnxruntime-node moves the trainable state and AdamW moments to the GPU and back at every run: 8 runs 8 micro-batches per transfer (8 updates with --grad-accum 1), for 8x the compile time; the results do not change',
  },
  { name: 'out', short: 'o', type: 'string', description: 'output directory', required: true },
  { name: 'resume', type: 'boolean', description: 'continue the run in --out from its checkpoint (same settings)' },
  { name: 'quiet', short: 'q', type: 'boolean', description: 'no progress output on stderr' },
];


/** Extra bookkeeping stored with each checkpoint (so a resumed run logs exactly what an uninterrupted one would). */
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

export const trainCommand: Command = {
  name: 'train',
  summary: 'prefix-tune a frozen model on a task or JSONL pairs (resumable; writes a PEFT adapter)',
  usage: [
    'prefix-tune train --model DIR|HUB_ID (--task NAME [--data-dir DIR] | --jsonl FILE [--dev-jsonl FILE]) --out DIR [options]',
    '       prefix-tune train --out DIR --resume',
    '',
    'Recipes (--recipe NAME sets these; any option given explicitly wins):',
    ...recipesMarkdown().split('\n').map((l) => `  ${l}`),
    '',
    'Writes into --out: run.json, checkpoint/, train-log.jsonl, loss-curve.svg and, at the end, adapter/',
    '(adapter_config.json + adapter_model.safetensors: the computed prefix, PEFT PREFIX_TUNING when PEFT can express the variant).',
    'Ctrl-C, SIGTERM and SIGHUP save a checkpoint and exit with 128 + the signal (130, 143, 129); --resume continues it exactly,',
    'keeping the run\'s settings (run-control options given again, e.g. --checkpoint-every, replace the saved value and are listed).',
    'One process at a time writes into --out (.lock names it: a second run is refused, exit 2; a dead owner\'s lock is taken over).',
    'A NaN/Inf loss or gradient stops the run (exit 1, the last good checkpoint kept, no adapter); --on-nonfinite skip skips that batch.',
    '--out is checked before any work (a file, under a file, not writable, /proc or /sys: exit 2); a failed write during the run',
    '(disk full, permissions) is one line naming the file; the previous checkpoint is intact and --resume continues from it.',
  ].join('\n'),
  options,
  run: async (opts) => {
    const out = String(opts['out']);
    const ckptDir = join(out, 'checkpoint');
    const resume = opts['resume'] === true;
    const quiet = opts['quiet'] === true;
    const say = (line: string) => { if (!quiet) console.error(line); };
    // one writer per --out: an existing directory is claimed before its checkpoint is read
    const outOk = checkOutDir(out);
    if (E.isLeft(outOk)) throw new UsageError(outOk.left);
    let lock: RunLock | undefined = existsSync(out) ? claimRunDir(out, 'train', say) : undefined;

    // 1. the run configuration (a resumed run keeps its own)
    let run: RunConfig;
    let resumeFrom: { state: TrainState; manifest: Manifest } | undefined;
    let resumeVariant: ReturnType<typeof checkResumeOptions>['variant'];
    if (resume) {
      if (!hasCheckpoint(ckptDir)) throw new UsageError(`nothing to resume: ${ckptDir} holds no checkpoint.json`);
      const c = await loadCheckpoint(ckptDir);
      if (E.isLeft(c)) throw new UsageError(`cannot resume: ${c.left}`);
      const saved = decodeRunConfig(c.right.manifest.run);
      if (E.isLeft(saved)) throw new UsageError(`cannot resume: ${ckptDir}/checkpoint.json: corrupt checkpoint: run: ${saved.left}`);
      const checked = checkResumeOptions(opts, saved.right);
      run = checked.run;
      resumeVariant = checked.variant;
      for (const c of checked.changed) say(`resume: ${c}`);
      resumeFrom = { state: c.right.state, manifest: c.right.manifest };
    } else {
      run = resolveRun(opts);
      if (hasCheckpoint(ckptDir))
        throw new UsageError(`${out} already holds a training run (${ckptDir}); pass --resume to continue it, or choose another --out`);
    }
    // options outside the run's settings: usage errors now, before anything loads or is written
    const backendReq = backendChoice(opts, run.backend);
    const stepsPerRun = stepsPerRunOf(opts);
    if (run.onNonFinite === 'skip' && (stepsPerRun > 1 || run.gradAccum > 1))
      throw new UsageError(`--on-nonfinite skip needs --grad-accum 1 and --steps-per-run 1 (got ${run.gradAccum} and ${stepsPerRun}): a skipped batch must be one whole update`);

    if (run.data.kind === 'jsonl') {
      requireFile(run.data.train, '--jsonl');
      if (run.data.dev !== null) requireFile(run.data.dev, '--dev-jsonl');
    }

    // 2. model, variant, graph
    const model = await loadModelOrExit(run.model);
    const cfg = model.config;
    const sites = modelSites(cfg);
    const tok = taskTokenizer(model);
    const wordCount = (text: string) => tok.encode(prependSpace(cfg) ? ` ${text}` : text).length;
    if (resumeVariant) checkResumeVariant(resumeVariant, run.variant, wordCount);
    else run = { ...run, variant: wordsLength(run.variant, wordCount) };
    const hasDropout = flattenVariant(run.variant).some((p) => p.kind !== 'finetune' && (p.dropout ?? 0) > 0);
    let inj: Injection;
    let loss: Node;
    try {
      inj = inject(sites, run.variant, { dropout: hasDropout });
      loss = injectedTrainGraph(cfg, inj, { loss: run.loss }).outputs['loss']!;
    } catch (e) {
      if (e instanceof Error) throw new UsageError(`the variant does not fit model '${run.model}' (${describeModel(cfg)}): ${e.message}`);
      throw e;
    }
    if (inj.trainable.length === 0) throw new UsageError('the variant has nothing to train (length 0?)');
    if (inj.groups.some((g) => g.initText !== undefined) && isEncoderDecoder(cfg))
      throw new UsageError('initialisation from words (--init-text, the low-data recipe) is implemented for decoder-only models');

    // 3. data -> batches
    // positions taken by the variant's virtual tokens (core's trainingVirtualPositions)
    const virtual = trainingVirtualPositions(cfg, inj);
    const positions = maxPositions(cfg);
    const maxLength = run.maxLength ?? positions - virtual;
    if (maxLength < 2) throw new UsageError(`the model has ${positions} positions and the variant takes ${virtual}: no room for examples`);
    if (maxLength + virtual > positions)
      throw new UsageError(`--max-length ${maxLength} plus the variant's ${virtual} virtual positions exceeds the model's ${positions} positions (use --max-length ${positions - virtual} or less)`);
    const pairs = await trainingPairs(run.data, { maxExamples: run.maxExamples, maxDevExamples: run.maxDevExamples, seed: run.seed, download: opts['download'] === true });
    const bopts = { batchSize: run.batchSize, maxLength, prependSpace: prependSpace(cfg), seed: run.seed };
    const tb = makeBatches(cfg, inj, tok, pairs.train, { ...bopts, shuffle: true });
    const db = makeBatches(cfg, inj, tok, pairs.dev, { ...bopts, shuffle: false });
    for (const [name, b, set] of [['training', tb, pairs.train], ['dev', db, pairs.dev]] as const) {
      if (b.emptyPairs.length > 0)
        throw new UsageError(`${b.emptyPairs.length} of ${set.length} ${name} pairs have an empty source and an empty target (the first is pair ${b.emptyPairs[0]! + 1}): remove them from the data`);
      if (b.emptyTargets.length > 0)
        throw new UsageError(`--max-length ${maxLength} leaves no target token in ${b.emptyTargets.length} of ${set.length} ${name} examples (the first is example ${b.emptyTargets[0]! + 1}): raise --max-length`);
    }
    checkIds([tb.maxId, db.maxId], cfg, model.tokenizer, run.data.kind === 'task' ? `task ${run.data.task}` : run.data.train);
    const devBatches = db.batches.map((b) => ({ ...b, feeds: { ...b.feeds, ...dropoutFeeds(inj, rowsOf(b)) } }));
    const dataDigest = batchesDigest([...tb.batches, ...db.batches]);
    const mDigest = modelDigest(cfg, model.params);
    const baseDigest = weightsDigest(model.params); // recorded in the adapter: generate/eval refuse it on other weights
    const trainableNames = new Set(inj.trainable.map((p) => p.name));
    const frozen = Object.fromEntries(Object.entries(model.params).filter(([n]) => !trainableNames.has(n)));

    // 4. a resumed checkpoint must be this model, this variant, these batches
    if (resumeFrom) {
      const m = resumeFrom.manifest;
      if (m.model.digest !== mDigest)
        throw new UsageError(`cannot resume: the checkpoint was written for another model (${m.model.description}); '${run.model}' is ${describeModel(cfg)} with different weights`);
      for (const p of inj.trainable) {
        const x = resumeFrom.state.tensors[p.name];
        if (!x || x.shape.join(',') !== p.shape.join(','))
          throw new UsageError(`cannot resume: the checkpoint is for another variant (${p.name}: ${x ? `[${x.shape.join(',')}]` : 'absent'} in the checkpoint, [${p.shape.join(',')}] for ${describeVariant(inj)})`);
      }
      if (m.data.digest !== dataDigest)
        throw new UsageError(`cannot resume: the training data differ from the checkpoint's (${m.data.train} train / ${m.data.dev} dev examples then, ${pairs.train.length} / ${pairs.dev.length} now, or different contents)`);
    }

    lock ??= claimRunDir(out, 'train', say);
    let lastCheckpoint = resumeFrom ? `step ${resumeFrom.state.step}` : '';
    if (!resume && hasCheckpoint(ckptDir)) throw new UsageError(`${out} already holds a training run (${ckptDir}); pass --resume to continue it, or choose another --out`);
    try {
      return await trainInto();
    } catch (e) {
      const m = writeFailure(e, lastCheckpoint ? `the previous checkpoint (${lastCheckpoint}) in ${ckptDir} is intact` : 'no checkpoint was written yet');
      if (m === undefined) throw e;
      console.error(`prefix-tune train: ${m}`);
      return 1;
    } finally {
      lock.release();
    }
    async function trainInto(): Promise<number> {
    const wr = await writeFileAtomic(join(out, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
    if (E.isLeft(wr)) throw new Error(wr.left);
    const backend = await selectBackend(backendReq);
    const k = run.gradAccum;
    const updatesPerEpoch = Math.ceil(tb.batches.length / k);
    const totalSteps = updatesPerEpoch * run.epochs;
    const reporter = progressReporter(process.stderr, { every: Math.max(1, Math.round(totalSteps / 50)), quiet });
    reporter.line(
      `${resume ? 'resuming' : 'training'} ${describeVariant(inj)} on ${describeModel(cfg)} [${run.backend}: ${backend.engine}]: ` +
        `${paramCount(inj).toLocaleString('en-US')} trainable parameters, ${pairs.train.length} train / ${pairs.dev.length} dev examples` +
        `${tb.truncated > 0 ? ` (${tb.truncated} truncated to ${maxLength} tokens)` : ''}, ${run.epochs} epochs x ${updatesPerEpoch} updates` +
        (resumeFrom ? `, from step ${resumeFrom.state.step}` : ''),
    );

    // 5. initial values (a resumed run overwrites them from the checkpoint)
    let init: Record<string, HostTensor>;
    try {
      init = resumeFrom
        ? initialValues(inj.trainable, run.seed, model.params)
        : await initialiseInjection({
          backend, cfg, frozen: model.params, groups: inj.groups, trainable: inj.trainable, seed: run.seed,
          wordIds: (text) => tok.encode(prependSpace(cfg) ? ` ${text}` : text),
        });
    } catch (e) {
      throw new UsageError(`initialisation from words: ${(e as Error).message}`);
    }

    // 6. logging and checkpoint hooks
    const logPath = join(out, LOG_FILE);
    const svgPath = join(out, 'loss-curve.svg');
    const records: LogRecord[] = resumeFrom
      ? await truncateLog(logPath, resumeFrom.state.step, resumeFrom.state.epoch)
      : (await truncateLog(logPath, -1, -1), []);
    const book = bookOf(resumeFrom?.manifest.extra);
    const t0 = performance.now();
    const elapsed = () => book.elapsed + (performance.now() - t0) / 1000;
    let microDone = resumeFrom ? resumeFrom.state.epoch * tb.batches.length + resumeFrom.state.batchInEpoch : 0;
    const microTotal = tb.batches.length * run.epochs;
    let secondsHere = 0, microHere = 0;
    let lastLoss = NaN;
    const writeSvg = async () => {
      const w = await writeFileAtomic(svgPath, lossCurveSvg(records, `${describeVariant(inj)} on ${modelTypeName(cfg)}`));
      if (E.isLeft(w)) throw new Error(w.left);
    };
    const meta = () => ({
      run: run as unknown as Record<string, unknown>,
      model: { digest: mDigest, description: `${run.model}: ${describeModel(cfg)}` },
      data: { digest: dataDigest, train: pairs.train.length, dev: pairs.dev.length },
      extra: { ...book, elapsed: elapsed() } as unknown as Record<string, unknown>,
    });
    const checkpoint = async (s: TrainState) => {
      await saveCheckpoint(ckptDir, s, meta());
      lastCheckpoint = `step ${s.step}`;
      await writeSvg();
    };
    const stop = onStopSignals((l) => reporter.line(l));
    let result;
    try {
      result = await train({
        backend, loss, trainable: inj.trainable, init, frozen,
        trainBatches: tb.batches,
        ...(devBatches.length > 0 ? { devBatches } : {}),
        config: {
          epochs: run.epochs, seed: run.seed, checkpointEvery: run.checkpointEvery, stepsPerRun, onNonFinite: run.onNonFinite ?? 'stop',
          ...(run.patience !== null ? { patience: run.patience } : {}),
          schedule: { lr: run.lr, warmupSteps: run.warmupSteps, decay: 'linear' },
          optimizer: {
            beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: run.weightDecay, flavor: run.adam,
            ...(run.maxGradNorm !== null ? { maxGradNorm: run.maxGradNorm } : {}),
            ...(k > 1 ? { accumulation: k } : {}),
          },
        },
        ...(resumeFrom ? { resume: resumeFrom.state } : {}),
        hooks: {
          shouldStop: () => stop.signal() !== undefined,
          onSkip: (m) => reporter.line(`step ${m.step} (epoch ${m.epoch + 1}, batch ${m.batch}): non-finite ${m.what} (${m.value}); its update was undone and the batch skipped`),
          checkpoint,
          extraFeeds: inj.dropoutInputs ? (_step, batch, rng) => dropoutFeeds(inj, rowsOf(batch), rng) : undefined,
          onStep: (m) => {
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
            records.push(rec);
            appendLog(logPath, rec);
            lastLoss = rec.loss;
            const eta = microHere > 0 ? ((microTotal - microDone) * secondsHere) / microHere : NaN;
            reporter.update({ done: microDone, total: microTotal, epoch: m.epoch + 1, epochs: run.epochs, step: m.step, totalSteps, loss: rec.loss, tokensPerS: rec.tokens_per_s, etaS: eta });
          },
          onEpoch: (e) => {
            const lastStep = records.length > 0 ? (records.filter((r) => r.type === 'step').pop()?.step ?? 0) : 0;
            const rec: LogRecord = {
              type: 'epoch', epoch: e.epoch, step: lastStep, train_loss: book.epochSteps > 0 ? book.epochLossSum / book.epochSteps : e.trainLoss,
              dev_loss: e.devLoss ?? null, best: e.best, elapsed: elapsed(),
            };
            book.epochLossSum = 0; book.epochSteps = 0;
            records.push(rec);
            appendLog(logPath, rec);
            reporter.line(`epoch ${e.epoch}/${run.epochs}: train loss ${rec.train_loss.toFixed(4)}${rec.dev_loss !== null ? `, dev loss ${rec.dev_loss.toFixed(4)}${e.best ? ' (best)' : ''}` : ''} [${formatDuration(elapsed())}]`);
          },
        },
      });
    } finally {
      stop.dispose();
      reporter.end();
    }
    if (result.stopped === 'non-finite') {
      const m = result.nonFinite!;
      console.error(`prefix-tune train: non-finite ${m.what} (${m.value}) at step ${m.step} (epoch ${m.epoch + 1}, batch ${m.batch}): training stopped; ` +
        `${lastCheckpoint ? `the last good checkpoint (${lastCheckpoint}) in ${ckptDir} is kept` : 'no checkpoint was written (it diverged before the first)'}; ` +
        'lower --lr, keep --max-grad-norm on, or pass --on-nonfinite skip');
      return 1;
    }

    if (result.stopped === 'interrupted') {
      await checkpoint(result.state);
      console.error(`interrupted${stop.signal() === 'SIGINT' ? '' : ` by ${stop.signal()}`}: checkpoint saved in ${ckptDir} (${lastCheckpoint}); continue with: prefix-tune train --out ${out} --resume`);
      return stop.exitCode();
    }

    // 7. the adapter: computed activations (MLP dropped), fine-tuned weights as they are
    const mlp = inj.groups.some((g) => g.reparam.kind === 'mlp');
    let computed: Record<string, HostTensor> | undefined;
    if (mlp) {
      const exe = await backend.compile(storedActivationsGraph(inj), { params: result.params });
      try {
        computed = await exe.run(storedFeeds(inj));
      } finally {
        await exe.dispose();
      }
    }
    const stored = storedParams(inj, result.params, computed);
    const bytes = serializeAdapter(cfg, inj, stored, { baseModel: run.model, baseModelDigest: baseDigest });
    const adapterDir = join(out, 'adapter');
    await writeAdapterDir(adapterDir, bytes);
    await writeSvg();
    const best = records.filter((r): r is Extract<LogRecord, { type: 'epoch' }> => r.type === 'epoch' && r.dev_loss !== null);
    const bestDev = best.length > 0 ? best.reduce((a, b) => (b.dev_loss! < a.dev_loss! ? b : a)) : undefined;
    console.log(
      `${resumeFrom?.state.done ? 'the run had already ended' : result.stopped === 'early-stopped' ? 'stopped early' : 'finished'}: ${result.state.step} updates, ${result.state.epoch} epochs in ${formatDuration(elapsed())}` +
        `${Number.isFinite(lastLoss) ? `, last train loss ${lastLoss.toFixed(4)}` : ''}` +
        `${bestDev ? `, best dev loss ${bestDev.dev_loss!.toFixed(4)} (epoch ${bestDev.epoch}${result.state.best ? ', kept' : ''})` : ''}`,
    );
    console.log(`adapter: ${adapterDir} (${bytes.peft || peftExpressible(cfg, inj) ? 'PEFT PREFIX_TUNING' : 'prefix-tune format: PEFT cannot express this variant'}, ${Object.values(stored).reduce((s, x) => s + x.data.length, 0).toLocaleString('en-US')} values)`);
    console.log(`log: ${logPath}; loss curve: ${svgPath}; checkpoint: ${ckptDir}`);
    if (!existsSync(adapterDir)) return 1;
    return 0;
    }
  },
};
