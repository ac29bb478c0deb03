/**
 * Token-level examples for training and generation.
 *
 * Decoder-only LM (GPT-2, as in the official `LineByLineData2TextTextDataset`):
 *   inputIds = source ++ [EOS] ++ target ++ [EOS]
 *   labels   = [-100] * (|source| + 1) ++ target ++ [EOS]
 * The EOS after the source is the separator (GPT-2's BOS and EOS are the same token); labels are
 * aligned with the inputs (the model shifts them, as Hugging Face models do), and the source and
 * separator positions are masked with -100 so only the target is learned.
 *
 * Encoder–decoder (BART): inputIds = [BOS?] ++ source ++ [EOS]; labels = [BOS?] ++ target ++ [EOS];
 * decoderInputIds = [decoderStart] ++ labels[:-1] (Hugging Face `shift_tokens_right`; BART's
 * decoder start is its EOS).
 *
 * `encode` must not add special tokens itself. The official GPT-2 code tokenises
 * `' {source} {EOS} {target} {EOS}'`, so both source and target start with a space; with
 * `prependSpace` (default on) we encode `' ' + text` for each, which gives the same word-initial
 * BPE tokens.
 *
 * Batches are padded on the right to the longest row: `inputIds` with `padId`, `labels` with
 * -100, `attentionMask` 1 on real tokens and 0 on padding. Prompts for generation with a
 * decoder-only model are padded on the left, so that every row's next token is at the end.
 */
import * as t from 'io-ts';
import type { Pair } from './codecs.ts';

/** The label value ignored by the loss. */
export const IGNORE_INDEX = -100;

/**
 * What example construction needs from a tokenizer. `bosId` is prepended to encoder inputs and
 * labels when given; `decoderStartId` defaults to `eosId` (BART's convention).
 */
export type TokenizerLike = {
  readonly encode: (text: string) => readonly number[];
  readonly eosId: number;
  readonly padId: number;
  readonly bosId?: number;
  readonly decoderStartId?: number;
};

/** Truncation and spacing options of example construction (all lengths in tokens). */
export const ExampleOptions = t.partial({
  /** Keep at most this many source tokens (the beginning), before special tokens. */
  maxSourceLength: t.number,
  /** Keep at most this many target tokens (the beginning), before special tokens. */
  maxTargetLength: t.number,
  /**
   * Decoder-only: the whole sequence is at most this long. The source is shortened first (its
   * beginning kept); if the separators and target alone do not fit, the target is cut but its
   * final EOS kept. Must be at least 2.
   */
  maxLength: t.number,
  /** Encode `' ' + text` instead of `text` (default true; see the module comment). */
  prependSpace: t.boolean,
});
export type ExampleOptions = t.TypeOf<typeof ExampleOptions>;

/** A decoder-only training example. `sourceLength` counts the source tokens (without the separator). */
export type DecoderExample = {
  readonly inputIds: readonly number[];
  readonly labels: readonly number[];
  readonly sourceLength: number;
  readonly truncated: boolean;
};

/** An encoder–decoder training example. */
export type Seq2SeqExample = {
  readonly inputIds: readonly number[];
  readonly labels: readonly number[];
  readonly decoderInputIds: readonly number[];
  readonly truncated: boolean;
};

const take = (ids: readonly number[], n: number | undefined): readonly number[] =>
  n === undefined || ids.length <= n ? ids : ids.slice(0, Math.max(0, n));

const enc = (tok: TokenizerLike, opts: ExampleOptions, text: string) =>
  tok.encode(opts.prependSpace === false ? text : ` ${text}`);

/** Builds a decoder-only example from a (source, target) pair. */
export const buildDecoderExample =
  (tok: TokenizerLike, opts: ExampleOptions = {}) =>
  (pair: Pick<Pair, 'source' | 'target'>): DecoderExample => {
    const srcAll = enc(tok, opts, pair.source);
    const tgtAll = enc(tok, opts, pair.target);
    let src = take(srcAll, opts.maxSourceLength);
    let tgt = take(tgtAll, opts.maxTargetLength);
    if (opts.maxLength !== undefined) {
      if (!(opts.maxLength >= 2)) throw new RangeError(`maxLength must be at least 2, got ${opts.maxLength}`);
      const over = src.length + tgt.length + 2 - opts.maxLength;
      if (over > 0) {
        const cutSrc = Math.min(over, src.length);
        src = src.slice(0, src.length - cutSrc);
        const cutTgt = over - cutSrc;
        if (cutTgt > 0) tgt = tgt.slice(0, tgt.length - cutTgt);
      }
    }
    const inputIds = [...src, tok.eosId, ...tgt, tok.eosId];
    const labels = [...src.map(() => IGNORE_INDEX), IGNORE_INDEX, ...tgt, tok.eosId];
    return {
      inputIds,
      labels,
      sourceLength: src.length,
      truncated: src.length < srcAll.length || tgt.length < tgtAll.length,
    };
  };

/** The generation prompt of a decoder-only model: source ++ [EOS] (same truncation as training). */
export const buildDecoderPrompt =
  (tok: TokenizerLike, opts: ExampleOptions = {}) =>
  (source: string): readonly number[] => {
    let src = take(enc(tok, opts, source), opts.maxSourceLength);
    if (opts.maxLength !== undefined && src.length + 1 > opts.maxLength) src = src.slice(0, Math.max(0, opts.maxLength - 1));
    return [...src, tok.eosId];
  };

/** Builds an encoder–decoder example. `maxSourceLength`/`maxTargetLength` count the special tokens too. */
export const buildSeq2SeqExample =
  (tok: TokenizerLike, opts: ExampleOptions = {}) =>
  (pair: Pick<Pair, 'source' | 'target'>): Seq2SeqExample => {
    const specials = tok.bosId === undefined ? 1 : 2;
    const srcAll = enc(tok, opts, pair.source);
    const tgtAll = enc(tok, opts, pair.target);
    const budget = (n: number | undefined) => (n === undefined ? undefined : Math.max(0, n - specials));
    const src = take(srcAll, budget(opts.maxSourceLength));
    const tgt = take(tgtAll, budget(opts.maxTargetLength));
    const bos = tok.bosId === undefined ? [] : [tok.bosId];
    const labels = [...bos, ...tgt, tok.eosId];
    return {
      inputIds: [...bos, ...src, tok.eosId],
      labels,
      decoderInputIds: [tok.decoderStartId ?? tok.eosId, ...labels.slice(0, -1)],
      truncated: src.length < srcAll.length || tgt.length < tgtAll.length,
    };
  };

/** A padded decoder-only batch, `[B, T]` row-major nested arrays. */
export type DecoderBatch = {
  readonly inputIds: readonly (readonly number[])[];
  readonly attentionMask: readonly (readonly number[])[];
  readonly labels: readonly (readonly number[])[];
};

/** A padded encoder–decoder batch. */
export type Seq2SeqBatch = {
  readonly inputIds: readonly (readonly number[])[];
  readonly attentionMask: readonly (readonly number[])[];
  readonly labels: readonly (readonly number[])[];
  readonly decoderInputIds: readonly (readonly number[])[];
  readonly decoderAttentionMask: readonly (readonly number[])[];
};

const padRight = (rows: readonly (readonly number[])[], value: number, width: number): number[][] =>
  rows.map((r) => [...r, ...Array<number>(width - r.length).fill(value)]);
const maskRight = (rows: readonly (readonly number[])[], width: number): number[][] =>
  rows.map((r) => [...Array<number>(r.length).fill(1), ...Array<number>(width - r.length).fill(0)]);
const widthOf = (rows: readonly (readonly number[])[], multiple = 1): number => {
  const w = rows.reduce((m, r) => Math.max(m, r.length), 0);
  return Math.ceil(w / multiple) * multiple;
};

/** Pads decoder-only examples on the right to the batch's longest row (optionally to a multiple). */
export const collateDecoder = (
  examples: readonly Pick<DecoderExample, 'inputIds' | 'labels'>[],
  padId: number,
  padToMultipleOf = 1,
): DecoderBatch => {
  const width = widthOf(
    examples.map((e) => e.inputIds),
    padToMultipleOf,
  );
  return {
    inputIds: padRight(
      examples.map((e) => e.inputIds),
      padId,
      width,
    ),
    attentionMask: maskRight(
      examples.map((e) => e.inputIds),
      width,
    ),
    labels: padRight(
      examples.map((e) => e.labels),
      IGNORE_INDEX,
      width,
    ),
  };
};

/** Pads encoder–decoder examples on the right (encoder and decoder sides separately). */
export const collateSeq2Seq = (examples: readonly Seq2SeqExample[], padId: number): Seq2SeqBatch => {
  const enc = examples.map((e) => e.inputIds);
  const dec = examples.map((e) => e.decoderInputIds);
  const w = widthOf(enc);
  const wd = widthOf(dec);
  return {
    inputIds: padRight(enc, padId, w),
    attentionMask: maskRight(enc, w),
    labels: padRight(
      examples.map((e) => e.labels),
      IGNORE_INDEX,
      wd,
    ),
    decoderInputIds: padRight(dec, padId, wd),
    decoderAttentionMask: maskRight(dec, wd),
  };
};

/** Left-pads generation prompts: `{ inputIds, attentionMask }` with real tokens at the end of each row. */
export const collatePrompts = (
  prompts: readonly (readonly number[])[],
  padId: number,
): { readonly inputIds: readonly (readonly number[])[]; readonly attentionMask: readonly (readonly number[])[] } => {
  const w = widthOf(prompts);
  return {
    inputIds: prompts.map((p) => [...Array<number>(w - p.length).fill(padId), ...p]),
    attentionMask: prompts.map((p) => [...Array<number>(w - p.length).fill(0), ...Array<number>(p.length).fill(1)]),
  };
};
