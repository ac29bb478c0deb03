/**
 * Building blocks shared by the model graphs: linear layers in both checkpoint layouts,
 * activations by their transformers name, head splitting, past key/value concatenation,
 * position ranges and key masks.
 */
import type { Node } from '../ir/node.ts';
import { currentPath } from '../ir/node.ts';
import { GraphError } from '../errors.ts';
import { type Dim, dimAdd, dimEq, dimToString, dimSub } from '../types/dim.ts';
import { shapeToString } from '../types/shape.ts';
import { dtypeShort } from '../types/dtype.ts';
import { add, mul, div, maximum, equal } from '../ops/binary.ts';
import { exp, neg, logicalNot } from '../ops/unary.ts';
import { matmul, mT } from '../ops/matmul.ts';
import { iota, scalar } from '../ops/leaves.ts';
import { concat, slice, reshape, transpose, broadcastTo } from '../ops/layout.ts';
import { gelu, silu } from '../nn/activations.ts';
import type { Activation } from './config.ts';

/** One attention layer's keys and values, each [B, Hkv, Tk, Dh]. */
export interface KeyValue {
  readonly key: Node;
  readonly value: Node;
}

/**
 * Per-layer past keys/values to prepend to an attention layer's own (a KV cache, or a prefix
 * of virtual positions): `layer => ({ key, value })`, each [B, Hkv, Tpast, Dh], or undefined
 * for a layer without a past.
 */
export type PastKeyValues = (layer: number) => KeyValue | undefined;

/** `nn.Linear` (weight stored [out, in]): x @ Wᵀ + b. */
export const linear = (x: Node, weight: Node, bias?: Node): Node => {
  const y = matmul(x, mT(weight));
  return bias === undefined ? y : add(y, bias);
};

/** GPT-2's `Conv1D` (weight stored [in, out]): x @ W + b. */
export const conv1d = (x: Node, weight: Node, bias: Node): Node => add(matmul(x, weight), bias);

/** An activation by its transformers `ACT2FN` name. */
export const activation = (name: Activation, x: Node): Node => {
  switch (name) {
    case 'gelu':
    case 'gelu_python':
      return gelu(x, 'none');
    case 'gelu_new':
    case 'gelu_fast':
    case 'gelu_pytorch_tanh':
    case 'gelu_python_tanh':
      return gelu(x, 'tanh');
    case 'quick_gelu':
      return div(x, add(exp(neg(mul(x, 1.702))), 1)); // x * sigmoid(1.702 x)
    case 'relu':
      return maximum(x, 0);
    case 'silu':
    case 'swish':
      return silu(x);
  }
};

/** [B, T, H*Dh] -> [B, H, T, Dh] */
export const splitHeads = (x: Node, heads: number, headDim: number): Node => {
  const [B, T] = x.shape;
  return transpose(reshape(x, [B!, T!, heads, headDim]), [0, 2, 1, 3]);
};

/** [B, H, T, Dh] -> [B, T, H*Dh] */
export const mergeHeads = (x: Node): Node => {
  const [B, H, T, Dh] = x.shape;
  return reshape(transpose(x, [0, 2, 1, 3]), [B!, T!, (H as number) * (Dh as number)]);
};

const checkPast = (what: string, past: Node, own: Node): void => {
  const [B, H, , D] = own.shape;
  const s = past.shape;
  if (past.dtype !== 'float32' || s.length !== 4 || !dimEq(s[0]!, B!) || !dimEq(s[1]!, H!) || !dimEq(s[3]!, D!))
    throw new GraphError('pastKeyValues', currentPath(), `past ${what} must be f32[${dimToString(B!)},${dimToString(H!)},Tpast,${dimToString(D!)}], got ${dtypeShort[past.dtype]}${shapeToString(s)}`);
};

/** Prepends a past (if any) to this layer's keys/values along the time axis: [B,Hkv,Tpast+T,Dh]. */
export const withPast = (own: KeyValue, past: KeyValue | undefined): KeyValue => {
  if (past === undefined) return own;
  checkPast('key', past.key, own.key);
  checkPast('value', past.value, own.value);
  return { key: concat([past.key, own.key], 2), value: concat([past.value, own.value], 2) };
};

/** The time length of a past (0 without one). */
export const pastLength = (past: KeyValue | undefined): Dim => past?.key.shape[2] ?? 0;

/** Position ids offset, offset+1, ..., offset+T-1 as int32 [T] (the offset may be symbolic). */
export const positionRange = (offset: Dim, T: Dim): Node =>
  dimEq(offset, 0) ? iota([T], 0, 'int32') : slice(iota([dimAdd(offset, T)], 0, 'int32'), 0, offset, dimAdd(offset, T));

/**
 * A key mask for core `attention`: bool [B, Tk], true = attend. Accepts bool masks or 0/1
 * integer/float masks as transformers' `attention_mask` (nonzero = attend).
 */
export const toKeyMask = (mask: Node | undefined): Node | undefined =>
  mask === undefined || mask.dtype === 'bool' ? mask : logicalNot(equal(mask, 0));

/**
 * Extends a key mask [B, T] over `pastLen` leading positions that every query may see
 * (a prefix or a cache): [B, pastLen + T], same dtype.
 */
export const extendKeyMask = (mask: Node, pastLen: Dim): Node => {
  if (dimEq(pastLen, 0)) return mask;
  const [B] = mask.shape;
  const one = scalar(1, mask.dtype);
  return concat([broadcastTo(one, [B!, pastLen]), mask], 1);
};

/** Logits of the last position: [B, T, V] -> [B, V]. */
export const lastPosition = (x: Node): Node => {
  const [B, T, V] = x.shape;
  return reshape(slice(x, 1, dimSub(T!, 1), T!), [B!, V!]);
};

/** Checks that a node is an integer [B, T] id tensor. */
export const checkIds = (what: string, ids: Node): void => {
  if ((ids.dtype !== 'int32' && ids.dtype !== 'int64') || ids.shape.length !== 2)
    throw new GraphError(what, currentPath(), `expected i32/i64 ids [B,T], got ${dtypeShort[ids.dtype]}${shapeToString(ids.shape)}`);
};

/** Checks that a node is a float32 [B, T, D] embedding tensor. */
export const checkEmbeds = (what: string, x: Node, d: number): void => {
  if (x.dtype !== 'float32' || x.shape.length !== 3 || !dimEq(x.shape[2]!, d))
    throw new GraphError(what, currentPath(), `expected f32[B,T,${d}], got ${dtypeShort[x.dtype]}${shapeToString(x.shape)}`);
};

/** Inputs of a decoder-only model (GPT-2, Llama). */
export interface CausalLmInputs {
  /** Token ids, int32/int64 [B, T]. Exactly one of `ids` and `inputsEmbeds` is given. */
  readonly ids?: Node;
  /**
   * Input embeddings f32 [B, T, D] in place of `ids` (as transformers' `inputs_embeds`): the
   * hook for embedding-level prefixes and infixes. Build token rows with `tokenEmbeddings`.
   */
  readonly inputsEmbeds?: Node;
  /** Past keys/values prepended at each layer (KV cache or prefix), [B, Hkv, Tpast, Dh]. */
  readonly pastKeyValues?: PastKeyValues;
  /**
   * Position of the first token: ids get positions offset .. offset+T-1. Default: the past
   * length of layer 0 (0 without a past), as transformers does with `past_key_values`.
   */
  readonly positionOffset?: Dim;
  /** Explicit position ids, int [B, T] (e.g. from a left-padded mask); overrides `positionOffset`. */
  readonly positionIds?: Node;
  /**
   * Key padding mask over past and new positions, [B, Tpast + T]: bool, or 0/1 ints as
   * transformers' `attention_mask` (nonzero = attend). Causal masking is always applied.
   * A function gives each layer its own mask (layers whose pasts differ in length).
   */
  readonly attentionMask?: Node | ((layer: number) => Node);
}

/** Outputs of a decoder-only model. */
export interface CausalLmOutputs {
  /** f32 [B, T, V] */
  readonly logits: Node;
  /** Final hidden states (after the last norm), f32 [B, T, D]. */
  readonly hidden: Node;
  /** Per layer, the keys/values attended to (past ++ new), [B, Hkv, Tpast + T, Dh]. */
  readonly presents: readonly KeyValue[];
}

/** The sequence length of the model input (`ids` or `inputsEmbeds`), checking that exactly one is given. */
export const inputLength = (what: string, inp: { readonly ids?: Node; readonly inputsEmbeds?: Node }, d: number): Dim => {
  if ((inp.ids === undefined) === (inp.inputsEmbeds === undefined))
    throw new GraphError(what, currentPath(), 'give exactly one of ids and inputsEmbeds');
  if (inp.ids !== undefined) checkIds(what, inp.ids);
  else checkEmbeds(what, inp.inputsEmbeds!, d);
  return (inp.ids ?? inp.inputsEmbeds!).shape[1]!;
};

// ------------------------------------------------------------------ injection sites

/** An attention site a variant may act at: decoder(-only) self-attention, BART's encoder self-attention, cross-attention. */
export type AttentionSite = 'self' | 'encoder' | 'cross';

/** Geometry of the attention layers at a site: what a past key/value there must look like. */
export interface SiteGeometry {
  /** Number of layers at the site. */
  readonly layers: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

/** One model weight as variants see it. */
export interface SiteWeight {
  readonly name: string;
  readonly shape: readonly number[];
  /** The layer counted by finetune's `top` (BART: decoder layers); -1 outside the layers, -2 never "top" (BART's encoder). */
  readonly layer: number;
  /** Whether AdamW's weight decay applies when it is trained (not to biases and norms, as the official trainer). */
  readonly decay: boolean;
}

/**
 * Where a variant may act on a model, declared by the model's own file: its attention sites
 * (per-layer past keys/values), the width of its input embeddings (virtual tokens), its weights
 * by layer (finetune), and the number of layers finetune's `top` counts.
 */
export interface ModelSites {
  readonly sites: Partial<Record<AttentionSite, SiteGeometry>>;
  readonly embedDim: number;
  readonly weights: readonly SiteWeight[];
  readonly layers: number;
}

/**
 * The weights of `shapes` by layer: `blocks[i]` is layer i's name prefix (as the model's
 * builders name them), `noDecay` says which take no weight decay, `never` marks weights that
 * belong to layers finetune's `top` never counts.
 */
export const weightsByLayer = (
  shapes: Readonly<Record<string, readonly number[]>>,
  blocks: readonly string[],
  noDecay: (name: string) => boolean,
  never: (name: string) => boolean = () => false,
): SiteWeight[] =>
  Object.entries(shapes).map(([name, shape]) => ({
    name, shape,
    layer: never(name) ? -2 : blocks.findIndex((b) => name.startsWith(`${b}.`)),
    decay: !noDecay(name),
  }));

/**
 * What a model family answers about a config of its own (one record per family, in the family's
 * file; `families` in ./family.ts holds them, typed so that a family without one does not compile).
 */
export interface ModelFamily<C> {
  /** Where a variant may act. */
  readonly sites: (c: C) => ModelSites;
  /** Positions the model attends over. */
  readonly positions: (c: C) => number;
  /** The last row of a learned position table that decoding clamps to, or undefined (RoPE). */
  readonly lastPosition: (c: C) => number | undefined;
  /** Whether its byte-level BPE tokenizer expects text after a space (the official code's `' ' + text`). */
  readonly leadingSpace: boolean;
}
