/**
 * Hugging Face `config.json` codecs for the three supported architectures, and
 * `decodeModelConfig`, which turns a parsed config.json into a validated, fully defaulted
 * `ModelConfig` (a union tagged by `model_type`).
 *
 * Each family has two codecs: `*ConfigJson` reads the file as transformers writes it (extra
 * keys ignored, optional keys as in the transformers config class), and `*Config` is the
 * resolved value every model builder takes (all defaults applied, cross-field constraints
 * checked). Sizes that define the architecture (widths, depths, heads, vocabulary, positions)
 * are required: a config.json written by `save_pretrained` always has them, and silently
 * assuming GPT-2 small's sizes would only move the error to the weight loader. Behavioural
 * keys default as in transformers 4.x/5.x (`tie_word_embeddings`, `rope_theta`, ...).
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';

// ---------------------------------------------------------------------------------------------
// Building blocks

interface PositiveIntBrand { readonly PositiveInt: unique symbol }
/** An integer >= 1. */
export const PositiveInt = t.brand(t.number, (n): n is t.Branded<number, PositiveIntBrand> => Number.isInteger(n) && n >= 1, 'PositiveInt');

interface NonNegativeIntBrand { readonly NonNegativeInt: unique symbol }
/** An integer >= 0 (token ids). */
export const NonNegativeInt = t.brand(t.number, (n): n is t.Branded<number, NonNegativeIntBrand> => Number.isInteger(n) && n >= 0, 'NonNegativeInt');

interface PositiveNumberBrand { readonly PositiveNumber: unique symbol }
/** A finite number > 0 (epsilons, RoPE base). */
export const PositiveNumber = t.brand(t.number, (n): n is t.Branded<number, PositiveNumberBrand> => Number.isFinite(n) && n > 0, 'PositiveNumber');

/** A token id or none (`null` in config.json). */
const TokenId = t.union([NonNegativeInt, t.null]);
/** `eos_token_id` may be one id, a list of ids, or null. */
const TokenIds = t.union([NonNegativeInt, t.readonlyArray(NonNegativeInt), t.null]);

/**
 * Activation names of transformers' `ACT2FN` that the graph implements exactly:
 * `gelu`/`gelu_python` (erf form), `gelu_new`/`gelu_fast`/`gelu_pytorch_tanh`/
 * `gelu_python_tanh` (tanh approximation), `quick_gelu` (x·σ(1.702x)), `relu`, `silu`/`swish`.
 */
const activationNames = {
  gelu: null, gelu_python: null, gelu_new: null, gelu_fast: null, gelu_pytorch_tanh: null, gelu_python_tanh: null,
  quick_gelu: null, relu: null, silu: null, swish: null,
};
export const Activation = t.keyof(activationNames, `one of ${Object.keys(activationNames).join(', ')}`);
export type Activation = t.TypeOf<typeof Activation>;

// ---------------------------------------------------------------------------------------------
// GPT-2 (GPT2LMHeadModel)

/** GPT-2 config.json as transformers writes it. */
export const Gpt2ConfigJson = t.intersection([
  t.type({
    model_type: t.literal('gpt2'),
    vocab_size: PositiveInt,
    n_positions: PositiveInt,
    n_embd: PositiveInt,
    n_layer: PositiveInt,
    n_head: PositiveInt,
  }),
  t.partial({
    n_inner: t.union([PositiveInt, t.null]),
    activation_function: Activation,
    layer_norm_epsilon: PositiveNumber,
    scale_attn_weights: t.boolean,
    scale_attn_by_inverse_layer_idx: t.boolean,
    reorder_and_upcast_attn: t.boolean,
    add_cross_attention: t.boolean,
    tie_word_embeddings: t.boolean,
    bos_token_id: TokenId,
    eos_token_id: TokenIds,
    pad_token_id: TokenId,
  }),
], 'Gpt2ConfigJson');

/** A resolved GPT-2 config (every default applied). */
export const Gpt2Config = t.readonly(t.exact(t.type({
  model_type: t.literal('gpt2'),
  vocab_size: PositiveInt,
  n_positions: PositiveInt,
  n_embd: PositiveInt,
  n_layer: PositiveInt,
  n_head: PositiveInt,
  /** MLP width (transformers: `n_inner ?? 4 * n_embd`). */
  n_inner: PositiveInt,
  activation_function: Activation,
  layer_norm_epsilon: PositiveNumber,
  scale_attn_weights: t.boolean,
  scale_attn_by_inverse_layer_idx: t.boolean,
  /** Only changes float16 numerics in transformers; the same function in float32. */
  reorder_and_upcast_attn: t.boolean,
  tie_word_embeddings: t.boolean,
  bos_token_id: TokenId,
  eos_token_id: TokenIds,
  pad_token_id: TokenId,
})), 'Gpt2Config');
export type Gpt2Config = t.TypeOf<typeof Gpt2Config>;


// ---------------------------------------------------------------------------------------------
// Llama (LlamaForCausalLM)

/**
 * RoPE parameters as config.json spells them: transformers 5 writes `rope_parameters:
 * {rope_type, rope_theta, ...}`; transformers 4 wrote `rope_theta` beside `rope_scaling` (null
 * for plain RoPE, `type` for `rope_type` in older files). The scaling keys are read by
 * `resolveRope`.
 */
const RopeParams = t.partial({
  rope_type: t.string, type: t.string, rope_theta: PositiveNumber, factor: t.number,
  low_freq_factor: t.number, high_freq_factor: t.number, original_max_position_embeddings: t.number, partial_rotary_factor: t.number,
});

/**
 * A resolved RoPE scaling (transformers' `ROPE_INIT_FUNCTIONS`): `linear` divides every inverse
 * frequency by `factor`; `dynamic` (NTK) raises the base when the sequence is longer than
 * `max_position_embeddings`; `llama3` (Llama 3.1) divides the low frequencies by `factor` and
 * interpolates the middle band. Absent: unscaled RoPE.
 */
export const RopeScaling = t.union([
  t.readonly(t.exact(t.type({ rope_type: t.literal('linear'), factor: PositiveNumber }))),
  t.readonly(t.exact(t.type({ rope_type: t.literal('dynamic'), factor: PositiveNumber }))),
  t.readonly(t.exact(t.type({
    rope_type: t.literal('llama3'), factor: PositiveNumber, low_freq_factor: PositiveNumber, high_freq_factor: PositiveNumber,
    original_max_position_embeddings: PositiveInt,
  }))),
], 'RopeScaling');
export type RopeScaling = t.TypeOf<typeof RopeScaling>;

/** Llama config.json as transformers writes it. */
export const LlamaConfigJson = t.intersection([
  t.type({
    model_type: t.literal('llama'),
    vocab_size: PositiveInt,
    hidden_size: PositiveInt,
    intermediate_size: PositiveInt,
    num_hidden_layers: PositiveInt,
    num_attention_heads: PositiveInt,
    max_position_embeddings: PositiveInt,
  }),
  t.partial({
    num_key_value_heads: t.union([PositiveInt, t.null]),
    head_dim: t.union([PositiveInt, t.null]),
    hidden_act: Activation,
    rms_norm_eps: PositiveNumber,
    rope_theta: PositiveNumber,
    rope_scaling: t.union([RopeParams, t.null]),
    rope_parameters: t.union([RopeParams, t.null]),
    original_max_position_embeddings: PositiveInt,
    attention_bias: t.boolean,
    mlp_bias: t.boolean,
    tie_word_embeddings: t.boolean,
    bos_token_id: TokenId,
    eos_token_id: TokenIds,
    pad_token_id: TokenId,
  }),
], 'LlamaConfigJson');

/** A resolved Llama config. */
export const LlamaConfig = t.readonly(t.exact(t.intersection([t.type({
  model_type: t.literal('llama'),
  vocab_size: PositiveInt,
  hidden_size: PositiveInt,
  intermediate_size: PositiveInt,
  num_hidden_layers: PositiveInt,
  num_attention_heads: PositiveInt,
  /** Key/value heads (grouped-query attention); `num_attention_heads` when absent. */
  num_key_value_heads: PositiveInt,
  /** Per-head width; `hidden_size / num_attention_heads` when absent. */
  head_dim: PositiveInt,
  max_position_embeddings: PositiveInt,
  hidden_act: Activation,
  rms_norm_eps: PositiveNumber,
  rope_theta: PositiveNumber,
  attention_bias: t.boolean,
  mlp_bias: t.boolean,
  tie_word_embeddings: t.boolean,
  bos_token_id: TokenId,
  eos_token_id: TokenIds,
  pad_token_id: TokenId,
}), t.partial({
  /** RoPE scaling; absent for plain RoPE (`rope_type` 'default'). */
  rope_scaling: RopeScaling,
})])), 'LlamaConfig');
export type LlamaConfig = t.TypeOf<typeof LlamaConfig>;

// ---------------------------------------------------------------------------------------------
// BART (BartForConditionalGeneration)

/** BART config.json as transformers writes it. */
export const BartConfigJson = t.intersection([
  t.type({
    model_type: t.literal('bart'),
    vocab_size: PositiveInt,
    d_model: PositiveInt,
    encoder_layers: PositiveInt,
    decoder_layers: PositiveInt,
    encoder_attention_heads: PositiveInt,
    decoder_attention_heads: PositiveInt,
    encoder_ffn_dim: PositiveInt,
    decoder_ffn_dim: PositiveInt,
    max_position_embeddings: PositiveInt,
  }),
  t.partial({
    activation_function: Activation,
    scale_embedding: t.boolean,
    tie_word_embeddings: t.boolean,
    // Legacy fairseq keys kept in facebook/bart-* configs; transformers ignores them, and BART
    // is exactly the architecture they describe when they have these values.
    normalize_before: t.literal(false),
    add_final_layer_norm: t.literal(false),
    normalize_embedding: t.literal(true),
    static_position_embeddings: t.literal(false),
    add_bias_logits: t.literal(false),
    pad_token_id: TokenId,
    bos_token_id: TokenId,
    eos_token_id: TokenIds,
    decoder_start_token_id: TokenId,
    forced_bos_token_id: TokenId,
    forced_eos_token_id: TokenIds,
  }),
], 'BartConfigJson');

/** A resolved BART config. */
export const BartConfig = t.readonly(t.exact(t.type({
  model_type: t.literal('bart'),
  vocab_size: PositiveInt,
  d_model: PositiveInt,
  encoder_layers: PositiveInt,
  decoder_layers: PositiveInt,
  encoder_attention_heads: PositiveInt,
  decoder_attention_heads: PositiveInt,
  encoder_ffn_dim: PositiveInt,
  decoder_ffn_dim: PositiveInt,
  /** Learned positions; the tables have `max_position_embeddings + 2` rows (offset 2). */
  max_position_embeddings: PositiveInt,
  activation_function: Activation,
  /** Token embeddings are multiplied by sqrt(d_model) when true. */
  scale_embedding: t.boolean,
  tie_word_embeddings: t.boolean,
  pad_token_id: TokenId,
  bos_token_id: TokenId,
  eos_token_id: TokenIds,
  decoder_start_token_id: TokenId,
  forced_bos_token_id: TokenId,
  forced_eos_token_id: TokenIds,
})), 'BartConfig');
export type BartConfig = t.TypeOf<typeof BartConfig>;

// ---------------------------------------------------------------------------------------------
// Decoding

/** Any supported model config, tagged by `model_type`. */
export const ModelConfig = t.union([Gpt2Config, LlamaConfig, BartConfig], 'ModelConfig');
export type ModelConfig = t.TypeOf<typeof ModelConfig>;
/** The decoder-only configs (causal language models). */
export type CausalLmConfig = Gpt2Config | LlamaConfig;

/** The `model_type`s `decodeModelConfig` accepts. */
export const supportedModelTypes = ['gpt2', 'llama', 'bart'] as const;

/**
 * Whether the model encodes a source and decodes a target (transformers' `is_encoder_decoder`):
 * BART. Decoder-only models (GPT-2, Llama) read one sequence. Examples, batches, generation and
 * perplexity differ by this, not by the model's name.
 */
export const isEncoderDecoder = (c: ModelConfig): c is BartConfig => c.model_type === 'bart';

/** The model's type as messages name it (`gpt2`, `llama`, `bart`); code that behaves differently per family asks `isEncoderDecoder` or the model's own file. */
export const modelTypeName = (c: ModelConfig): string => c.model_type;

const isWrapper = (ty: t.Decoder<unknown, unknown>): boolean =>
  ty instanceof t.UnionType || ty instanceof t.IntersectionType || ty instanceof t.ReadonlyType || ty instanceof t.ExactType;

/**
 * io-ts errors as `key.path: expected T, got V` (or `key.path: missing`), one line per
 * offending key; union branches and intersection members are not part of the path.
 */
export const formatErrors = (errors: t.Errors): string => {
  const lines = new Map<string, string>();
  for (const e of errors) {
    const keys: string[] = [];
    let expected = e.context[e.context.length - 1]?.type.name ?? '?';
    for (let i = 1; i < e.context.length; i++) {
      if (isWrapper(e.context[i - 1]!.type)) continue;
      keys.push(e.context[i]!.key);
      expected = e.context[i]!.type.name;
    }
    const path = keys.join('.') || '(root)';
    if (lines.has(path)) continue;
    const got = e.value === undefined ? 'missing' : `expected ${expected}, got ${JSON.stringify(e.value)}`;
    lines.set(path, `${path}: ${got}`);
  }
  return [...lines.values()].join('; ');
};

const decodeWith = <A>(codec: t.Decoder<unknown, A>, u: unknown, what: string): E.Either<string, A> =>
  pipe(codec.decode(u), E.mapLeft((errs) => `${what}: ${formatErrors(errs)}`));

const resolveGpt2 = (j: t.TypeOf<typeof Gpt2ConfigJson>): E.Either<string, Gpt2Config> => {
  if (j.add_cross_attention === true) return E.left('gpt2 config: add_cross_attention: true is not supported (GPT2LMHeadModel without cross-attention only)');
  if (j.n_embd % j.n_head !== 0) return E.left(`gpt2 config: n_embd (${j.n_embd}) is not a multiple of n_head (${j.n_head})`);
  return decodeWith(Gpt2Config, {
    ...j,
    n_inner: j.n_inner ?? 4 * j.n_embd,
    activation_function: j.activation_function ?? 'gelu_new',
    layer_norm_epsilon: j.layer_norm_epsilon ?? 1e-5,
    scale_attn_weights: j.scale_attn_weights ?? true,
    scale_attn_by_inverse_layer_idx: j.scale_attn_by_inverse_layer_idx ?? false,
    reorder_and_upcast_attn: j.reorder_and_upcast_attn ?? false,
    tie_word_embeddings: j.tie_word_embeddings ?? true,
    bos_token_id: j.bos_token_id === undefined ? 50256 : j.bos_token_id,
    eos_token_id: j.eos_token_id === undefined ? 50256 : j.eos_token_id,
    pad_token_id: j.pad_token_id ?? null,
  }, 'gpt2 config');
};

/**
 * `rope_theta` and the scaling of a Llama config as transformers 5 resolves them
 * (`convert_rope_params_to_dict`, `standardize_rope_params`, `_validate_*_rope_parameters`): a
 * non-empty `rope_scaling` wins over `rope_parameters`; `rope_type` falls back to the legacy
 * `type`; `rope_theta` inside the dict wins over the top-level key (default 10000); `llama3`'s
 * `original_max_position_embeddings` is the top-level key when present, else the dict's, else
 * `max_position_embeddings`. Other RoPE types (yarn, longrope, ...) and a partial rotary factor
 * are refused.
 */
const resolveRope = (j: t.TypeOf<typeof LlamaConfigJson>, headDim: number): E.Either<string, { theta: number; scaling?: RopeScaling }> => {
  const legacy = j.rope_scaling != null && Object.keys(j.rope_scaling).length > 0;
  const params = legacy ? j.rope_scaling! : j.rope_parameters ?? undefined;
  const key = legacy ? 'rope_scaling' : 'rope_parameters';
  const type = params?.rope_type ?? params?.type ?? 'default';
  const theta = params?.rope_theta ?? j.rope_theta ?? 10000;
  if (params?.partial_rotary_factor !== undefined && params.partial_rotary_factor !== 1)
    return E.left(`llama config: ${key}.partial_rotary_factor: ${params.partial_rotary_factor} is not supported (Llama rotates the whole head)`);
  const need = (k: 'factor' | 'low_freq_factor' | 'high_freq_factor'): E.Either<string, number> => {
    const v = params?.[k];
    return v === undefined ? E.left(`llama config: ${key}.${k}: missing (required by rope_type '${type}')`)
      : !(Number.isFinite(v) && v > 0) ? E.left(`llama config: ${key}.${k}: expected a positive number, got ${JSON.stringify(v)}`) : E.right(v);
  };
  switch (type) {
    case 'default':
      return E.right({ theta });
    case 'linear':
    case 'dynamic':
      if (type === 'dynamic' && headDim <= 2) return E.left(`llama config: ${key}: rope_type 'dynamic' needs head_dim > 2, got ${headDim}`);
      return pipe(need('factor'), E.map((factor) => ({ theta, scaling: { rope_type: type, factor } as RopeScaling })));
    case 'llama3': {
      const original = j.original_max_position_embeddings ?? params?.original_max_position_embeddings ?? j.max_position_embeddings;
      if (!Number.isInteger(original) || original < 1) return E.left(`llama config: ${key}.original_max_position_embeddings: expected a positive integer, got ${JSON.stringify(original)}`);
      return pipe(
        E.Do,
        E.apS('factor', need('factor')),
        E.apS('low', need('low_freq_factor')),
        E.apS('high', need('high_freq_factor')),
        E.chain(({ factor, low, high }) => high <= low
          ? E.left(`llama config: ${key}: high_freq_factor (${high}) must be greater than low_freq_factor (${low})`)
          : E.right({ theta, scaling: { rope_type: 'llama3', factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: original } as RopeScaling })),
      );
    }
    default:
      return E.left(`llama config: ${key}: RoPE type '${type}' is not supported (supported: default, linear, dynamic, llama3)`);
  }
};

const resolveLlama = (j: t.TypeOf<typeof LlamaConfigJson>): E.Either<string, LlamaConfig> => {
  const heads = j.num_attention_heads;
  const kvHeads = j.num_key_value_heads ?? heads;
  if (heads % kvHeads !== 0) return E.left(`llama config: num_attention_heads (${heads}) is not a multiple of num_key_value_heads (${kvHeads})`);
  if (j.head_dim == null && j.hidden_size % heads !== 0)
    return E.left(`llama config: hidden_size (${j.hidden_size}) is not a multiple of num_attention_heads (${heads})`);
  const headDim = j.head_dim ?? j.hidden_size / heads;
  if (headDim % 2 !== 0) return E.left(`llama config: head_dim (${headDim}) must be even for RoPE`);
  return pipe(
    resolveRope(j, headDim),
    E.chain(({ theta, scaling }) => {
      const { rope_scaling: _s, rope_parameters: _p, original_max_position_embeddings: _o, ...rest } = j;
      return decodeWith(LlamaConfig, {
        ...rest,
        num_key_value_heads: kvHeads,
        head_dim: headDim,
        hidden_act: j.hidden_act ?? 'silu',
        rms_norm_eps: j.rms_norm_eps ?? 1e-6,
        rope_theta: theta,
        ...(scaling ? { rope_scaling: scaling } : {}),
        attention_bias: j.attention_bias ?? false,
        mlp_bias: j.mlp_bias ?? false,
        tie_word_embeddings: j.tie_word_embeddings ?? false,
        bos_token_id: j.bos_token_id === undefined ? 1 : j.bos_token_id,
        eos_token_id: j.eos_token_id === undefined ? 2 : j.eos_token_id,
        pad_token_id: j.pad_token_id ?? null,
      }, 'llama config');
    }),
  );
};

const resolveBart = (j: t.TypeOf<typeof BartConfigJson>): E.Either<string, BartConfig> => {
  if (j.d_model % j.encoder_attention_heads !== 0)
    return E.left(`bart config: d_model (${j.d_model}) is not a multiple of encoder_attention_heads (${j.encoder_attention_heads})`);
  if (j.d_model % j.decoder_attention_heads !== 0)
    return E.left(`bart config: d_model (${j.d_model}) is not a multiple of decoder_attention_heads (${j.decoder_attention_heads})`);
  const or = (v: unknown, d: unknown): unknown => (v === undefined ? d : v);
  return decodeWith(BartConfig, {
    ...j,
    activation_function: j.activation_function ?? 'gelu',
    scale_embedding: j.scale_embedding ?? false,
    tie_word_embeddings: j.tie_word_embeddings ?? true,
    pad_token_id: or(j.pad_token_id, 1),
    bos_token_id: or(j.bos_token_id, 0),
    eos_token_id: or(j.eos_token_id, 2),
    decoder_start_token_id: or(j.decoder_start_token_id, 2),
    forced_bos_token_id: or(j.forced_bos_token_id, null),
    forced_eos_token_id: or(j.forced_eos_token_id, 2),
  }, 'bart config');
};

/**
 * Decodes a parsed Hugging Face `config.json` into a resolved `ModelConfig`. Left: the
 * offending keys by name (`gpt2 config: n_embd: missing`), or an unsupported `model_type`
 * or option. Keys the models do not use (dropouts, `architectures`, ...) are ignored.
 */
export const decodeModelConfig = (json: unknown): E.Either<string, ModelConfig> => {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return E.left('config: expected a JSON object');
  const mt = (json as { model_type?: unknown }).model_type;
  switch (mt) {
    case 'gpt2':
      return pipe(decodeWith(Gpt2ConfigJson, json, 'gpt2 config'), E.chain(resolveGpt2));
    case 'llama':
      return pipe(decodeWith(LlamaConfigJson, json, 'llama config'), E.chain(resolveLlama));
    case 'bart':
      return pipe(decodeWith(BartConfigJson, json, 'bart config'), E.chain(resolveBart));
    default:
      return E.left(
        mt === undefined
          ? `config: model_type: missing (supported: ${supportedModelTypes.join(', ')})`
          : `config: model_type: unsupported ${JSON.stringify(mt)} (supported: ${supportedModelTypes.join(', ')})`,
      );
  }
};

/** The end-of-sequence ids of a config as a list (`eos_token_id` may be one id, a list or null). */
export const eosTokenIds = (cfg: ModelConfig): readonly number[] =>
  cfg.eos_token_id === null ? [] : typeof cfg.eos_token_id === 'number' ? [cfg.eos_token_id] : cfg.eos_token_id;
