/**
 * BART with a variant injected, in the two halves generation runs apart: the encoder (the
 * source, with the embedding-only prefix as virtual tokens before it and the encoder
 * self-attention prefix) and the decoder (the decoder self-attention prefix at the first
 * cache positions, the cross-attention prefix before the encoder keys/values). The training
 * forward `injectedBartForward` is their composition; the generation graphs below wrap each
 * half with named inputs, and the model's ordinary `bartStepGraph` continues from the caches
 * the prefill returns (the prefixes already sit in them).
 *
 * Positions (as in training): encoder positions count the virtual embedding tokens (the source
 * starts at E) and ignore an encoder key/value prefix; decoder positions start after the
 * decoder self-attention prefix (Pd), so the step graph's position `Tpast` continues them.
 */
import type { Node } from '../ir/node.ts';
import { type Graph, graph } from '../ir/graph.ts';
import { type Dim, sym } from '../types/dim.ts';
import { input } from '../ops/leaves.ts';
import { concat } from '../ops/layout.ts';
import { GraphError } from '../errors.ts';
import type { BartConfig } from '../models/config.ts';
import { extendKeyMask, lastPosition } from '../models/common.ts';
import { bartEncoderForward, bartDecoderForward, bartTokenEmbeddings, type BartDecoderOutputs } from '../models/bart.ts';
import { presentOutputs } from '../models/causal.ts';
import { type Injection, sitePast, embeddingPrefix } from './inject.ts';
import { hasInfix } from './geometry.ts';

const B: Dim = sym('B');

type SitePast = ReturnType<typeof sitePast>;

/** A site's single length across `layers` (one mask serves every BART layer), 0 without a prefix. */
const uniformLength = (p: SitePast, layers: number, what: string): Dim => {
  if (!p) return 0;
  const lens = new Set(Array.from({ length: layers }, (_, l) => p.layers.get(l) ?? 0));
  if (lens.size > 1)
    throw new GraphError('inject', what, `activations of different lengths per layer (${[...lens].join(', ')}) are supported for decoder-only models only`);
  return p.length;
};

const checkBart = (inj: Injection): void => {
  if (hasInfix(inj))
    throw new GraphError('inject', 'infix', 'infix variants apply to decoder-only models (the encoder-decoder already separates source and target)');
};

/**
 * The encoder half: source `ids` [B, S] with their padding `mask` [B, S] -> `hidden`
 * [B, E+S, D] (E virtual embedding tokens first) and `mask` [B, E+S], the key mask of those
 * states (what the decoder's cross-attention takes).
 */
export const injectedBartEncoder = (cfg: BartConfig, inj: Injection, inp: { ids: Node; mask: Node }): { hidden: Node; mask: Node } => {
  checkBart(inj);
  const enc = sitePast(inj, 'prefix', 'encoder', B);
  const Pe = uniformLength(enc, cfg.encoder_layers, 'prefix_encoder');
  const emb = embeddingPrefix(inj, B); // [B, E, D]
  const mask = emb ? extendKeyMask(inp.mask, emb.shape[1]!) : inp.mask; // [B, E+S]
  const encoder = bartEncoderForward(cfg, {
    ...(emb ? { inputsEmbeds: concat([emb, bartTokenEmbeddings(cfg, 'encoder', inp.ids)], 1) } : { ids: inp.ids }),
    attentionMask: extendKeyMask(mask, Pe),
    ...(enc ? { pastKeyValues: enc.past } : {}),
  });
  return { hidden: encoder.hidden, mask };
};

/**
 * The decoder half: decoder `ids` [B, T] over `encoderHidden` [B, Sh, D] with its key mask
 * `encoderMask` [B, Sh] (from `injectedBartEncoder`); `decoderMask` [B, T] is an optional
 * padding mask over the decoder tokens. Presents hold the decoder self prefix first
 * ([B, H, Pd+T, Dh]) and the cross prefix before the encoder keys/values ([B, H, Pc+Sh, Dh]).
 */
export const injectedBartDecoder = (
  cfg: BartConfig,
  inj: Injection,
  inp: { ids: Node; encoderHidden: Node; encoderMask: Node; decoderMask?: Node },
): BartDecoderOutputs => {
  checkBart(inj);
  const dec = sitePast(inj, 'prefix', 'self', B);
  const cross = sitePast(inj, 'prefix', 'cross', B);
  const Pd = uniformLength(dec, cfg.decoder_layers, 'prefix');
  const Pc = uniformLength(cross, cfg.decoder_layers, 'prefix_cross');
  return bartDecoderForward(cfg, {
    ids: inp.ids,
    encoderHidden: inp.encoderHidden,
    encoderAttentionMask: extendKeyMask(inp.encoderMask, Pc),
    ...(cross ? { crossPastKeyValues: cross.past } : {}),
    ...(dec ? { pastKeyValues: dec.past } : {}),
    ...(inp.decoderMask ? { attentionMask: extendKeyMask(inp.decoderMask, Pd) } : {}),
  });
};

/**
 * The injected encoder as a graph: `input_ids` [B, S], `attention_mask` [B, S] (and `user_ids`
 * [B] for a prefix bank) -> `last_hidden_state` [B, E+S, D]. The states' key mask is the
 * source mask after E ones.
 */
export const injectedBartEncoderGraph = (cfg: BartConfig, inj: Injection): Graph => {
  const S = sym('S');
  const enc = injectedBartEncoder(cfg, inj, { ids: input('input_ids', [B, S], 'int32'), mask: input('attention_mask', [B, S], 'int32') });
  return graph({ last_hidden_state: enc.hidden });
};

/**
 * The injected decoder prefill: `decoder_input_ids` [B, T], `encoder_hidden_states` [B, Sh, D]
 * and their key mask `encoder_attention_mask` [B, Sh] (and `user_ids` [B]) -> the last
 * position's `logits` [B, V], `present.{i}.decoder.*` [B, H, Pd+T, Dh] and the cross-attention
 * cache `present.{i}.encoder.*` [B, H, Pc+Sh, Dh]. Continue with `bartStepGraph` (its
 * `encoder_attention_mask` is the cross cache's: Pc ones, then this one).
 */
export const injectedBartPrefillGraph = (cfg: BartConfig, inj: Injection): Graph => {
  const [T, Sh] = [sym('T'), sym('S')];
  const dec = injectedBartDecoder(cfg, inj, {
    ids: input('decoder_input_ids', [B, T], 'int32'),
    encoderHidden: input('encoder_hidden_states', [B, Sh, cfg.d_model]),
    encoderMask: input('encoder_attention_mask', [B, Sh], 'int32'),
  });
  return graph({
    logits: lastPosition(dec.logits),
    ...presentOutputs(dec.presents, 'present', '.decoder'),
    ...presentOutputs(dec.crossPresents, 'present', '.encoder'),
  });
};

export { bartVirtualPositions } from './geometry.ts';
