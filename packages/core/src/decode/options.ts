/**
 * Decoding options as transformers' `generate` (5.23) reads them: the `GenerationConfig` codec
 * (the keys of `generation_config.json` that greedy search, beam search and sampling honour),
 * `mergeGenerationConfigs` (transformers' precedence: call options over the model's generation
 * config, which is `generation_config.json`, or `config.json` when there is none) and
 * `resolveGeneration`, which turns the merged config into `GenerateOptions` by transformers'
 * rules:
 *
 * - `max_new_tokens` wins over `max_length`; `max_length` counts the prompt the search sees
 *   (a decoder-only model's prompt; an encoder-decoder's decoder start token, not its source),
 *   so the new-token limit is decided per row (`newTokensFor`);
 * - `min_new_tokens` (when set, even 0) wins over `min_length`, which counts the same way;
 * - `num_beams > 1` is beam search (with `do_sample` it would be beam sampling: refused), else
 *   `do_sample` is sampling, else greedy; the warpers (`temperature`, `top_k`, `top_p`) apply
 *   only when sampling, `length_penalty` and `early_stopping` only with beams;
 * - neutral values are off: penalties 1, n-gram sizes 0, `top_k` 0, `top_p` 1, `temperature` 1.
 *
 * A key that transformers honours and this library does not implement is listed by
 * `decodeGenerationConfig` in `unsupported`, for the caller to name: never dropped unseen.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { GenerateOptions } from './search.ts';

/** A number passing `ok`, named by `what` in messages ("an integer >= 1"). */
const num = (what: string, ok: (n: number) => boolean): t.Type<number> =>
  new t.Type<number>(what, (u): u is number => typeof u === 'number' && ok(u), (u, c) => (typeof u === 'number' && ok(u) ? t.success(u) : t.failure(u, c)), (n) => n);
const int = (min: number) => num(`an integer >= ${min}`, (n) => Number.isInteger(n) && n >= min);
const TokenId = int(0);
/** One id or a list of ids (as transformers writes `eos_token_id`). */
const TokenIds = t.union([TokenId, t.array(TokenId)], 'a token id or a list of token ids');
const IdList = t.array(TokenId, 'a list of token ids');
const nonEmpty = <C extends t.Mixed>(c: t.ArrayC<C>) =>
  new t.Type<t.TypeOf<C>[]>('a non-empty list of token ids', (u): u is t.TypeOf<C>[] => c.is(u) && u.length > 0, (u, ctx) => (c.is(u) && u.length > 0 ? t.success(u) : t.failure(u, ctx)), (x) => x);
const BadWords = t.array(nonEmpty(IdList), 'a list of non-empty lists of token ids');
const Positive = num('a number > 0', (n) => Number.isFinite(n) && n > 0);

/** The keys read, each with its codec. */
const FIELDS = {
  max_length: int(1),
  max_new_tokens: int(1),
  min_length: int(0),
  min_new_tokens: int(0),
  early_stopping: t.union([t.boolean, t.literal('never')], 'true, false or "never"'),
  num_beams: int(1),
  do_sample: t.boolean,
  temperature: num('a number >= 0', (n) => Number.isFinite(n) && n >= 0),
  top_k: int(0),
  top_p: num('in (0, 1]', (n) => n > 0 && n <= 1),
  repetition_penalty: Positive,
  encoder_repetition_penalty: Positive,
  length_penalty: num('a number', Number.isFinite),
  no_repeat_ngram_size: int(0),
  encoder_no_repeat_ngram_size: int(0),
  bad_words_ids: BadWords,
  suppress_tokens: IdList,
  begin_suppress_tokens: IdList,
  forced_bos_token_id: TokenId,
  forced_eos_token_id: TokenIds,
  num_return_sequences: int(1),
  eos_token_id: TokenIds,
  pad_token_id: TokenId,
  bos_token_id: TokenId,
  decoder_start_token_id: TokenId,
};
const NUMERIC = new Set(['max_length', 'max_new_tokens', 'min_length', 'min_new_tokens', 'num_beams', 'temperature', 'top_k', 'top_p', 'repetition_penalty',
  'encoder_repetition_penalty', 'length_penalty', 'no_repeat_ngram_size', 'encoder_no_repeat_ngram_size', 'forced_bos_token_id', 'num_return_sequences',
  'pad_token_id', 'bos_token_id', 'decoder_start_token_id']);

type Nullable<P extends t.Props> = { [K in keyof P]: t.UnionC<[P[K], t.NullC]> };
const nullable = <P extends t.Props>(p: P): Nullable<P> =>
  Object.fromEntries(Object.entries(p).map(([k, c]) => [k, t.union([c, t.null])])) as unknown as Nullable<P>;

/** The generation keys this library honours, as transformers names them; `null` is unset. */
export const GenerationConfig = t.partial(nullable(FIELDS), 'GenerationConfig');
export type GenerationConfig = t.TypeOf<typeof GenerationConfig>;
/** The keys of `GenerationConfig`. */
export const generationKeys = Object.keys(FIELDS) as readonly (keyof GenerationConfig)[];

/**
 * transformers' generation keys that this library does not implement, with transformers'
 * default (a key at its default changes nothing and is not reported).
 */
const UNSUPPORTED: Readonly<Record<string, unknown>> = {
  typical_p: 1, epsilon_cutoff: 0, eta_cutoff: 0, min_p: null, top_h: null, diversity_penalty: 0, num_beam_groups: 1, penalty_alpha: null,
  renormalize_logits: false, remove_invalid_values: false, exponential_decay_length_penalty: null, sequence_bias: null, guidance_scale: null,
  constraints: null, force_words_ids: null, forced_decoder_ids: null, token_healing: false, dola_layers: null, watermarking_config: null,
  stop_strings: null, max_time: null, low_memory: null, prompt_lookup_num_tokens: null, max_matching_ngram_size: null, assistant_early_exit: null,
  suppress_tokens_at_begin: null, begin_suppress_tokens_index: null,
};
/** Keys of `generation_config.json` that do not change the generated tokens (metadata, caching, outputs). */
const INERT = new Set([
  'transformers_version', '_from_model_config', '_commit_hash', 'use_cache', 'cache_implementation', 'cache_config', 'return_legacy_cache', 'compile_config',
  'disable_compile', 'prefill_chunk_size', 'output_attentions', 'output_hidden_states', 'output_scores', 'output_logits', 'return_dict_in_generate',
  'is_assistant', 'num_assistant_tokens', 'num_assistant_tokens_schedule', 'assistant_confidence_threshold', 'assistant_lookbehind', 'target_lookbehind',
  'trust_remote_code', 'task_specific_params', 'generation_kwargs', 'sep_token_id',
]);

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Reads the generation keys of a parsed `generation_config.json` (or, with `fromModelConfig`, of
 * a `config.json`, as transformers does without a generation config: only generation keys are
 * taken from it). A bad value is `Left("<key> must be …, got …")`; `unsupported` names the keys
 * transformers would apply and this library does not (an unknown key of a generation config
 * too, since it is not known to change nothing).
 */
export const decodeGenerationConfig = (json: Readonly<Record<string, unknown>>, opts: { fromModelConfig?: boolean } = {}): E.Either<string, { config: GenerationConfig; unsupported: string[] }> => {
  const config: Record<string, unknown> = {};
  const unsupported: string[] = [];
  for (const [k, v] of Object.entries(json)) {
    const codec = (FIELDS as Record<string, t.Mixed>)[k];
    if (codec !== undefined) {
      if (v === null) continue;
      if (!codec.is(v)) {
        const what = NUMERIC.has(k) && typeof v !== 'number' ? 'a number' : codec.name;
        return E.left(`${k} must be ${what}, got ${JSON.stringify(v)}`);
      }
      config[k] = v;
    } else if (k in UNSUPPORTED) {
      if (v !== null && v !== undefined && !same(v, UNSUPPORTED[k])) unsupported.push(k);
    } else if (!opts.fromModelConfig && !INERT.has(k)) unsupported.push(k);
  }
  return E.right({ config: config as GenerationConfig, unsupported });
};

/** The layers merged key by key, the first layer that sets a key (not null) winning: `merge(call, model)`. */
export const mergeGenerationConfigs = (...layers: readonly GenerationConfig[]): GenerationConfig => {
  const out: Record<string, unknown> = {};
  for (const l of [...layers].reverse()) for (const [k, v] of Object.entries(l)) if (v !== undefined && v !== null) out[k] = v;
  return out as GenerationConfig;
};

/** A merged config as the search takes it: the options, and the length rule of each row. */
export interface ResolvedGeneration {
  /** Everything but the per-row limit (`newTokensFor`). */
  readonly options: Omit<GenerateOptions, 'maxNewTokens'>;
  /** `max_new_tokens` (the same for every row), or `max_length` (counting each row's search prompt). */
  readonly length: { readonly maxNewTokens: number } | { readonly maxLength: number };
  /** The decoder's first token (encoder-decoder models), when the config sets it. */
  readonly decoderStartTokenId?: number;
  /** transformers' warnings that apply (both `max_new_tokens` and `max_length` set, …), one line each. */
  readonly warnings: readonly string[];
}

const ids = (v: number | readonly number[]): number[] => (typeof v === 'number' ? [v] : [...v]);

/**
 * Resolves a merged config (see the module comment). `defaults` are the caller's where neither
 * the call nor the model sets a value: the new-token limit (transformers': `max_length` 20)
 * and the beam count (transformers': 1).
 */
export const resolveGeneration = (c: GenerationConfig, defaults: { readonly maxNewTokens: number; readonly numBeams?: number }): E.Either<string, ResolvedGeneration> => {
  const beams = c.num_beams ?? defaults.numBeams ?? 1;
  const sample = c.do_sample ?? false;
  if (sample && beams > 1) return E.left(`beam sampling (do_sample with num_beams ${beams}) is not implemented`);
  const nRet = c.num_return_sequences ?? 1;
  if (nRet > 1 && beams === 1 && !sample) return E.left(`greedy decoding returns one sequence: num_return_sequences ${nRet} needs beam search or sampling`);
  if (nRet > beams && beams > 1) return E.left(`num_return_sequences (${nRet}) must be <= num_beams (${beams})`);
  const warnings: string[] = [];
  if (c.max_new_tokens != null && c.max_length != null)
    warnings.push(`both max_new_tokens (${c.max_new_tokens}) and max_length (${c.max_length}) are set: max_new_tokens wins, as in transformers`);
  if (c.min_new_tokens != null && c.min_length != null)
    warnings.push(`both min_new_tokens (${c.min_new_tokens}) and min_length (${c.min_length}) are set: min_new_tokens wins, as in transformers`);
  const o: Record<string, unknown> = { numBeams: beams, doSample: sample };
  if (sample) {
    const temp = c.temperature ?? 1;
    if (temp === 0) return E.left('temperature 0 (greedy decoding) cannot sample');
    if (temp !== 1) o['temperature'] = temp;
    if ((c.top_k ?? 0) > 0) o['topK'] = c.top_k;
    if ((c.top_p ?? 1) < 1) o['topP'] = c.top_p;
    if (nRet > 1) o['numReturnSequences'] = nRet;
  }
  if (beams > 1) {
    if (c.length_penalty != null) o['lengthPenalty'] = c.length_penalty;
    if (c.early_stopping != null) o['earlyStopping'] = c.early_stopping;
    if (nRet > 1) o['numReturnSequences'] = nRet;
  }
  if (c.min_new_tokens != null) { if (c.min_new_tokens > 0) o['minNewTokens'] = c.min_new_tokens; }
  else if ((c.min_length ?? 0) > 0) o['minLength'] = c.min_length;
  if ((c.repetition_penalty ?? 1) !== 1) o['repetitionPenalty'] = c.repetition_penalty;
  if ((c.encoder_repetition_penalty ?? 1) !== 1) o['encoderRepetitionPenalty'] = c.encoder_repetition_penalty;
  if ((c.no_repeat_ngram_size ?? 0) > 0) o['noRepeatNgramSize'] = c.no_repeat_ngram_size;
  if ((c.encoder_no_repeat_ngram_size ?? 0) > 0) o['encoderNoRepeatNgramSize'] = c.encoder_no_repeat_ngram_size;
  if (c.bad_words_ids != null && c.bad_words_ids.length > 0) o['badWordsIds'] = c.bad_words_ids;
  if (c.suppress_tokens != null && c.suppress_tokens.length > 0) o['suppressTokens'] = c.suppress_tokens;
  if (c.begin_suppress_tokens != null && c.begin_suppress_tokens.length > 0) o['beginSuppressTokens'] = c.begin_suppress_tokens;
  if (c.forced_bos_token_id != null) o['forcedBosTokenId'] = c.forced_bos_token_id;
  if (c.forced_eos_token_id != null) o['forcedEosTokenIds'] = ids(c.forced_eos_token_id);
  if (c.eos_token_id != null) o['eosTokenIds'] = ids(c.eos_token_id);
  // transformers pads with the first EOS when no pad id is set (the search's own default)
  if (c.pad_token_id != null) o['padTokenId'] = c.pad_token_id;
  const length = c.max_new_tokens != null ? { maxNewTokens: c.max_new_tokens } : c.max_length != null ? { maxLength: c.max_length } : { maxNewTokens: defaults.maxNewTokens };
  return E.right({
    options: o as Omit<GenerateOptions, 'maxNewTokens'>,
    length,
    ...(c.decoder_start_token_id != null ? { decoderStartTokenId: c.decoder_start_token_id } : {}),
    warnings,
  });
};

/**
 * The new-token limit of a row whose search prompt has `promptLength` tokens (a decoder-only
 * model's prompt, an encoder-decoder's `[decoder_start]`); below 1 when `max_length` leaves
 * none (transformers refuses such an input).
 */
export const newTokensFor = (r: Pick<ResolvedGeneration, 'length'>, promptLength: number): number =>
  'maxNewTokens' in r.length ? r.length.maxNewTokens : r.length.maxLength - promptLength;
