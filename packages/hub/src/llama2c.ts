/** Converting llama2.c files (`model.bin`, `tokenizer.bin`) into a Hugging Face Llama directory. */
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { llama2cToHf, serializeSafetensors } from './core-io.ts';
import { exists, readBytes, writeFileAtomic } from './files.ts';

/** The files a converted directory holds. */
export const CONVERTED_FILES = ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'] as const;

/**
 * Reads llama2.c `model.bin` and `tokenizer.bin` and writes a Hugging Face Llama directory
 * (config.json, generation_config.json, model.safetensors, tokenizer.json, tokenizer_config.json)
 * that transformers' `LlamaForCausalLM.from_pretrained` and this library load. Refuses to
 * overwrite an existing model directory unless `overwrite`.
 */
export const convertLlama2c = async (args: {
  readonly model: string;
  readonly tokenizer: string;
  readonly out: string;
  readonly overwrite?: boolean;
}): Promise<E.Either<string, { readonly files: readonly string[]; readonly config: Record<string, unknown> }>> => {
  if (!args.overwrite && (await exists(join(args.out, 'config.json'))))
    return E.left(`${args.out} already holds a model (config.json); pass overwrite to replace it`);
  const m = await readBytes(args.model);
  if (E.isLeft(m)) return m;
  const t = await readBytes(args.tokenizer);
  if (E.isLeft(t)) return t;
  const hf = llama2cToHf(m.right, t.right);
  if (E.isLeft(hf)) return E.left(`${args.model} + ${args.tokenizer}: ${hf.left}`);
  const json = (x: unknown): string => `${JSON.stringify(x, null, 2)}\n`;
  const contents: Record<(typeof CONVERTED_FILES)[number], Uint8Array | string> = {
    'model.safetensors': serializeSafetensors(hf.right.tensors, { format: 'pt' }),
    'tokenizer.json': json(hf.right.tokenizer),
    'tokenizer_config.json': json(hf.right.tokenizerConfig),
    'generation_config.json': json(hf.right.generationConfig),
    'config.json': json(hf.right.config), // last: its presence marks a complete directory
  };
  for (const [name, data] of Object.entries(contents)) {
    const w = await writeFileAtomic(join(args.out, name), data);
    if (E.isLeft(w)) return w;
  }
  return E.right({ files: CONVERTED_FILES.map((f) => join(args.out, f)), config: hf.right.config });
};
