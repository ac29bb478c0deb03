/**
 * `prefix-tune train`: tunes a variant (the paper's prefix by default) of a frozen model on a
 * task or JSONL pairs, resumably: the library's `tune` workflow, with files. Writes into `--out`:
 *   run.json          the resolved configuration
 *   checkpoint/       TrainState (safetensors + checkpoint.json), crash-safe
 *   train-log.jsonl   one record per optimizer step and per epoch
 *   loss-curve.svg    updated at every checkpoint
 *   adapter/          at the end: the computed prefix (MLP dropped), PEFT format when PEFT can express it
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { modelTypeName } from '@prefix-tuning/core';
import {
  LOG_FILE, TuneError, appendLog, directoryStorage, hasRunCheckpoint, planTune, truncateLog, writeFileAtomic, type LogRecord, type TunePlan,
} from '@prefix-tuning/hub';
import { UsageError, type Command } from '../cli.ts';
import { checkResumeVariant, runOrResume, wordsLength } from '../run/config.ts';
import { trainOptions, trainUsage, tuneSettings } from '../run/train-options.ts';
import { loadModelOrExit, prependSpace, taskTokenizer } from '../run/model.ts';
import { trainingPairs } from '../run/data.ts';
import { backendChoice, selectBackend } from '../run/backend.ts';
import { lossCurveSvg } from '../run/svg.ts';
import { formatDuration, progressReporter } from '../run/progress.ts';
import { writeAdapterDir } from '../run/adapter.ts';
import { claimRunDir, type RunLock } from '../run/lock.ts';
import { checkOutDir, writeFailure } from '../run/outpath.ts';
import { onStopSignals } from '../run/signals.ts';

/** The library's refusals are usage errors (exit 2). */
const asUsage = (e: unknown): never => {
  throw e instanceof TuneError ? new UsageError(e.message) : e;
};

export const trainCommand: Command = {
  name: 'train',
  summary: 'prefix-tune a frozen model on a task or JSONL pairs (resumable; writes a PEFT adapter)',
  usage: trainUsage,
  options: trainOptions,
  run: async (opts) => {
    const out = String(opts['out']);
    const storage = directoryStorage(join(out, 'checkpoint'));
    const ckptDir = storage.where;
    const resume = opts['resume'] === true;
    const quiet = opts['quiet'] === true;
    const say = (line: string) => { if (!quiet) console.error(line); };
    const outOk = checkOutDir(out);
    if (E.isLeft(outOk)) throw new UsageError(outOk.left);
    // one writer per --out: an existing directory is claimed before its checkpoint is read
    let lock: RunLock | undefined = existsSync(out) ? claimRunDir(out, 'train', say) : undefined;

    // 1. the run configuration (a resumed run keeps its own)
    const { run: resolved, resumeFrom, resumeVariant, stepsPerRun } = await runOrResume(opts, storage, say);
    let run = resolved;
    const backendReq = backendChoice(opts, run.backend); // a bad --backend or --device: usage error before anything loads

    // 2. the model, the data, the plan: everything the library can refuse, refused now
    const model = await loadModelOrExit(run.model);
    const tok = taskTokenizer(model);
    const wordCount = (text: string) => tok.encode(prependSpace(model.config) ? ` ${text}` : text).length;
    if (resumeVariant) checkResumeVariant(resumeVariant, run.variant, wordCount);
    else run = { ...run, variant: wordsLength(run.variant, wordCount) };
    const pairs = await trainingPairs(run.data, { maxExamples: run.maxExamples, maxDevExamples: run.maxDevExamples, seed: run.seed, download: opts['download'] === true });
    const where = run.data.kind === 'task' ? `task ${run.data.task}` : run.data.train;
    let plan: TunePlan;
    try {
      plan = planTune({
        model: { ...model, name: run.model }, settings: tuneSettings(run, stepsPerRun), ...(resumeFrom ? { resume: resumeFrom } : {}),
        data: { kind: 'pairs', train: pairs.train, dev: pairs.dev, where, ...(run.maxLength !== null ? { maxLength: run.maxLength } : {}) },
      });
    } catch (e) {
      return asUsage(e);
    }

    lock ??= claimRunDir(out, 'train', say);
    if (!resume && hasRunCheckpoint(ckptDir)) throw new UsageError(`${out} already holds a training run (${ckptDir}); pass --resume to continue it, or choose another --out`);
    let lastCheckpoint = resumeFrom ? `step ${resumeFrom.state.step}` : '';
    let reporter: ReturnType<typeof progressReporter> | undefined;
    const stop = onStopSignals((l) => (reporter ? reporter.line(l) : say(l)));
    try {
      const wr = await writeFileAtomic(join(out, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
      if (E.isLeft(wr)) throw new Error(wr.left);
      const backend = await selectBackend(backendReq);
      reporter = progressReporter(process.stderr, { every: Math.max(1, Math.round(plan.totalSteps / 50)), quiet });
      reporter.line(`${resume ? 'resuming' : 'training'} ${plan.describeVariant} on ${plan.describeModel} [${run.backend}: ${backend.engine}]: ${plan.details}${resumeFrom ? `, from step ${resumeFrom.state.step}` : ''}`);
      const logPath = join(out, LOG_FILE);
      const svgPath = join(out, 'loss-curve.svg');
      const records: LogRecord[] = await truncateLog(logPath, resumeFrom?.state.step ?? -1, resumeFrom?.state.epoch ?? -1);
      const writeSvg = async () => {
        const w = await writeFileAtomic(svgPath, lossCurveSvg(records, `${plan.describeVariant} on ${modelTypeName(model.config)}`));
        if (E.isLeft(w)) throw new Error(w.left);
      };
      const result = await plan.run({
        backend, storage, run: run as unknown as Record<string, unknown>,
        hooks: {
          shouldStop: () => stop.signal() !== undefined,
          onSkip: (m) => reporter!.line(`step ${m.step} (epoch ${m.epoch + 1}, batch ${m.batch}): non-finite ${m.what} (${m.value}); its update was undone and the batch skipped`),
          afterSave: async (s) => { lastCheckpoint = `step ${s.step}`; await writeSvg(); },
          onProgress: (p) => reporter!.update(p),
          onRecord: (r) => {
            records.push(r);
            appendLog(logPath, r);
            if (r.type === 'epoch')
              reporter!.line(`epoch ${r.epoch}/${run.epochs}: train loss ${r.train_loss.toFixed(4)}${r.dev_loss !== null ? `, dev loss ${r.dev_loss.toFixed(4)}${r.best ? ' (best)' : ''}` : ''} [${formatDuration(r.elapsed)}]`);
          },
        },
      }).catch(asUsage);
      reporter.end();
      if (result.stopped === 'non-finite') {
        const m = result.nonFinite!;
        console.error(`prefix-tune train: non-finite ${m.what} (${m.value}) at step ${m.step} (epoch ${m.epoch + 1}, batch ${m.batch}): training stopped; ` +
          `${lastCheckpoint ? `the last good checkpoint (${lastCheckpoint}) in ${ckptDir} is kept` : 'no checkpoint was written (it diverged before the first)'}; ` +
          'lower --lr, keep --max-grad-norm on, or pass --on-nonfinite skip');
        return 1;
      }
      if (result.stopped === 'interrupted') {
        console.error(`interrupted${stop.signal() === 'SIGINT' ? '' : ` by ${stop.signal()}`}: checkpoint saved in ${ckptDir} (${lastCheckpoint}); continue with: prefix-tune train --out ${out} --resume`);
        return stop.exitCode();
      }
      const adapterDir = join(out, 'adapter');
      await writeAdapterDir(adapterDir, result.adapter!.bytes);
      await writeSvg();
      const best = records.filter((r): r is Extract<LogRecord, { type: 'epoch' }> => r.type === 'epoch' && r.dev_loss !== null);
      const bestDev = best.length > 0 ? best.reduce((a, b) => (b.dev_loss! < a.dev_loss! ? b : a)) : undefined;
      console.log(
        `${resumeFrom?.state.done ? 'the run had already ended' : result.stopped === 'early-stopped' ? 'stopped early' : 'finished'}: ${result.state.step} updates, ${result.state.epoch} epochs in ${formatDuration(result.elapsed)}` +
          `${Number.isFinite(result.lastLoss) ? `, last train loss ${result.lastLoss.toFixed(4)}` : ''}` +
          `${bestDev ? `, best dev loss ${bestDev.dev_loss!.toFixed(4)} (epoch ${bestDev.epoch}${result.state.best ? ', kept' : ''})` : ''}`,
      );
      console.log(`adapter: ${adapterDir} (${result.adapter!.peft ? 'PEFT PREFIX_TUNING' : 'prefix-tune format: PEFT cannot express this variant'}, ${result.adapter!.values.toLocaleString('en-US')} values)`);
      console.log(`log: ${logPath}; loss curve: ${svgPath}; checkpoint: ${ckptDir}`);
      return existsSync(adapterDir) ? 0 : 1;
    } catch (e) {
      const m = writeFailure(e, lastCheckpoint ? `the previous checkpoint (${lastCheckpoint}) in ${ckptDir} is intact` : 'no checkpoint was written yet');
      if (m === undefined) throw e;
      console.error(`prefix-tune train: ${m}`);
      return 1;
    } finally {
      stop.dispose();
      reporter?.end();
      lock.release();
    }
  },
};
