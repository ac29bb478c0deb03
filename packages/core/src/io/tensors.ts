/**
 * Named float32 tensors (plain typed arrays + shapes) and the Hugging Face naming utilities
 * that turn a checkpoint's tensors into a model's parameters: prefix stripping, renaming, the
 * explicit list of transposed tensors, and a shape check that names every mismatch.
 */
import * as E from 'fp-ts/lib/Either.js';
import { toFloat32, type SafetensorsTensor } from './safetensors.ts';

/** A float32 tensor: row-major data and its shape. */
export interface Float32Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Name -> tensor. */
export type TensorMap = ReadonlyMap<string, Float32Tensor>;

/** `[64,192]` */
export const formatShape = (shape: readonly number[]): string => `[${shape.join(',')}]`;

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Converts safetensors views to float32 tensors (F16/BF16 exactly); a Left names the first tensor that cannot convert. */
export const toFloat32Tensors = (tensors: Iterable<SafetensorsTensor>): E.Either<string, Map<string, Float32Tensor>> => {
  const out = new Map<string, Float32Tensor>();
  for (const t of tensors) {
    const d = toFloat32(t);
    if (E.isLeft(d)) return d;
    out.set(t.name, { shape: t.shape, data: d.right });
  }
  return E.right(out);
};

/** The prefixes Hugging Face puts before base-model weights (`transformer.` for GPT-2, `model.` for BART/Llama). */
export const HF_BASE_PREFIXES: readonly string[] = ['transformer.', 'model.'];

/** Removes the first matching prefix (at most one) from a tensor name. */
export const stripPrefix =
  (prefixes: readonly string[] = HF_BASE_PREFIXES) =>
  (name: string): string => {
    const p = prefixes.find((x) => name.startsWith(x));
    return p === undefined ? name : name.slice(p.length);
  };

/** Transposes a row-major 2-D tensor: [rows, cols] -> [cols, rows]. */
export const transpose2d = (t: Float32Tensor): Float32Tensor => {
  if (t.shape.length !== 2) throw new RangeError(`transpose2d: expected a 2-D tensor, got shape ${formatShape(t.shape)}`);
  const [r, c] = t.shape as [number, number];
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j]!;
  return { shape: [c, r], data: out };
};

/**
 * GPT-2's Conv1D weights (`attn.c_attn`, `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj`) are stored
 * [in, out], transposed with respect to nn.Linear's [out, in]. A predicate on (prefix-stripped)
 * checkpoint names, for models that want the Linear layout; whether to use it is the model's call.
 */
export const isGpt2Conv1dWeight = (name: string): boolean => /(^|\.)(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/.test(name);

/** How a checkpoint maps onto a model's parameters. */
export interface WeightMapSpec {
  /** The model's parameters and their shapes (in the model's layout). */
  readonly expected: Readonly<Record<string, readonly number[]>>;
  /** Checkpoint name -> model name; `undefined` drops the tensor. Default: strip `transformer.` / `model.`. */
  readonly rename?: (checkpointName: string) => string | undefined;
  /** Model names whose checkpoint tensor is 2-D and stored transposed. */
  readonly transposed?: (modelName: string) => boolean;
  /** Model names that may be absent (e.g. `lm_head.weight` tied to the embeddings). */
  readonly optional?: (modelName: string) => boolean;
  /** Checkpoint tensors to ignore silently (buffers such as GPT-2's `attn.bias` causal masks). */
  readonly ignore?: (modelName: string) => boolean;
}

/**
 * Maps checkpoint tensors onto a model's parameters. Left lists every problem, one per line:
 * shape mismatches (`h.3.attn.c_attn.weight: expected [64,192], got [64,128]`, shapes in the
 * model's layout), missing parameters, unexpected tensors, and two checkpoint names that map
 * to one parameter.
 */
export const mapWeights =
  (spec: WeightMapSpec) =>
  (tensors: TensorMap): E.Either<string, Map<string, Float32Tensor>> => {
    const rename = spec.rename ?? stripPrefix();
    const problems: string[] = [];
    const out = new Map<string, Float32Tensor>();
    const source = new Map<string, string>();
    for (const [ckptName, t] of tensors) {
      const name = rename(ckptName);
      if (name === undefined) continue;
      const want = spec.expected[name];
      if (want === undefined) {
        if (!(spec.ignore?.(name) ?? false)) problems.push(`${name}: unexpected tensor in checkpoint (as '${ckptName}'), shape ${formatShape(t.shape)}`);
        continue;
      }
      if (source.has(name)) {
        problems.push(`${name}: given twice in checkpoint (as '${source.get(name)}' and '${ckptName}')`);
        continue;
      }
      source.set(name, ckptName);
      const transposed = spec.transposed?.(name) ?? false;
      if (transposed && t.shape.length !== 2) {
        problems.push(`${name}: expected a 2-D (transposed) tensor, got ${formatShape(t.shape)}`);
        continue;
      }
      const got = transposed ? [t.shape[1]!, t.shape[0]!] : t.shape;
      if (!sameShape(got, want)) {
        problems.push(`${name}: expected ${formatShape(want)}, got ${formatShape(got)}${transposed ? ` (stored transposed as ${formatShape(t.shape)})` : ''}`);
        continue;
      }
      out.set(name, transposed ? transpose2d(t) : t);
    }
    for (const name of Object.keys(spec.expected))
      if (!out.has(name) && !source.has(name) && !(spec.optional?.(name) ?? false))
        problems.push(`${name}: missing from checkpoint, expected shape ${formatShape(spec.expected[name]!)}`);
    return problems.length > 0 ? E.left(problems.join('\n')) : E.right(out);
  };
