/**
 * Generation for the CLI: a model (+ an adapter) compiled once into a decoding session, prompts
 * in batches, the decoding options of `generate`/`eval` parsed from the command line.
 *
 * Prompt rule: with an adapter, a prompt is a task source and is encoded as in training
 * (`source ++ [EOS]`, the separator; `buildDecoderPrompt`); without one it is plain text,
 * encoded with the tokenizer's special tokens (Llama adds BOS itself); an empty prompt without
 * any token becomes [BOS] (or [EOS] when the model has no BOS: GPT-2's BOS and EOS are one).
 * An infix adapter's prompt is split as in training: the source goes before the infix, the
 * separator after it (the n-gram and length processors still see `source ++ [EOS]`).
 *
 * Encoder-decoder models (BART): the prompt is the encoder's source (with an adapter
 * `[BOS] source [EOS]` as in training, else the tokenizer's own special tokens); the decoder
 * starts from `decoder_start_token_id` and the forced first/last tokens of generation_config.json
 * (else config.json) apply, as in transformers' `generate`.
 */
import {
  bartVirtualPositions, causalDecoder, generate, hasInfix, hasLogitsProcessors, infixLength, seq2seqDecoder, seq2seqGenerateOptions, virtualPrefixLength,
  type Backend, type BartConfig, type CausalLmConfig, type DecodeSession, type GenerateOptions, type HostTensor,
} from '@prefix-tuning/core';
import { join } from 'node:path';
import { buildDecoderPrompt, buildSeq2SeqExample } from '@prefix-tuning/tasks';
import type { LoadedModel } from '@prefix-tuning/hub';
import type { LoadedAdapter } from '@prefix-tuning/core';
import { UsageError, type OptionSpec } from '../cli.ts';
import { checkIds, maxPositions, prependSpace, readGenerationConfig, specialIds, taskTokenizer, type SpecialIds } from './model.ts';
import { deviceOption } from './backend.ts';

/** Options shared by `generate` and `eval`. */
export const decodingOptions = (defaults: { beams: number; maxNewTokens: number }): OptionSpec[] => [
  { name: 'greedy', type: 'boolean', description: `greedy decoding${defaults.beams === 1 ? ' (default)' : ''}` },
  { name: 'beams', type: 'number', description: `beam search with N beams (default: ${defaults.beams})` },
  { name: 'sample', type: 'boolean', description: 'sampling (with --temperature, --top-k, --top-p, --seed)' },
  { name: 'max-new-tokens', type: 'number', description: `tokens to generate at most (default: ${defaults.maxNewTokens})` },
  { name: 'min-length', type: 'number', description: 'generate at least this many new tokens before EOS (default: 0)' },
  { name: 'length-penalty', type: 'number', description: 'beam search: score = log-prob / length^X (default: 1)' },
  { name: 'no-repeat-ngram', type: 'number', description: "never repeat an n-gram of this size (0: off; default: the model's generation_config.json, else off)" },
  { name: 'temperature', type: 'number', description: 'sampling temperature (default: 1)' },
  { name: 'top-k', type: 'number', description: 'sample from the k most likely tokens (default: off)' },
  { name: 'top-p', type: 'number', description: 'sample from the smallest set with probability >= p (default: off)' },
  { name: 'seed', type: 'number', description: 'sampling seed (default: 0)' },
  { name: 'batch-size', type: 'number', description: 'prompts decoded together (default: 8)' },
  {
    name: 'tokens-per-run', type: 'number',
    description: 'plain greedy decoding of a decoder-only model: N tokens per backend run (default 1). On CUDA the KV cache then crosses to the GPU once per N tokens; the tokens do not change',
  },
  { name: 'backend', type: 'string', description: 'onnx | tfjs | reference (default: onnx)' },
  deviceOption,
];

const intOpt = (opts: Readonly<Record<string, unknown>>, name: string, min: number): number | undefined => {
  const v = opts[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${String(v)}`);
  return n;
};
const numOpt = (opts: Readonly<Record<string, unknown>>, name: string, ok: (n: number) => boolean, what: string): number | undefined => {
  const v = opts[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!ok(n)) throw new UsageError(`--${name} must be ${what}, got ${String(v)}`);
  return n;
};

/**
 * The keys of `generation_config.json` that `generationDefaults` takes, the option each becomes
 * and the values transformers accepts (an integer at least `min`, or a number passing `ok`).
 */
const MODEL_DEFAULTS: readonly (readonly [key: string, option: string, check: { min: number } | { ok: (n: number) => boolean; what: string }])[] = [
  ['num_beams', 'beams', { min: 1 }],
  ['temperature', 'temperature', { ok: (n) => n >= 0, what: 'a number >= 0' }],
  ['top_k', 'top-k', { min: 0 }],
  ['top_p', 'top-p', { ok: (n) => n > 0 && n <= 1, what: 'in (0, 1]' }],
  ['no_repeat_ngram_size', 'no-repeat-ngram', { min: 0 }],
  ['length_penalty', 'length-penalty', { ok: () => true, what: 'a number' }],
  ['min_new_tokens', 'min-length', { min: 0 }],
  ['max_new_tokens', 'max-new-tokens', { min: 1 }],
];

/**
 * The model's own decoding defaults, as transformers' `generate` reads them from
 * `generation_config.json`: `num_beams`, `do_sample`, `temperature`, `top_k`, `top_p`,
 * `no_repeat_ngram_size`, `length_penalty`, `min_new_tokens`, `max_new_tokens`, returned as
 * command-line options (`--beams`, `--sample`, …) for `parseDecoding` to merge under the user's.
 * A value transformers would refuse is a usage error naming the file and the key; `top_k: 0`
 * is off, as in transformers (temperature 0, transformers' mark of greedy decoding, is refused
 * only when sampling: see `overModelDefaults`).
 */
export const generationDefaults = (dir: string): Record<string, unknown> => {
  const g = readGenerationConfig(dir);
  const p = join(dir, 'generation_config.json');
  const out: Record<string, unknown> = {};
  for (const [k, o, check] of MODEL_DEFAULTS) {
    const v = g[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`${p}: ${k} must be a number, got ${JSON.stringify(v)}`);
    if ('min' in check ? !(Number.isInteger(v) && v >= check.min) : !check.ok(v))
      throw new UsageError(`${p}: ${k} must be ${'min' in check ? `an integer >= ${check.min}` : check.what}, got ${v}`);
    if (k === 'top_k' && v === 0) continue;
    out[o] = v;
  }
  if (g['do_sample'] === true) out['sample'] = true;
  return out;
};

/**
 * The user's options over the model's defaults, with transformers' precedence: an explicit
 * decoding mode (`--greedy`, `--beams N`, `--sample`) replaces the model's; the model's sampling
 * settings apply only when sampling and its length penalty only with beams.
 */
const overModelDefaults = (opts: Readonly<Record<string, unknown>>, model: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const userMode = opts['greedy'] === true || opts['sample'] === true || opts['beams'] !== undefined;
  const m: Record<string, unknown> = { ...model };
  if (userMode) { delete m['beams']; delete m['sample']; }
  const sample = userMode ? opts['sample'] === true : m['sample'] === true;
  if (sample) {
    if (m['beams'] !== undefined && Number(m['beams']) > 1) throw new UsageError(`the model's generation_config.json asks for beam sampling (do_sample with num_beams ${String(m['beams'])}), which is not implemented: pass --greedy, --beams N or --sample`);
    if (m['temperature'] === 0 && opts['temperature'] === undefined)
      throw new UsageError("the model's generation_config.json has temperature 0 (greedy decoding), which cannot sample: pass --temperature T with --sample, or --greedy");
    delete m['beams'];
  } else for (const k of ['temperature', 'top-k', 'top-p']) delete m[k];
  const beams = opts['beams'] !== undefined ? Number(opts['beams']) : opts['greedy'] === true || sample ? 1 : Number(m['beams'] ?? 1);
  if (!(beams > 1)) { delete m['length-penalty']; delete m['beams']; } // (a model num_beams of 1 is greedy: nothing to merge)
  return { ...m, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
};

/** The decoding settings from options (without model-specific ids), over the model's `generationDefaults`. */
export const parseDecoding = (
  user: Readonly<Record<string, unknown>>,
  defaults: { beams: number; maxNewTokens: number },
  model: Readonly<Record<string, unknown>> = {},
): Omit<GenerateOptions, 'eosTokenIds' | 'padTokenId'> & { batchSize: number } => {
  const opts = overModelDefaults(user, model);
  const modes = ['greedy', 'sample'].filter((m) => opts[m] === true).concat(opts['beams'] !== undefined ? ['beams'] : []);
  if (modes.length > 1) throw new UsageError(`choose one of --greedy, --beams N, --sample (got ${modes.map((m) => `--${m}`).join(' and ')})`);
  const beams = opts['greedy'] === true || opts['sample'] === true ? 1 : intOpt(opts, 'beams', 1) ?? defaults.beams;
  const sample = opts['sample'] === true;
  for (const o of ['temperature', 'top-k', 'top-p'])
    if (opts[o] !== undefined && !sample) throw new UsageError(`--${o} applies to --sample`);
  if (opts['length-penalty'] !== undefined && beams === 1) throw new UsageError('--length-penalty applies to beam search (--beams N, N > 1)');
  const temperature = numOpt(opts, 'temperature', (n) => Number.isFinite(n) && n > 0, 'a positive number');
  const topK = intOpt(opts, 'top-k', 1);
  const topP = numOpt(opts, 'top-p', (n) => n > 0 && n <= 1, 'in (0, 1]');
  const lengthPenalty = numOpt(opts, 'length-penalty', Number.isFinite, 'a number');
  const nr = intOpt(opts, 'no-repeat-ngram', 0);
  const minNew = intOpt(opts, 'min-length', 0);
  const perRun = intOpt(opts, 'tokens-per-run', 1);
  const parsed = {
    maxNewTokens: intOpt(opts, 'max-new-tokens', 1) ?? defaults.maxNewTokens,
    numBeams: beams,
    doSample: sample,
    seed: intOpt(opts, 'seed', 0) ?? 0,
    batchSize: intOpt(opts, 'batch-size', 1) ?? 8,
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topK !== undefined ? { topK } : {}),
    ...(topP !== undefined ? { topP } : {}),
    ...(lengthPenalty !== undefined ? { lengthPenalty } : {}),
    ...(nr !== undefined && nr > 0 ? { noRepeatNgramSize: nr } : {}),
    ...(minNew !== undefined && minNew > 0 ? { minNewTokens: minNew } : {}),
    ...(perRun !== undefined && perRun > 1 ? { tokensPerRun: perRun } : {}),
  };
  if (parsed.tokensPerRun !== undefined && (beams > 1 || sample || hasLogitsProcessors(parsed)))
    throw new UsageError(
      '--tokens-per-run applies to plain greedy decoding: not with --beams, --sample, --no-repeat-ngram or --min-length ' +
        "(a model whose generation_config.json sets no_repeat_ngram_size or num_beams needs --greedy --no-repeat-ngram 0)",
    );
  return parsed;
};

/** One generated sequence per prompt. */
export interface Output {
  readonly prompt: readonly number[];
  readonly ids: number[];
  readonly text: string;
  readonly score: number;
}

/**
 * A model family's part of generation: how a text becomes the ids the session starts from, how
 * many new tokens the model's positions leave, and the session itself (with the prompts the
 * search sees and the options the config implies).
 */
interface Engine {
  encode(text: string): number[];
  /** New tokens the learned positions leave after `prompts` (the adapter's share included). */
  room(prompts: readonly (readonly number[])[]): number;
  /** Why generation is limited, for the note printed once. */
  readonly limit: string;
  /** `reserve`: tokens to be generated (the decoder-only cache is sized for them up front). */
  start(prompts: readonly (readonly number[])[], beams: number, reserve: number): Promise<{ session: DecodeSession; seen: readonly (readonly number[])[] }>;
  /** Options the model's config implies (BART's forced first and last tokens). */
  readonly options: Partial<GenerateOptions>;
  dispose(): Promise<void>;
}

/** Decoder-only models: the prompt is the start of the sequence (an infix adapter's source goes to the session apart). */
const causalEngine = async (backend: Backend, cfg: CausalLmConfig, model: LoadedModel, ids: SpecialIds, adapter: LoadedAdapter | undefined, params: Record<string, HostTensor>): Promise<Engine> => {
  const inj = adapter?.injection;
  // an infix adapter reads [source; INFIX; separator …]: the source goes to the session apart
  const infix = inj !== undefined && hasInfix(inj);
  const virtual = inj ? virtualPrefixLength(cfg, inj) + infixLength(inj) : 0;
  const positions = maxPositions(cfg);
  const tok = adapter ? taskTokenizer(model) : undefined;
  const decoder = await causalDecoder(backend, cfg, params, inj);
  return {
    /** Token ids of a prompt (see the module comment), cut to leave at least one position for generation. */
    encode(text) {
      const room = positions - virtual - 1;
      if (room < 1) throw new UsageError(`the model has ${positions} positions and the adapter takes ${virtual}: no room for a prompt`);
      let p: number[];
      if (tok) p = [...buildDecoderPrompt(tok, { maxLength: room, prependSpace: prependSpace(cfg) })(text)];
      else {
        p = model.tokenizer.encode(text);
        if (p.length === 0) p = [ids.bos ?? ids.eos[0] ?? 0];
        if (p.length > room) p = p.slice(p.length - room); // keep the end, where generation continues
      }
      checkIds(p, cfg, model.tokenizer, 'prompt');
      return p;
    },
    room: (prompts) => positions - virtual - Math.max(...prompts.map((p) => p.length)),
    limit: `the model's ${positions} positions${virtual > 0 ? ` (${virtual} taken by the adapter)` : ''}`,
    async start(prompts, beams, reserve) {
      const padId = ids.pad ?? ids.eos[0] ?? 0;
      const session = await decoder.start(
        infix ? prompts.map((p) => p.slice(-1)) : prompts,
        { beams, padId, reserve, ...(infix ? { sources: prompts.map((p) => p.slice(0, -1)) } : {}) },
      );
      return { session, seen: prompts };
    },
    options: {},
    dispose: () => decoder.dispose(),
  };
};

/**
 * Encoder-decoder models (BART): the prompt is the encoder's source (with an adapter, encoded as
 * in training: `[BOS] source [EOS]`; `buildSeq2SeqExample`); the decoder starts from
 * `decoder_start_token_id`, and the config's forced first/last tokens apply, as transformers'
 * `generate` does.
 */
const seq2seqEngine = async (backend: Backend, cfg: BartConfig, model: LoadedModel, ids: SpecialIds, adapter: LoadedAdapter | undefined, params: Record<string, HostTensor>): Promise<Engine> => {
  const inj = adapter?.injection;
  const virtual = inj ? bartVirtualPositions(inj) : { source: 0, target: 0 };
  const positions = maxPositions(cfg);
  const tok = adapter ? taskTokenizer(model) : undefined;
  const decoder = await seq2seqDecoder(backend, cfg, params, inj);
  const fromConfig = seq2seqGenerateOptions(cfg);
  return {
    /** Source ids, cut to the encoder's positions (the beginning kept, as in training). */
    encode(text) {
      const room = positions - virtual.source;
      if (room < 2) throw new UsageError(`the model has ${positions} positions and the adapter takes ${virtual.source} of the encoder's: no room for a source`);
      let p: number[];
      if (tok) p = [...buildSeq2SeqExample(tok, { maxSourceLength: room, prependSpace: prependSpace(cfg) })({ source: text, target: '' }).inputIds];
      else {
        p = model.tokenizer.encode(text);
        if (p.length === 0) p = [...(ids.bos !== undefined ? [ids.bos] : []), ids.eos[0] ?? 0];
        if (p.length > room) p = p.slice(0, room);
      }
      checkIds(p, cfg, model.tokenizer, 'source');
      return p;
    },
    room: () => positions - virtual.target,
    limit: `the decoder's ${positions} positions${virtual.target > 0 ? ` (${virtual.target} taken by the adapter)` : ''}`,
    async start(prompts, beams) {
      const session = await decoder.start(prompts, { beams, padId: ids.pad ?? cfg.pad_token_id ?? 1 });
      return { session, seen: prompts.map(() => decoder.decoderPrompt) };
    },
    options: {
      ...(ids.forcedBos !== undefined ? { forcedBosTokenId: ids.forcedBos } : fromConfig.forcedBosTokenId !== undefined ? { forcedBosTokenId: fromConfig.forcedBosTokenId } : {}),
      ...(ids.forcedEos !== undefined ? { forcedEosTokenIds: ids.forcedEos } : fromConfig.forcedEosTokenIds !== undefined ? { forcedEosTokenIds: fromConfig.forcedEosTokenIds } : {}),
    },
    dispose: () => decoder.dispose(),
  };
};

/** A compiled model (+ adapter) that turns texts into generated texts. */
export const makeGenerator = async (backend: Backend, model: LoadedModel, adapter: LoadedAdapter | undefined) => {
  const params: Record<string, HostTensor> = { ...model.params, ...(adapter?.params ?? {}) };
  const cfg = model.config;
  const ids = specialIds(model);
  const engine = cfg.model_type === 'bart' ? await seq2seqEngine(backend, cfg, model, ids, adapter, params) : await causalEngine(backend, cfg, model, ids, adapter, params);
  const tok = adapter !== undefined;
  let warned = false;

  const run = async (texts: readonly string[], o: ReturnType<typeof parseDecoding>, onBatch?: (done: number) => void): Promise<Output[]> => {
    const outs: Output[] = [];
    const eos = ids.eos;
    for (let i = 0; i < texts.length; i += o.batchSize) {
      const prompts = texts.slice(i, i + o.batchSize).map(engine.encode);
      // learned positions end at the model's context: generation stops there
      const maxNewTokens = Math.min(o.maxNewTokens, engine.room(prompts));
      if (maxNewTokens < o.maxNewTokens && !warned) {
        warned = true;
        process.stderr.write(`note: generation limited to ${maxNewTokens} new tokens by ${engine.limit}\n`);
      }
      const { session, seen } = await engine.start(prompts, o.numBeams ?? 1, maxNewTokens);
      const { batchSize: _b, ...g } = o;
      const r = await generate(session, seen, { ...engine.options, ...g, maxNewTokens, eosTokenIds: eos, ...(ids.pad !== undefined ? { padTokenId: ids.pad } : {}) });
      prompts.forEach((p, j) => {
        const all = r.tokens[j]!;
        const stop = all.findIndex((t) => eos.includes(t)); // the first EOS ends the text (fillers may follow it)
        const seq = stop < 0 ? all : all.slice(0, stop + 1);
        const body = stop < 0 ? all : all.slice(0, stop);
        const text = model.tokenizer.decode(body, { skipSpecialTokens: true });
        outs.push({ prompt: p, ids: seq, text: tok ? text.trim() : text, score: r.scores[j]! });
      });
      onBatch?.(Math.min(texts.length, i + o.batchSize));
    }
    return outs;
  };
  return { run, dispose: () => engine.dispose() };
};
