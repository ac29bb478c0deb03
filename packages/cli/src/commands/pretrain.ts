/**
 * `prefix-tune pretrain`: full training of a GPT-2-architecture model from its config on the
 * text corpus, resumable across runs. Writes into `--out`:
 *   config.json, tokenizer.json, tokenizer_config.json   the model being trained (fixed at creation)
 *   run.json               the training settings (fixed at creation)
 *   checkpoint/            parameters + AdamW moments + the data cursor, crash-safe (run/checkpoint.ts)
 *   train-log.jsonl        a `step` record per update; validation points as `epoch` records
 *                          (epoch = the validation's number, dev_loss = validation loss)
 *   loss-curve.svg         updated at every checkpoint
 * `--export DIR` writes the Hugging Face model (F16 safetensors) from the latest checkpoint.
 * Each run trains for `--tokens` and/or `--minutes` more, then checkpoints and stops; a
 * later run with the same `--out` continues exactly (same data order, same optimizer state).
 * SIGINT/SIGTERM checkpoint and exit with 130.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { asGpt2Config } from '@prefix-tuning/core/models';
import {
  causalLmGraph, decodeModelConfig, modelParamShapes, type AdamWConfig, type Gpt2Config, type HostTensor, type TrainState
} from '@prefix-tuning/core';
import { trainStepGraph, trainState, trainInternalOutputs, trainNames } from '@prefix-tuning/core/train';
import { loadModel, loadTokenizer, writeFileAtomic } from '@prefix-tuning/hub';
import { UsageError, type Command } from '../cli.ts';
import { claimRunDir } from '../run/lock.ts';
import { backendChoice, deviceOption, selectBackend } from '../run/backend.ts';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from '../run/checkpoint.ts';
import { appendLog, readLog, type LogRecord } from '../run/log.ts';
import { lossCurveSvg } from '../run/svg.ts';
import { formatDuration, progressReporter } from '../run/progress.ts';
import { CursorC, listShards, RowStream, validationDocs, type Cursor } from '../pretrain/corpus.ts';
import { PRESETS, compileLossSum, decays, exportModel, gpt2ConfigJson, initGpt2Params, nllOfWindows, windows } from '../pretrain/model.ts';
import { defaultCorpusDir } from './train-bpe.ts';

/** The training settings of a pretraining run (run.json; fixed at creation). */
export const PretrainRunC = t.type({
  seqLen: t.number,
  batchSize: t.number,
  lr: t.number,
  minLr: t.number,
  warmupSteps: t.number,
  /** Cosine decay from lr to minLr over this many tokens in all (0: constant after warmup). */
  scheduleTokens: t.number,
  weightDecay: t.number,
  maxGradNorm: t.number,
  seed: t.number,
  valTokens: t.number,
  checkpointEvery: t.number,
  corpus: t.string,
}, 'PretrainRun');
export type PretrainRun = t.TypeOf<typeof PretrainRunC>;

/** Learning rate of update `step` (1-based) when `tokens` tokens have been trained before it. */
export const pretrainLr = (r: PretrainRun, step: number, tokens: number): number => {
  if (step <= r.warmupSteps) return (r.lr * step) / Math.max(1, r.warmupSteps);
  if (r.scheduleTokens <= 0) return r.lr;
  const p = Math.min(1, tokens / r.scheduleTokens);
  return r.minLr + 0.5 * (r.lr - r.minLr) * (1 + Math.cos(Math.PI * p));
};

const Extra = t.type({ cursor: CursorC, tokens: t.number, elapsed: t.number, validations: t.number });

/** Written beside an exported model: how far pretraining got, so that `--init-from` continues the data stream. */
export const PRETRAIN_STATE_FILE = 'pretrain_state.json';
const ExportedState = t.type({ tokens: t.number, steps: t.number, elapsed: t.number, cursor: CursorC, corpus: t.string, seq_len: t.number });

const opt = (r: PretrainRun): AdamWConfig => ({ beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: r.weightDecay, ...(r.maxGradNorm > 0 ? { maxGradNorm: r.maxGradNorm } : {}) });

const readText = (p: string): string => readFileSync(p, 'utf8');

export const pretrainCommand: Command = {
  name: 'pretrain',
  summary: 'train a GPT-2-architecture model from scratch on the text corpus (resumable; exports a Hugging Face model)',
  usage: [
    'prefix-tune pretrain --out DIR (--preset NAME | --config FILE | --init-from MODEL_DIR) --tokenizer DIR [--tokens N] [--minutes M] [options]',
    '       prefix-tune pretrain --out DIR [--tokens N] [--minutes M]      (continue the run in DIR)',
    '       prefix-tune pretrain --out DIR --tokens 0 --export MODEL_DIR   (export the latest checkpoint)',
    '       prefix-tune pretrain --out DIR --write-validation FILE         (the held-out text, for `prefix-tune perplexity`)',
    '',
    `Presets: ${Object.entries(PRESETS).map(([k, p]) => `${k} (width ${p.n_embd}, ${p.n_layer} layers, ${p.n_head} heads, ${p.n_positions} positions)`).join('; ')}.`,
    'The corpus is <source>/*.gz of <doc> blocks; the first 200k characters of wikipedia/ and 100k of gutenberg/ (first shard) are',
    'held out for validation and never trained on. Each run checkpoints and stops at its budget; Ctrl-C / SIGTERM checkpoint and exit 130.',
  ].join('\n'),
  options: [
    { name: 'out', short: 'o', type: 'string', description: 'run directory (created, or continued when it holds a checkpoint)', required: true },
    { name: 'preset', type: 'string', description: `architecture: ${Object.keys(PRESETS).join(', ')}` },
    { name: 'config', type: 'string', description: 'architecture as a GPT-2 config.json (vocab_size and EOS are taken from the tokenizer)' },
    { name: 'init-from', type: 'string', description: 'start from this model directory\'s weights, config and tokenizer (fresh optimizer)' },
    { name: 'tokenizer', type: 'string', description: 'directory with tokenizer.json (+ tokenizer_config.json; see prefix-tune train-bpe)' },
    { name: 'corpus', type: 'string', description: 'corpus directory (default: $PREFIX_TUNING_SHARED/data/corpus, else ../shared/data/corpus)' },
    { name: 'tokens', type: 'number', description: 'train this many more tokens in this run' },
    { name: 'minutes', type: 'number', description: 'train for at most this many minutes in this run' },
    { name: 'seq-len', type: 'number', description: "tokens per training row (default: 128, or the architecture's positions when it has fewer)" },
    { name: 'batch-size', type: 'number', description: 'rows per update', default: 16 },
    { name: 'lr', type: 'number', description: 'peak learning rate', default: 1e-3 },
    { name: 'min-lr', type: 'number', description: 'final learning rate of the cosine schedule', default: 1e-4 },
    { name: 'warmup', type: 'number', description: 'linear warmup updates', default: 100 },
    { name: 'schedule-tokens', type: 'number', description: 'cosine decay over this many tokens in all (0: constant after warmup)', default: 0 },
    { name: 'weight-decay', type: 'number', description: 'AdamW decoupled weight decay on matrices', default: 0.1 },
    { name: 'max-grad-norm', type: 'number', description: 'clip the global gradient norm (0: off)', default: 1 },
    { name: 'seed', type: 'number', description: 'seed of the initialisation', default: 1234 },
    { name: 'val-tokens', type: 'number', description: 'validation tokens evaluated at each checkpoint (evenly spread over the held-out slice)', default: 8192 },
    { name: 'checkpoint-every', type: 'number', description: 'checkpoint (and validate) every N updates', default: 50 },
    { name: 'export', type: 'string', description: 'after the run, write the Hugging Face model (F16) here' },
    { name: 'export-dtype', type: 'string', description: 'F16 | F32', default: 'F16' },
    { name: 'write-validation', type: 'string', description: 'write the held-out validation documents (<doc> blocks; .gz compresses) to FILE and exit' },
    { name: 'threads', type: 'number', description: 'ONNX Runtime intra-op threads (default: all cores)' },
    { name: 'backend', type: 'string', description: 'onnx | tfjs | reference', default: 'onnx' },
    deviceOption,
    { name: 'quiet', short: 'q', type: 'boolean', description: 'no progress output' },
  ],
  run: async (opts) => {
    const out = String(opts['out']);
    const ckptDir = join(out, 'checkpoint');
    const quiet = opts['quiet'] === true;
    const resuming = hasCheckpoint(ckptDir);

    // the held-out text alone
    if (opts['write-validation'] !== undefined) {
      const corpus = resuming ? (JSON.parse(readText(join(out, 'run.json'))) as PretrainRun).corpus : String(opts['corpus'] ?? defaultCorpusDir());
      const shards = listShards(corpus);
      if (shards.length === 0) throw new UsageError(`no corpus shards under ${corpus}`);
      const v = await validationDocs(shards);
      const text = v.flatMap((s) => s.docs.map((d) => `<doc source="${s.source}">\n${d}\n</doc>\n`)).join('');
      const file = String(opts['write-validation']);
      writeFileSync(file, file.endsWith('.gz') ? gzipSync(text) : text);
      console.log(`wrote ${file}: ${v.map((s) => `${s.docs.length} ${s.source} documents`).join(', ')} (${text.length.toLocaleString('en-US')} characters)`);
      return 0;
    }

    // 1. the run: created or continued (a bad --backend, --device or --threads before anything is written)
    const backendReq = backendChoice(opts);
    claimRunDir(out, 'pretrain', (l) => console.error(l)); // --out checked, then one writer (released at exit)
    let run: PretrainRun;
    let cfgJson: Record<string, unknown>;
    let initParams: Record<string, HostTensor> | undefined;
    let initFrom: t.TypeOf<typeof ExportedState> | undefined;
    if (resuming) {
      for (const o of ['preset', 'config', 'init-from', 'tokenizer'])
        if (opts[o] !== undefined) throw new UsageError(`${out} already holds a run: --${o} cannot change it (continue without it, or choose another --out)`);
      const r = PretrainRunC.decode(JSON.parse(readText(join(out, 'run.json'))));
      if (E.isLeft(r)) throw new UsageError(`${out}/run.json: ${PathReporter.report(r).join('; ')}`);
      run = r.right;
      cfgJson = JSON.parse(readText(join(out, 'config.json'))) as Record<string, unknown>;
    } else {
      const chosen = ['preset', 'config', 'init-from'].filter((o) => opts[o] !== undefined);
      if (chosen.length !== 1) throw new UsageError('a new run needs exactly one of --preset, --config, --init-from');
      let tokDir: string;
      if (opts['init-from'] !== undefined) {
        const m = await loadModel(String(opts['init-from']));
        if (E.isLeft(m)) throw new UsageError(`cannot load --init-from: ${m.left}`);
        const g = asGpt2Config(m.right.config, 'pretraining');
        if (E.isLeft(g)) throw new UsageError(`--init-from: ${g.left}`);
        tokDir = m.right.dir;
        cfgJson = JSON.parse(readText(join(m.right.dir, 'config.json'))) as Record<string, unknown>;
        initParams = m.right.params;
        // a model exported by pretrain says where its data stream stood: continue from there
        const sp = join(m.right.dir, PRETRAIN_STATE_FILE);
        if (existsSync(sp)) {
          const x = ExportedState.decode(JSON.parse(readText(sp)));
          if (E.isLeft(x)) throw new UsageError(`${sp}: ${PathReporter.report(x).join('; ')}`);
          initFrom = x.right;
        }
      } else {
        if (opts['tokenizer'] === undefined) throw new UsageError('a new run needs --tokenizer DIR (see prefix-tune train-bpe)');
        tokDir = String(opts['tokenizer']);
        const tok = await loadTokenizer(tokDir);
        if (E.isLeft(tok)) throw new UsageError(`--tokenizer: ${tok.left}`);
        if (tok.right.eosId === undefined) throw new UsageError(`--tokenizer ${tokDir}: tokenizer_config.json names no eos_token`);
        let arch: { n_embd: number; n_layer: number; n_head: number; n_positions: number };
        if (opts['preset'] !== undefined) {
          const p = PRESETS[String(opts['preset'])];
          if (!p) throw new UsageError(`unknown preset '${String(opts['preset'])}' (one of ${Object.keys(PRESETS).join(', ')})`);
          arch = p;
        } else {
          const c = JSON.parse(readText(String(opts['config']))) as Record<string, number>;
          arch = { n_embd: c['n_embd']!, n_layer: c['n_layer']!, n_head: c['n_head']!, n_positions: c['n_positions']! };
        }
        cfgJson = gpt2ConfigJson({ ...arch, vocab_size: tok.right.vocabSize, eos: tok.right.eosId });
      }
      run = {
        seqLen: opts['seq-len'] !== undefined ? Number(opts['seq-len']) : Math.min(128, Number(cfgJson['n_positions'] ?? 128)), batchSize: Number(opts['batch-size']), lr: Number(opts['lr']), minLr: Number(opts['min-lr']),
        warmupSteps: Number(opts['warmup']), scheduleTokens: Number(opts['schedule-tokens']), weightDecay: Number(opts['weight-decay']),
        maxGradNorm: Number(opts['max-grad-norm']), seed: Number(opts['seed']), valTokens: Number(opts['val-tokens']),
        checkpointEvery: Number(opts['checkpoint-every']), corpus: String(opts['corpus'] ?? defaultCorpusDir()),
      };
      for (const k of ['seqLen', 'batchSize', 'checkpointEvery'] as const)
        if (!Number.isInteger(run[k]) || run[k] < 1) throw new UsageError(`${k}: expected a positive integer, got ${run[k]}`);
      mkdirSync(out, { recursive: true });
      for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
        if (!existsSync(join(tokDir, f))) throw new UsageError(`${tokDir}: no ${f}`);
        copyFileSync(join(tokDir, f), join(out, f));
      }
      writeFileSync(join(out, 'config.json'), `${JSON.stringify(cfgJson, null, 2)}\n`);
      writeFileSync(join(out, 'run.json'), `${JSON.stringify(run, null, 2)}\n`);
    }
    const decoded = decodeModelConfig(cfgJson);
    if (E.isLeft(decoded)) throw new UsageError(`${out}/config.json: ${decoded.left}`);
    const gpt2 = asGpt2Config(decoded.right, 'pretraining');
    if (E.isLeft(gpt2)) throw new UsageError(`${out}/config.json: ${gpt2.left}`);
    const cfg = gpt2.right;
    if (run.seqLen > cfg.n_positions) throw new UsageError(`--seq-len ${run.seqLen} exceeds the model's ${cfg.n_positions} positions`);
    const tok = await loadTokenizer(out);
    if (E.isLeft(tok)) throw new UsageError(`${out}: ${tok.left}`);
    const eos = tok.right.eosId ?? (cfgJson['eos_token_id'] as number);
    const encode = (s: string) => tok.right.encode(s, { addSpecialTokens: false });

    // 2. the state: a checkpoint, or fresh parameters
    let state: TrainState | undefined;
    // from exported weights: the data cursor and token count go on, the optimizer (and its step count) starts afresh
    let extra: t.TypeOf<typeof Extra> = initFrom
      ? { cursor: initFrom.cursor, tokens: initFrom.tokens, elapsed: initFrom.elapsed, validations: 0 }
      : { cursor: { row: 0, shards: {} }, tokens: 0, elapsed: 0, validations: 0 };
    if (resuming) {
      const c = await loadCheckpoint(ckptDir);
      if (E.isLeft(c)) throw new UsageError(`cannot resume: ${c.left}`);
      const x = Extra.decode(c.right.manifest.extra);
      if (E.isLeft(x)) throw new UsageError(`cannot resume: ${ckptDir}: extra: ${PathReporter.report(x).join('; ')}`);
      state = c.right.state;
      extra = x.right;
    }
    const shapes = modelParamShapes(cfg);
    const names = Object.keys(shapes).sort();
    const params: Record<string, HostTensor> = state
      ? Object.fromEntries(names.map((n) => [n, state!.tensors[n]!]))
      : initParams ?? initGpt2Params(cfg, run.seed);
    for (const n of names) if (!params[n]) throw new UsageError(`${ckptDir}: the checkpoint lacks '${n}'`);
    const nParams = names.reduce((s, n) => s + shapes[n]!.reduce((a, b) => a * b, 1), 0);

    const tokensBudget = opts['tokens'] !== undefined ? Number(opts['tokens']) : Infinity;
    const minutes = opts['minutes'] !== undefined ? Number(opts['minutes']) : Infinity;
    if (tokensBudget === Infinity && minutes === Infinity && opts['export'] === undefined)
      throw new UsageError('give a budget for this run: --tokens N and/or --minutes M (or --tokens 0 --export DIR)');

    const backend = await selectBackend(backendReq);
    const logPath = join(out, 'train-log.jsonl');
    const svgPath = join(out, 'loss-curve.svg');
    const records: LogRecord[] = readLog(logPath).filter((r) => r.step <= (state?.step ?? 0));
    const reporter = progressReporter(process.stderr, { every: 10, quiet });
    const say = (s: string) => reporter.line(s);

    let step = state?.step ?? 0;
    let tokens = extra.tokens;
    let finalParams = params;
    const tRun = performance.now();
    const elapsedBefore = extra.elapsed;
    const elapsed = () => elapsedBefore + (performance.now() - tRun) / 1000;

    if (tokensBudget > 0) {
      // the log cut back to the checkpoint: steps after it are redone (only a training run writes it)
      writeFileSync(logPath, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
      say(`pretrain ${out}: gpt2 ${cfg.n_layer} layers, width ${cfg.n_embd}, ${cfg.n_head} heads, vocab ${cfg.vocab_size}, ${nParams.toLocaleString('en-US')} parameters; ` +
        `${resuming ? `continuing at step ${step} (${tokens.toLocaleString('en-US')} tokens)` : 'from scratch'}; rows ${run.batchSize}×${run.seqLen}`);
      const shards = listShards(run.corpus);
      if (shards.length === 0) throw new UsageError(`no corpus shards under ${run.corpus} (expected <source>/*.gz files of <doc> blocks)`);
      // validation windows: evenly spread over the held-out slice
      const val = await validationDocs(shards);
      const valStream = val.flatMap((s) => s.docs.flatMap((d) => [...encode(d), eos]));
      const allWins = windows(valStream, run.seqLen).filter((w) => w.length === run.seqLen);
      const nWin = Math.max(1, Math.min(allWins.length, Math.round(run.valTokens / run.seqLen)));
      const valWins = Array.from({ length: nWin }, (_, i) => allWins[Math.floor((i * allWins.length) / nWin)]!);

      const trainable = names.map((name) => ({ name, decay: decays(name, shapes[name]!) }));
      const loss = causalLmGraph(cfg, { loss: 'mean' }).outputs['loss']!;
      const o = opt(run);
      const g = trainStepGraph(loss, trainable, o);
      const exe = await backend.compile(g, { params: {}, state: trainState(trainable, params, o), internalOutputs: trainInternalOutputs(g) });
      if (state) for (const [n, x] of Object.entries(state.tensors)) await exe.writeState(n, x);
      const evalExe = await compileLossSum(backend, cfg, params);
      const stream = await RowStream.open(run.corpus, shards, encode, eos, extra.cursor as Cursor);
      const stateNames = Object.keys(trainState(trainable, params, o));
      const readAll = async () => Object.fromEntries(await Promise.all(stateNames.map(async (n) => [n, await exe.readState(n)] as const)));

      let stop = false;
      const onSignal = () => {
        stop = true;
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const validate = async (tensors: Record<string, HostTensor>): Promise<number> => {
        for (const n of names) await evalExe.writeState(n, tensors[n]!);
        const r = await nllOfWindows(evalExe, valWins, run.batchSize);
        return r.nll / r.tokens;
      };
      let latest: Record<string, HostTensor> | undefined;
      const checkpoint = async (): Promise<Record<string, HostTensor>> => {
        const tensors = await readAll();
        latest = tensors;
        const vl = await validate(tensors);
        extra = { cursor: stream.cursor, tokens, elapsed: elapsed(), validations: extra.validations + 1 };
        // a validation point, as the log's `epoch` record (epoch = the validation's number)
        const rec: LogRecord = { type: 'epoch', epoch: extra.validations, step, train_loss: lastLoss, dev_loss: vl, best: false, elapsed: extra.elapsed };
        appendLog(logPath, rec);
        records.push(rec);
        await saveCheckpoint(ckptDir, { step, epoch: 0, batchInEpoch: 0, bestDevLoss: null, badEpochs: 0, done: false, tensors, best: null }, {
          run: run as unknown as Record<string, unknown>,
          model: { digest: 'pretrain', description: `gpt2 ${cfg.n_layer}x${cfg.n_embd} vocab ${cfg.vocab_size}` },
          data: { digest: 'corpus', train: 0, dev: 0 },
          extra: extra as unknown as Record<string, unknown>,
        });
        await writeFileAtomic(svgPath, lossCurveSvg(records, `pretraining ${out}`));
        say(`checkpoint at step ${step}: ${tokens.toLocaleString('en-US')} tokens, validation loss ${vl.toFixed(4)} (perplexity ${Math.exp(vl).toFixed(1)}), ${formatDuration(extra.elapsed)} trained`);
        return tensors;
      };

      let lastLoss = NaN;
      let runTokens = 0;
      const rowTokens = run.batchSize * run.seqLen;
      const tokenGoal = Math.min(tokensBudget, Number.MAX_SAFE_INTEGER);
      const deadline = performance.now() + minutes * 60_000;
      let sinceCkpt = 0;
      let ema = 0;
      try {
        while (!stop && runTokens + rowTokens <= tokenGoal && performance.now() < deadline) {
          const ids = await stream.next(run.batchSize, run.seqLen);
          const x: HostTensor = { dtype: 'int32', shape: [run.batchSize, run.seqLen], data: ids };
          const lr = pretrainLr(run, step + 1, tokens);
          const t0 = performance.now();
          const r = await exe.run({ input_ids: x, labels: x, [trainNames.lr]: { dtype: 'float32', shape: [], data: Float32Array.of(lr) }, [trainNames.step]: { dtype: 'float32', shape: [], data: Float32Array.of(step + 1) } }, [trainNames.loss, trainNames.gradNorm]);
          const secs = (performance.now() - t0) / 1000;
          step++;
          tokens += rowTokens;
          runTokens += rowTokens;
          sinceCkpt++;
          lastLoss = Number(r[trainNames.loss]!.data[0]);
          if (!Number.isFinite(lastLoss)) throw new Error(`step ${step}: the loss is ${lastLoss} (lower --lr?)`);
          const rate = rowTokens / secs;
          ema = ema === 0 ? rate : 0.9 * ema + 0.1 * rate;
          const rec: LogRecord = { type: 'step', step, epoch: 1, loss: lastLoss, lr, grad_norm: Number(r[trainNames.gradNorm]!.data[0]), tokens: rowTokens, tokens_per_s: rate, elapsed: elapsed() };
          appendLog(logPath, rec);
          records.push(rec);
          const left = Math.min((tokenGoal - runTokens) / ema, (deadline - performance.now()) / 1000);
          const runSteps = runTokens / rowTokens;
          const total = runSteps + Math.max(0, Math.floor((left * ema) / rowTokens));
          reporter.update({ done: runSteps, total, epoch: 1, epochs: 1, step, totalSteps: step - runSteps + total, loss: lastLoss, tokensPerS: ema, etaS: left });
          if (sinceCkpt >= run.checkpointEvery) {
            await checkpoint();
            sinceCkpt = 0;
          }
        }
        // the run ends on a checkpoint; the export takes the parameters of the latest one
        const last = sinceCkpt > 0 || latest === undefined ? await checkpoint() : latest;
        finalParams = Object.fromEntries(names.map((n) => [n, last[n]!]));
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        reporter.end();
        await stream.close();
        await exe.dispose();
        await evalExe.dispose();
      }
      console.log(`${stop ? 'interrupted' : 'done'}: step ${step}, ${tokens.toLocaleString('en-US')} tokens in all (${runTokens.toLocaleString('en-US')} in this run), ${formatDuration(elapsed())} of training; checkpoint ${ckptDir}`);
      if (stop && opts['export'] === undefined) return 130;
    }

    if (opts['export'] !== undefined) {
      const dir = String(opts['export']);
      const dtype = String(opts['export-dtype']);
      if (dtype !== 'F16' && dtype !== 'F32') throw new UsageError(`--export-dtype: F16 or F32, got ${dtype}`);
      const bytes = await exportModel(dir, {
        config: cfgJson, cfg, params: finalParams, dtype,
        tokenizerJson: readText(join(out, 'tokenizer.json')),
        tokenizerConfigJson: readText(join(out, 'tokenizer_config.json')),
        metadata: { pretrain_tokens: String(tokens), pretrain_steps: String(step) },
      });
      const exported: t.TypeOf<typeof ExportedState> = { tokens, steps: step, elapsed: elapsed(), cursor: extra.cursor as Cursor, corpus: run.corpus, seq_len: run.seqLen };
      const w = await writeFileAtomic(join(dir, PRETRAIN_STATE_FILE), `${JSON.stringify(exported)}\n`);
      if (E.isLeft(w)) throw new Error(w.left);
      console.log(`exported ${dir}: model.safetensors ${(bytes / 1e6).toFixed(1)} MB (${dtype}), ${nParams.toLocaleString('en-US')} parameters, ${tokens.toLocaleString('en-US')} training tokens`);
    }
    return 0;
  },
};
