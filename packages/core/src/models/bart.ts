/**
 * BART (transformers' BartForConditionalGeneration) as an encoder graph and a decoder graph.
 * Post-norm layers, learned positions with an offset of 2, token embeddings scaled by
 * sqrt(d_model) when `scale_embedding`, `layernorm_embedding` after the embeddings, and a
 * tied LM head plus the `final_logits_bias` buffer. Parameter names are the checkpoint's keys
 * without the `model.` prefix (`encoder.layers.0.self_attn.q_proj.weight`, `shared.weight`,
 * `final_logits_bias`); `nn.Linear` weights are [out, in] and used as `x @ Wᵀ`.
 *
 * Three attention kinds take past keys/values: encoder self-attention, decoder
 * self-attention (a KV cache or a prefix) and decoder cross-attention. For cross-attention,
 * `crossPastKeyValues` are prepended to the keys/values computed from the encoder states (a
 * prefix), while `crossKeyValues` replace that computation (the generation cache: pass the
 * `crossPresents` of an earlier call).
 */
import type { Node } from '../ir/node.ts';
import { withPath, currentPath } from '../ir/node.ts';
import { GraphError } from '../errors.ts';
import type { Dim } from '../types/dim.ts';
import { param } from '../ops/leaves.ts';
import { add, mul } from '../ops/binary.ts';
import { matmul, mT } from '../ops/matmul.ts';
import { gather } from '../ops/gather.ts';
import { layerNorm } from '../nn/norm.ts';
import { attention } from '../nn/attention.ts';
import type { BartConfig } from './config.ts';
import { modelParamShapes } from './checkpoint.ts';
import {
  type KeyValue, type PastKeyValues, type ModelSites, type ModelFamily, weightsByLayer,
  activation, inputLength, linear, mergeHeads, pastLength, positionRange, splitHeads, toKeyMask, withPast,
} from './common.ts';

/** Rows of the learned position tables before position 0 (fairseq's padding offset). */
export const BART_POSITION_OFFSET = 2;

type Stack = 'encoder' | 'decoder';

const ln = (cfg: BartConfig, x: Node, name: string): Node =>
  layerNorm(x, param(`${name}.weight`, [cfg.d_model]), param(`${name}.bias`, [cfg.d_model]), 1e-5);

const proj = (cfg: BartConfig, x: Node, name: string, out: number, inp: number): Node =>
  linear(x, param(`${name}.weight`, [out, inp]), param(`${name}.bias`, [out]));

/** The token embedding table of a stack: `shared.weight` when tied, else `<stack>.embed_tokens.weight`. */
const embedTable = (cfg: BartConfig, stack: Stack): Node =>
  param(cfg.tie_word_embeddings ? 'shared.weight' : `${stack}.embed_tokens.weight`, [cfg.vocab_size, cfg.d_model]);

/** Token embeddings of a stack, scaled by sqrt(d_model) when `scale_embedding`: int [B, T] -> f32 [B, T, D]. */
export const bartTokenEmbeddings = (cfg: BartConfig, stack: Stack, ids: Node): Node => {
  const e = gather(embedTable(cfg, stack), ids);
  return cfg.scale_embedding ? mul(e, Math.sqrt(cfg.d_model)) : e;
};

/** Embeddings + learned positions (offset 2) + layernorm_embedding. */
const embed = (cfg: BartConfig, stack: Stack, inp: { ids?: Node; inputsEmbeds?: Node; positionIds?: Node }, offset: Dim, T: Dim): Node =>
  withPath('embed', () => {
    const tok = inp.inputsEmbeds ?? bartTokenEmbeddings(cfg, stack, inp.ids!); // [B, T, D]
    const table = param(`${stack}.embed_positions.weight`, [cfg.max_position_embeddings + BART_POSITION_OFFSET, cfg.d_model]);
    const positions = add(inp.positionIds ?? positionRange(offset, T), BART_POSITION_OFFSET); // [T] or [B, T]
    return ln(cfg, add(tok, gather(table, positions)), `${stack}.layernorm_embedding`); // [B, T, D]
  });

/** Projects x to keys/values of `heads` heads: [B, H, Tk, Dh] each. */
const keyValues = (cfg: BartConfig, p: string, x: Node, heads: number): KeyValue => {
  const D = cfg.d_model;
  return { key: splitHeads(proj(cfg, x, `${p}.k_proj`, D, D), heads, D / heads), value: splitHeads(proj(cfg, x, `${p}.v_proj`, D, D), heads, D / heads) };
};

/** Multi-head attention of queries from x over kv; returns [B, T, D]. */
const mha = (cfg: BartConfig, p: string, x: Node, kv: KeyValue, heads: number, causal: boolean, keyMask: Node | undefined): Node => {
  const D = cfg.d_model;
  const Dh = D / heads;
  const q = splitHeads(proj(cfg, x, `${p}.q_proj`, D, D), heads, Dh); // [B, H, T, Dh]
  const y = attention(q, kv.key, kv.value, { scale: 1 / Math.sqrt(Dh), causal, ...(keyMask ? { keyMask } : {}) }); // [B, H, T, Dh]
  return proj(cfg, mergeHeads(y), `${p}.out_proj`, D, D); // [B, T, D]
};

const ffn = (cfg: BartConfig, p: string, x: Node, F: number): Node => {
  const D = cfg.d_model;
  return proj(cfg, activation(cfg.activation_function, proj(cfg, x, `${p}.fc1`, F, D)), `${p}.fc2`, D, F); // [B, T, D]
};

/** Inputs of the BART encoder. */
export interface BartEncoderInputs {
  /** Source ids, int [B, S]; or `inputsEmbeds` f32 [B, S, D] (not scaled, as in transformers). */
  readonly ids?: Node;
  readonly inputsEmbeds?: Node;
  /** Key padding mask over past and source positions, [B, Spast + S] (bool or 0/1). */
  readonly attentionMask?: Node;
  /** Keys/values prepended in each encoder self-attention layer (a prefix), [B, H, Spast, Dh]. */
  readonly pastKeyValues?: PastKeyValues;
  /** Position of the first source token (default 0: encoder positions ignore a prefix). */
  readonly positionOffset?: Dim;
  /** Explicit position ids, int [B, S]. */
  readonly positionIds?: Node;
}

/** Outputs of the BART encoder. */
export interface BartEncoderOutputs {
  /** f32 [B, S, D] */
  readonly hidden: Node;
  /** Per layer, the self-attention keys/values (past ++ own), [B, H, Spast + S, Dh]. */
  readonly presents: readonly KeyValue[];
}

/** The BART encoder. */
export const bartEncoderForward = (cfg: BartConfig, inp: BartEncoderInputs): BartEncoderOutputs =>
  withPath('encoder', () => {
    const S = inputLength('bart encoder', inp, cfg.d_model);
    const H = cfg.encoder_attention_heads;
    let x = embed(cfg, 'encoder', inp, inp.positionOffset ?? 0, S); // [B, S, D]
    const keyMask = toKeyMask(inp.attentionMask);
    const presents: KeyValue[] = [];
    for (let i = 0; i < cfg.encoder_layers; i++) {
      const p = `encoder.layers.${i}`;
      x = withPath(`layers[${i}]`, () => {
        const kv = withPath('self_attn', () => withPast(keyValues(cfg, `${p}.self_attn`, x, H), inp.pastKeyValues?.(i)));
        presents.push(kv);
        const h = ln(cfg, add(x, withPath('self_attn', () => mha(cfg, `${p}.self_attn`, x, kv, H, false, keyMask))), `${p}.self_attn_layer_norm`);
        return ln(cfg, add(h, withPath('ffn', () => ffn(cfg, p, h, cfg.encoder_ffn_dim))), `${p}.final_layer_norm`); // [B, S, D]
      });
    }
    return { hidden: x, presents };
  });

/** Inputs of the BART decoder. */
export interface BartDecoderInputs {
  /** Decoder ids, int [B, T]; or `inputsEmbeds` f32 [B, T, D] (not scaled). */
  readonly ids?: Node;
  readonly inputsEmbeds?: Node;
  /** Encoder output f32 [B, S, D]; needed by every layer whose `crossKeyValues` is not given. */
  readonly encoderHidden?: Node;
  /** Key padding mask over the cross-attention keys (cross past ++ source), [B, Scross] (bool or 0/1). */
  readonly encoderAttentionMask?: Node;
  /** Key padding mask over past and decoder positions, [B, Tpast + T]. Causal masking is always applied. */
  readonly attentionMask?: Node;
  /** Decoder self-attention past (KV cache or prefix), [B, H, Tpast, Dh]. */
  readonly pastKeyValues?: PastKeyValues;
  /** Prepended to the cross-attention keys/values computed from `encoderHidden` (a prefix). */
  readonly crossPastKeyValues?: PastKeyValues;
  /** Complete cross-attention keys/values (the cache), used instead of projecting `encoderHidden`. */
  readonly crossKeyValues?: PastKeyValues;
  /** Position of the first decoder token (default: the decoder past length of layer 0). */
  readonly positionOffset?: Dim;
  /** Explicit position ids, int [B, T]. */
  readonly positionIds?: Node;
}

/** Outputs of the BART decoder. */
export interface BartDecoderOutputs {
  /** lm_head(hidden) + final_logits_bias, f32 [B, T, V] */
  readonly logits: Node;
  /** f32 [B, T, D] */
  readonly hidden: Node;
  /** Per layer, decoder self-attention keys/values (past ++ own), [B, H, Tpast + T, Dh]. */
  readonly presents: readonly KeyValue[];
  /** Per layer, the cross-attention keys/values used, [B, H, Scross, Dh] (feed back as `crossKeyValues`). */
  readonly crossPresents: readonly KeyValue[];
}

/** The BART decoder with the LM head. */
export const bartDecoderForward = (cfg: BartConfig, inp: BartDecoderInputs): BartDecoderOutputs => {
  const out = withPath('decoder', () => {
    const T = inputLength('bart decoder', inp, cfg.d_model);
    const H = cfg.decoder_attention_heads;
    let x = embed(cfg, 'decoder', inp, inp.positionOffset ?? pastLength(inp.pastKeyValues?.(0)), T); // [B, T, D]
    const selfMask = toKeyMask(inp.attentionMask);
    const crossMask = toKeyMask(inp.encoderAttentionMask);
    const presents: KeyValue[] = [];
    const crossPresents: KeyValue[] = [];
    for (let i = 0; i < cfg.decoder_layers; i++) {
      const p = `decoder.layers.${i}`;
      x = withPath(`layers[${i}]`, () => {
        const kv = withPath('self_attn', () => withPast(keyValues(cfg, `${p}.self_attn`, x, H), inp.pastKeyValues?.(i)));
        presents.push(kv);
        const h = ln(cfg, add(x, withPath('self_attn', () => mha(cfg, `${p}.self_attn`, x, kv, H, true, selfMask))), `${p}.self_attn_layer_norm`);
        const ckv = withPath('encoder_attn', () => {
          const cached = inp.crossKeyValues?.(i);
          if (cached) return cached;
          if (inp.encoderHidden === undefined)
            throw new GraphError('bart decoder', currentPath(), 'needs encoderHidden or crossKeyValues for this layer');
          return withPast(keyValues(cfg, `${p}.encoder_attn`, inp.encoderHidden, H), inp.crossPastKeyValues?.(i));
        });
        crossPresents.push(ckv);
        const c = ln(cfg, add(h, withPath('encoder_attn', () => mha(cfg, `${p}.encoder_attn`, h, ckv, H, false, crossMask))), `${p}.encoder_attn_layer_norm`);
        return ln(cfg, add(c, withPath('ffn', () => ffn(cfg, p, c, cfg.decoder_ffn_dim))), `${p}.final_layer_norm`); // [B, T, D]
      });
    }
    return { hidden: x, presents, crossPresents };
  });
  const head = param(cfg.tie_word_embeddings ? 'shared.weight' : 'lm_head.weight', [cfg.vocab_size, cfg.d_model]);
  const logits = withPath('lm_head', () => add(matmul(out.hidden, mT(head)), param('final_logits_bias', [1, cfg.vocab_size]))); // [B, T, V]
  return { logits, ...out };
};

/**
 * Where a variant may act on BART: the encoder's self-attention (`encoder`), the decoder's
 * (`self`) and its cross-attention (`cross`), the token embeddings (d_model wide), and for
 * finetune decoder layer i's weights `decoder.layers.{i}.*` (its `top` counts decoder layers;
 * encoder weights are never "top"); biases (`final_logits_bias` too) and the layer norms take
 * no weight decay.
 */
export const bartSites = (cfg: BartConfig): ModelSites => {
  const site = (layers: number, heads: number) => ({ layers, kvHeads: heads, headDim: cfg.d_model / heads });
  return {
    sites: { self: site(cfg.decoder_layers, cfg.decoder_attention_heads), encoder: site(cfg.encoder_layers, cfg.encoder_attention_heads), cross: site(cfg.decoder_layers, cfg.decoder_attention_heads) },
    embedDim: cfg.d_model,
    weights: weightsByLayer(
      modelParamShapes(cfg),
      Array.from({ length: cfg.decoder_layers }, (_, i) => `decoder.layers.${i}`),
      (n) => n.endsWith('.bias') || n === 'final_logits_bias' || n.endsWith('layer_norm.weight') || n.endsWith('.layernorm_embedding.weight'),
      (n) => n.startsWith('encoder.'),
    ),
    layers: cfg.decoder_layers,
  };
};

/** BART as a family: learned positions (max_position_embeddings, offset 2), byte-level BPE after a space; counts decoder layers. */
export const bartFamily: ModelFamily<BartConfig> = {
  sites: bartSites,
  positions: (c) => c.max_position_embeddings,
  lastPosition: () => undefined,
  leadingSpace: true,
};
