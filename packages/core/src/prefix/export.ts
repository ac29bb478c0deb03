/**
 * The stored adapter of a trained variant, and its inverse (pure: values and bytes in, values
 * and bytes out).
 *
 * After training only the computed activations are kept (the paper drops the MLP): each
 * activation group becomes one `<scope>.embedding.weight` tensor — [P, 2·L·td] for key/value
 * groups in PEFT's layout, [P, D] for embedding groups, with a leading [U] for a prefix bank —
 * which is exactly the parameter of the same variant injected with `mode: 'stored'`.
 * Fine-tuned model weights (finetune variants) and the parameters of user-defined kinds are
 * stored as they are, under their graph names.
 *
 * Files: when PEFT can express the variant (one prefix at every self-attention layer, no bank:
 * for BART, at every decoder self-attention layer, as PEFT's `SEQ_2_SEQ_LM` prefix tuning
 * places it), the adapter is a plain PEFT PREFIX_TUNING adapter (`adapter_config.json` +
 * `adapter_model.safetensors` holding `prompt_embeddings`), which `PeftModel.from_pretrained`
 * loads. Otherwise the same two files are written with
 * `peft_type: "PREFIX_TUNING_TS"` (so PEFT refuses them instead of misreading them) and our
 * own field `prefix_tuning_ts` recording the variant, the bank size, the model geometry and
 * which tensor is which.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import type { HostTensor } from '../backend/tensor.ts';
import { evaluate } from '../backend/reference.ts';
import { type Graph, graph } from '../ir/graph.ts';
import { type ModelConfig, isEncoderDecoder, modelTypeName } from '../models/config.ts';
import {
  parseAdapterConfig, parseAdapterWeights, makePrefixTuningConfig, serializeAdapterConfig, PREFIX_EMBEDDINGS_KEY,
} from '../io/peft.ts';
import { parseSafetensors, serializeSafetensors, toFloat32 } from '../io/safetensors.ts';
import { formatShape } from '../io/tensors.ts';
import { flattenVariant, type Variant } from './variant.ts';
import { VariantC } from './kinds/index.ts';
import { type Injection, type ModelSites, type ActivationGroup, inject, groupActivations } from './inject.ts';
import { tokenDim } from './params.ts';
import type { Kind } from './kind.ts';
import { UnknownKind } from './kinds/custom.ts';
import { longest } from './geometry.ts';
import { modelSites } from './graphs.ts';

/** The key of our own fields in `adapter_config.json`. */
export const ADAPTER_EXTRAS_KEY = 'prefix_tuning_ts';
/** The `adapter_model.safetensors` metadata key of the base model's weight digest. */
export const BASE_DIGEST_KEY = 'base_model_digest';
/** `peft_type` of adapters PEFT cannot express. */
export const OWN_PEFT_TYPE = 'PREFIX_TUNING_TS';

const NonNegativeInt = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, 'NonNegativeInt');

/** Our fields in `adapter_config.json` (variants PEFT cannot express). */
export const AdapterExtrasC = t.type({
  format: t.literal(1),
  variant: VariantC,
  /** Prefix-bank size (0: one prefix for every input). */
  users: NonNegativeInt,
  /** The model the adapter was trained for. */
  model: t.type({ model_type: t.string, layers: NonNegativeInt, embed_dim: NonNegativeInt }),
  /** Tensor name in `adapter_model.safetensors` -> stored parameter name. */
  tensors: t.record(t.string, t.string),
}, 'AdapterExtras');
export type AdapterExtras = t.TypeOf<typeof AdapterExtrasC>;

/** The stored parameter of an activation group. */
export const storedName = (g: Pick<ActivationGroup, 'scope'>): string => `${g.scope}.embedding.weight`;

/** The injection that reads a stored adapter (`mode: 'stored'`). */
export const storedInjection = (model: ModelSites, variant: Variant, users = 0, kinds?: readonly Kind[]): Injection =>
  inject(model, variant, { mode: 'stored', users, ...(kinds ? { kinds } : {}) });

/** The output of `storedActivationsGraph` that holds a group's activations. */
export const computedName = (g: Pick<ActivationGroup, 'scope'>): string => `${g.scope}:computed`;

/**
 * The graph computing every group's stored activations from the training parameters (outputs
 * named by `computedName`). A bank takes `user_ids` = 0..U-1 (see `storedFeeds`).
 */
export const storedActivationsGraph = (inj: Injection): Graph => {
  const plain: Injection = { ...inj, dropoutInputs: false };
  const B = inj.users > 0 ? inj.users : 1;
  return graph(Object.fromEntries(inj.groups.map((g) => [computedName(g), groupActivations(plain, g, B)])));
};

/** Feeds of `storedActivationsGraph` (the bank's user ids, or none). */
export const storedFeeds = (inj: Injection): Record<string, HostTensor> =>
  inj.users > 0 ? { user_ids: { dtype: 'int32', shape: [inj.users], data: Int32Array.from({ length: inj.users }, (_, i) => i) } } : {};

/** Names of the fine-tuned model weights of an injection (stored as they are). */
export const finetunedNames = (inj: Injection): string[] => partNames(inj, 'weights');

/** Names of the parameters of an injection's custom parts (stored as they are). */
export const customNames = (inj: Injection): string[] => partNames(inj, 'custom');

/** The trainable parameters of the parts of one shape, in `trainable`'s order. */
const partNames = (inj: Injection, shape: 'weights' | 'custom'): string[] => {
  const own = new Set(inj.parts.filter((p) => p.part.shape === shape).flatMap((p) => p.trainable.map((s) => s.name)));
  return inj.trainable.map((p) => p.name).filter((n) => own.has(n));
};

/**
 * The stored parameters of a trained injection, computed with the reference evaluator:
 * activation groups evaluated once (MLP dropped), fine-tuned weights copied.
 * `computed` may hold the outputs of `storedActivationsGraph` evaluated on another backend.
 */
export const storedParams = (
  inj: Injection,
  trained: Readonly<Record<string, HostTensor>>,
  computed?: Readonly<Record<string, HostTensor>>,
): Record<string, HostTensor> => {
  const acts = inj.groups.length === 0 ? {} : computed ?? evaluate(storedActivationsGraph(inj), storedFeeds(inj), trained);
  const out: Record<string, HostTensor> = {};
  for (const g of inj.groups) out[storedName(g)] = acts[computedName(g)]!;
  for (const n of [...customNames(inj), ...finetunedNames(inj)]) out[n] = trained[n]!;
  return out;
};

/**
 * Whether PEFT's PREFIX_TUNING expresses this injection exactly: one prefix group at every
 * self-attention layer (BART: decoder self-attention; PEFT's `peft` layout, or the `paper`
 * layout with `sites: ['self']`), not shared, no bank.
 */
export const peftExpressible = (cfg: ModelConfig, inj: Injection): boolean => {
  if (inj.users > 0) return false;
  const parts = flattenVariant(inj.variant);
  if (parts.length !== 1 || parts[0]!.kind !== 'prefix' || inj.groups.length !== 1) return false;
  const g = inj.groups[0]!;
  const self = modelSites(cfg).sites.self!;
  return g.site === 'self' && g.shared !== true && g.length > 0 && g.layers!.length === self.layers && g.layers!.every((l, i) => l === i);
};

/**
 * A BART self-attention prefix in PEFT's `SEQ_2_SEQ_LM` layout: `[P, 2·Lp·td]` with PEFT's
 * `num_layers` Lp, decoder layer l reading rows 4l, 4l+1 (mod 2Lp). A `peft`-layout group is
 * that already; a `paper`-layout one ([P, 2·L·td], layer l at rows 2l, 2l+1) is laid out with
 * Lp = 2L (rows 4l, 4l+1 never wrap) and zeros in the rows PEFT hands to the cross-attention,
 * whose cache PEFT resets.
 */
const peftSeq2seqPrefix = (g: ActivationGroup, x: HostTensor): { numLayers: number; data: Float32Array; shape: [number, number] } => {
  const td = tokenDim(g.geometry!);
  if (g.rows !== undefined) return { numLayers: g.width / (2 * td), data: f32Data(x), shape: [g.length, g.width] };
  const L = g.layers!.length;
  const Lp = 2 * L;
  const W = 2 * Lp * td;
  const src = f32Data(x);
  const out = new Float32Array(g.length * W);
  for (let p = 0; p < g.length; p++)
    for (let l = 0; l < L; l++)
      for (const kv of [0, 1]) out.set(src.subarray(p * g.width + (2 * l + kv) * td, p * g.width + (2 * l + kv + 1) * td), p * W + (4 * l + kv) * td);
  return { numLayers: Lp, data: out, shape: [g.length, W] };
};

/** Adapter files as bytes. */
export interface AdapterBytes {
  readonly config: string;
  readonly weights: Uint8Array;
  /** True when the files are a plain PEFT adapter. */
  readonly peft: boolean;
}

const f32Data = (x: HostTensor): Float32Array => (x.data instanceof Float32Array ? x.data : Float32Array.from(x.data as ArrayLike<number>));

/**
 * Serialises a stored adapter (`storedParams` of `inj`, a training or stored injection of
 * `cfg`). `baseModel` is recorded as `base_model_name_or_path`, `baseModelDigest` (a digest of
 * the frozen weights it was trained on) as `base_model_digest` in the weights file's metadata,
 * where PEFT ignores it.
 */
export const serializeAdapter = (
  cfg: ModelConfig,
  inj: Injection,
  stored: Readonly<Record<string, HostTensor>>,
  opts: { readonly baseModel?: string | null; readonly baseModelDigest?: string } = {},
): AdapterBytes => {
  const meta = { format: 'pt', ...(opts.baseModelDigest !== undefined ? { [BASE_DIGEST_KEY]: opts.baseModelDigest } : {}) };
  const sites = modelSites(cfg);
  const self = sites.sites.self!;
  const task = isEncoderDecoder(cfg) ? 'SEQ_2_SEQ_LM' : 'CAUSAL_LM';
  if (peftExpressible(cfg, inj)) {
    const g = inj.groups[0]!;
    const x = stored[storedName(g)]!;
    const p = isEncoderDecoder(cfg) ? peftSeq2seqPrefix(g, x) : { numLayers: self.layers, data: f32Data(x), shape: x.shape };
    const config = makePrefixTuningConfig({
      numVirtualTokens: g.length, numLayers: p.numLayers, tokenDim: tokenDim(self), numAttentionHeads: self.kvHeads,
      taskType: task, baseModelNameOrPath: opts.baseModel ?? null,
    });
    return {
      config: serializeAdapterConfig(config),
      weights: serializeSafetensors({ [PREFIX_EMBEDDINGS_KEY]: { dtype: 'F32', shape: p.shape, data: p.data } }, meta),
      peft: true,
    };
  }
  const names = [...inj.groups.map(storedName), ...customNames(inj), ...finetunedNames(inj)];
  const tensors: Record<string, string> = {};
  const data: Record<string, { dtype: 'F32'; shape: readonly number[]; data: Float32Array }> = {};
  for (const n of names) {
    const x = stored[n];
    if (!x) throw new RangeError(`serializeAdapter: no stored value for '${n}'`);
    const fileName = n.endsWith('.embedding.weight') && inj.groups.some((g) => storedName(g) === n) ? n.slice(0, -'.embedding.weight'.length) : n;
    tensors[fileName] = n;
    data[fileName] = { dtype: 'F32', shape: x.shape, data: f32Data(x) };
  }
  const extras: AdapterExtras = {
    format: 1, variant: inj.variant, users: inj.users,
    model: { model_type: cfg.model_type, layers: sites.layers, embed_dim: sites.embedDim },
    tensors,
  };
  const config = {
    base_model_name_or_path: opts.baseModel ?? null,
    inference_mode: true,
    peft_type: OWN_PEFT_TYPE,
    task_type: task,
    ...(inj.groups.length + inj.custom.length > 0 ? { num_virtual_tokens: virtualTokens(inj) } : {}),
    [ADAPTER_EXTRAS_KEY]: extras,
  };
  return { config: JSON.stringify(config, null, 2), weights: serializeSafetensors(data, meta), peft: false };
};

/** Virtual positions, summed over the activation groups and the custom parts' placements (informative, as PEFT's `num_virtual_tokens`). */
const virtualTokens = (inj: Injection): number =>
  inj.groups.reduce((s, g) => s + g.length, 0) + inj.parts.filter((p) => p.part.shape === 'custom').reduce((s, { lengths: l }) =>
    s + (l.embeddings ?? 0) + longest(l.infix) + [...(l.past?.values() ?? [])].reduce((a, m) => a + longest(m), 0), 0);

/** A loaded adapter: the injection that reads it (absent for pure fine-tuned weights) and its parameters. */
export interface LoadedAdapter {
  readonly variant: Variant;
  readonly injection?: Injection;
  /** Stored activations by stored name, and fine-tuned weights by graph name (they replace the model's). */
  readonly params: Record<string, HostTensor>;
  readonly peft: boolean;
  /** The base model it names (`base_model_name_or_path`) and the digest of its weights, where the writer recorded them. */
  readonly base: { readonly nameOrPath: string | null; readonly digest: string | null };
}

const baseOf = (configJson: unknown, weights: Uint8Array): LoadedAdapter['base'] => {
  const name = (configJson as Record<string, unknown>)['base_model_name_or_path'];
  const file = parseSafetensors(weights);
  const digest = E.isRight(file) ? file.right.metadata[BASE_DIGEST_KEY] : undefined;
  return { nameOrPath: typeof name === 'string' ? name : null, digest: typeof digest === 'string' && digest !== '' ? digest : null };
};

const f32Tensor = (shape: readonly number[], data: Float32Array): HostTensor => ({ dtype: 'float32', shape: [...shape], data });

/**
 * Reads adapter files for `cfg` (the inverse of `serializeAdapter`; also reads adapters PEFT
 * wrote). Left names the file and what does not fit the model.
 */
export const parseAdapter = (
  cfg: ModelConfig,
  configJson: unknown,
  weights: Uint8Array,
  opts: { /** The user-defined kinds its variant may name. */ readonly kinds?: readonly Kind[] } = {},
): E.Either<string, LoadedAdapter> => {
  const sites = modelSites(cfg);
  const isOwn = typeof configJson === 'object' && configJson !== null && (configJson as Record<string, unknown>)['peft_type'] === OWN_PEFT_TYPE;
  if (!isOwn) {
    const c = parseAdapterConfig(configJson);
    if (E.isLeft(c)) return c;
    const pc = c.right;
    const seq2seq = isEncoderDecoder(cfg);
    if (seq2seq !== (pc.task_type === 'SEQ_2_SEQ_LM'))
      return E.left(seq2seq
        ? `adapter_config.json: task_type is ${JSON.stringify(pc.task_type ?? null)}, but the model is an encoder-decoder (bart), whose PEFT prefix adapters are SEQ_2_SEQ_LM`
        : `adapter_config.json: task_type is SEQ_2_SEQ_LM (an encoder-decoder adapter), but the model is a ${cfg.model_type}`);
    const S = pc.num_transformer_submodules ?? (seq2seq ? 2 : 1);
    if (S !== (seq2seq ? 2 : 1))
      return E.left(`adapter_config.json: num_transformer_submodules is ${S}; PEFT ${seq2seq ? 'SEQ_2_SEQ_LM' : 'CAUSAL_LM'} prefix adapters have ${seq2seq ? 2 : 1}`);
    const self = sites.sites.self!;
    // PEFT seq2seq: num_layers is the config's num_hidden_layers (BART: encoder layers) or what the user set;
    // decoder layer l reads prompt rows 4l, 4l+1 (mod 2·num_layers), so it must cover every decoder layer
    const want = { ...(seq2seq ? {} : { num_layers: self.layers }), token_dim: tokenDim(self), num_attention_heads: self.kvHeads };
    for (const [k, v] of Object.entries(want))
      if ((pc as Record<string, unknown>)[k] !== v)
        return E.left(`adapter_config.json: ${k} is ${String((pc as Record<string, unknown>)[k])}, but the model has ${v} (the adapter was trained for another model)`);
    if (seq2seq && pc.num_layers < self.layers)
      return E.left(`adapter_config.json: num_layers is ${pc.num_layers}, fewer than the model's ${self.layers} decoder layers (PEFT cannot run this adapter on this model either)`);
    const w = parseAdapterWeights(pc)(weights);
    if (E.isLeft(w)) return w;
    const variant: Variant = { kind: 'prefix', length: pc.num_virtual_tokens };
    const injection = seq2seq ? inject(sites, variant, { mode: 'stored', layout: 'peft', peftRows: pc.num_layers }) : storedInjection(sites, variant);
    return E.right({ variant, injection, params: { [storedName(injection.groups[0]!)]: f32Tensor(w.right.shape, w.right.data) }, peft: true, base: baseOf(configJson, weights) });
  }
  const ex = AdapterExtrasC.decode((configJson as Record<string, unknown>)[ADAPTER_EXTRAS_KEY]);
  if (E.isLeft(ex)) return E.left(`adapter_config.json: ${ADAPTER_EXTRAS_KEY}: ${PathReporter.report(ex).join('; ')}`);
  const x = ex.right;
  // the adapter's record of the model it was trained for, against this one (data, not a family branch)
  if (x.model.model_type !== modelTypeName(cfg) || x.model.layers !== sites.layers || x.model.embed_dim !== sites.embedDim)
    return E.left(
      `adapter_config.json: the adapter was trained for a ${x.model.model_type} with ${x.model.layers} layers and width ${x.model.embed_dim}; ` +
        `this model is a ${cfg.model_type} with ${sites.layers} layers and width ${sites.embedDim}`,
    );
  let injection: Injection;
  try {
    injection = storedInjection(sites, x.variant, x.users, opts.kinds);
  } catch (e) {
    if (e instanceof UnknownKind)
      return E.left(`adapter_config.json: the adapter uses the user-defined kind '${e.kind}'; read it with parseAdapter(…, { kinds: [${e.kind} kind] }) from code that defines it (the CLI and the server load no user code)`);
    return E.left(`adapter_config.json: the variant does not fit this model (${(e as Error).message})`);
  }
  const file = parseSafetensors(weights);
  if (E.isLeft(file)) return E.left(`adapter_model.safetensors: ${file.left}`);
  const expected = new Map(injection.trainable.map((p) => [p.name, p.shape]));
  const params: Record<string, HostTensor> = {};
  for (const [fileName, name] of Object.entries(x.tensors)) {
    const shape = expected.get(name);
    if (!shape) return E.left(`adapter_config.json: tensor '${fileName}' maps to '${name}', which the variant does not have`);
    const tensor = file.right.tensors.get(fileName);
    if (!tensor) return E.left(`adapter_model.safetensors: no tensor '${fileName}'`);
    if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i]))
      return E.left(`adapter_model.safetensors: ${fileName}: expected ${formatShape(shape)}, got ${formatShape(tensor.shape)}`);
    const data = toFloat32(tensor);
    if (E.isLeft(data)) return E.left(`adapter_model.safetensors: ${data.left}`);
    params[name] = f32Tensor(shape, data.right);
  }
  const missing = [...expected.keys()].filter((n) => !(n in params));
  if (missing.length > 0) return E.left(`adapter_model.safetensors: missing ${missing.join(', ')}`);
  return E.right({ variant: x.variant, ...(injection.groups.length > 0 || injection.custom.length > 0 ? { injection } : {}), params, peft: false, base: baseOf(configJson, weights) });
};
