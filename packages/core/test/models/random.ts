/**
 * Test helpers: fast-check arbitraries of small, valid config.json objects for each family,
 * deterministic random weights for a config, and id tensors.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { decodeModelConfig, modelParamShapes, type ModelConfig } from '../../src/models/index.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';

const activations = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'quick_gelu', 'relu', 'silu', 'swish'] as const;

/** A small GPT-2 config.json. */
export const gpt2Json = fc.record({
  model_type: fc.constant('gpt2'),
  vocab_size: fc.integer({ min: 3, max: 17 }),
  n_positions: fc.integer({ min: 12, max: 20 }),
  n_layer: fc.integer({ min: 1, max: 2 }),
  n_head: fc.integer({ min: 1, max: 3 }),
  head_dim: fc.constantFrom(2, 4),
  n_inner: fc.option(fc.integer({ min: 1, max: 9 }), { nil: null }),
  activation_function: fc.constantFrom(...activations),
  scale_attn_weights: fc.boolean(),
  scale_attn_by_inverse_layer_idx: fc.boolean(),
  tie_word_embeddings: fc.boolean(),
  layer_norm_epsilon: fc.constantFrom(1e-5, 1e-3),
}).map(({ head_dim, ...j }) => ({ ...j, n_embd: j.n_head * head_dim }));

/** A small Llama config.json (GQA, explicit or implied head_dim, optional biases). */
export const llamaJson = fc.record({
  model_type: fc.constant('llama'),
  vocab_size: fc.integer({ min: 3, max: 17 }),
  hidden_size: fc.constantFrom(4, 6, 8),
  intermediate_size: fc.integer({ min: 1, max: 9 }),
  num_hidden_layers: fc.integer({ min: 1, max: 2 }),
  kv: fc.integer({ min: 1, max: 2 }),
  groups: fc.integer({ min: 1, max: 2 }),
  head_dim: fc.constantFrom(2, 4),
  max_position_embeddings: fc.constant(32),
  rope_theta: fc.constantFrom(10000, 500000, 100),
  tie_word_embeddings: fc.boolean(),
  attention_bias: fc.boolean(),
  mlp_bias: fc.boolean(),
  rms_norm_eps: fc.constantFrom(1e-6, 1e-3),
}).map(({ kv, groups, ...j }) => ({ ...j, num_key_value_heads: kv, num_attention_heads: kv * groups }));

/** A small BART config.json. */
export const bartJson = fc.record({
  model_type: fc.constant('bart'),
  vocab_size: fc.integer({ min: 4, max: 17 }),
  heads: fc.integer({ min: 1, max: 2 }),
  head_dim: fc.constantFrom(2, 4),
  encoder_layers: fc.integer({ min: 1, max: 2 }),
  decoder_layers: fc.integer({ min: 1, max: 2 }),
  encoder_ffn_dim: fc.integer({ min: 1, max: 9 }),
  decoder_ffn_dim: fc.integer({ min: 1, max: 9 }),
  max_position_embeddings: fc.integer({ min: 12, max: 20 }),
  activation_function: fc.constantFrom(...activations),
  scale_embedding: fc.boolean(),
  tie_word_embeddings: fc.boolean(),
}).map(({ heads, head_dim, ...j }) => ({ ...j, d_model: heads * head_dim, encoder_attention_heads: heads, decoder_attention_heads: heads }));

/** Decodes a config.json that the test knows to be valid. */
export const decodeOk = (json: unknown): ModelConfig => {
  const r = decodeModelConfig(json);
  if (E.isLeft(r)) throw new Error(`test config rejected: ${r.left}`);
  return r.right;
};

/** A deterministic PRNG in [0, 1) (mulberry32). */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** Random weights for every parameter of the config's graph: uniform in [-scale, scale], norm weights around 1. */
export const randomParams = (cfg: ModelConfig, seed: number, scale = 0.5): Record<string, HostTensor> => {
  const rnd = prng(seed);
  const out: Record<string, HostTensor> = {};
  for (const [name, shape] of Object.entries(modelParamShapes(cfg))) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isNorm = /(ln_|norm|layernorm)[^.]*\.weight$/.test(name);
    const data = Float32Array.from({ length: n }, () => (isNorm ? 1 : 0) + (2 * rnd() - 1) * scale);
    out[name] = { dtype: 'float32', shape, data };
  }
  return out;
};

/** Random token ids [B, T] below `vocab`. */
export const randomIds = (rnd: () => number, B: number, T: number, vocab: number): number[] =>
  Array.from({ length: B * T }, () => Math.floor(rnd() * vocab));
