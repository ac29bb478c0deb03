/**
 * Decoder-only language models (GPT-2, Llama) behind one interface, and the graphs a trainer
 * or a decoder runs: the full forward with an optional loss, prefill (the prompt in, the last
 * logits and the KV cache out) and one cached step.
 *
 * Graph inputs and outputs follow transformers/optimum names:
 *   input_ids [B, T] i32, attention_mask [B, Tpast+T] i32 (1 = attend), position_ids [B, T] i32,
 *   labels [B, T] i32 (-100 = ignored), past_key_values.{i}.key|value [B, Hkv, Tpast, Dh] f32;
 *   logits [B, T, V] (or [B, V] for the last position), loss [], present.{i}.key|value
 *   [B, Hkv, Tpast+T, Dh].
 */
import type { Node } from '../ir/node.ts';
import { type Graph, graph } from '../ir/graph.ts';
import { type Dim, dimAdd, sym } from '../types/dim.ts';
import { input, scalar } from '../ops/leaves.ts';
import { concat, reshape, slice, broadcastTo } from '../ops/layout.ts';
import { crossEntropy } from '../nn/loss.ts';
import type { CausalLmConfig } from './config.ts';
import { type CausalLmInputs, type CausalLmOutputs, type KeyValue, lastPosition } from './common.ts';
import { gpt2Forward, gpt2TokenEmbeddings } from './gpt2.ts';
import { llamaForward, llamaTokenEmbeddings } from './llama.ts';

/** The forward pass of a decoder-only model (dispatch on `model_type`). */
export const causalLmForward = (cfg: CausalLmConfig, inp: CausalLmInputs): CausalLmOutputs =>
  cfg.model_type === 'gpt2' ? gpt2Forward(cfg, inp) : llamaForward(cfg, inp);

/** Token embeddings as the model computes them from ids (the rows an `inputsEmbeds` prefix joins). */
export const causalLmTokenEmbeddings = (cfg: CausalLmConfig, ids: Node): Node =>
  cfg.model_type === 'gpt2' ? gpt2TokenEmbeddings(cfg, ids) : llamaTokenEmbeddings(cfg, ids);

/** Attention geometry per layer: key/value heads and head width (the shape of a past). */
export interface KvGeometry {
  readonly layers: number;
  readonly heads: number;
  readonly headDim: number;
}

/** The key/value geometry of a decoder-only model's self-attention. */
export const causalLmKvGeometry = (cfg: CausalLmConfig): KvGeometry =>
  cfg.model_type === 'gpt2'
    ? { layers: cfg.n_layer, heads: cfg.n_head, headDim: cfg.n_embd / cfg.n_head }
    : { layers: cfg.num_hidden_layers, heads: cfg.num_key_value_heads, headDim: cfg.head_dim };

/**
 * The causal LM loss as transformers computes it: logits at t predict labels at t+1 (the
 * labels are shifted left inside, so `labels` may simply be `input_ids` with -100 at ignored
 * positions); `mean` over non-ignored targets or their `sum`.
 */
export const causalLmLoss = (logits: Node, labels: Node, reduction: 'mean' | 'sum' = 'mean'): Node => {
  const [B, T, V] = logits.shape;
  const ignored = broadcastTo(scalar(-100, labels.dtype), [B!, 1]);
  const shifted = concat([slice(labels, 1, 1, T!), ignored], 1); // [B, T]
  return crossEntropy(reshape(logits, [-1, V!]), reshape(shifted, [-1]), { reduction });
};

/** Options of `causalLmGraph`. */
export interface CausalLmGraphOptions {
  /** Adds `labels` and a `loss` output (shifted cross-entropy, `mean` or `sum`). */
  readonly loss?: 'mean' | 'sum';
  /** Adds an `attention_mask` input [B, Tpast+T]. */
  readonly attentionMask?: boolean;
  /** Adds a `position_ids` input [B, T] (left-padded batches); otherwise positions start after the past. */
  readonly positionIds?: boolean;
  /** Adds `past_key_values.{i}.key|value` inputs of symbolic length `Tpast`. */
  readonly past?: boolean;
  /** Adds `present.{i}.key|value` outputs. */
  readonly presents?: boolean;
  /** Only the last position's logits, [B, V]. */
  readonly lastOnly?: boolean;
  /** Sequence length of `input_ids` (default symbolic `T`). */
  readonly seqLen?: Dim;
}

/** Graph inputs for a past of symbolic length `Tpast`: `past_key_values.{i}.key|value`. */
export const pastInputs = (g: KvGeometry, prefix = 'past_key_values'): ((layer: number) => KeyValue) => (i) => ({
  key: input(`${prefix}.${i}.key`, ['B', g.heads, 'Tpast', g.headDim]),
  value: input(`${prefix}.${i}.value`, ['B', g.heads, 'Tpast', g.headDim]),
});

/** Adds `present.{i}.key|value` entries to an output record. */
export const presentOutputs = (presents: readonly KeyValue[], prefix = 'present', suffix = ''): Record<string, Node> =>
  Object.fromEntries(presents.flatMap((kv, i) => [[`${prefix}.${i}${suffix}.key`, kv.key], [`${prefix}.${i}${suffix}.value`, kv.value]]));

/**
 * A decoder-only model as a graph with named inputs and outputs (see the module comment).
 * Throws only on a bug: every shape is decided by the (validated) config.
 */
export const causalLmGraph = (cfg: CausalLmConfig, opts: CausalLmGraphOptions = {}): Graph => {
  const B = sym('B');
  const T = opts.seqLen ?? sym('T');
  const Tk = opts.past ? dimAdd(sym('Tpast'), T) : T;
  const ids = input('input_ids', [B, T], 'int32');
  const past = opts.past ? pastInputs(causalLmKvGeometry(cfg)) : undefined;
  const out = causalLmForward(cfg, {
    ids,
    ...(past ? { pastKeyValues: past } : {}),
    ...(opts.attentionMask ? { attentionMask: input('attention_mask', [B, Tk], 'int32') } : {}),
    ...(opts.positionIds ? { positionIds: input('position_ids', [B, T], 'int32') } : {}),
  });
  const outputs: Record<string, Node> = { logits: opts.lastOnly ? lastPosition(out.logits) : out.logits };
  if (opts.loss) outputs['loss'] = causalLmLoss(out.logits, input('labels', [B, T], 'int32'), opts.loss);
  if (opts.presents) Object.assign(outputs, presentOutputs(out.presents));
  return graph(outputs);
};

/**
 * Prefill: `input_ids` [B, T] (+ optional mask/positions) -> `logits` of position T-1 [B, V]
 * and `present.*`. Batched prompts of different lengths must be left-padded (with
 * `attention_mask` and `position_ids` = cumsum(mask) - 1, as transformers' generate does),
 * so that position T-1 is every row's last real token.
 */
export const prefillGraph = (cfg: CausalLmConfig, opts: Pick<CausalLmGraphOptions, 'attentionMask' | 'positionIds'> = {}): Graph =>
  causalLmGraph(cfg, { ...opts, lastOnly: true, presents: true });

/**
 * One cached decoding step: `input_ids` [B, 1] and `past_key_values.*` [B, Hkv, Tpast, Dh]
 * (+ optional `attention_mask` [B, Tpast+1], `position_ids` [B, 1]; without them the new
 * token's position is Tpast) -> `logits` [B, V] and `present.*` [B, Hkv, Tpast+1, Dh].
 */
export const stepGraph = (cfg: CausalLmConfig, opts: Pick<CausalLmGraphOptions, 'attentionMask' | 'positionIds'> = {}): Graph =>
  causalLmGraph(cfg, { ...opts, past: true, seqLen: 1, lastOnly: true, presents: true });
