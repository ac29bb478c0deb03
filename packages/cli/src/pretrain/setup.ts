/**
 * A pretraining run directory: its settings (run.json), its model (config.json and the
 * tokenizer, fixed at creation), the weights it starts from, the corpus as a batch stream for
 * the library's training workflow, and the export of a checkpoint as a Hugging Face model.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { asGpt2Config } from '@prefix-tuning/core/models';
import { decodeModelConfig, type Backend, type Gpt2Config, type HostTensor } from '@prefix-tuning/core';
import { compileLossSum, nllOfWindows, windows, type BatchStream } from '@prefix-tuning/core/train';
import { loadModel, loadTokenizer, writeFileAtomic } from '@prefix-tuning/hub';
import { UsageError } from '../cli.ts';
import { CursorC, listShards, validationDocs, type RowStream, type Shard } from './corpus.ts';
import { PRESETS, exportModel, gpt2ConfigJson } from './model.ts';
import { defaultCorpusDir } from '../commands/train-bpe.ts';

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

/** What a checkpoint records of the data beside the training state. */
export const ExtraC = t.type({ cursor: CursorC, tokens: t.number, elapsed: t.number, validations: t.number });
export type Extra = t.TypeOf<typeof ExtraC>;

/** Written beside an exported model: how far pretraining got, so that `--init-from` continues the data stream. */
export const PRETRAIN_STATE_FILE = 'pretrain_state.json';
const ExportedStateC = t.type({ tokens: t.number, steps: t.number, elapsed: t.number, cursor: CursorC, corpus: t.string, seq_len: t.number });

const readText = (p: string): string => readFileSync(p, 'utf8');
const readJsonObject = (p: string): Record<string, unknown> => JSON.parse(readText(p)) as Record<string, unknown>;

type Opts = Readonly<Record<string, unknown>>;

/** A run directory opened: its settings, config, model and where it starts. */
export interface OpenedRun {
  readonly run: PretrainRun;
  readonly cfgJson: Record<string, unknown>;
  readonly cfg: Gpt2Config;
  readonly encode: (s: string) => number[];
  readonly eos: number;
  /** Weights to start from (--init-from), and the data position and counters it reached. */
  readonly initParams?: Record<string, HostTensor>;
  readonly start: Extra;
}

/** Creates the run in `out` from the options (a new run), or opens the one there (`resuming`). */
export const openRun = async (out: string, opts: Opts, resuming: boolean): Promise<OpenedRun> => {
  let run: PretrainRun;
  let cfgJson: Record<string, unknown>;
  let initParams: Record<string, HostTensor> | undefined;
  let start: Extra = { cursor: { row: 0, shards: {} }, tokens: 0, elapsed: 0, validations: 0 };
  if (resuming) {
    for (const o of ['preset', 'config', 'init-from', 'tokenizer'])
      if (opts[o] !== undefined) throw new UsageError(`${out} already holds a run: --${o} cannot change it (continue without it, or choose another --out)`);
    const r = PretrainRunC.decode(JSON.parse(readText(join(out, 'run.json'))));
    if (E.isLeft(r)) throw new UsageError(`${out}/run.json: ${PathReporter.report(r).join('; ')}`);
    run = r.right;
    cfgJson = readJsonObject(join(out, 'config.json'));
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
      cfgJson = readJsonObject(join(m.right.dir, 'config.json'));
      initParams = m.right.params;
      // a model exported by pretrain says where its data stream stood: continue from there (a fresh optimizer)
      const sp = join(m.right.dir, PRETRAIN_STATE_FILE);
      if (existsSync(sp)) {
        const x = ExportedStateC.decode(JSON.parse(readText(sp)));
        if (E.isLeft(x)) throw new UsageError(`${sp}: ${PathReporter.report(x).join('; ')}`);
        start = { cursor: x.right.cursor, tokens: x.right.tokens, elapsed: x.right.elapsed, validations: 0 };
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
  return { run, cfgJson, cfg, encode: (s) => tok.right.encode(s, { addSpecialTokens: false }), eos, start, ...(initParams ? { initParams } : {}) };
};

/** Writes the held-out validation documents (<doc> blocks; `.gz` compresses) of the run's (or the option's) corpus. */
export const writeValidation = async (out: string, opts: Opts, resuming: boolean): Promise<string> => {
  const corpus = resuming ? (JSON.parse(readText(join(out, 'run.json'))) as PretrainRun).corpus : String(opts['corpus'] ?? defaultCorpusDir());
  const shards = listShards(corpus);
  if (shards.length === 0) throw new UsageError(`no corpus shards under ${corpus}`);
  const v = await validationDocs(shards);
  const text = v.flatMap((s) => s.docs.map((d) => `<doc source="${s.source}">\n${d}\n</doc>\n`)).join('');
  const file = String(opts['write-validation']);
  writeFileSync(file, file.endsWith('.gz') ? gzipSync(text) : text);
  return `wrote ${file}: ${v.map((s) => `${s.docs.length} ${s.source} documents`).join(', ')} (${text.length.toLocaleString('en-US')} characters)`;
};

/** The corpus rows as training batches of the causal-LM graph (every token a label, no padding). */
export const corpusBatches = (stream: RowStream, run: PretrainRun): BatchStream => {
  const shape = [run.batchSize, run.seqLen];
  const ones: HostTensor = { dtype: 'int32', shape, data: new Int32Array(run.batchSize * run.seqLen).fill(1) };
  return {
    next: async () => {
      const x: HostTensor = { dtype: 'int32', shape, data: await stream.next(run.batchSize, run.seqLen) };
      return { feeds: { input_ids: x, attention_mask: ones, labels: x }, tokens: run.batchSize * run.seqLen };
    },
  };
};

/** Exports weights as a Hugging Face model directory with the run's tokenizer and where pretraining stood; returns the line to print. */
export const exportRun = async (out: string, dir: string, dtype: string, o: {
  readonly opened: OpenedRun; readonly params: Readonly<Record<string, HostTensor>>; readonly step: number; readonly extra: Extra; readonly nParams: number;
}): Promise<string> => {
  if (dtype !== 'F16' && dtype !== 'F32') throw new UsageError(`--export-dtype: F16 or F32, got ${dtype}`);
  const { tokens } = o.extra;
  const bytes = await exportModel(dir, {
    config: o.opened.cfgJson, cfg: o.opened.cfg, params: o.params, dtype,
    tokenizerJson: readText(join(out, 'tokenizer.json')),
    tokenizerConfigJson: readText(join(out, 'tokenizer_config.json')),
    metadata: { pretrain_tokens: String(tokens), pretrain_steps: String(o.step) },
  });
  const exported: t.TypeOf<typeof ExportedStateC> = { tokens, steps: o.step, elapsed: o.extra.elapsed, cursor: o.extra.cursor, corpus: o.opened.run.corpus, seq_len: o.opened.run.seqLen };
  const w = await writeFileAtomic(join(dir, PRETRAIN_STATE_FILE), `${JSON.stringify(exported)}\n`);
  if (E.isLeft(w)) throw new Error(w.left);
  return `exported ${dir}: model.safetensors ${(bytes / 1e6).toFixed(1)} MB (${dtype}), ${o.nParams.toLocaleString('en-US')} parameters, ${tokens.toLocaleString('en-US')} training tokens`;
};

/**
 * The validation of a run: the mean loss per token of `valTokens` tokens in full windows evenly
 * spread over the held-out slice, for given weights.
 */
export const openValidation = async (backend: Backend, opened: OpenedRun, params: Readonly<Record<string, HostTensor>>, shards: readonly Shard[]) => {
  const { run, cfg } = opened;
  const tokens = (await validationDocs(shards)).flatMap((s) => s.docs.flatMap((d) => [...opened.encode(d), opened.eos]));
  const all = windows(tokens, run.seqLen).filter((w) => w.length === run.seqLen);
  const n = Math.max(1, Math.min(all.length, Math.round(run.valTokens / run.seqLen)));
  const wins = Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)]!);
  const exe = await compileLossSum(backend, cfg, params);
  return {
    loss: async (weights: Readonly<Record<string, HostTensor>>): Promise<number> => {
      for (const name of Object.keys(params)) await exe.writeState(name, weights[name]!);
      const v = await nllOfWindows(exe, wins, run.batchSize);
      return v.nll / v.tokens;
    },
    dispose: () => exe.dispose(),
  };
};
