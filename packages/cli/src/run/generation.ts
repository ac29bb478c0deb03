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
 *
 * Decoding options: the flags are parsed into a generation config (the call layer) and merged
 * over the model's (`generationDefaults`) by core's `mergeGenerationConfigs` and
 * `resolveGeneration` (transformers' precedence and rules; the README's table). Every row is
 * decoded as it would be alone: its own new-token limit, its own sampling stream; a prompt too
 * long for the model is cut as `--truncate` says and reported.
 */
import {
  bartVirtualPositions, causalDecoder, generate, hasInfix, hasLogitsProcessors, infixLength, mergeGenerationConfigs, newTokensFor,
  resolveGeneration, rowSeed, seq2seqDecoder, seq2seqGenerateOptions, virtualPrefixLength,
  type Backend, type BartConfig, type CausalLmConfig, type DecodeSession, type GenerateOptions, type GenerationConfig, type HostTensor,
} from '@prefix-tuning/core';
import * as E from 'fp-ts/lib/Either.js';
import { buildDecoderPrompt, buildSeq2SeqExample } from '@prefix-tuning/tasks';
import * as hub from '@prefix-tuning/hub';
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
  { name: 'max-new-tokens', type: 'number', description: `tokens to generate at most (default: ${defaults.maxNewTokens}; wins over --max-length, as in transformers)` },
  { name: 'max-length', type: 'number', description: "at most this many tokens in all: the prompt counts for decoder-only models, the decoder's start token for encoder-decoders (transformers' max_length)" },
  { name: 'min-length', type: 'number', description: 'no EOS while the sequence is shorter than this, counted as --max-length (default: 0)' },
  { name: 'min-new-tokens', type: 'number', description: 'no EOS before this many new tokens (default: 0; wins over --min-length)' },
  { name: 'length-penalty', type: 'number', description: 'beam search: score = log-prob / length^X (default: 1)' },
  { name: 'early-stopping', type: 'string', description: 'beam search: true (stop at N finished hypotheses), false (transformers\' heuristic; default) or never (canonical beam search)' },
  { name: 'no-repeat-ngram', type: 'number', description: "never repeat an n-gram of this size (0: off; default: the model's generation_config.json, else off)" },
  { name: 'encoder-no-repeat-ngram', type: 'number', description: "never generate an n-gram of this size that is in the source (the prompt for decoder-only models; 0: off)" },
  { name: 'repetition-penalty', type: 'number', description: 'divide the scores of tokens already in the sequence by X (1: off)' },
  { name: 'encoder-repetition-penalty', type: 'number', description: 'favour tokens of the source by X (the prompt for decoder-only models; 1: off)' },
  { name: 'bad-words-ids', type: 'string', description: 'JSON list of token-id sequences never generated, e.g. [[5],[7,8]]' },
  { name: 'suppress-tokens', type: 'list', description: 'comma-separated token ids never generated' },
  { name: 'begin-suppress-tokens', type: 'list', description: 'comma-separated token ids not generated first' },
  { name: 'forced-bos-token-id', type: 'number', description: 'token forced first (encoder-decoders)' },
  { name: 'forced-eos-token-id', type: 'list', description: 'comma-separated ids forced at the last position --max-length allows' },
  { name: 'eos-token-id', type: 'list', description: "comma-separated ids that end a sequence (default: the model's)" },
  { name: 'pad-token-id', type: 'number', description: "filler after EOS (default: the model's, else the first EOS)" },
  { name: 'decoder-start-token-id', type: 'number', description: "encoder-decoders: the decoder's first token (default: the model's)" },
  { name: 'num-return-sequences', type: 'number', description: 'sequences returned per prompt (beam search: <= --beams; sampling: independent samples)' },
  { name: 'temperature', type: 'number', description: 'sampling temperature (default: 1)' },
  { name: 'top-k', type: 'number', description: 'sample from the k most likely tokens (default: off)' },
  { name: 'top-p', type: 'number', description: 'sample from the smallest set with probability >= p (default: off)' },
  { name: 'seed', type: 'number', description: 'sampling seed (default: 0)' },
  { name: 'truncate', type: 'string', description: "a prompt too long for the model: left (drop its start), right (drop its end) or error (default: left for plain decoder-only prompts, right for task sources and encoder-decoders); every cut is reported" },
  { name: 'batch-size', type: 'number', description: 'prompts decoded together (default: 8; the results do not depend on it)' },
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
/** A list of token ids (`--eos-token-id 2,5`); a value already parsed (a model default) passes as it is. */
const idsOpt = (opts: Readonly<Record<string, unknown>>, name: string): number[] | undefined => {
  const v = opts[name];
  if (v === undefined) return undefined;
  const xs = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : [v];
  const ids = xs.map((x) => Number(x));
  if (ids.length === 0 || !ids.every((n) => Number.isInteger(n) && n >= 0)) throw new UsageError(`--${name} must be comma-separated token ids, got ${String(v)}`);
  return ids;
};

/**
 * Each decoding option and the `generation_config.json` key it sets. The model's values come
 * back from `generationDefaults` under the option's name, so the two layers merge key by key.
 */
const OPTION_KEYS: readonly (readonly [option: string, key: keyof GenerationConfig])[] = [
  ['max-new-tokens', 'max_new_tokens'], ['max-length', 'max_length'], ['min-length', 'min_length'], ['min-new-tokens', 'min_new_tokens'],
  ['early-stopping', 'early_stopping'], ['beams', 'num_beams'], ['sample', 'do_sample'], ['temperature', 'temperature'], ['top-k', 'top_k'],
  ['top-p', 'top_p'], ['repetition-penalty', 'repetition_penalty'], ['encoder-repetition-penalty', 'encoder_repetition_penalty'],
  ['length-penalty', 'length_penalty'], ['no-repeat-ngram', 'no_repeat_ngram_size'], ['encoder-no-repeat-ngram', 'encoder_no_repeat_ngram_size'],
  ['bad-words-ids', 'bad_words_ids'], ['suppress-tokens', 'suppress_tokens'], ['begin-suppress-tokens', 'begin_suppress_tokens'],
  ['forced-bos-token-id', 'forced_bos_token_id'], ['forced-eos-token-id', 'forced_eos_token_id'], ['num-return-sequences', 'num_return_sequences'],
  ['eos-token-id', 'eos_token_id'], ['pad-token-id', 'pad_token_id'], ['decoder-start-token-id', 'decoder_start_token_id'],
];
const warnedFiles = new Set<string>();

/**
 * The model's own decoding defaults (hub's `modelGenerationConfig`: generation_config.json, or
 * config.json without one, as transformers reads them) under the command-line options' names
 * (`--beams`, `--sample`, …) for `parseDecoding` to merge under the user's. A value transformers
 * would refuse is a usage error naming the file and the key; a key this library does not
 * implement is named in one warning line. The special ids (EOS, pad, forced BOS/EOS, decoder
 * start) are `specialIds`' (the same file first).
 */
export const generationDefaults = (dir: string): Record<string, unknown> => {
  const d = hub.modelGenerationConfig(dir);
  if (E.isLeft(d)) throw new UsageError(d.left);
  if (d.right.unsupported.length > 0 && !warnedFiles.has(d.right.file)) {
    warnedFiles.add(d.right.file);
    process.stderr.write(`warning: ${d.right.file}: not implemented, ignored: ${d.right.unsupported.join(', ')}\n`);
  }
  const cfg = d.right.config as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [o, k] of OPTION_KEYS) if (cfg[k] !== undefined && !hub.GENERATION_ID_KEYS.has(k)) out[o] = cfg[k];
  return out;
};

/** What `parseDecoding` returns: the search options, the length rule, and the CLI's own settings. */
export type Decoding = Omit<GenerateOptions, 'maxNewTokens'> & {
  /** The new-token limit of every row (absent when `maxLength` is the rule). */
  readonly maxNewTokens?: number;
  /** transformers' `max_length`: counts the search's prompt of each row. */
  readonly maxLength?: number;
  readonly decoderStartTokenId?: number;
  readonly truncate?: 'left' | 'right' | 'error';
  readonly seed: number;
  readonly batchSize: number;
};

/** The user's options as a generation config (the call layer); an explicit mode sets both num_beams and do_sample. */
const callLayer = (opts: Readonly<Record<string, unknown>>): GenerationConfig => {
  const c: Record<string, unknown> = {};
  if (opts['greedy'] === true) Object.assign(c, { num_beams: 1, do_sample: false });
  if (opts['sample'] === true) Object.assign(c, { num_beams: 1, do_sample: true });
  const beams = intOpt(opts, 'beams', 1);
  if (beams !== undefined) Object.assign(c, { num_beams: beams, do_sample: false });
  const set = (k: keyof GenerationConfig, v: unknown): void => { if (v !== undefined) c[k] = v; };
  set('max_new_tokens', intOpt(opts, 'max-new-tokens', 1));
  set('max_length', intOpt(opts, 'max-length', 1));
  set('min_length', intOpt(opts, 'min-length', 0));
  set('min_new_tokens', intOpt(opts, 'min-new-tokens', 0));
  const es = opts['early-stopping'];
  if (es !== undefined) {
    const v = es === true || es === 'true' ? true : es === false || es === 'false' ? false : es === 'never' ? 'never' : undefined;
    if (v === undefined) throw new UsageError(`--early-stopping must be true, false or never, got ${String(es)}`);
    c['early_stopping'] = v;
  }
  set('temperature', numOpt(opts, 'temperature', (n) => Number.isFinite(n) && n > 0, 'a positive number'));
  set('top_k', intOpt(opts, 'top-k', 1));
  set('top_p', numOpt(opts, 'top-p', (n) => n > 0 && n <= 1, 'in (0, 1]'));
  set('repetition_penalty', numOpt(opts, 'repetition-penalty', (n) => Number.isFinite(n) && n > 0, 'a positive number'));
  set('encoder_repetition_penalty', numOpt(opts, 'encoder-repetition-penalty', (n) => Number.isFinite(n) && n > 0, 'a positive number'));
  set('length_penalty', numOpt(opts, 'length-penalty', Number.isFinite, 'a number'));
  set('no_repeat_ngram_size', intOpt(opts, 'no-repeat-ngram', 0));
  set('encoder_no_repeat_ngram_size', intOpt(opts, 'encoder-no-repeat-ngram', 0));
  const bad = opts['bad-words-ids'];
  if (bad !== undefined) {
    let v: unknown = bad;
    if (typeof bad === 'string')
      try { v = JSON.parse(bad); } catch { v = undefined; }
    if (!(Array.isArray(v) && v.length > 0 && v.every((w) => Array.isArray(w) && w.length > 0 && w.every((x) => Number.isInteger(x) && x >= 0))))
      throw new UsageError(`--bad-words-ids must be a JSON list of non-empty lists of token ids, e.g. [[5],[7,8]], got ${typeof bad === 'string' ? bad : JSON.stringify(bad)}`);
    c['bad_words_ids'] = v;
  }
  set('suppress_tokens', idsOpt(opts, 'suppress-tokens'));
  set('begin_suppress_tokens', idsOpt(opts, 'begin-suppress-tokens'));
  set('forced_bos_token_id', intOpt(opts, 'forced-bos-token-id', 0));
  set('forced_eos_token_id', idsOpt(opts, 'forced-eos-token-id'));
  set('eos_token_id', idsOpt(opts, 'eos-token-id'));
  set('pad_token_id', intOpt(opts, 'pad-token-id', 0));
  set('decoder_start_token_id', intOpt(opts, 'decoder-start-token-id', 0));
  set('num_return_sequences', intOpt(opts, 'num-return-sequences', 1));
  return c as GenerationConfig;
};

/** The model's defaults (`generationDefaults`' record, under option names) as a generation config. */
const modelLayer = (model: Readonly<Record<string, unknown>>): GenerationConfig => {
  const c: Record<string, unknown> = {};
  for (const [o, k] of OPTION_KEYS) if (model[o] !== undefined) c[k] = model[o];
  return c as GenerationConfig;
};

/**
 * The decoding settings: the user's options (the call layer) over the model's
 * `generationDefaults`, merged and resolved by core (`mergeGenerationConfigs`,
 * `resolveGeneration`: transformers' precedence and rules), over the command's `defaults` where
 * neither sets a value. An explicit mode (`--greedy`, `--beams N`, `--sample`) replaces the
 * model's; the model's sampling settings then apply only when sampling and its length penalty
 * and early stopping only with beams. A flag that does not apply to the chosen mode is a usage error.
 */
export const parseDecoding = (
  user: Readonly<Record<string, unknown>>,
  defaults: { beams: number; maxNewTokens: number },
  model: Readonly<Record<string, unknown>> = {},
): Decoding => {
  const modes = ['greedy', 'sample'].filter((m) => user[m] === true).concat(user['beams'] !== undefined ? ['beams'] : []);
  if (modes.length > 1) throw new UsageError(`choose one of --greedy, --beams N, --sample (got ${modes.map((m) => `--${m}`).join(' and ')})`);
  const call = callLayer(user);
  const file = modelLayer(model);
  const merged = mergeGenerationConfigs(call, file);
  if (merged.do_sample === true && call.do_sample === undefined && (merged.num_beams ?? 1) > 1)
    throw new UsageError(`the model's generation_config.json asks for beam sampling (do_sample with num_beams ${merged.num_beams}), which is not implemented: pass --greedy, --beams N or --sample`);
  if (merged.do_sample === true && merged.temperature === 0 && call.temperature === undefined)
    throw new UsageError("the model's generation_config.json has temperature 0 (greedy decoding), which cannot sample: pass --temperature T with --sample, or --greedy");
  const r = resolveGeneration(merged, { maxNewTokens: defaults.maxNewTokens, numBeams: defaults.beams });
  if (E.isLeft(r)) throw new UsageError(r.left);
  const o = r.right.options;
  const sample = o.doSample === true;
  const beams = o.numBeams ?? 1;
  for (const f of ['temperature', 'top-k', 'top-p'])
    if (user[f] !== undefined && !sample) throw new UsageError(`--${f} applies to --sample`);
  for (const f of ['length-penalty', 'early-stopping'])
    if (user[f] !== undefined && beams === 1) throw new UsageError(`--${f} applies to beam search (--beams N, N > 1)`);
  for (const w of r.right.warnings) process.stderr.write(`warning: ${w}\n`);
  const truncate = user['truncate'];
  if (truncate !== undefined && !['left', 'right', 'error'].includes(String(truncate))) throw new UsageError(`--truncate must be left, right or error, got ${String(truncate)}`);
  const perRun = intOpt(user, 'tokens-per-run', 1);
  const parsed: Decoding = {
    ...o,
    ...r.right.length,
    ...(r.right.decoderStartTokenId !== undefined ? { decoderStartTokenId: r.right.decoderStartTokenId } : {}),
    ...(truncate !== undefined ? { truncate: String(truncate) as 'left' | 'right' | 'error' } : {}),
    seed: intOpt(user, 'seed', 0) ?? 0,
    batchSize: intOpt(user, 'batch-size', 1) ?? 8,
    ...(perRun !== undefined && perRun > 1 ? { tokensPerRun: perRun } : {}),
  };
  if (parsed.tokensPerRun !== undefined && (beams > 1 || sample || hasLogitsProcessors(parsed)))
    throw new UsageError(
      '--tokens-per-run applies to plain greedy decoding: not with --beams, --sample, --no-repeat-ngram, --min-length or the other logits processors ' +
        "(a model whose generation_config.json sets no_repeat_ngram_size or num_beams needs --greedy --no-repeat-ngram 0)",
    );
  return parsed;
};

/** One generated sequence (`num_return_sequences` of them per prompt, consecutive). */
export interface Output {
  /** The prompt's index in the texts given to `run`. */
  readonly index: number;
  readonly prompt: readonly number[];
  readonly ids: number[];
  readonly text: string;
  readonly score: number;
  /** Tokens cut from the prompt to fit the model, and from which side (absent when it fit). */
  readonly truncated?: { readonly dropped: number; readonly side: 'left' | 'right' };
}

/** An encoded prompt, cut to fit when it must be. */
interface Encoded {
  readonly ids: number[];
  readonly truncated?: { readonly dropped: number; readonly side: 'left' | 'right' };
}

/**
 * Cuts `p` to `room` tokens from `side`, keeping its first `head` and last `tail` tokens (BOS,
 * the separator or EOS the encoding added), as a tokenizer's truncation keeps special tokens.
 */
export const cutPrompt = (p: readonly number[], room: number, side: 'left' | 'right' | 'error', head: number, tail: number, what: string): Encoded => {
  if (p.length <= room) return { ids: [...p] };
  const keep = room - head - tail;
  if (side === 'error' || keep < 1)
    throw new UsageError(`${what} has ${p.length} tokens and the model leaves room for ${room}${side === 'error' ? ' (--truncate left|right cuts it)' : ''}`);
  const body = p.slice(head, p.length - tail);
  const kept = side === 'left' ? body.slice(body.length - keep) : body.slice(0, keep);
  return { ids: [...p.slice(0, head), ...kept, ...p.slice(p.length - tail)], truncated: { dropped: p.length - room, side } };
};

/**
 * A model family's part of generation: how a text becomes the ids the session starts from, how
 * many new tokens the model's positions leave a row, and the session itself (with the prompts
 * the search sees and the options the config implies).
 */
interface Engine {
  /** `index`: the prompt's, for messages; `side`: `--truncate` (default: the family's rule). */
  encode(text: string, index: number, side: 'left' | 'right' | 'error' | undefined): Encoded;
  /** The prompt the search sees for `prompt` (the decoder-only prompt itself; BART's decoder start). */
  seen(prompt: readonly number[], decoderStart: number | undefined): readonly number[];
  /** New tokens the learned positions leave after `prompt` (the adapter's share included). */
  room(prompt: readonly number[]): number;
  /** Why generation is limited, for the note. */
  readonly limit: string;
  /** `rows`: rows per prompt (beams or returned samples); `reserve`: tokens to be generated (the decoder-only cache is sized for them up front). */
  start(prompts: readonly (readonly number[])[], rows: number, reserve: number, decoderStart: number | undefined): Promise<DecodeSession>;
  /** Options the model's config implies (BART's forced first and last tokens). */
  readonly options: Partial<GenerateOptions>;
  /** The encoder's input of each prompt (BART's source; undefined: the prompt itself). */
  readonly encoderInput: boolean;
  dispose(): Promise<void>;
}

/** Whether the tokenizer adds `id` at the start (end) of every encoding (Llama's BOS; BART's <s> … </s>). */
const adds = (model: LoadedModel, id: number | undefined, at: 'start' | 'end'): boolean => {
  if (id === undefined) return false;
  const e = model.tokenizer.encode('a');
  return e.length > 0 && (at === 'start' ? e[0] === id : e[e.length - 1] === id);
};

/** Decoder-only models: the prompt is the start of the sequence (an infix adapter's source goes to the session apart). */
const causalEngine = async (backend: Backend, cfg: CausalLmConfig, model: LoadedModel, ids: SpecialIds, adapter: LoadedAdapter | undefined, params: Record<string, HostTensor>): Promise<Engine> => {
  const inj = adapter?.injection;
  // an infix adapter reads [source; INFIX; separator …]: the source goes to the session apart
  const infix = inj !== undefined && hasInfix(inj);
  const virtual = inj ? virtualPrefixLength(cfg, inj) + infixLength(inj) : 0;
  const positions = maxPositions(cfg);
  const tok = adapter ? taskTokenizer(model) : undefined;
  const decoder = await causalDecoder(backend, cfg, params, inj);
  const addsBos = adds(model, ids.bos, 'start');
  return {
    /** Token ids of a prompt (see the module comment), cut to leave at least one position for generation. */
    encode(text, index, side) {
      const room = positions - virtual - 1;
      if (room < 1) throw new UsageError(`the model has ${positions} positions and the adapter takes ${virtual}: no room for a prompt`);
      let e: Encoded;
      // a task source is cut at its end, as in training (the separator kept); a plain prompt at its
      // start, keeping the end where generation continues (and the BOS the tokenizer adds)
      if (tok) e = cutPrompt(buildDecoderPrompt(tok, { prependSpace: prependSpace(cfg) })(text), room, side ?? 'right', 0, 1, `prompt ${index + 1}`);
      else {
        let p = model.tokenizer.encode(text);
        if (p.length === 0) p = [ids.bos ?? ids.eos[0] ?? 0];
        e = cutPrompt(p, room, side ?? 'left', addsBos && p[0] === ids.bos ? 1 : 0, 0, `prompt ${index + 1}`);
      }
      checkIds(e.ids, cfg, model.tokenizer, 'prompt');
      return e;
    },
    seen: (p) => p,
    room: (p) => positions - virtual - p.length,
    limit: `the model's ${positions} positions${virtual > 0 ? ` (${virtual} taken by the adapter)` : ''}`,
    async start(prompts, rows, reserve) {
      const padId = ids.pad ?? ids.eos[0] ?? 0;
      return decoder.start(
        infix ? prompts.map((p) => p.slice(-1)) : prompts,
        { beams: rows, padId, reserve, ...(infix ? { sources: prompts.map((p) => p.slice(0, -1)) } : {}) },
      );
    },
    options: {},
    encoderInput: false,
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
  const [head, tail] = [adds(model, ids.bos, 'start') ? 1 : 0, adds(model, ids.eos[0], 'end') ? 1 : 0];
  return {
    /** Source ids, cut to the encoder's positions (by default the beginning kept, as in training). */
    encode(text, index, side) {
      const room = positions - virtual.source;
      if (room < 2) throw new UsageError(`the model has ${positions} positions and the adapter takes ${virtual.source} of the encoder's: no room for a source`);
      let e: Encoded;
      if (tok) {
        const p = buildSeq2SeqExample(tok, { prependSpace: prependSpace(cfg) })({ source: text, target: '' }).inputIds;
        e = cutPrompt(p, room, side ?? 'right', tok.bosId !== undefined ? 1 : 0, 1, `source ${index + 1}`);
      } else {
        let p = model.tokenizer.encode(text);
        if (p.length === 0) p = [...(ids.bos !== undefined ? [ids.bos] : []), ids.eos[0] ?? 0];
        e = cutPrompt(p, room, side ?? 'right', head && p[0] === ids.bos ? 1 : 0, tail && ids.eos.includes(p[p.length - 1]!) ? 1 : 0, `source ${index + 1}`);
      }
      checkIds(e.ids, cfg, model.tokenizer, 'source');
      return e;
    },
    seen: (_p, start) => (start !== undefined ? [start] : decoder.decoderPrompt),
    room: () => positions - virtual.target,
    limit: `the decoder's ${positions} positions${virtual.target > 0 ? ` (${virtual.target} taken by the adapter)` : ''}`,
    start: (prompts, rows, _reserve, start) =>
      decoder.start(prompts, { beams: rows, padId: ids.pad ?? cfg.pad_token_id ?? 1, ...(start !== undefined ? { decoderStartTokenId: start } : {}) }),
    options: {
      ...(ids.forcedBos !== undefined ? { forcedBosTokenId: ids.forcedBos } : fromConfig.forcedBosTokenId !== undefined ? { forcedBosTokenId: fromConfig.forcedBosTokenId } : {}),
      ...(ids.forcedEos !== undefined ? { forcedEosTokenIds: ids.forcedEos } : fromConfig.forcedEosTokenIds !== undefined ? { forcedEosTokenIds: fromConfig.forcedEosTokenIds } : {}),
    },
    encoderInput: true,
    dispose: () => decoder.dispose(),
  };
};

/** The generation_config.json's `decoder_start_token_id` (transformers' first choice), when the file sets it. */
const fileDecoderStart = (dir: string): number | undefined => {
  const v = readGenerationConfig(dir)['decoder_start_token_id'];
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;
};


/** At most this many notes of each kind per run (then one line says how many more). */
const MAX_NOTES = 5;

/**
 * A compiled model (+ adapter) that turns texts into generated texts. Every row is decoded as it
 * would be alone: its own new-token limit (the options' and its own room under the model's
 * positions), its own processors' context; so outputs do not depend on `batchSize`.
 */
export const makeGenerator = async (backend: Backend, model: LoadedModel, adapter: LoadedAdapter | undefined) => {
  const params: Record<string, HostTensor> = { ...model.params, ...(adapter?.params ?? {}) };
  const cfg = model.config;
  const ids = specialIds(model);
  const engine = cfg.model_type === 'bart' ? await seq2seqEngine(backend, cfg, model, ids, adapter, params) : await causalEngine(backend, cfg, model, ids, adapter, params);
  const tok = adapter !== undefined;
  const fileStart = fileDecoderStart(model.dir);

  const run = async (texts: readonly string[], o: Decoding, onBatch?: (done: number) => void): Promise<Output[]> => {
    const outs: Output[] = [];
    const { batchSize: _b, maxNewTokens: _m, maxLength, decoderStartTokenId, truncate, ...g } = o;
    // the user's ids (the call layer) over the model's (generation_config.json, config.json, the tokenizer)
    const eos = g.eosTokenIds ?? ids.eos;
    const pad = g.padTokenId ?? ids.pad;
    const start = decoderStartTokenId ?? fileStart;
    const nRet = g.numReturnSequences ?? 1;
    const beams = g.numBeams ?? 1;
    const rows = beams > 1 ? beams : nRet; // sampling: each returned sequence is a row of its own
    const length = maxLength !== undefined ? { maxLength } : { maxNewTokens: o.maxNewTokens ?? 1 };
    const notes = { limited: 0, truncated: 0 };
    const note = (kind: keyof typeof notes, line: string): void => {
      if (++notes[kind] <= MAX_NOTES) process.stderr.write(`note: ${line}\n`);
    };
    for (let i = 0; i < texts.length; i += o.batchSize) {
      const batch = texts.slice(i, i + o.batchSize).map((t, j) => {
        const e = engine.encode(t, i + j, truncate);
        if (e.truncated) note('truncated', `prompt ${i + j + 1}: ${e.truncated.dropped} tokens dropped from the ${e.truncated.side} to fit ${engine.limit}`);
        return e;
      });
      const prompts = batch.map((e) => e.ids);
      const seen = prompts.map((p) => engine.seen(p, start));
      // each row's own limit: the options' (max_length counts the row's own search prompt) and its room
      const limits = prompts.map((p, j) => {
        const want = newTokensFor({ length }, seen[j]!.length);
        if (want < 1) throw new UsageError(`prompt ${i + j + 1}: its ${seen[j]!.length} tokens leave no room under --max-length ${maxLength} (transformers refuses it too): raise --max-length or pass --max-new-tokens`);
        const room = engine.room(p);
        if (room < want) note('limited', `prompt ${i + j + 1}: generation limited to ${room} new tokens by ${engine.limit}`);
        return Math.min(want, room);
      });
      const session = await engine.start(prompts, rows, Math.max(...limits), start);
      const expand = <T,>(xs: readonly T[]): T[] => (beams > 1 ? [...xs] : xs.flatMap((x) => Array<T>(rows).fill(x)));
      const r = await generate(session, expand(seen), {
        ...engine.options, ...g,
        maxNewTokens: expand(limits), eosTokenIds: eos, ...(pad !== undefined ? { padTokenId: pad } : {}),
        ...(engine.encoderInput ? { encoderInputIds: expand(prompts) } : {}),
        // each sampled row its own stream, from the seed and the row's place in the whole input
        ...(g.doSample ? { rowSeeds: prompts.flatMap((_, j) => Array.from({ length: rows }, (_, k) => rowSeed(o.seed, (i + j) * rows + k))) } : {}),
      });
      batch.forEach((e, j) => {
        for (let k = 0; k < nRet; k++) {
          const q = j * nRet + k;
          const all = r.tokens[q]!;
          const stop = all.findIndex((t) => eos.includes(t)); // the first EOS ends the text (fillers may follow it)
          const seq = stop < 0 ? all : all.slice(0, stop + 1);
          const body = stop < 0 ? all : all.slice(0, stop);
          const text = model.tokenizer.decode(body, { skipSpecialTokens: true });
          outs.push({ index: i + j, prompt: e.ids, ids: seq, text: tok ? text.trim() : text, score: r.scores[q]!, ...(e.truncated ? { truncated: e.truncated } : {}) });
        }
      });
      onBatch?.(Math.min(texts.length, i + o.batchSize));
    }
    for (const k of ['limited', 'truncated'] as const)
      if (notes[k] > MAX_NOTES) process.stderr.write(`note: ${notes[k] - MAX_NOTES} more prompts ${k === 'limited' ? 'limited by the model\'s positions' : 'truncated'}\n`);
    return outs;
  };
  return { run, dispose: () => engine.dispose() };
};
