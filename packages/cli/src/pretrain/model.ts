/**
 * Full-model pieces of pretraining: GPT-2 presets and initialisation, the Hugging Face export
 * (the layout `loadModel` reads, as transformers writes it); perplexity is core's.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { checkpointPrefix } from '@prefix-tuning/core/models';
import { serializeSafetensors, type HostTensor, type Gpt2Config, type TensorToWrite } from '@prefix-tuning/core';
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

/** GPT-2's config.json and initialisation are the model's own (core `models/gpt2.ts`). */
export { gpt2ConfigJson, initGpt2Params } from '@prefix-tuning/core/models';

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
export { compileLossSum, nllOfWindows, windows } from '@prefix-tuning/core/train';
