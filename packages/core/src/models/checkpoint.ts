/**
 * From a loaded Hugging Face checkpoint (tensor name -> shape and float32 data, names as in
 * the file) to the values of a model graph's `param` leaves. The map is the identity on names
 * after the base-model prefix (`transformer.` for GPT-2, `model.` for Llama and BART) is
 * removed, and no tensor is transposed: the graphs use each weight in its stored layout.
 *
 * Tied weights: when `tie_word_embeddings` is set, the graph reads one table (`wte.weight`,
 * `embed_tokens.weight`, `shared.weight`) and the checkpoint may hold it under any of its tied
 * names (`lm_head.weight`, BART's `encoder.embed_tokens.weight`, ...), as transformers
 * deduplicates tied tensors when saving; copies that differ are an error (the config should
 * say `tie_word_embeddings: false`). Known buffers are ignored (GPT-2's causal `attn.bias` and
 * `attn.masked_bias`, rotary `inv_freq`, BART's `*.version`); BART's `final_logits_bias` is
 * zero when absent, as in transformers. Anything else missing, unexpected or of the wrong
 * shape is reported by name.
 */
import * as E from 'fp-ts/lib/Either.js';
import { graphParams } from '../ir/graph.ts';
import type { HostTensor } from '../backend/tensor.ts';
import { isConcreteShape, shapeToString } from '../types/shape.ts';
import type { ModelConfig } from './config.ts';
import { causalLmGraph } from './causal.ts';
import { bartGraph } from './seq2seq.ts';

/** One checkpoint tensor as the safetensors reader gives it (converted to float32). */
export interface CheckpointTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** A loaded checkpoint: tensors by their names in the file. */
export type Checkpoint = Readonly<Record<string, CheckpointTensor>>;

/** Shapes by config object: building the model graph to read them is the costly part, and a config is never changed. */
const shapesOf = new WeakMap<ModelConfig, Readonly<Record<string, readonly number[]>>>();

/** Name and shape of every parameter of the model graph of `cfg` (what a checkpoint must supply). */
export const modelParamShapes = (cfg: ModelConfig): Readonly<Record<string, readonly number[]>> => {
  const known = shapesOf.get(cfg);
  if (known) return known;
  const g = cfg.model_type === 'bart' ? bartGraph(cfg) : causalLmGraph(cfg);
  const out: Record<string, readonly number[]> = {};
  for (const p of graphParams(g)) {
    if (!isConcreteShape(p.shape)) throw new Error(`bug: parameter ${p.attrs.name} has a symbolic shape ${shapeToString(p.shape)}`);
    out[p.attrs.name] = p.shape;
  }
  const frozen = Object.freeze(out);
  shapesOf.set(cfg, frozen);
  return frozen;
};

/** The number of scalars in the model's parameters (buffers that are graph parameters, like BART's `final_logits_bias`, included). */
export const parameterCount = (cfg: ModelConfig): number =>
  Object.values(modelParamShapes(cfg)).reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);

/** The prefix transformers puts before base-model weights in a *ForCausalLM / *ForConditionalGeneration checkpoint. */
export const checkpointPrefix = (cfg: ModelConfig): string => (cfg.model_type === 'gpt2' ? 'transformer.' : 'model.');

/** Graph parameter -> other checkpoint names that may hold the same (tied) tensor, in order of preference. */
const aliasesOf = (cfg: ModelConfig): Record<string, readonly string[]> => {
  switch (cfg.model_type) {
    case 'gpt2':
      return cfg.tie_word_embeddings ? { 'wte.weight': ['lm_head.weight'] } : {};
    case 'llama':
      return cfg.tie_word_embeddings ? { 'embed_tokens.weight': ['lm_head.weight'] } : {};
    case 'bart':
      return cfg.tie_word_embeddings
        ? { 'shared.weight': ['encoder.embed_tokens.weight', 'decoder.embed_tokens.weight', 'lm_head.weight'] }
        : // untied: transformers 4 kept the stack embeddings as `shared` itself; accept it when they are absent
          { 'encoder.embed_tokens.weight': ['shared.weight'], 'decoder.embed_tokens.weight': ['shared.weight'] };
  }
};

/** Names (after the prefix) that are buffers or unused tensors, never parameters of the graph. */
const isIgnored = (cfg: ModelConfig, name: string): boolean => {
  switch (cfg.model_type) {
    case 'gpt2':
      return /^h\.\d+\.attn\.(bias|masked_bias)$/.test(name);
    case 'llama':
      return /^(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq$/.test(name);
    case 'bart':
      return /^(encoder|decoder)\.version$/.test(name) || (!cfg.tie_word_embeddings && name === 'shared.weight');
  }
};

const sameData = (a: CheckpointTensor, b: CheckpointTensor): boolean =>
  a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]) && a.data.length === b.data.length && a.data.every((v, i) => Object.is(v, b.data[i]));

const fmt = (s: readonly number[]): string => `[${s.join(',')}]`;
const list = (xs: readonly string[]): string => (xs.length <= 12 ? xs.join(', ') : `${xs.slice(0, 12).join(', ')} and ${xs.length - 12} more`);

/**
 * Maps a loaded checkpoint to the parameter values of the model graph of `cfg` (see the module
 * comment). Left: every mismatch, by tensor name (`transformer.h.0.attn.c_attn.weight: config
 * expects [2,6], checkpoint has [2,9]`), and the missing and unexpected tensors.
 */
export const paramsFromCheckpoint = (cfg: ModelConfig, ckpt: Checkpoint): E.Either<string, Record<string, HostTensor>> => {
  const prefix = checkpointPrefix(cfg);
  // name in the graph's namespace -> name in the file
  const fileName = new Map<string, string>();
  const problems: string[] = [];
  for (const key of Object.keys(ckpt).sort()) {
    const name = key.startsWith(prefix) ? key.slice(prefix.length) : key;
    const other = fileName.get(name);
    if (other !== undefined) problems.push(`${key} and ${other} are the same tensor ${name} (with and without the '${prefix}' prefix)`);
    else fileName.set(name, key);
  }
  const expected = modelParamShapes(cfg);
  const aliases = aliasesOf(cfg);
  const consumed = new Set<string>();
  const params: Record<string, HostTensor> = {};
  const missing: string[] = [];
  for (const [name, shape] of Object.entries(expected)) {
    const candidates = [name, ...(aliases[name] ?? [])].filter((n) => fileName.has(n));
    candidates.forEach((n) => consumed.add(n));
    if (candidates.length === 0) {
      if (cfg.model_type === 'bart' && name === 'final_logits_bias') {
        params[name] = { dtype: 'float32', shape, data: new Float32Array(cfg.vocab_size) };
        continue;
      }
      missing.push(aliases[name] ? `${prefix}${name} (or ${aliases[name]!.join(', ')})` : `${prefix}${name}`);
      continue;
    }
    const key = fileName.get(candidates[0]!)!;
    const t = ckpt[key]!;
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) {
      problems.push(`${key}: shape ${fmt(t.shape)} needs ${n} values, the data has ${t.data.length}`);
      continue;
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      problems.push(`${key}: config expects ${fmt(shape)}, checkpoint has ${fmt(t.shape)}`);
      continue;
    }
    // untied BART: `shared.weight` is only a fallback for absent stack embeddings, not a copy
    for (const alias of cfg.tie_word_embeddings ? candidates.slice(1) : []) {
      const k = fileName.get(alias)!;
      if (!sameData(t, ckpt[k]!))
        problems.push(`${k} differs from ${key} although the config ties them (tie_word_embeddings: true); set tie_word_embeddings: false for separate weights`);
    }
    params[name] = { dtype: 'float32', shape: [...t.shape], data: t.data };
  }
  const unexpected = [...fileName.entries()]
    .filter(([name]) => !consumed.has(name) && !isIgnored(cfg, name))
    .map(([, key]) => key);
  if (missing.length > 0) problems.push(`missing: ${list(missing)}`);
  if (unexpected.length > 0) problems.push(`unexpected: ${list(unexpected)}`);
  return problems.length > 0 ? E.left(`checkpoint does not match the ${cfg.model_type} config: ${problems.join('; ')}`) : E.right(params);
};
