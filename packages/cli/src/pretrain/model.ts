/**
 * Full-model pieces of pretraining: GPT-2 presets and initialisation, the Hugging Face export
 * (the layout `loadModel` reads, as transformers writes it); perplexity is core's.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import {
  checkpointPrefix, modelParamShapes, serializeSafetensors, Sampler,
  type HostTensor, type Gpt2Config, type TensorToWrite,
} from '@prefix-tuning/core';
import { writeFileAtomic } from '@prefix-tuning/hub';

/** Architecture presets (vocabulary size and EOS come from the tokenizer). */
export const PRESETS: Readonly<Record<string, { n_embd: number; n_layer: number; n_head: number; n_positions: number }>> = {
  /** ~4.3M parameters with a 4,096 vocabulary: the embedded default model. */
  tiny: { n_embd: 256, n_layer: 4, n_head: 4, n_positions: 256 },
  /** ~11M parameters with a 4,096 vocabulary. */
  small: { n_embd: 384, n_layer: 6, n_head: 6, n_positions: 256 },
  /** For tests: a few thousand parameters. */
  micro: { n_embd: 16, n_layer: 1, n_head: 2, n_positions: 64 },
};

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

/** Whether AdamW decays this parameter (not biases, norms or position embeddings: nanoGPT's choice is 2-D weights). */
export const decays = (name: string, shape: readonly number[]): boolean => shape.length >= 2 && !/ln_\d|ln_f/.test(name);

/** Writes a Hugging Face model directory: config.json, model.safetensors (F16 or F32), the tokenizer files, generation_config.json. */
export const exportModel = async (
  dir: string,
  a: { config: Record<string, unknown>; cfg: Gpt2Config; params: Readonly<Record<string, HostTensor>>; tokenizerJson: string; tokenizerConfigJson: string; dtype: 'F16' | 'F32'; metadata?: Record<string, string> },
): Promise<number> => {
  mkdirSync(dir, { recursive: true });
  const prefix = checkpointPrefix(a.cfg);
  const tensors: Record<string, TensorToWrite> = {};
  for (const name of Object.keys(a.params).sort()) {
    const t = a.params[name]!;
    tensors[`${prefix}${name}`] = { dtype: a.dtype, shape: t.shape, data: t.data as Float32Array };
  }
  const bytes = serializeSafetensors(tensors, { format: 'pt', ...(a.metadata ?? {}) });
  const eos = a.config['eos_token_id'];
  const files: [string, string | Uint8Array][] = [
    ['config.json', `${JSON.stringify({ ...a.config, torch_dtype: a.dtype === 'F16' ? 'float16' : 'float32' }, null, 2)}\n`],
    ['model.safetensors', bytes],
    ['tokenizer.json', a.tokenizerJson],
    ['tokenizer_config.json', a.tokenizerConfigJson],
    ['generation_config.json', `${JSON.stringify({ bos_token_id: eos, eos_token_id: eos }, null, 2)}\n`],
  ];
  for (const [f, content] of files) {
    const w = await writeFileAtomic(join(dir, f), content);
    if (E.isLeft(w)) throw new Error(w.left);
  }
  return bytes.length;
};

/** Perplexity helpers live in core (`loop/perplexity.ts`); re-exported for the pretraining command. */
export { compileLossSum, nllOfWindows, windows } from '@prefix-tuning/core';
