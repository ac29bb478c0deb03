/**
 * Tuning variants: a tagged union validated by io-ts, applied to a model by `inject`.
 *
 * - `prefix`    the paper's method: P trainable key/value activations at every attention
 *               layer (optionally only some layers, some sites, or one prefix shared by all
 *               layers);
 * - `embedding` the EMB ablation: P trainable virtual-token embeddings at the input only;
 * - `infix`     the INFIX ablation: [x; INFIX; y], trainable activations at every layer placed
 *               between the source and the target;
 * - `finetune`  the baselines: every weight (FT-full) or the top k layers (FT-top2);
 * - `custom`    a user-defined kind (`defineKind` in ./kind.ts) by name, with its options;
 * - `compose`   several variants at once (prefix + infix, prefix on some layers + embedding…).
 *
 * Options shared by the trainable-activation variants: `length`, the parametrisation
 * (`direct`, or the paper's `mlp` reparametrisation P = MLP(P') with a hidden width — 512
 * for table-to-text, 800 for summarization — kept only during training), prefix dropout,
 * and initialisation (`random`, or from the activations of real words such as
 * "table-to-text:").
 */
import * as t from 'io-ts';

const PositiveInt = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0, 'NonNegativeInt');
const Probability = t.refinement(t.number, (n) => n >= 0 && n < 1, 'Probability');

export const ReparamC = t.union([
  t.type({ kind: t.literal('direct') }),
  t.type({ kind: t.literal('mlp'), hidden: PositiveInt }),
], 'Reparam');
export type Reparam = t.TypeOf<typeof ReparamC>;

export const InitC = t.union([
  t.intersection([t.type({ kind: t.literal('random') }), t.partial({ std: t.number })]),
  t.type({ kind: t.literal('words'), text: t.string }),
], 'Init');
export type Init = t.TypeOf<typeof InitC>;

/** Where a prefix attaches: decoder self-attention, encoder self-attention, cross-attention. */
export const SiteC = t.keyof({ self: null, encoder: null, cross: null }, 'Site');
export type Site = t.TypeOf<typeof SiteC>;

/** Layers: all, the top k, or explicit indices. */
export const LayersC = t.union([t.literal('all'), t.type({ top: PositiveInt }), t.readonlyArray(PositiveInt)], 'Layers');
export type Layers = t.TypeOf<typeof LayersC>;

const activationOptions = {
  reparam: ReparamC,
  init: InitC,
  dropout: Probability,
};

export const PrefixC = t.intersection([
  t.type({ kind: t.literal('prefix'), length: PositiveInt }),
  t.partial({
    ...activationOptions,
    layers: LayersC,
    /** Sites for encoder-decoder models (default: all three, as in the paper's BART runs). */
    sites: t.readonlyArray(SiteC),
    /** One prefix shared by every selected layer (the paper's per-layer prefix when false). */
    shared: t.boolean,
  }),
], 'PrefixVariant');

export const EmbeddingC = t.intersection([
  t.type({ kind: t.literal('embedding'), length: PositiveInt }),
  t.partial(activationOptions),
], 'EmbeddingVariant');

export const InfixC = t.intersection([
  t.type({ kind: t.literal('infix'), length: PositiveInt }),
  t.partial({ ...activationOptions, layers: LayersC }),
], 'InfixVariant');

export const FinetuneC = t.type({ kind: t.literal('finetune'), layers: LayersC }, 'FinetuneVariant');

/**
 * A user-defined kind (`defineKind`, passed to `inject` as `kinds`), by name, with its options
 * (decoded by the kind's own codec when injected).
 */
export const CustomC = t.intersection([
  t.type({ kind: t.literal('custom'), name: t.string }),
  t.partial({ options: t.unknown }),
], 'CustomVariant');

export type Variant =
  | t.TypeOf<typeof PrefixC>
  | t.TypeOf<typeof EmbeddingC>
  | t.TypeOf<typeof InfixC>
  | t.TypeOf<typeof FinetuneC>
  | t.TypeOf<typeof CustomC>
  | { readonly kind: 'compose'; readonly parts: readonly Variant[] };


/** The paper's method with its table-to-text defaults (length 10, MLP 512). */
export const paperPrefix = (length = 10, hidden = 512): Variant => ({ kind: 'prefix', length, reparam: { kind: 'mlp', hidden } });

/** Expands `compose` into its leaf variants (depth first). */
export const flattenVariant = (v: Variant): Exclude<Variant, { kind: 'compose' }>[] =>
  v.kind === 'compose' ? v.parts.flatMap(flattenVariant) : [v];

/** Resolves a layer selection against a model's layer count. */
export const selectLayers = (layers: Layers | undefined, n: number): number[] => {
  if (layers === undefined || layers === 'all') return Array.from({ length: n }, (_, i) => i);
  if ('top' in layers) return Array.from({ length: Math.min(layers.top, n) }, (_, i) => n - Math.min(layers.top, n) + i);
  return [...new Set(layers)].sort((a, b) => a - b);
};
