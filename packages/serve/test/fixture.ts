/**
 * Fixtures of the server's tests and benchmark: a temporary copy of the random-weight
 * `fixtures/models/gpt2-tiny` (vocab 128, 64 positions) with a word-level tokenizer over the
 * words t0 … t125 (id 91 is `<|endoftext|>`, the model's BOS/EOS), optionally a chat template;
 * folders of random PEFT prefix adapters for it (prefix lengths 2-4: several bank geometries);
 * and an adapter of another base model. `startServer` runs `createServer` on 127.0.0.1 with
 * the onnx backend and an ephemeral port.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { serializeAdapterWeights } from '@prefix-tuning/core/io';
import { onnxBackend } from '@prefix-tuning/backend-onnx';
import { loadModel } from '@prefix-tuning/hub';
import { createServer, type Server, type ServeOptions } from '../src/index.ts';
import { wordTokenizerJson } from '../../cli/test/train-fixture.ts';

export const repoRoot = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..');
export const WORDS = Array.from({ length: 126 }, (_, i) => `t${i}`);

/** A small chat template in the usual shape (role headers, a generation prompt). */
export const CHAT_TEMPLATE = "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} {% endfor %}{% if add_generation_prompt %}t1 {% endif %}";

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix));
export const rmrf = (p: string): void => rmSync(p, { recursive: true, force: true });

/** The model directory (remove it with `rmrf`). */
export const modelDir = (opts: { chatTemplate?: string } = {}): string => {
  const dir = tempDir('pt-serve-model-');
  cpSync(join(repoRoot, 'fixtures', 'models', 'gpt2-tiny'), dir, { recursive: true });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(wordTokenizerJson([WORDS.join(' ')], [])));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({
    bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '[UNK]', clean_up_tokenization_spaces: true,
    ...(opts.chatTemplate !== undefined ? { chat_template: opts.chatTemplate } : {}),
  }));
  return dir;
};

/** A deterministic generator in [0, 1). */
const prng = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const peftConfig = (virtual: number, tokenDim = 32, layers = 2, heads = 4) => ({
  base_model_name_or_path: 'gpt2-tiny', encoder_hidden_size: tokenDim, inference_mode: true, num_attention_heads: heads, num_layers: layers,
  num_transformer_submodules: 1, num_virtual_tokens: virtual, peft_type: 'PREFIX_TUNING', prefix_projection: false, task_type: 'CAUSAL_LM', token_dim: tokenDim,
});

/** Writes `n` random adapters `a00`, `a01`, … (prefix lengths 2, 3, 4 in turn) under `root`; returns their ids. */
export const writeAdapters = (root: string, n: number, seed = 1): string[] =>
  Array.from({ length: n }, (_, i) => {
    const id = `a${String(i).padStart(2, '0')}`;
    const virtual = 2 + (i % 3);
    const dir = join(root, id);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(peftConfig(virtual)));
    const rnd = prng(seed * 1000 + i);
    const shape = [virtual, 2 * 2 * 32];
    writeFileSync(join(dir, 'adapter_model.safetensors'), serializeAdapterWeights({ shape, data: Float32Array.from({ length: shape[0]! * shape[1]! }, () => 3 * (2 * rnd() - 1)) }));
    return id;
  });

/** An adapter trained for another base model (token_dim 16, 3 layers). */
export const writeForeignAdapter = (root: string, id: string): void => {
  const dir = join(root, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(peftConfig(2, 16, 3, 2)));
  writeFileSync(join(dir, 'adapter_model.safetensors'), serializeAdapterWeights({ shape: [2, 2 * 3 * 16], data: new Float32Array(2 * 2 * 3 * 16) }));
};

/** A server for `dir` on 127.0.0.1 (an ephemeral port); `url` is its base. */
export const startServer = async (dir: string, adapters: string, o: Partial<Omit<ServeOptions, 'backend' | 'model' | 'adapters'>> = {}): Promise<{ server: Server; url: string }> => {
  const model = await loadModel(dir);
  if (E.isLeft(model)) throw new Error(model.left);
  const s = await createServer({ backend: onnxBackend({ intraOpNumThreads: 1 }), model: model.right, modelId: 'gpt2-tiny', adapters, ...o });
  if (E.isLeft(s)) throw new Error(s.left);
  const url = await s.right.listen({ port: 0, host: '127.0.0.1' });
  return { server: s.right, url };
};

/** Parses a server-sent event stream into its `data:` payloads (the last one `[DONE]`). */
export const sseEvents = (text: string): string[] =>
  text.split('\n\n').map((b) => b.trim()).filter((b) => b.startsWith('data: ')).map((b) => b.slice(6));
