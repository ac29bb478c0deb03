/** `prefix-tune convert`: checkpoints from other formats into a Hugging Face model directory. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { convertLlama2c } from '@prefix-tuning/hub';
import { UsageError, type Command } from '../cli.ts';
import { requireOutDir } from '../run/outpath.ts';

export const convert: Command = {
  name: 'convert',
  summary: 'convert a llama2.c checkpoint (model.bin + tokenizer.bin) into a Hugging Face Llama directory',
  usage: 'prefix-tune convert --from llama2c MODEL.bin TOKENIZER.bin --out DIR [--overwrite]',
  positionals: 'MODEL.bin (llama2.c weights, version 0 or 1) and TOKENIZER.bin (llama2.c tokenizer)',
  options: [
    { name: 'from', type: 'string', description: 'source format (only "llama2c")', required: true },
    { name: 'out', short: 'o', type: 'string', description: 'output directory (config.json, model.safetensors, tokenizer.json, ...)', required: true },
    { name: 'overwrite', type: 'boolean', description: 'replace a model already in the output directory', default: false },
  ],
  run: async (opts, positionals) => {
    requireOutDir(String(opts['out']));
    if (opts['from'] !== 'llama2c') throw new UsageError(`unknown source format '${String(opts['from'])}' (supported: llama2c)`);
    if (positionals.length !== 2) throw new UsageError(`expected MODEL.bin and TOKENIZER.bin, got ${positionals.length} argument(s)`);
    const [model, tokenizer] = positionals as [string, string];
    for (const f of [model, tokenizer]) if (!existsSync(f)) throw new UsageError(`no such file: ${f}`);
    const out = String(opts['out']);
    // the library's refusal names its `overwrite` field; the CLI's names the option
    if (opts['overwrite'] !== true && existsSync(join(out, 'config.json'))) {
      console.error(`prefix-tune convert: ${out} already holds a model (config.json); pass --overwrite to replace it`);
      return 1;
    }
    const r = await convertLlama2c({ model, tokenizer, out, overwrite: opts['overwrite'] === true });
    if (E.isLeft(r)) {
      console.error(`prefix-tune convert: ${r.left}`);
      return 1;
    }
    const c = r.right.config;
    console.log(
      `wrote ${out}: LlamaForCausalLM, ${String(c['num_hidden_layers'])} layers, hidden ${String(c['hidden_size'])}, ` +
        `${String(c['num_attention_heads'])} heads (${String(c['num_key_value_heads'])} kv), vocab ${String(c['vocab_size'])}, ` +
        `context ${String(c['max_position_embeddings'])}${c['tie_word_embeddings'] ? ', tied embeddings' : ''}`,
    );
    return 0;
  },
};
