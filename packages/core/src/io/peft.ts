/**
 * PEFT prefix-tuning adapter files, as pure values: `adapter_config.json` (peft_type
 * PREFIX_TUNING) and `adapter_model.safetensors`, which holds one tensor `prompt_embeddings` of
 * shape [P, 2·L·d] (P virtual tokens, L layers, d = token_dim). With `prefix_projection` PEFT saves
 * the MLP's output, so the file always holds the final per-layer key/values.
 *
 * Layout of one row (PEFT `get_prompt`: view(P, 2L, H, d/H) then permute): for layer l, the
 * key prefix is block 2l and the value prefix block 2l+1, each block H heads × d/H.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { parseSafetensors, serializeSafetensors, toFloat32 } from './safetensors.ts';
import { formatShape, type Float32Tensor } from './tensors.ts';

/** File names of a PEFT adapter directory. */
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
/** The tensor name PEFT uses for prompt-learning adapters. */
export const PREFIX_EMBEDDINGS_KEY = 'prompt_embeddings';

const PositiveInt = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, 'PositiveInt');
const Nullable = <C extends t.Mixed>(c: C) => t.union([c, t.null]);

const PrefixTuningConfigFields = t.intersection([
  t.type({
    peft_type: t.literal('PREFIX_TUNING'),
    num_virtual_tokens: PositiveInt,
    num_layers: PositiveInt,
    token_dim: PositiveInt,
    num_attention_heads: PositiveInt,
  }),
  t.partial({
    task_type: Nullable(t.string),
    num_transformer_submodules: Nullable(PositiveInt),
    prefix_projection: t.boolean,
    encoder_hidden_size: Nullable(PositiveInt),
    base_model_name_or_path: Nullable(t.string),
    inference_mode: t.boolean,
    revision: Nullable(t.string),
  }),
]);

/**
 * `adapter_config.json` of a PEFT prefix-tuning adapter. Fields not listed here (auto_mapping,
 * peft_version, modules_to_save, ...) are kept as they are through decode and encode.
 */
export const PrefixTuningConfig = t.refinement(
  PrefixTuningConfigFields,
  (c) => c.token_dim % c.num_attention_heads === 0,
  'PrefixTuningConfig(token_dim divisible by num_attention_heads)',
);
export type PrefixTuningConfig = t.TypeOf<typeof PrefixTuningConfig>;

/** Decodes an `adapter_config.json` value. Unknown fields are preserved. */
export const parseAdapterConfig = (json: unknown): E.Either<string, PrefixTuningConfig> => {
  const r = PrefixTuningConfig.decode(json);
  return E.isLeft(r) ? E.left(`${ADAPTER_CONFIG_FILE}: ${PathReporter.report(r).join('; ')}`) : r;
};

/** The config PEFT writes for a prefix-tuning adapter; `geometry` from the model, the rest defaulted as PEFT does. */
export const makePrefixTuningConfig = (geometry: {
  readonly numVirtualTokens: number;
  readonly numLayers: number;
  readonly tokenDim: number;
  readonly numAttentionHeads: number;
  readonly taskType?: 'CAUSAL_LM' | 'SEQ_2_SEQ_LM' | null;
  readonly numTransformerSubmodules?: number;
  readonly baseModelNameOrPath?: string | null;
  readonly revision?: string | null;
  readonly prefixProjection?: boolean;
  readonly encoderHiddenSize?: number;
}): PrefixTuningConfig => ({
  auto_mapping: null,
  base_model_name_or_path: geometry.baseModelNameOrPath ?? null,
  encoder_hidden_size: geometry.encoderHiddenSize ?? geometry.tokenDim,
  inference_mode: true,
  num_attention_heads: geometry.numAttentionHeads,
  num_layers: geometry.numLayers,
  num_transformer_submodules: geometry.numTransformerSubmodules ?? (geometry.taskType === 'SEQ_2_SEQ_LM' ? 2 : 1),
  num_virtual_tokens: geometry.numVirtualTokens,
  peft_type: 'PREFIX_TUNING',
  prefix_projection: geometry.prefixProjection ?? false,
  revision: geometry.revision ?? null,
  task_type: geometry.taskType ?? 'CAUSAL_LM',
  token_dim: geometry.tokenDim,
}) as PrefixTuningConfig;

const sortKeys = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(sortKeys)
    : typeof v === 'object' && v !== null
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]))
      : v;

/** `adapter_config.json` text as PEFT writes it (keys sorted, 2-space indent). */
export const serializeAdapterConfig = (config: PrefixTuningConfig): string => JSON.stringify(sortKeys(config), null, 2);

/** Shape of `prompt_embeddings` for a config: [P, 2·L·d]. */
export const prefixShape = (c: PrefixTuningConfig): [number, number] => [c.num_virtual_tokens, 2 * c.num_layers * c.token_dim];

/** Reads `adapter_model.safetensors` bytes: the `prompt_embeddings` tensor, checked against the config (F32/F16/BF16 accepted). */
export const parseAdapterWeights =
  (config: PrefixTuningConfig) =>
  (bytes: Uint8Array): E.Either<string, Float32Tensor> => {
    const f = parseSafetensors(bytes);
    if (E.isLeft(f)) return E.left(`${ADAPTER_WEIGHTS_FILE}: ${f.left}`);
    const t = f.right.tensors.get(PREFIX_EMBEDDINGS_KEY);
    if (t === undefined)
      return E.left(`${ADAPTER_WEIGHTS_FILE}: no '${PREFIX_EMBEDDINGS_KEY}' tensor (found: ${[...f.right.tensors.keys()].join(', ') || 'none'})`);
    const want = prefixShape(config);
    if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1])
      return E.left(`${ADAPTER_WEIGHTS_FILE}: ${PREFIX_EMBEDDINGS_KEY}: expected ${formatShape(want)} (num_virtual_tokens, 2·num_layers·token_dim), got ${formatShape(t.shape)}`);
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16')
      return E.left(`${ADAPTER_WEIGHTS_FILE}: ${PREFIX_EMBEDDINGS_KEY}: expected a float tensor, got ${t.dtype}`);
    const data = toFloat32(t);
    return E.isLeft(data) ? data : E.right({ shape: want, data: data.right });
  };

/** `adapter_model.safetensors` bytes for a prefix (metadata `format: pt`, as PEFT writes it). */
export const serializeAdapterWeights = (prefix: Float32Tensor, dtype: 'F32' | 'F16' | 'BF16' = 'F32'): Uint8Array =>
  serializeSafetensors({ [PREFIX_EMBEDDINGS_KEY]: { dtype, shape: prefix.shape, data: prefix.data } }, { format: 'pt' });

/**
 * Per-layer prefix blocks exactly as PEFT's `get_prompt` hands them to the model: for layer l, a
 * list of 2·S tensors [H, P, d/H] (S = num_transformer_submodules). With S = 1 they are
 * [key, value] of layer l. With S = 2 PEFT concatenates the 2L blocks with a copy of themselves
 * and cuts groups of 4, so layer l receives base blocks (4l .. 4l+3) mod 2L as (self key, self
 * value, cross key, cross value): a PEFT quirk reproduced here, not a choice of ours.
 */
export const splitPrefix =
  (config: PrefixTuningConfig) =>
  (prefix: Float32Tensor): Float32Tensor[][] => {
    const [P, W] = prefixShape(config);
    if (prefix.data.length !== P * W) throw new RangeError(`splitPrefix: expected ${P * W} values for ${formatShape([P, W])}, got ${prefix.data.length}`);
    const H = config.num_attention_heads;
    const dh = config.token_dim / H;
    const L = config.num_layers;
    const S = config.num_transformer_submodules ?? 1;
    const block = (b: number): Float32Tensor => {
      const out = new Float32Array(H * P * dh);
      const base = b * H * dh;
      for (let h = 0; h < H; h++)
        for (let p = 0; p < P; p++)
          for (let i = 0; i < dh; i++) out[(h * P + p) * dh + i] = prefix.data[p * W + base + h * dh + i]!;
      return { shape: [H, P, dh], data: out };
    };
    return Array.from({ length: L }, (_, l) => Array.from({ length: 2 * S }, (_, j) => block((2 * S * l + j) % (2 * L))));
  };

/** Inverse of `splitPrefix`: per-layer blocks back to `prompt_embeddings` [P, 2·L·d] (copies are read from their first occurrence). */
export const joinPrefix =
  (config: PrefixTuningConfig) =>
  (layers: readonly (readonly Float32Tensor[])[]): Float32Tensor => {
    const [P, W] = prefixShape(config);
    const H = config.num_attention_heads;
    const dh = config.token_dim / H;
    const L = config.num_layers;
    const S = config.num_transformer_submodules ?? 1;
    if (layers.length !== L || layers.some((b) => b.length !== 2 * S))
      throw new RangeError(`joinPrefix: expected ${L} layers of ${2 * S} blocks each`);
    const out = new Float32Array(P * W);
    for (let b = 0; b < 2 * L; b++) {
      const t = layers[Math.floor(b / (2 * S))]![b % (2 * S)]!;
      if (t.data.length !== H * P * dh) throw new RangeError(`joinPrefix: block ${b}: expected ${formatShape([H, P, dh])}, got ${formatShape(t.shape)}`);
      const base = b * H * dh;
      for (let h = 0; h < H; h++)
        for (let p = 0; p < P; p++)
          for (let i = 0; i < dh; i++) out[p * W + base + h * dh + i] = t.data[(h * P + p) * dh + i]!;
    }
    return { shape: [P, W], data: out };
  };
