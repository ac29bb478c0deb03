/**
 * `prefix-tune pretrain`: full training of a GPT-2-architecture model from its config on the
 * text corpus, resumable across runs: the library's `tune` workflow (every weight trainable,
 * the corpus as a batch stream, a cosine schedule over tokens). Writes into `--out`:
 *   config.json, tokenizer.json, tokenizer_config.json   the model being trained (fixed at creation)
 *   run.json               the training settings (fixed at creation)
 *   checkpoint/            parameters + AdamW moments + the data cursor, crash-safe
 *   train-log.jsonl        a `step` record per update; validation points as `epoch` records
 *                          (epoch = the validation's number, dev_loss = validation loss)
 *   loss-curve.svg         updated at every checkpoint
 * `--export DIR` writes the Hugging Face model (F16 safetensors) from the latest checkpoint.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { initGpt2Params } from '@prefix-tuning/core/models';
import { modelParamShapes, type HostTensor, type TrainState } from '@prefix-tuning/core';
import { directoryStorage, hasRunCheckpoint, planTune, readLog, appendLog, writeFileAtomic, type LogRecord } from '@prefix-tuning/hub';
import { UsageError, type Command } from '../cli.ts';
import { claimRunDir } from '../run/lock.ts';
import { backendChoice, selectBackend } from '../run/backend.ts';
import { lossCurveSvg } from '../run/svg.ts';
import { formatDuration, progressReporter } from '../run/progress.ts';
import { onStopSignals } from '../run/signals.ts';
import { listShards, RowStream, type Cursor } from '../pretrain/corpus.ts';
import { ExtraC, corpusBatches, exportRun, openRun, openValidation, pretrainLr, writeValidation, type Extra } from '../pretrain/setup.ts';
import { pretrainOptions, pretrainUsage } from '../pretrain/options.ts';

export { pretrainLr, PRETRAIN_STATE_FILE, PretrainRunC, type PretrainRun } from '../pretrain/setup.ts';

export const pretrainCommand: Command = {
  name: 'pretrain',
  summary: 'train a GPT-2-architecture model from scratch on the text corpus (resumable; exports a Hugging Face model)',
  usage: pretrainUsage,
  options: pretrainOptions,
  run: async (opts) => {
    const out = String(opts['out']);
    const storage = directoryStorage(join(out, 'checkpoint'));
    const resuming = hasRunCheckpoint(storage.where);
    if (opts['write-validation'] !== undefined) return console.log(await writeValidation(out, opts, resuming)), 0;

    // 1. the run: created or continued (a bad --backend, --device or --threads before anything is written)
    const backendReq = backendChoice(opts);
    claimRunDir(out, 'pretrain', (l) => console.error(l)); // --out checked, then one writer (released at exit)
    const opened = await openRun(out, opts, resuming);
    const { run, cfg } = opened;
    let state: TrainState | undefined;
    let extra: Extra = opened.start;
    const loaded = resuming ? await storage.load() : undefined;
    if (loaded && E.isLeft(loaded)) throw new UsageError(`cannot resume: ${loaded.left}`);
    const checkpoint = loaded && E.isRight(loaded) ? loaded.right : undefined;
    if (checkpoint) {
      const x = ExtraC.decode(checkpoint.manifest.extra);
      if (E.isLeft(x)) throw new UsageError(`cannot resume: ${storage.where}: extra: ${PathReporter.report(x).join('; ')}`);
      ({ state } = checkpoint);
      extra = x.right;
    }
    const shapes = modelParamShapes(cfg);
    const names = Object.keys(shapes).sort();
    const nParams = names.reduce((s, n) => s + shapes[n]!.reduce((a, b) => a * b, 1), 0);
    let params: Record<string, HostTensor> = state ? Object.fromEntries(names.map((n) => [n, state!.tensors[n]!])) : opened.initParams ?? initGpt2Params(cfg, run.seed);
    for (const n of names) if (!params[n]) throw new UsageError(`${storage.where}: the checkpoint lacks '${n}'`);
    const tokensBudget = opts['tokens'] !== undefined ? Number(opts['tokens']) : Infinity;
    const minutes = opts['minutes'] !== undefined ? Number(opts['minutes']) : Infinity;
    if (tokensBudget === Infinity && minutes === Infinity && opts['export'] === undefined)
      throw new UsageError('give a budget for this run: --tokens N and/or --minutes M (or --tokens 0 --export DIR)');

    const backend = await selectBackend(backendReq);
    let step = state?.step ?? 0;
    if (tokensBudget > 0) {
      const shards = listShards(run.corpus);
      if (shards.length === 0) throw new UsageError(`no corpus shards under ${run.corpus} (expected <source>/*.gz files of <doc> blocks)`);
      const logPath = join(out, 'train-log.jsonl');
      const records: LogRecord[] = readLog(logPath).filter((r) => r.step <= step);
      writeFileSync(logPath, records.map((r) => `${JSON.stringify(r)}\n`).join('')); // steps after the checkpoint are redone
      const reporter = progressReporter(process.stderr, { every: 10, quiet: opts['quiet'] === true });
      reporter.line(`pretrain ${out}: gpt2 ${cfg.n_layer} layers, width ${cfg.n_embd}, ${cfg.n_head} heads, vocab ${cfg.vocab_size}, ${nParams.toLocaleString('en-US')} parameters; ` +
        `${resuming ? `continuing at step ${step} (${extra.tokens.toLocaleString('en-US')} tokens)` : 'from scratch'}; rows ${run.batchSize}×${run.seqLen}`);
      const validator = await openValidation(backend, opened, params, shards);
      const stream = await RowStream.open(run.corpus, shards, opened.encode, opened.eos, extra.cursor as Cursor);
      const rowTokens = run.batchSize * run.seqLen;
      const [step0, tokens0] = [step, extra.tokens];
      const tokensAt = (s: number) => tokens0 + (s - step0) * rowTokens; // trained after update s
      const deadline = performance.now() + minutes * 60_000;
      let lastLoss = NaN;
      const stop = onStopSignals((l) => reporter.line(l));
      try {
        const plan = planTune({
          model: { config: cfg, params, name: out }, data: { kind: 'stream', batches: corpusBatches(stream, run) },
          settings: {
            variant: { kind: 'finetune', layers: 'all' }, loss: 'mean', epochs: 1, batchSize: run.batchSize, seed: run.seed, checkpointEvery: run.checkpointEvery,
            schedule: (s) => pretrainLr(run, s, tokensAt(s - 1)),
            optimizer: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: run.weightDecay, ...(run.maxGradNorm > 0 ? { maxGradNorm: run.maxGradNorm } : {}) },
          },
          ...(checkpoint ? { resume: checkpoint } : {}),
        });
        const result = await plan.run({
          backend, storage, run: run as unknown as Record<string, unknown>, adapter: false, elapsedBefore: extra.elapsed,
          hooks: {
            shouldStop: () => stop.signal() !== undefined || tokensAt(step + 1) - tokens0 > tokensBudget || performance.now() >= deadline,
            extra: () => ({ cursor: stream.cursor, tokens: tokensAt(step), validations: extra.validations }),
            onRecord: (r) => {
              if (r.type !== 'step') return;
              ({ step, loss: lastLoss } = r);
              records.push(r);
              appendLog(logPath, r);
              const ran = step - step0;
              const left = Math.min((tokensBudget - ran * rowTokens) / r.tokens_per_s, (deadline - performance.now()) / 1000);
              const total = ran + Math.max(0, Math.floor((left * r.tokens_per_s) / rowTokens));
              reporter.update({ done: ran, total, epoch: 1, epochs: 1, step, totalSteps: step0 + total, loss: lastLoss, tokensPerS: r.tokens_per_s, etaS: left });
            },
            beforeSave: async (s, at) => {
              // a validation point at each checkpoint, as the log's `epoch` record (epoch = the validation's number)
              const loss = await validator.loss(s.tensors);
              extra = { ...extra, validations: extra.validations + 1 };
              const rec: LogRecord = { type: 'epoch', epoch: extra.validations, step: s.step, train_loss: lastLoss, dev_loss: loss, best: false, elapsed: at.elapsed };
              records.push(rec);
              appendLog(logPath, rec);
              reporter.line(`checkpoint at step ${s.step}: ${tokensAt(s.step).toLocaleString('en-US')} tokens, validation loss ${rec.dev_loss!.toFixed(4)} (perplexity ${Math.exp(rec.dev_loss!).toFixed(1)})`);
            },
            afterSave: async () => { await writeFileAtomic(join(out, 'loss-curve.svg'), lossCurveSvg(records, `pretraining ${out}`)); },
          },
        });
        reporter.end();
        if (result.stopped === 'non-finite') {
          const m = result.nonFinite!;
          console.error(`prefix-tune pretrain: non-finite ${m.what} (${m.value}) at step ${m.step}: stopped; the last good checkpoint (step ${result.lastCheckpoint ?? 0}) is kept (lower --lr?)`);
          return 1;
        }
        params = Object.fromEntries(names.map((n) => [n, result.params[n]!]));
        extra = { cursor: stream.cursor, tokens: tokensAt(step), elapsed: result.elapsed, validations: extra.validations };
        console.log(`${stop.signal() ? 'interrupted' : 'done'}: step ${step}, ${extra.tokens.toLocaleString('en-US')} tokens in all (${(extra.tokens - tokens0).toLocaleString('en-US')} in this run), ${formatDuration(result.elapsed)} of training; checkpoint ${storage.where}`);
        if (stop.signal() && opts['export'] === undefined) return stop.exitCode();
      } finally {
        stop.dispose();
        reporter.end();
        await stream.close();
        await validator.dispose();
      }
    }
    if (opts['export'] !== undefined) console.log(await exportRun(out, String(opts['export']), String(opts['export-dtype']), { opened, params, step, extra, nParams }));
    return 0;
  },
};
