/** Loading a model for the CLI: errors become one-line usage errors (exit 2). */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { eosTokenIds, type ModelConfig } from '@prefix-tuning/core';
import { loadModel, resolveModel, type LoadedModel, type TextTokenizer } from '@prefix-tuning/hub';
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

/** The model's `generation_config.json` ({} without one); a file that is not a JSON object is a usage error naming it. */
export const readGenerationConfig = (dir: string): Readonly<Record<string, unknown>> => {
  const p = join(dir, 'generation_config.json');
  if (!existsSync(p)) return {};
  let g: unknown;
  try {
    g = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    throw new UsageError(`${p}: invalid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof g !== 'object' || g === null || Array.isArray(g)) throw new UsageError(`${p}: expected a JSON object, got ${g === null ? 'null' : Array.isArray(g) ? 'an array' : typeof g}`);
  return g as Record<string, unknown>;
};

/** Ids from `generation_config.json` (when present), else the model config. */
export interface SpecialIds {
  readonly eos: readonly number[];
  readonly bos?: number;
  readonly pad?: number;
  /** generation_config.json's `forced_bos_token_id` / `forced_eos_token_id` (encoder-decoder models; config.json's otherwise). */
  readonly forcedBos?: number;
  readonly forcedEos?: readonly number[];
}

const idList = (v: unknown): number[] | undefined =>
  typeof v === 'number' ? [v] : Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : undefined;

/** The special ids generation uses: generation_config.json, then config.json, then the tokenizer. */
export const specialIds = (m: LoadedModel): SpecialIds => {
  const gen = readGenerationConfig(m.dir);
  const eos = idList(gen['eos_token_id']) ?? (eosTokenIds(m.config).length > 0 ? [...eosTokenIds(m.config)] : m.tokenizer.eosId !== undefined ? [m.tokenizer.eosId] : []);
  const bos = typeof gen['bos_token_id'] === 'number' ? gen['bos_token_id'] : (m.config as { bos_token_id?: number | null }).bos_token_id ?? m.tokenizer.bosId;
  const pad = typeof gen['pad_token_id'] === 'number' ? gen['pad_token_id'] : m.tokenizer.padId;
  const forcedBos = gen['forced_bos_token_id'];
  const forcedEos = idList(gen['forced_eos_token_id']);
  return {
    eos, ...(bos !== undefined && bos !== null ? { bos } : {}), ...(pad !== undefined ? { pad } : {}),
    ...(typeof forcedBos === 'number' ? { forcedBos } : {}), ...(forcedEos !== undefined ? { forcedEos } : {}),
  };
};

/** The separator/terminator of task examples: the tokenizer's EOS, else the model's. */
export const taskEos = (m: LoadedModel): number => {
  const e = m.tokenizer.eosId ?? eosTokenIds(m.config)[0];
  if (e === undefined) throw new UsageError(`model '${m.dir}': the tokenizer has no EOS token and config.json no eos_token_id (needed to separate source and target)`);
  return e;
};

/** The tokenizer as task examples use it: no special tokens added; GPT-2 BPE gets the official leading space. */
export const taskTokenizer = (m: LoadedModel) => {
  const eosId = taskEos(m);
  return {
    encode: (text: string): readonly number[] => m.tokenizer.encode(text, { addSpecialTokens: false }),
    eosId,
    padId: m.tokenizer.padId ?? eosId,
    ...(m.config.model_type === 'bart' && m.tokenizer.bosId !== undefined ? { bosId: m.tokenizer.bosId } : {}),
    ...(m.config.model_type === 'bart' ? { decoderStartId: (m.config as { decoder_start_token_id?: number | null }).decoder_start_token_id ?? eosId } : {}),
  };
};

/** Whether examples encode `' ' + text` (GPT-2's byte-level BPE, as the official code does). */
export const prependSpace = (cfg: ModelConfig): boolean => cfg.model_type === 'gpt2' || cfg.model_type === 'bart';

/** Positions a decoder-only model can attend over. */
export const maxPositions = (cfg: ModelConfig): number =>
  cfg.model_type === 'gpt2' ? cfg.n_positions : cfg.max_position_embeddings;

/** A usage error unless `path` is an existing file. */
export const requireFile = (path: string, what: string): void => {
  if (!existsSync(path)) throw new UsageError(`no such file: ${path} (${what})`);
  if (!statSync(path).isFile()) throw new UsageError(`not a file: ${path} (${what})`);
};

/** Checks that every id a tokenizer produced exists in the model's embedding table. */
export const checkIds = (ids: Iterable<number>, cfg: ModelConfig, tok: TextTokenizer, where: string): void => {
  let max = -1;
  for (const i of ids) if (i > max) max = i;
  if (max >= cfg.vocab_size)
    throw new UsageError(`${where}: the tokenizer produced id ${max}, but the model's vocabulary has ${cfg.vocab_size} entries (tokenizer vocabulary: ${tok.vocabSize}); tokenizer.json does not belong to this model`);
};
