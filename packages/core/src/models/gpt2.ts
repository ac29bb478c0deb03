/**
 * GPT-2 (transformers' GPT2LMHeadModel) as a graph. Parameter names are the checkpoint's keys
 * without the `transformer.` prefix (`h.3.attn.c_attn.weight`); GPT-2's `Conv1D` weights are
 * stored [in, out], so projections are `x @ W` with no transpose. The LM head is `wte`
 * (tied, the default) or `lm_head.weight` [V, D].
 */
import type { Node } from '../ir/node.ts';
import { withPath } from '../ir/node.ts';
import { param } from '../ops/leaves.ts';
import { add } from '../ops/binary.ts';
import { matmul, mT } from '../ops/matmul.ts';
import { gather } from '../ops/gather.ts';
import { slice } from '../ops/layout.ts';
import { layerNorm } from '../nn/norm.ts';
import { attention } from '../nn/attention.ts';
import * as E from 'fp-ts/lib/Either.js';
import type { HostTensor } from '../backend/tensor.ts';
import { Sampler } from '../random.ts';
import type { Gpt2Config, ModelConfig } from './config.ts';
import { modelParamShapes } from './checkpoint.ts';
import {
  type CausalLmInputs, type CausalLmOutputs, type KeyValue, type ModelSites, type ModelFamily,
  activation, conv1d, weightsByLayer, inputLength, mergeHeads, pastLength, positionRange, splitHeads, toKeyMask, withPast,
} from './common.ts';

const ln = (cfg: Gpt2Config, x: Node, name: string): Node =>
  layerNorm(x, param(`${name}.weight`, [cfg.n_embd]), param(`${name}.bias`, [cfg.n_embd]), cfg.layer_norm_epsilon);

/** Token embeddings `wte[ids]`: int [B, T] -> f32 [B, T, D]. */
export const gpt2TokenEmbeddings = (cfg: Gpt2Config, ids: Node): Node => gather(param('wte.weight', [cfg.vocab_size, cfg.n_embd]), ids);

/** Causal self-attention of block `i`; returns the output [B, T, D] and the keys/values it attended to. */
const attn = (cfg: Gpt2Config, i: number, x: Node, past: KeyValue | undefined, keyMask: Node | undefined): [Node, KeyValue] => {
  const D = cfg.n_embd;
  const H = cfg.n_head;
  const Dh = D / H;
  const qkv = conv1d(x, param(`h.${i}.attn.c_attn.weight`, [D, 3 * D]), param(`h.${i}.attn.c_attn.bias`, [3 * D])); // [B, T, 3D]
  const q = splitHeads(slice(qkv, 2, 0, D), H, Dh); // [B, H, T, Dh]
  const own = { key: splitHeads(slice(qkv, 2, D, 2 * D), H, Dh), value: splitHeads(slice(qkv, 2, 2 * D, 3 * D), H, Dh) };
  const kv = withPast(own, past); // [B, H, Tpast+T, Dh]
  let scale = cfg.scale_attn_weights ? 1 / Math.sqrt(Dh) : 1;
  if (cfg.scale_attn_by_inverse_layer_idx) scale /= i + 1;
  const y = attention(q, kv.key, kv.value, { scale, causal: true, ...(keyMask ? { keyMask } : {}) }); // [B, H, T, Dh]
  const out = conv1d(mergeHeads(y), param(`h.${i}.attn.c_proj.weight`, [D, D]), param(`h.${i}.attn.c_proj.bias`, [D])); // [B, T, D]
  return [out, kv];
};

const mlp = (cfg: Gpt2Config, i: number, x: Node): Node => {
  const [D, F] = [cfg.n_embd, cfg.n_inner];
  const h = activation(cfg.activation_function, conv1d(x, param(`h.${i}.mlp.c_fc.weight`, [D, F]), param(`h.${i}.mlp.c_fc.bias`, [F]))); // [B, T, F]
  return conv1d(h, param(`h.${i}.mlp.c_proj.weight`, [F, D]), param(`h.${i}.mlp.c_proj.bias`, [D])); // [B, T, D]
};

/** The GPT-2 forward pass: logits [B, T, V], final hidden states and per-layer presents. */
export const gpt2Forward = (cfg: Gpt2Config, inp: CausalLmInputs): CausalLmOutputs => {
  const T = inputLength('gpt2', inp, cfg.n_embd);
  const tok = inp.inputsEmbeds ?? withPath('wte', () => gpt2TokenEmbeddings(cfg, inp.ids!)); // [B, T, D]
  const wpe = param('wpe.weight', [cfg.n_positions, cfg.n_embd]);
  const offset = inp.positionOffset ?? pastLength(inp.pastKeyValues?.(0));
  const pos = withPath('wpe', () => gather(wpe, inp.positionIds ?? positionRange(offset, T))); // [T, D] or [B, T, D]
  let x = add(tok, pos); // [B, T, D]
  const keyMaskOf = (i: number): Node | undefined => toKeyMask(typeof inp.attentionMask === 'function' ? inp.attentionMask(i) : inp.attentionMask);
  const presents: KeyValue[] = [];
  for (let i = 0; i < cfg.n_layer; i++) {
    x = withPath(`h[${i}]`, () => {
      const [a, kv] = withPath('attn', () => attn(cfg, i, ln(cfg, x, `h.${i}.ln_1`), inp.pastKeyValues?.(i), keyMaskOf(i)));
      presents.push(kv);
      const h = add(x, a); // [B, T, D]
      return add(h, withPath('mlp', () => mlp(cfg, i, ln(cfg, h, `h.${i}.ln_2`))));
    });
  }
  const hidden = withPath('ln_f', () => ln(cfg, x, 'ln_f')); // [B, T, D]
  const head = cfg.tie_word_embeddings ? param('wte.weight', [cfg.vocab_size, cfg.n_embd]) : param('lm_head.weight', [cfg.vocab_size, cfg.n_embd]);
  const logits = withPath('lm_head', () => matmul(hidden, mT(head))); // [B, T, V]
  return { logits, hidden, presents };
};

/**
 * Where a variant may act on GPT-2: every block's self-attention (past keys/values of n_head
 * heads), the token embeddings (n_embd wide), and block i's weights `h.{i}.*` for finetune;
 * biases and the layer norms (`ln_1`, `ln_2`, `ln_f`) take no weight decay.
 */
export const gpt2Sites = (cfg: Gpt2Config): ModelSites => ({
  sites: { self: { layers: cfg.n_layer, kvHeads: cfg.n_head, headDim: cfg.n_embd / cfg.n_head } },
  embedDim: cfg.n_embd,
  weights: weightsByLayer(
    modelParamShapes(cfg),
    Array.from({ length: cfg.n_layer }, (_, i) => `h.${i}`),
    (n) => n.endsWith('.bias') || n === 'ln_f.weight' || n.endsWith('.ln_1.weight') || n.endsWith('.ln_2.weight'),
  ),
  layers: cfg.n_layer,
});

/** The last position GPT-2's learned table holds (positions are clamped to it where a finished row runs on). */
export const gpt2LastPosition = (cfg: Gpt2Config): number => cfg.n_positions - 1;

/** GPT-2 as a family: learned positions (n_positions), byte-level BPE after a space. */
export const gpt2Family: ModelFamily<Gpt2Config> = {
  sites: gpt2Sites,
  positions: (c) => c.n_positions,
  lastPosition: gpt2LastPosition,
  leadingSpace: true,
};

// ------------------------------------------------------------------ config and initialisation

/** `cfg` as a GPT-2 config, or why not (`what`: the feature that needs one, e.g. "pretraining"). */
export const asGpt2Config = (cfg: ModelConfig, what: string): E.Either<string, Gpt2Config> =>
  cfg.model_type === 'gpt2' ? E.right(cfg) : E.left(`${what} is implemented for gpt2 models, this is ${cfg.model_type}`);

/** The config.json of a GPT-2 model as transformers writes it (keys it reads; ours decode it too). */
export const gpt2ConfigJson = (a: { vocab_size: number; n_embd: number; n_layer: number; n_head: number; n_positions: number; eos: number }): Record<string, unknown> => ({
  architectures: ['GPT2LMHeadModel'],
  model_type: 'gpt2',
  vocab_size: a.vocab_size,
  n_positions: a.n_positions,
  n_ctx: a.n_positions,
  n_embd: a.n_embd,
  n_layer: a.n_layer,
  n_head: a.n_head,
  n_inner: null,
  activation_function: 'gelu_new',
  resid_pdrop: 0.0,
  embd_pdrop: 0.0,
  attn_pdrop: 0.0,
  layer_norm_epsilon: 1e-5,
  initializer_range: 0.02,
  scale_attn_weights: true,
  tie_word_embeddings: true,
  bos_token_id: a.eos,
  eos_token_id: a.eos,
  torch_dtype: 'float16',
});

/**
 * GPT-2's initialisation (transformers' `_init_weights`): weights N(0, 0.02), the residual
 * projections (`attn.c_proj`, `mlp.c_proj`) N(0, 0.02/√(2·n_layer)), biases 0, layer norms 1/0.
 */
export const initGpt2Params = (cfg: Gpt2Config, seed: number): Record<string, HostTensor> => {
  const s = new Sampler(seed);
  const out: Record<string, HostTensor> = {};
  const shapes = modelParamShapes(cfg);
  for (const name of Object.keys(shapes).sort()) {
    const shape = shapes[name]!;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (/ln_\d|ln_f/.test(name)) {
      if (name.endsWith('weight')) data.fill(1);
    } else if (!name.endsWith('bias')) {
      const std = name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * cfg.n_layer) : 0.02;
      for (let i = 0; i < n; i++) data[i] = s.normal() * std;
    }
    out[name] = { dtype: 'float32', shape: [...shape], data };
  }
  return out;
};
