/**
 * What generation reads from a loaded model directory besides the weights: the decoding
 * defaults file (`generation_config.json`), the special ids, the tokenizer as task examples use
 * it, and the model's positions. Shared by the CLI's `generate`/`eval` and the server; errors
 * are values (`Left` names the file and the key).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { decodeGenerationConfig, eosTokenIds, isEncoderDecoder, type GenerationConfig, type ModelConfig } from '@prefix-tuning/core';
import { encodesLeadingSpace, positionCount } from '@prefix-tuning/core/models';
import type { LoadedModel } from './model.ts';

/** The model's `generation_config.json` ({} without one); Left when it is not a JSON object. */
export const readGenerationConfig = (dir: string): E.Either<string, Readonly<Record<string, unknown>>> => {
  const p = join(dir, 'generation_config.json');
  if (!existsSync(p)) return E.right({});
  let g: unknown;
  try {
    g = JSON.parse(readFileSync(p, 'utf8'));
  } catch (e) {
    return E.left(`${p}: invalid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof g !== 'object' || g === null || Array.isArray(g)) return E.left(`${p}: expected a JSON object, got ${g === null ? 'null' : Array.isArray(g) ? 'an array' : typeof g}`);
  return E.right(g as Record<string, unknown>);
};

/**
 * Keys of the model's generation config that `specialIds` reads (with config.json and the
 * tokenizer behind them): not decoding defaults of `modelGenerationConfig`'s callers.
 */
export const GENERATION_ID_KEYS: ReadonlySet<string> = new Set(['eos_token_id', 'pad_token_id', 'bos_token_id', 'forced_bos_token_id', 'forced_eos_token_id', 'decoder_start_token_id']);

/**
 * The model's own decoding defaults, as transformers' `generate` reads them: the generation keys
 * of `generation_config.json` (or, without one, of `config.json`), decoded by core's
 * `decodeGenerationConfig`. `file` is the file read; `unsupported` the keys transformers would
 * apply and this library does not (for the caller to name). A bad value names the file and key.
 */
export const modelGenerationConfig = (dir: string): E.Either<string, { readonly config: GenerationConfig; readonly unsupported: readonly string[]; readonly file: string }> => {
  const g = readGenerationConfig(dir);
  if (E.isLeft(g)) return g;
  const own = existsSync(join(dir, 'generation_config.json'));
  const file = join(dir, own ? 'generation_config.json' : 'config.json');
  let json: Readonly<Record<string, unknown>> = g.right;
  if (!own) {
    try {
      const c = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as unknown) : {};
      json = typeof c === 'object' && c !== null && !Array.isArray(c) ? (c as Record<string, unknown>) : {};
    } catch {
      json = {}; // config.json's own errors are the model loader's
    }
  }
  const d = decodeGenerationConfig(json, { fromModelConfig: !own });
  return E.isLeft(d) ? E.left(`${file}: ${d.left}`) : E.right({ ...d.right, file });
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
export const specialIds = (m: LoadedModel): E.Either<string, SpecialIds> => {
  const g = readGenerationConfig(m.dir);
  if (E.isLeft(g)) return g;
  const gen = g.right;
  const eos = idList(gen['eos_token_id']) ?? (eosTokenIds(m.config).length > 0 ? [...eosTokenIds(m.config)] : m.tokenizer.eosId !== undefined ? [m.tokenizer.eosId] : []);
  const bos = typeof gen['bos_token_id'] === 'number' ? gen['bos_token_id'] : (m.config as { bos_token_id?: number | null }).bos_token_id ?? m.tokenizer.bosId;
  const pad = typeof gen['pad_token_id'] === 'number' ? gen['pad_token_id'] : m.tokenizer.padId;
  const forcedBos = gen['forced_bos_token_id'];
  const forcedEos = idList(gen['forced_eos_token_id']);
  return E.right({
    eos, ...(bos !== undefined && bos !== null ? { bos } : {}), ...(pad !== undefined ? { pad } : {}),
    ...(typeof forcedBos === 'number' ? { forcedBos } : {}), ...(forcedEos !== undefined ? { forcedEos } : {}),
  });
};

/** The separator/terminator of task examples: the tokenizer's EOS, else the model's. */
export const taskEos = (m: LoadedModel): E.Either<string, number> => {
  const e = m.tokenizer.eosId ?? eosTokenIds(m.config)[0];
  return e === undefined
    ? E.left(`model '${m.dir}': the tokenizer has no EOS token and config.json no eos_token_id (needed to separate source and target)`)
    : E.right(e);
};

/** The tokenizer as task examples use it: no special tokens added; GPT-2 BPE gets the official leading space. */
export const taskTokenizer = (m: LoadedModel) =>
  E.map((eosId: number) => ({
    encode: (text: string): readonly number[] => m.tokenizer.encode(text, { addSpecialTokens: false }),
    eosId,
    padId: m.tokenizer.padId ?? eosId,
    ...(isEncoderDecoder(m.config) && m.tokenizer.bosId !== undefined ? { bosId: m.tokenizer.bosId } : {}),
    ...(isEncoderDecoder(m.config) ? { decoderStartId: m.config.decoder_start_token_id ?? eosId } : {}),
  }))(taskEos(m));

/** Whether examples encode `' ' + text` (GPT-2's byte-level BPE, as the official code does). */
export const prependSpace = (cfg: ModelConfig): boolean => encodesLeadingSpace(cfg);

/** Positions a decoder-only model can attend over. */
export const maxPositions = (cfg: ModelConfig): number => positionCount(cfg);
