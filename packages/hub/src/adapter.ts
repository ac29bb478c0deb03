/** PEFT prefix-tuning adapter directories: `adapter_config.json` + `adapter_model.safetensors`. */
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import {
  parseAdapterConfig, parseAdapterWeights, serializeAdapterConfig, serializeAdapterWeights, prefixShape, formatShape,
  ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, type PrefixTuningConfig, type Float32Tensor,
} from './core-io.ts';
import { readBytes, readJson, writeFileAtomic } from './files.ts';

/** A loaded adapter: its config and `prompt_embeddings` [P, 2·L·d]. */
export interface Adapter {
  readonly config: PrefixTuningConfig;
  readonly prefix: Float32Tensor;
}

/** Loads a PEFT prefix-tuning adapter directory (as written by PEFT's `save_pretrained` or `saveAdapterDir`). */
export const loadAdapterDir = async (dir: string): Promise<E.Either<string, Adapter>> => {
  const json = await readJson(join(dir, ADAPTER_CONFIG_FILE));
  if (E.isLeft(json)) return json;
  const config = parseAdapterConfig(json.right);
  if (E.isLeft(config)) return E.left(`${dir}/${config.left}`);
  const bytes = await readBytes(join(dir, ADAPTER_WEIGHTS_FILE));
  if (E.isLeft(bytes)) return bytes;
  const prefix = parseAdapterWeights(config.right)(bytes.right);
  return E.isLeft(prefix) ? E.left(`${dir}/${prefix.left}`) : E.right({ config: config.right, prefix: prefix.right });
};

/**
 * Saves an adapter directory PEFT can load (`PeftModel.from_pretrained`). Each file is written
 * atomically; the weights go first, so a crash never leaves a config pointing at missing weights
 * of a new shape.
 */
export const saveAdapterDir = async (
  dir: string,
  adapter: Adapter,
  options: { readonly dtype?: 'F32' | 'F16' | 'BF16' } = {},
): Promise<E.Either<string, void>> => {
  const want = prefixShape(adapter.config);
  if (adapter.prefix.shape.length !== 2 || adapter.prefix.shape[0] !== want[0] || adapter.prefix.shape[1] !== want[1])
    return E.left(`saveAdapterDir: prompt_embeddings: expected ${formatShape(want)} for the config, got ${formatShape(adapter.prefix.shape)}`);
  const w = await writeFileAtomic(join(dir, ADAPTER_WEIGHTS_FILE), serializeAdapterWeights(adapter.prefix, options.dtype ?? 'F32'));
  if (E.isLeft(w)) return w;
  return writeFileAtomic(join(dir, ADAPTER_CONFIG_FILE), serializeAdapterConfig(adapter.config));
};
