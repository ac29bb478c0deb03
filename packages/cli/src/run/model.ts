/** Loading a model for the CLI: errors become one-line usage errors (exit 2). */
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import type { ModelConfig } from '@prefix-tuning/core';
import { decodeUtf8, InvalidUtf8 } from '@prefix-tuning/tasks';
import * as hub from '@prefix-tuning/hub';
import { loadModel, resolveModel, type LoadedModel, type SpecialIds, type TextTokenizer } from '@prefix-tuning/hub';
import { UsageError } from '../cli.ts';

const cannotLoad = (idOrDir: string, why: string): UsageError => new UsageError(`cannot load model '${idOrDir}': ${why.replace(/\s*\n\s*/g, ' ')}`);

/** Loads `--model` (a directory or a hub id). */
export const loadModelOrExit = async (idOrDir: string): Promise<LoadedModel> => {
  const m = await loadModel(idOrDir);
  if (E.isLeft(m)) throw cannotLoad(idOrDir, m.left);
  return m.right;
};

/** The directory of `--model` (a hub id is downloaded into the cache first), for what is read before the weights. */
export const modelDirOrExit = async (idOrDir: string): Promise<string> => {
  const d = await resolveModel(idOrDir);
  if (E.isLeft(d)) throw cannotLoad(idOrDir, d.left);
  return d.right;
};

const orUsage = <A>(r: E.Either<string, A>): A => {
  if (E.isLeft(r)) throw new UsageError(r.left);
  return r.right;
};

/** The model's `generation_config.json` ({} without one); a file that is not a JSON object is a usage error naming it. */
export const readGenerationConfig = (dir: string): Readonly<Record<string, unknown>> => orUsage(hub.readGenerationConfig(dir));

export type { SpecialIds } from '@prefix-tuning/hub';

/** The special ids generation uses: generation_config.json, then config.json, then the tokenizer. */
export const specialIds = (m: LoadedModel): SpecialIds => orUsage(hub.specialIds(m));

/** The separator/terminator of task examples: the tokenizer's EOS, else the model's. */
export const taskEos = (m: LoadedModel): number => orUsage(hub.taskEos(m));

/** The tokenizer as task examples use it: no special tokens added; GPT-2 BPE gets the official leading space. */
export const taskTokenizer = (m: LoadedModel) => orUsage(hub.taskTokenizer(m));

export { prependSpace, maxPositions } from '@prefix-tuning/hub';

/** A usage error unless `path` is an existing file. */
export const requireFile = (path: string, what: string): void => {
  if (!existsSync(path)) throw new UsageError(`no such file: ${path} (${what})`);
  if (!statSync(path).isFile()) throw new UsageError(`not a file: ${path} (${what})`);
};

/** The UTF-8 text of a file (bytes, e.g. gunzipped, when given); bytes that are not UTF-8 are a usage error naming the line and offset. */
export const utf8Text = (path: string, bytes: Uint8Array = readFileSync(path)): string => {
  try {
    return decodeUtf8(bytes);
  } catch (e) {
    if (e instanceof InvalidUtf8) throw new UsageError(`${path}:${e.line}: ${e.reason}`);
    throw e;
  }
};

/** Checks that every id a tokenizer produced exists in the model's embedding table (hub's `checkIds`, as a usage error). */
export const checkIds = (ids: Iterable<number>, cfg: ModelConfig, tok: TextTokenizer, where: string): void => orUsage(hub.checkIds(ids, cfg, tok, where));
