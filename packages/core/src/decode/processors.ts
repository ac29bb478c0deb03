/**
 * Logits processors, as Hugging Face `generate` (transformers 5.23) applies them, with the same
 * semantics and in the same order: encoder repetition penalty, repetition penalty, no-repeat
 * n-gram, encoder no-repeat n-gram, bad words, min length, min new tokens, forced BOS, forced
 * EOS, suppressed tokens, tokens suppressed at the beginning; and the sampling warpers
 * temperature, top-k, top-p. They work in place on one row of scores, and see only that row
 * (its own prompt, without the batch's padding): a row decodes as it would alone.
 */

export interface ProcessorOptions {
  /** Scores of tokens already in the row (prompt included) are divided (> 0) or multiplied (< 0) by this (1: off). */
  readonly repetitionPenalty?: number;
  /** The same for tokens of the encoder's input (of the prompt for decoder-only models), by 1 / this (1: off). */
  readonly encoderRepetitionPenalty?: number;
  /** Ban any n-gram of the encoder's input (the prompt for decoder-only models) of this size (0: off). */
  readonly encoderNoRepeatNgramSize?: number;
  /** Tokens never generated. */
  readonly suppressTokens?: readonly number[];
  /** Tokens not generated as the first new token (after the forced BOS, when there is one). */
  readonly beginSuppressTokens?: readonly number[];
  /** Ban any n-gram of this size from repeating (0: off). */
  readonly noRepeatNgramSize?: number;
  /** Token sequences that must never be generated (a one-token entry bans that token). */
  readonly badWordsIds?: readonly (readonly number[])[];
  /** EOS is banned while the whole sequence (prompt included) is shorter than this. */
  readonly minLength?: number;
  /** EOS is banned while fewer than this many tokens have been generated. */
  readonly minNewTokens?: number;
  readonly eosTokenIds?: readonly number[];
  /** Token forced as the first generated token (BART's `forced_bos_token_id`). */
  readonly forcedBosTokenId?: number;
  /** Token forced when the next token is the last one allowed (BART's `forced_eos_token_id`). */
  readonly forcedEosTokenIds?: readonly number[];
}

export interface WarperOptions {
  readonly temperature?: number;
  readonly topK?: number;
  readonly topP?: number;
}

/** Context of one row: the tokens so far (prompt included) and the generation limits. */
export interface RowContext {
  readonly tokens: readonly number[];
  readonly promptLength: number;
  readonly maxLength: number;
  /** The encoder's input (encoder-decoder models; default: the prompt, as transformers uses for decoder-only models). */
  readonly encoderTokens?: readonly number[];
}

const ban = (scores: Float32Array | Float64Array, id: number): void => {
  if (id >= 0 && id < scores.length) scores[id] = -Infinity;
};

/** Tokens that would complete an n-gram already present in `tokens`. */
export const bannedNgramTokens = (tokens: readonly number[], n: number): number[] => {
  const len = tokens.length;
  if (n <= 0 || len + 1 < n) return [];
  const banned: number[] = [];
  const start = len - n + 1; // the last n-1 tokens begin here
  for (let i = 0; i + n <= len; i++) {
    let match = true;
    for (let j = 0; j < n - 1; j++) if (tokens[i + j] !== tokens[start + j]) { match = false; break; }
    if (match) banned.push(tokens[i + n - 1]!);
  }
  return banned;
};

/** Tokens that would make the last n-1 tokens of `tokens` and it an n-gram of `source` (transformers' encoder n-gram rule). */
export const bannedEncoderNgramTokens = (source: readonly number[], tokens: readonly number[], n: number): number[] => {
  if (n <= 0 || tokens.length < n - 1) return [];
  const tail = tokens.slice(tokens.length - (n - 1));
  const banned: number[] = [];
  for (let i = 0; i + n <= source.length; i++) if (tail.every((t, j) => source[i + j] === t)) banned.push(source[i + n - 1]!);
  return banned;
};

/** transformers' repetition penalty on one token's score: a negative score is multiplied, a positive one divided. */
const penalise = (scores: Float32Array | Float64Array, ids: Iterable<number>, penalty: number): void => {
  for (const id of new Set(ids)) {
    if (id < 0 || id >= scores.length) continue;
    const x = scores[id]!;
    scores[id] = x < 0 ? x * penalty : x / penalty;
  }
};

/** Whether `processRow` can change any score under these options (else the argmax is the raw logits'). */
export const hasLogitsProcessors = (o: ProcessorOptions): boolean =>
  (o.noRepeatNgramSize ?? 0) > 0 || (o.badWordsIds ?? []).some((b) => b.length > 0) || (o.minLength ?? 0) > 0 ||
  (o.minNewTokens ?? 0) > 0 || o.forcedBosTokenId !== undefined || (o.forcedEosTokenIds ?? []).length > 0 ||
  (o.repetitionPenalty ?? 1) !== 1 || (o.encoderRepetitionPenalty ?? 1) !== 1 || (o.encoderNoRepeatNgramSize ?? 0) > 0 ||
  (o.suppressTokens ?? []).length > 0 || (o.beginSuppressTokens ?? []).length > 0;

/** Applies the processors to one row's scores (logits or log-probabilities), in place (a no-op unless `hasLogitsProcessors`). */
export const processRow = (scores: Float32Array | Float64Array, row: RowContext, o: ProcessorOptions): void => {
  const curLen = row.tokens.length;
  const source = row.encoderTokens ?? row.tokens.slice(0, row.promptLength);
  if (o.encoderRepetitionPenalty !== undefined && o.encoderRepetitionPenalty !== 1) penalise(scores, source, 1 / o.encoderRepetitionPenalty);
  if (o.repetitionPenalty !== undefined && o.repetitionPenalty !== 1) penalise(scores, row.tokens, o.repetitionPenalty);
  if (o.noRepeatNgramSize && o.noRepeatNgramSize > 0)
    for (const id of bannedNgramTokens(row.tokens, o.noRepeatNgramSize)) ban(scores, id);
  if (o.encoderNoRepeatNgramSize && o.encoderNoRepeatNgramSize > 0)
    for (const id of bannedEncoderNgramTokens(source, row.tokens, o.encoderNoRepeatNgramSize)) ban(scores, id);
  for (const bad of o.badWordsIds ?? []) {
    if (bad.length === 0) continue;
    // transformers drops a bad word that is one EOS id (EOS stays allowed)
    if (bad.length === 1 && (o.eosTokenIds ?? []).includes(bad[0]!)) continue;
    const prefix = bad.slice(0, -1);
    const tail = row.tokens.slice(row.tokens.length - prefix.length);
    if (prefix.length <= row.tokens.length && prefix.every((t, i) => tail[i] === t)) ban(scores, bad[bad.length - 1]!);
  }
  const eos = o.eosTokenIds ?? [];
  if (o.minLength !== undefined && curLen < o.minLength) for (const e of eos) ban(scores, e);
  if (o.minNewTokens !== undefined && curLen - row.promptLength < o.minNewTokens) for (const e of eos) ban(scores, e);
  const force = (ids: readonly number[]): void => {
    scores.fill(-Infinity);
    for (const i of ids) scores[i] = 0;
  };
  if (o.forcedBosTokenId !== undefined && curLen === 1) force([o.forcedBosTokenId]);
  if (o.forcedEosTokenIds && o.forcedEosTokenIds.length > 0 && curLen === row.maxLength - 1) force(o.forcedEosTokenIds);
  for (const id of o.suppressTokens ?? []) ban(scores, id);
  // transformers: the first new token, or the one after the forced BOS of a one-token decoder prompt
  const begin = row.promptLength + (row.promptLength === 1 && o.forcedBosTokenId !== undefined ? 1 : 0);
  if (curLen === begin) for (const id of o.beginSuppressTokens ?? []) ban(scores, id);
};

/** Temperature, top-k and top-p (nucleus) filtering of one row of logits, in place. */
export const warpRow = (scores: Float32Array | Float64Array, o: WarperOptions): void => {
  const t = o.temperature ?? 1;
  if (t <= 0) throw new Error('temperature must be > 0 (use greedy decoding for temperature 0)');
  if (t !== 1) for (let i = 0; i < scores.length; i++) scores[i] = scores[i]! / t;
  if (o.topK !== undefined && o.topK > 0 && o.topK < scores.length) {
    const kth = [...scores].sort((a, b) => b - a)[o.topK - 1]!;
    for (let i = 0; i < scores.length; i++) if (scores[i]! < kth) scores[i] = -Infinity;
  }
  if (o.topP !== undefined && o.topP < 1) {
    // HF: sort ascending, remove tokens whose cumulative probability <= 1 - top_p (keep >= 1)
    const order = Array.from(scores.keys()).sort((a, b) => scores[a]! - scores[b]! || a - b);
    const probs = softmaxOf(order.map((i) => scores[i]!));
    let cum = 0;
    for (let j = 0; j < order.length - 1; j++) {
      cum += probs[j]!;
      if (cum <= 1 - o.topP) scores[order[j]!] = -Infinity;
    }
  }
};

/** Numerically stable softmax of a list. */
export const softmaxOf = (xs: ArrayLike<number>): Float64Array => {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]!);
  const out = new Float64Array(xs.length);
  if (m === -Infinity) return out.fill(1 / xs.length);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += out[i] = Math.exp(xs[i]! - m);
  for (let i = 0; i < xs.length; i++) out[i] = out[i]! / s;
  return out;
};

/** log-softmax of a row into float64. */
export const logSoftmaxOf = (xs: ArrayLike<number>): Float64Array => {
  let m = -Infinity;
  for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]!);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i]! - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = xs[i]! - lse;
  return out;
};
