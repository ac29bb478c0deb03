/**
 * BART as graphs with named inputs and outputs (transformers/optimum names): the full
 * forward with an optional loss, the encoder alone, and the decoder's prefill and cached step.
 *
 *   input_ids [B, S] i32, attention_mask [B, S] i32 (1 = attend), decoder_input_ids [B, T] i32,
 *   decoder_attention_mask [B, Tpast+T] i32, labels [B, T] i32, encoder_hidden_states [B, S, D],
 *   past_key_values.{i}.decoder.key|value [B, H, Tpast, Dh], past_key_values.{i}.encoder.key|value
 *   [B, H, S, Dh]; outputs logits, loss, encoder_last_hidden_state, present.{i}.decoder.*,
 *   present.{i}.encoder.*.
 */
import type { Node } from '../ir/node.ts';
import { type Graph, graph } from '../ir/graph.ts';
import { type Dim, dimSub, sym } from '../types/dim.ts';
import { input, scalar } from '../ops/leaves.ts';
import { equal, where } from '../ops/binary.ts';
import { concat, reshape, slice, broadcastTo } from '../ops/layout.ts';
import { crossEntropy } from '../nn/loss.ts';
import type { BartConfig } from './config.ts';
import { lastPosition } from './common.ts';
import { bartDecoderForward, bartEncoderForward } from './bart.ts';
import { type KvGeometry, presentOutputs } from './causal.ts';

/** transformers' `shift_tokens_right`: [start, labels[:, :-1]] with -100 replaced by the pad id. */
export const shiftTokensRight = (labels: Node, padTokenId: number, decoderStartTokenId: number): Node => {
  const [B, T] = labels.shape;
  const start = broadcastTo(scalar(decoderStartTokenId, labels.dtype), [B!, 1]);
  const shifted = concat([start, slice(labels, 1, 0, dimSub(T!, 1))], 1); // [B, T]
  return where(equal(shifted, -100), scalar(padTokenId, labels.dtype), shifted);
};

/** Key/value geometry of BART's three attention kinds. */
export const bartKvGeometry = (cfg: BartConfig): { encoder: KvGeometry; decoder: KvGeometry; cross: KvGeometry } => {
  const enc = { layers: cfg.encoder_layers, heads: cfg.encoder_attention_heads, headDim: cfg.d_model / cfg.encoder_attention_heads };
  const dec = { layers: cfg.decoder_layers, heads: cfg.decoder_attention_heads, headDim: cfg.d_model / cfg.decoder_attention_heads };
  return { encoder: enc, decoder: dec, cross: dec };
};

/** Sequence-to-sequence cross-entropy (no shift: labels align with decoder positions). */
export const seq2seqLoss = (logits: Node, labels: Node, reduction: 'mean' | 'sum' = 'mean'): Node =>
  crossEntropy(reshape(logits, [-1, logits.shape[2]!]), reshape(labels, [-1]), { reduction });

/** Options of `bartGraph`. */
export interface BartGraphOptions {
  /** Adds `labels` [B, T] and a `loss` output (`mean` or `sum`). */
  readonly loss?: 'mean' | 'sum';
  /** With `loss`: decoder inputs are `shiftTokensRight(labels)` instead of a `decoder_input_ids` input. */
  readonly shiftLabels?: boolean;
  /** Adds `decoder_attention_mask` [B, T]. */
  readonly decoderAttentionMask?: boolean;
  /** Adds `present.{i}.decoder.*` [B, H, T, Dh] and the cross-attention `present.{i}.encoder.*` [B, H, S, Dh]. */
  readonly presents?: boolean;
}

const pad = (cfg: BartConfig): number => cfg.pad_token_id ?? 1;
const start = (cfg: BartConfig): number => cfg.decoder_start_token_id ?? 2;

/** The full BART forward: `input_ids`, `attention_mask`, `decoder_input_ids` (or shifted labels) -> `logits` [B, T, V]. */
export const bartGraph = (cfg: BartConfig, opts: BartGraphOptions = {}): Graph => {
  const [B, S, T] = [sym('B'), sym('S'), sym('T')];
  const mask = input('attention_mask', [B, S], 'int32');
  const enc = bartEncoderForward(cfg, { ids: input('input_ids', [B, S], 'int32'), attentionMask: mask });
  const labels = opts.loss ? input('labels', [B, T], 'int32') : undefined;
  const decIds = labels && opts.shiftLabels ? shiftTokensRight(labels, pad(cfg), start(cfg)) : input('decoder_input_ids', [B, T], 'int32');
  const dec = bartDecoderForward(cfg, {
    ids: decIds,
    encoderHidden: enc.hidden,
    encoderAttentionMask: mask,
    ...(opts.decoderAttentionMask ? { attentionMask: input('decoder_attention_mask', [B, T], 'int32') } : {}),
  });
  const outputs: Record<string, Node> = { logits: dec.logits, encoder_last_hidden_state: enc.hidden };
  if (labels && opts.loss) outputs['loss'] = seq2seqLoss(dec.logits, labels, opts.loss);
  if (opts.presents) Object.assign(outputs, presentOutputs(dec.presents, 'present', '.decoder'), presentOutputs(dec.crossPresents, 'present', '.encoder'));
  return graph(outputs);
};

/** The encoder: `input_ids` [B, S], `attention_mask` [B, S] -> `last_hidden_state` [B, S, D]. */
export const bartEncoderGraph = (cfg: BartConfig): Graph => {
  const [B, S] = [sym('B'), sym('S')];
  const enc = bartEncoderForward(cfg, { ids: input('input_ids', [B, S], 'int32'), attentionMask: input('attention_mask', [B, S], 'int32') });
  return graph({ last_hidden_state: enc.hidden });
};

const decoderGraph = (cfg: BartConfig, T: Dim, cached: boolean): Graph => {
  const [B, S] = [sym('B'), sym('S')];
  const g = bartKvGeometry(cfg).decoder;
  const kv = (kind: 'decoder' | 'encoder', len: Dim) => (i: number) => ({
    key: input(`past_key_values.${i}.${kind}.key`, [B, g.heads, len, g.headDim]),
    value: input(`past_key_values.${i}.${kind}.value`, [B, g.heads, len, g.headDim]),
  });
  const dec = bartDecoderForward(cfg, {
    ids: input('decoder_input_ids', [B, T], 'int32'),
    encoderAttentionMask: input('encoder_attention_mask', [B, S], 'int32'),
    ...(cached
      ? { pastKeyValues: kv('decoder', sym('Tpast')), crossKeyValues: kv('encoder', S) }
      : { encoderHidden: input('encoder_hidden_states', [B, S, cfg.d_model]) }),
  });
  return graph({
    logits: lastPosition(dec.logits),
    ...presentOutputs(dec.presents, 'present', '.decoder'),
    ...(cached ? {} : presentOutputs(dec.crossPresents, 'present', '.encoder')),
  });
};

/**
 * Decoder prefill: `encoder_hidden_states` [B, S, D], `encoder_attention_mask` [B, S],
 * `decoder_input_ids` [B, T] -> last `logits` [B, V], `present.{i}.decoder.*` [B, H, T, Dh]
 * and the cross-attention cache `present.{i}.encoder.*` [B, H, S, Dh].
 */
export const bartPrefillGraph = (cfg: BartConfig): Graph => decoderGraph(cfg, sym('T'), false);

/**
 * One cached decoder step: `decoder_input_ids` [B, 1], `encoder_attention_mask` [B, S],
 * `past_key_values.{i}.decoder.*` [B, H, Tpast, Dh] and `past_key_values.{i}.encoder.*`
 * [B, H, S, Dh] -> `logits` [B, V] and `present.{i}.decoder.*` [B, H, Tpast+1, Dh]. The new
 * token's position is Tpast.
 */
export const bartStepGraph = (cfg: BartConfig): Graph => decoderGraph(cfg, 1, true);

