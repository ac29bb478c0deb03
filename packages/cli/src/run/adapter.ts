/** Adapter directories for the CLI: `adapter_config.json` + `adapter_model.safetensors` (see core prefix/export.ts). */
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, parseFiniteAdapter, type AdapterBytes, type LoadedAdapter } from '@prefix-tuning/core';
import { checkAdapterBase, writeFileAtomic, type LoadedModel } from '@prefix-tuning/hub';
import { UsageError } from '../cli.ts';

/** Writes an adapter directory (weights first, then the config, each atomically). */
export const writeAdapterDir = async (dir: string, a: AdapterBytes): Promise<void> => {
  for (const [f, data] of [[ADAPTER_WEIGHTS_FILE, a.weights], [ADAPTER_CONFIG_FILE, a.config]] as const) {
    const w = await writeFileAtomic(join(dir, f), data);
    if (E.isLeft(w)) throw new Error(w.left);
  }
};

/**
 * Reads an adapter directory for a model (`name`: the --model argument); a usage error says
 * which file and why, or that it was trained on other base weights. A base model name that
 * differs (without a digest to decide) is a warning on stderr.
 */
export const readAdapterDir = async (dir: string, model: Pick<LoadedModel, 'config' | 'params' | 'dir'>, name: string): Promise<LoadedAdapter> => {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`no such adapter directory: ${dir}`);
  let config: unknown;
  const cpath = join(dir, ADAPTER_CONFIG_FILE);
  try {
    config = JSON.parse(await readFile(cpath, 'utf8'));
  } catch (e) {
    throw new UsageError(`${cpath}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `invalid (${(e as Error).message})`}`);
  }
  let weights: Uint8Array;
  const wpath = join(dir, ADAPTER_WEIGHTS_FILE);
  try {
    weights = new Uint8Array(await readFile(wpath));
  } catch (e) {
    throw new UsageError(`${wpath}: cannot read (${(e as Error).message})`);
  }
  const r = parseFiniteAdapter(model.config, config, weights);
  if (E.isLeft(r)) throw new UsageError(`adapter ${dir}: ${r.left}`);
  const base = checkAdapterBase(r.right, { params: model.params, names: [name, model.dir] });
  if (E.isLeft(base)) throw new UsageError(`adapter ${dir}: ${base.left}`);
  if (base.right !== undefined) console.error(`adapter ${dir}: ${base.right}`);
  return r.right;
};
