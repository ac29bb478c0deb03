/**
 * Model graphs with a variant injected: the training graph (loss), and the generation
 * graphs (prefill puts the variant's activations at the first positions of the KV cache, so
 * the ordinary one-token step graph continues from it).
 *
 * Named inputs (int32): decoder-only `input_ids` [B, T], `attention_mask` [B, T] (1 = attend,
 * real tokens only: virtual positions are added inside), `labels` [B, T] (-100 = ignored),
 * `position_ids` [B, T] for generation from left-padded prompts; infix variants also take
 * `source_ids` [B, S] and `source_mask` [B, S] with `input_ids` the target; a prefix bank takes
 * `user_ids` [B]. BART: `input_ids`/`attention_mask` [B, S] for the encoder and `labels` [B, T]
 * (decoder inputs are the labels shifted right).
 */
import type { Node } from '../ir/node.ts';
import { type Graph, graph } from '../ir/graph.ts';
import { type Dim, dimAdd, sym } from '../types/dim.ts';
import { input } from '../ops/leaves.ts';
import { concat, slice, broadcastTo, reshape } from '../ops/layout.ts';
import { scalar, iota } from '../ops/leaves.ts';
import { add } from '../ops/binary.ts';
import { reduceSum } from '../ops/reduce.ts';
import { GraphError } from '../errors.ts';
import { type CausalLmConfig, type BartConfig, type ModelConfig, isEncoderDecoder } from '../models/config.ts';
import { type KeyValue, type PastKeyValues, extendKeyMask, lastPosition } from '../models/common.ts';
import { causalLmForward, causalLmTokenEmbeddings, causalLmLoss, presentOutputs } from '../models/causal.ts';
import { shiftTokensRight, seq2seqLoss } from '../models/seq2seq.ts';
import { type Injection, sitePast, embeddingPrefix } from './inject.ts';
import { hasInfix } from './geometry.ts';
import { injectedBartEncoder, injectedBartDecoder } from './bart-generation.ts';

/** The attention sites, embedding width and weights of a model config (what `inject` needs; declared by each model's file). */
export { modelSites } from '../models/family.ts';

const B: Dim = sym('B');

/** Ones [B, n] in a mask's dtype: virtual positions every query may see. */
const onesMask = (like: Node, n: Dim): Node => broadcastTo(scalar(1, like.dtype), [like.shape[0]!, n]);

const concatKv = (a: KeyValue, b: KeyValue | undefined): KeyValue =>
  b === undefined ? a : { key: concat([a.key, b.key], 2), value: concat([a.value, b.value], 2) };

/** A site's past length at each layer (0 where a layer has none). */
const lengthAt = (p: ReturnType<typeof sitePast>, l: number): Dim => p?.layers.get(l) ?? 0;

interface CausalParts {
  readonly logits: Node; // [B, T, V] for the real tokens
  readonly presents: readonly KeyValue[];
}

/**
 * The decoder-only forward with a variant injected. `ids` are the real tokens ([B, T]);
 * `mask` their padding mask (1 = real). Infix variants take the source separately.
 */
export const injectedCausalForward = (
  cfg: CausalLmConfig,
  inj: Injection,
  inp: { ids: Node; mask?: Node; positionIds?: Node; source?: { ids: Node; mask: Node } },
): CausalParts => {
  const prefix = sitePast(inj, 'prefix', 'self', B);
  const P: Dim = prefix?.length ?? 0; // real tokens' positions start after the longest prefix
  const emb = embeddingPrefix(inj, B);
  const Pe: Dim = emb ? emb.shape[1]! : 0;
  const infix = sitePast(inj, 'infix', 'self', B);
  if (infix && !inp.source) throw new GraphError('inject', 'infix', 'an infix variant needs the source and the target separately');
  const embed = (ids: Node): Node => causalLmTokenEmbeddings(cfg, ids);
  // per-layer masks: each layer's own virtual positions are always visible
  const withVirtual = (mask: Node, l: number): Node => extendKeyMask(extendKeyMask(mask, Pe), lengthAt(prefix, l));
  let past: PastKeyValues | undefined = prefix?.past;
  let pastLen: Dim = P;
  let pastMask: ((l: number) => Node) | undefined;
  let first = (ids: Node): Node => (emb ? concat([emb, embed(ids)], 1) : embed(ids));
  if (inp.source) {
    // [prefix; virtual embeddings; source] first, then [infix; target] attending to all of it
    const src = inp.source;
    const srcOut = causalLmForward(cfg, {
      inputsEmbeds: first(src.ids),
      ...(past ? { pastKeyValues: past } : {}),
      positionOffset: P,
      ...(inp.mask ? { attentionMask: (l: number) => withVirtual(src.mask, l) } : {}),
    });
    past = (l) => concatKv(srcOut.presents[l]!, infix?.past(l));
    pastLen = dimAdd(dimAdd(P, Pe), dimAdd(src.ids.shape[1]!, infix?.length ?? 0));
    pastMask = (l) => concat([withVirtual(src.mask, l), onesMask(src.mask, lengthAt(infix, l))], 1);
    first = embed;
  }
  const T = inp.ids.shape[1]!;
  const own = inp.mask;
  const maskAt = own ? (l: number): Node => (pastMask ? concat([pastMask(l), own], 1) : withVirtual(own, l)) : undefined;
  // explicit positions cover the real tokens; virtual embeddings take the positions just before them
  const positionIds = inp.positionIds && emb && !inp.source
    ? concat([broadcastTo(reshape(add(iota([Pe], 0, inp.positionIds.dtype), scalar(P as number, inp.positionIds.dtype)), [1, Pe]), [inp.positionIds.shape[0]!, Pe]), inp.positionIds], 1)
    : inp.positionIds;
  const out = causalLmForward(cfg, {
    inputsEmbeds: first(inp.ids),
    ...(past ? { pastKeyValues: past } : {}),
    ...(positionIds ? { positionIds } : inp.source ? { positionIds: targetPositions(inp.source.mask, T, dimAdd(dimAdd(P, Pe), infix?.length ?? 0)) } : { positionOffset: P }),
    ...(maskAt ? { attentionMask: maskAt } : {}),
  });
  const logits = !inp.source && emb ? slice(out.logits, 1, Pe, dimAdd(Pe, T)) : out.logits; // [B, T, V]
  return { logits, presents: out.presents };
};

/**
 * Positions of an infix variant's target tokens: they follow each row's own source (right-padded,
 * `mask` [B, S]) and the virtual positions, so padding a batch never moves a row's target:
 * `offset + sum(mask[b]) + j`.
 */
const targetPositions = (mask: Node, T: Dim, offset: Dim): Node => {
  const len = reduceSum(mask, [1], true); // [B, 1]
  const steps = reshape(add(iota([T], 0, mask.dtype), scalar(offset as number, mask.dtype)), [1, T]);
  return add(len, steps);
};

/** Options of the training graph. */
export interface TrainGraphOptions {
  /** Per-token mean (Hugging Face) or per-sentence sum (the official prefix-tuning code). */
  readonly loss: 'mean' | 'sum';
}

/** The training graph: named inputs (see the module comment) -> `loss` (and `logits`). */
export const injectedTrainGraph = (cfg: ModelConfig, inj: Injection, opts: TrainGraphOptions): Graph => {
  if (isEncoderDecoder(cfg)) return bartTrainGraph(cfg, inj, opts);
  const T = sym('T');
  const ids = input('input_ids', [B, T], 'int32');
  const mask = input('attention_mask', [B, T], 'int32');
  const labels = input('labels', [B, T], 'int32');
  const S = sym('S');
  const out = injectedCausalForward(cfg, inj, {
    ids, mask,
    ...(hasInfix(inj) ? { source: { ids: input('source_ids', [B, S], 'int32'), mask: input('source_mask', [B, S], 'int32') } } : {}),
  });
  return graph({ loss: causalLmLoss(out.logits, labels, opts.loss) });
};

/**
 * Prefill for generation: the prompt (`input_ids`, `attention_mask`, `position_ids` for left
 * padding; infix: `source_*` and the target start in `input_ids`) -> last-position `logits`
 * [B, V] and `present.{i}.key|value` holding the variant's activations first. Continue with
 * the model's ordinary `stepGraph` (with `attention_mask` over the whole cache).
 */
export const injectedPrefillGraph = (cfg: CausalLmConfig, inj: Injection): Graph => {
  const T = sym('T');
  const S = sym('S');
  const out = injectedCausalForward(cfg, inj, {
    ids: input('input_ids', [B, T], 'int32'),
    mask: input('attention_mask', [B, T], 'int32'),
    positionIds: input('position_ids', [B, T], 'int32'),
    ...(hasInfix(inj) ? { source: { ids: input('source_ids', [B, S], 'int32'), mask: input('source_mask', [B, S], 'int32') } } : {}),
  });
  return graph({ logits: lastPosition(out.logits), ...presentOutputs(out.presents) });
};

export { kvLengths, virtualPrefixLength, trainingVirtualPositions, infixLength, hasInfix } from './geometry.ts';

// ---------------------------------------------------------------------------------- BART

/**
 * BART forward with prefixes at the encoder self-attention, decoder self-attention and
 * cross-attention: the encoder and decoder halves that generation runs apart (./bart-generation.ts).
 */
export const injectedBartForward = (
  cfg: BartConfig,
  inj: Injection,
  inp: { ids: Node; mask: Node; decoderIds: Node; decoderMask?: Node },
): { logits: Node; encoderHidden: Node } => {
  const encoder = injectedBartEncoder(cfg, inj, { ids: inp.ids, mask: inp.mask });
  const decoder = injectedBartDecoder(cfg, inj, {
    ids: inp.decoderIds,
    encoderHidden: encoder.hidden,
    encoderMask: encoder.mask,
    ...(inp.decoderMask ? { decoderMask: inp.decoderMask } : {}),
  });
  return { logits: decoder.logits, encoderHidden: encoder.hidden };
};

const bartTrainGraph = (cfg: BartConfig, inj: Injection, opts: TrainGraphOptions): Graph => {
  const [S, T] = [sym('S'), sym('T')];
  const labels = input('labels', [B, T], 'int32');
  const out = injectedBartForward(cfg, inj, {
    ids: input('input_ids', [B, S], 'int32'),
    mask: input('attention_mask', [B, S], 'int32'),
    decoderIds: shiftTokensRight(labels, cfg.pad_token_id ?? 1, cfg.decoder_start_token_id ?? 2),
  });
  return graph({ loss: seq2seqLoss(out.logits, labels, opts.loss) });
};
