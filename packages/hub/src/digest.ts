/**
 * The identity of a base model's weights, and the check that an adapter was trained on them.
 *
 * `train` records `weightsDigest` of the frozen model in every adapter it writes (the
 * `base_model_digest` entry of `adapter_model.safetensors`' metadata, where PEFT ignores it);
 * generate, eval, quickstart and serve refuse an adapter whose digest differs from the loaded
 * model's: same shapes, other weights (another checkpoint, a fine-tuned copy) would run and
 * give wrong text without a word.
 */
import { createHash } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import type { HostTensor, LoadedAdapter } from '@prefix-tuning/core';

const digests = new WeakMap<object, string>();

/**
 * SHA-256 over every parameter (sorted by graph name: the name, the shape and all of its bytes
 * as loaded, float32 little-endian), as `sha256:<hex>`. It does not depend on the file layout or
 * dtype a checkpoint was stored in when the values are the same (an F16 model converted to F32
 * keeps its digest). Computed once per parameter record (about 1 s per GB of weights).
 */
export const weightsDigest = (params: Readonly<Record<string, HostTensor>>): string => {
  const known = digests.get(params);
  if (known !== undefined) return known;
  const h = createHash('sha256');
  for (const name of Object.keys(params).sort()) {
    const t = params[name]!;
    h.update(`${name}\u0000${t.dtype}[${t.shape.join(',')}]\u0000`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  const d = `sha256:${h.digest('hex')}`;
  digests.set(params, d);
  return d;
};

/** The last path segment of a model name or path (`org/name`, `./models/name/`, `C:\m\name` → `name`). */
const baseName = (s: string): string => s.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? s;

/**
 * Whether `adapter` belongs to `model` (its parameters, and the names it is known by: the
 * `--model` argument, the directory it was read from). Left (a refusal, one line): the adapter
 * records a base-model digest and it differs. Right: `undefined`, or a warning when the adapter
 * has no digest (PEFT's adapters) and its `base_model_name_or_path` names another model (by last
 * path segment: hub ids and local paths of one model agree; PEFT adapters must keep loading).
 */
export const checkAdapterBase = (
  adapter: Pick<LoadedAdapter, 'base'>,
  model: { readonly params: Readonly<Record<string, HostTensor>>; readonly names: readonly string[] },
): E.Either<string, string | undefined> => {
  const { digest, nameOrPath } = adapter.base;
  if (digest !== null) {
    const have = weightsDigest(model.params);
    return digest === have
      ? E.right(undefined)
      : E.left(`it was trained on other base weights than ${model.names[0] ?? 'this model'}'s (base_model_digest ${digest.slice(0, 19)}…, this model ${have.slice(0, 19)}…${nameOrPath ? `; it names ${JSON.stringify(nameOrPath)} as its base` : ''}): load the model it was trained on, or retrain it on this one`);
  }
  if (nameOrPath === null || nameOrPath === '' || model.names.some((n) => baseName(n) === baseName(nameOrPath))) return E.right(undefined);
  return E.right(`warning: the adapter names ${JSON.stringify(nameOrPath)} as its base model, not ${model.names[0] ?? 'this one'}; it fits this model's shapes and is applied, but was probably trained for another model`);
};
