/**
 * One call from a model directory or a hub id to everything needed to run it: the decoded
 * config, the parameters of its graph and its tokenizer.
 */
import * as E from 'fp-ts/lib/Either.js';
import { decodeModelConfig, paramsFromCheckpoint, type ModelConfig, type HostTensor } from '@prefix-tuning/core';
import { loadFloat32Weights, loadModelConfig } from './checkpoint.ts';
import { loadTokenizer, type TextTokenizer } from './tokenizer.ts';
import { resolveModel, type ResolveOptions } from './resolve.ts';

export interface LoadedModel {
  /** The local directory the model was read from. */
  readonly dir: string;
  readonly config: ModelConfig;
  /** Parameter values by graph parameter name. */
  readonly params: Record<string, HostTensor>;
  readonly tokenizer: TextTokenizer;
}

/** Loads a model directory (or resolves a hub id into the cache first). Errors name the file and the problem. */
export const loadModel = async (idOrDir: string, opts: ResolveOptions = {}): Promise<E.Either<string, LoadedModel>> => {
  const dir = await resolveModel(idOrDir, opts);
  if (E.isLeft(dir)) return dir;
  const json = await loadModelConfig(dir.right);
  if (E.isLeft(json)) return json;
  const config = decodeModelConfig(json.right);
  if (E.isLeft(config)) return E.left(`${dir.right}/config.json: ${config.left}`);
  const weights = await loadFloat32Weights(dir.right);
  if (E.isLeft(weights)) return weights;
  const params = paramsFromCheckpoint(config.right, Object.fromEntries(weights.right));
  if (E.isLeft(params)) return E.left(`${dir.right}: ${params.left}`);
  const tokenizer = await loadTokenizer(dir.right);
  if (E.isLeft(tokenizer)) return E.left(`${dir.right}: ${tokenizer.left}`);
  return E.right({ dir: dir.right, config: config.right, params: params.right, tokenizer: tokenizer.right });
};
