/**
 * Llama (transformers' LlamaForCausalLM) as a graph: RMSNorm, rotary position embeddings
 * (rotate_half convention, base `rope_theta`, `rope_scaling` linear, dynamic or llama3), SwiGLU MLP, grouped-query attention (core
 * `attention` repeats the key/value heads). Parameter names are the checkpoint's keys without
 * the `model.` prefix (`layers.3.self_attn.q_proj.weight`); `nn.Linear` weights are stored
 * [out, in] and used as `x @ Wᵀ`. The head is `lm_head.weight` or, when tied, `embed_tokens`.
 */
import type { Node } from '../ir/node.ts';
import { withPath } from '../ir/node.ts';
import { param, constant } from '../ops/leaves.ts';
import { add, div, maximum, mul, sub } from '../ops/binary.ts';
import { cast, cos, exp, log, sin, neg } from '../ops/unary.ts';
import { reduceMax } from '../ops/reduce.ts';
import { matmul, mT } from '../ops/matmul.ts';
import { gather } from '../ops/gather.ts';
import { concat, reshape, slice } from '../ops/layout.ts';
import { rmsNorm } from '../nn/norm.ts';
import { attention } from '../nn/attention.ts';
import type { LlamaConfig } from './config.ts';
import { modelParamShapes } from './checkpoint.ts';
import {
  type CausalLmInputs, type CausalLmOutputs, type KeyValue, type ModelSites, type ModelFamily, weightsByLayer,
  activation, inputLength, linear, mergeHeads, pastLength, positionRange, splitHeads, toKeyMask, withPast,
} from './common.ts';

const norm = (cfg: LlamaConfig, x: Node, name: string): Node => rmsNorm(x, param(`${name}.weight`, [cfg.hidden_size]), cfg.rms_norm_eps);

const proj = (x: Node, name: string, out: number, inp: number, bias: boolean): Node =>
  linear(x, param(`${name}.weight`, [out, inp]), bias ? param(`${name}.bias`, [out]) : undefined);

/** Token embeddings `embed_tokens[ids]`: int [B, T] -> f32 [B, T, D]. */
export const llamaTokenEmbeddings = (cfg: LlamaConfig, ids: Node): Node =>
  gather(param('embed_tokens.weight', [cfg.vocab_size, cfg.hidden_size]), ids);

/**
 * RoPE inverse frequencies 1 / theta^(2j/Dh), j < Dh/2, rounded to float32 at each step as
 * transformers computes them (`1.0 / (base ** (arange(0, dim, 2).float() / dim))`).
 */
export const ropeInvFreq = (theta: number, headDim: number): number[] =>
  Array.from({ length: headDim / 2 }, (_, j) => Math.fround(1 / Math.fround(theta ** Math.fround((2 * j) / headDim))));

const f = Math.fround;

/**
 * The inverse frequencies of a static RoPE scaling, in float32 step by step as transformers'
 * `_compute_linear_scaling_rope_parameters` and `_compute_llama3_parameters` compute them
 * (python scalars meet float32 tensors, so each operation rounds to float32). `dynamic` is
 * not static: its frequencies depend on the sequence length (see `ropeCosSin`); this returns
 * its short-sequence frequencies (the unscaled ones).
 */
export const scaledInvFreq = (cfg: LlamaConfig): number[] => {
  const inv = ropeInvFreq(cfg.rope_theta, cfg.head_dim);
  const s = cfg.rope_scaling;
  if (s === undefined || s.rope_type === 'dynamic') return inv;
  if (s.rope_type === 'linear') return inv.map((x) => f(x / f(s.factor)));
  const old = s.original_max_position_embeddings;
  const [lowWl, highWl] = [f(old / s.low_freq_factor), f(old / s.high_freq_factor)];
  return inv.map((x) => {
    const wavelen = f(f(1 / x) * f(2 * Math.PI)); // python `scalar / tensor` is reciprocal(tensor) * scalar
    const llama = wavelen > lowWl ? f(x / f(s.factor)) : x;
    if (wavelen < highWl || wavelen > lowWl) return llama;
    const sm = f(f(f(f(1 / wavelen) * old) - f(s.low_freq_factor)) / f(s.high_freq_factor - s.low_freq_factor));
    return f(f(f(f(1 - sm) * llama) / f(s.factor)) + f(sm * llama));
  });
};

/**
 * `dynamic` (NTK) RoPE as a graph of the positions: transformers recomputes the frequencies for
 * seq_len = max(position_ids) + 1 when it exceeds `max_position_embeddings`, with base
 * theta·(factor·L/M − (factor − 1))^(Dh/(Dh−2)), L = max(seq_len, M). Each frequency is the
 * unscaled one times s^(−2j/(Dh−2)), s = factor·L/M − (factor − 1) (= 1 up to M positions).
 * The graph computes L from the positions it is given, so one forward over T tokens, or a
 * cached step at position p (L = p + 1), uses the frequencies transformers uses when the length
 * only grows (a fresh model, `generate`); transformers' module also keeps the longest frequencies
 * seen until a call shorter than M resets them, state a pure graph does not have.
 */
const dynamicInvFreq = (cfg: LlamaConfig, factor: number, pos: Node): Node => {
  const Dh = cfg.head_dim;
  const M = cfg.max_position_embeddings;
  const L = maximum(add(reduceMax(pos), 1), M); // []
  const s = sub(div(mul(L, factor), M), factor - 1); // []
  const exponent = constant(Array.from({ length: Dh / 2 }, (_, j) => (-2 * j) / (Dh - 2)), [Dh / 2]);
  return mul(constant(ropeInvFreq(cfg.rope_theta, Dh), [Dh / 2]), exp(mul(log(s), exponent))); // [Dh/2]
};

/**
 * cos and sin of the rotary angles for positions [T] or [B, T]: each [T, Dh] or [B, 1, T, Dh]
 * (broadcasting against [B, H, T, Dh]); the frequencies are repeated (cat(freqs, freqs)), and
 * scaled as the config's `rope_scaling` says (`attention_factor` is 1 for the supported types).
 */
export const ropeCosSin = (cfg: LlamaConfig, positions: Node): { cos: Node; sin: Node } => {
  const Dh = cfg.head_dim;
  const pos = cast(positions, 'float32');
  const inv = cfg.rope_scaling?.rope_type === 'dynamic' ? dynamicInvFreq(cfg, cfg.rope_scaling.factor, pos) : constant(scaledInvFreq(cfg), [Dh / 2]);
  const freqs = mul(reshape(pos, [...pos.shape, 1]), inv); // [..., T, Dh/2]
  let emb = concat([freqs, freqs], -1); // [..., T, Dh]
  if (emb.shape.length === 3) emb = reshape(emb, [emb.shape[0]!, 1, emb.shape[1]!, Dh]); // [B, 1, T, Dh]
  return { cos: cos(emb), sin: sin(emb) };
};

/** rotate_half: cat(-x2, x1) of the two halves of the last axis. */
const rotateHalf = (x: Node): Node => {
  const d = x.shape[x.shape.length - 1] as number;
  return concat([neg(slice(x, -1, d / 2, d)), slice(x, -1, 0, d / 2)], -1);
};

/** x * cos + rotate_half(x) * sin, for x [B, H, T, Dh]. */
export const applyRope = (x: Node, cs: { cos: Node; sin: Node }): Node => add(mul(x, cs.cos), mul(rotateHalf(x), cs.sin));

const attn = (cfg: LlamaConfig, i: number, x: Node, cs: { cos: Node; sin: Node }, past: KeyValue | undefined, keyMask: Node | undefined): [Node, KeyValue] => {
  const [D, H, Hkv, Dh, bias] = [cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim, cfg.attention_bias];
  const p = `layers.${i}.self_attn`;
  const q = applyRope(splitHeads(proj(x, `${p}.q_proj`, H * Dh, D, bias), H, Dh), cs); // [B, H, T, Dh]
  const k = applyRope(splitHeads(proj(x, `${p}.k_proj`, Hkv * Dh, D, bias), Hkv, Dh), cs); // [B, Hkv, T, Dh]
  const v = splitHeads(proj(x, `${p}.v_proj`, Hkv * Dh, D, bias), Hkv, Dh); // [B, Hkv, T, Dh]
  const kv = withPast({ key: k, value: v }, past); // [B, Hkv, Tpast+T, Dh]
  const y = attention(q, kv.key, kv.value, { scale: 1 / Math.sqrt(Dh), causal: true, ...(keyMask ? { keyMask } : {}) }); // [B, H, T, Dh]
  return [proj(mergeHeads(y), `${p}.o_proj`, D, H * Dh, bias), kv]; // [B, T, D]
};

const mlp = (cfg: LlamaConfig, i: number, x: Node): Node => {
  const [D, F, bias] = [cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias];
  const p = `layers.${i}.mlp`;
  const gate = activation(cfg.hidden_act, proj(x, `${p}.gate_proj`, F, D, bias)); // [B, T, F]
  return proj(mul(gate, proj(x, `${p}.up_proj`, F, D, bias)), `${p}.down_proj`, D, F, bias); // [B, T, D]
};

/** The Llama forward pass: logits [B, T, V], final hidden states and per-layer presents. */
export const llamaForward = (cfg: LlamaConfig, inp: CausalLmInputs): CausalLmOutputs => {
  const T = inputLength('llama', inp, cfg.hidden_size);
  let x = inp.inputsEmbeds ?? withPath('embed_tokens', () => llamaTokenEmbeddings(cfg, inp.ids!)); // [B, T, D]
  const offset = inp.positionOffset ?? pastLength(inp.pastKeyValues?.(0));
  const cs = withPath('rotary_emb', () => ropeCosSin(cfg, inp.positionIds ?? positionRange(offset, T)));
  const keyMaskOf = (i: number): Node | undefined => toKeyMask(typeof inp.attentionMask === 'function' ? inp.attentionMask(i) : inp.attentionMask);
  const presents: KeyValue[] = [];
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    x = withPath(`layers[${i}]`, () => {
      const [a, kv] = withPath('self_attn', () => attn(cfg, i, norm(cfg, x, `layers.${i}.input_layernorm`), cs, inp.pastKeyValues?.(i), keyMaskOf(i)));
      presents.push(kv);
      const h = add(x, a); // [B, T, D]
      return add(h, withPath('mlp', () => mlp(cfg, i, norm(cfg, h, `layers.${i}.post_attention_layernorm`))));
    });
  }
  const hidden = withPath('norm', () => norm(cfg, x, 'norm')); // [B, T, D]
  const head = param(cfg.tie_word_embeddings ? 'embed_tokens.weight' : 'lm_head.weight', [cfg.vocab_size, cfg.hidden_size]);
  const logits = withPath('lm_head', () => matmul(hidden, mT(head))); // [B, T, V]
  return { logits, hidden, presents };
};

/**
 * Where a variant may act on Llama: every layer's self-attention (past keys/values of
 * num_key_value_heads heads: grouped-query geometry), the token embeddings, and layer i's
 * weights `layers.{i}.*` for finetune; biases and the RMS norms (`input_layernorm`,
 * `post_attention_layernorm`, `norm`) take no weight decay.
 */
export const llamaSites = (cfg: LlamaConfig): ModelSites => ({
  sites: { self: { layers: cfg.num_hidden_layers, kvHeads: cfg.num_key_value_heads, headDim: cfg.head_dim } },
  embedDim: cfg.hidden_size,
  weights: weightsByLayer(
    modelParamShapes(cfg),
    Array.from({ length: cfg.num_hidden_layers }, (_, i) => `layers.${i}`),
    (n) => n.endsWith('.bias') || n === 'norm.weight' || n.endsWith('.input_layernorm.weight') || n.endsWith('.post_attention_layernorm.weight'),
  ),
  layers: cfg.num_hidden_layers,
});

/** Llama as a family: RoPE positions up to max_position_embeddings (nothing to clamp), SentencePiece-style text as it is. */
export const llamaFamily: ModelFamily<LlamaConfig> = {
  sites: llamaSites,
  positions: (c) => c.max_position_embeddings,
  lastPosition: () => undefined,
  leadingSpace: false,
};
