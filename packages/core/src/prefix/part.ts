/**
 * The vocabulary of injection: what a variant kind's record is (`KindRecord`: its codec, the
 * parts and parameters one leaf of a variant realises, and the transform each part applies at
 * the model's sites), what an injection holds (its parts, their parameters and one geometry),
 * and the options of `inject`. The built-in kinds are records in ./kinds/, one file each;
 * user-defined kinds (./kind.ts) enter through the `custom` record.
 */
import type * as t from 'io-ts';
import type { Dim } from '../types/dim.ts';
import type { ModelSites, SiteGeometry } from '../models/common.ts';
import type { Variant, Reparam, Site, Layers } from './variant.ts';
import type { ParamSpec } from './params.ts';
import type { Kind, KindModel, RealisedKind, SiteEdits } from './kind.ts';

export interface InjectOptions {
  /** User-defined kinds (`defineKind`), for the variant's `{ kind: 'custom', name }` parts. */
  readonly kinds?: readonly Kind[];
  /** Prefix bank: one set of activations per user, selected by a `user_ids` [B] input. */
  readonly users?: number;
  /**
   * `train`: activations from their parametrisation (MLP or direct); `stored`: the computed
   * activations as one `<scope>.embedding.weight` [P, W] each (an adapter after training).
   */
  readonly mode?: 'train' | 'stored';
  /**
   * `paper` (default): prefixes at every site the variant names (for BART: encoder, decoder and
   * cross-attention, as Li & Liang). `peft`: PEFT's geometry for encoder-decoder models — only
   * the decoder self-attention, from a prompt of PEFT's `num_layers` (BART's encoder layer count)
   * where decoder layer l takes rows 4l and 4l+1 (mod 2L), so PEFT adapters load and train the same.
   */
  readonly layout?: 'paper' | 'peft';
  /** PEFT's `num_layers` when it differs from the site's layer count (layout `peft`). */
  readonly peftRows?: number;
  /** Add `<scope>.dropout_mask` inputs (host-fed, 0 or 1/(1-p)) for parts with dropout > 0. */
  readonly dropout?: boolean;
}

/** One group of trainable activations (the parts of the prefix, infix and embedding kinds). */
export interface ActivationGroup {
  /** Parameter scope, e.g. `prefix`, `prefix_1`, `infix`, `embedding`. */
  readonly scope: string;
  readonly kind: 'prefix' | 'infix' | 'embedding';
  readonly length: number;
  /** Width of one virtual position: 2·L·td for key/value activations, D for embeddings. */
  readonly width: number;
  /** Input width of the MLP (td, or D for embeddings). */
  readonly inDim: number;
  readonly reparam: Reparam;
  readonly dropout: number;
  /** Key/value groups: site and the layers that receive activations. */
  readonly site?: Site;
  readonly layers?: readonly number[];
  readonly shared?: boolean;
  readonly geometry?: SiteGeometry;
  /** Rows of the prompt's [2L] axis feeding each selected layer's key and value (default 2j, 2j+1). */
  readonly rows?: readonly (readonly [number, number])[];
  /** Initialisation text when initialised from real words. */
  readonly initText?: string;
}

/** One part of a user-defined kind: its parameters live under `scope` (`<scope>.<name>`). */
export interface CustomPart {
  readonly scope: string;
  /** The kind's name. */
  readonly name: string;
  readonly kind: RealisedKind;
}

/** What a part adds at the model's sites: the same edits a user-defined kind's transform returns. */
export type PartEdits = SiteEdits;

/** The lengths of a part's edits, decided when it is realised (one geometry serves every graph). */
export interface PartLengths {
  readonly past?: ReadonlyMap<Site, ReadonlyMap<number, number>>;
  readonly embeddings?: number;
  readonly infix?: ReadonlyMap<number, number>;
}

/** One realised part of a variant: its parameters, its lengths and its transform. */
export interface InjectedPart {
  /** The kind of the variant leaf it comes from. */
  readonly kind: Exclude<Variant, { kind: 'compose' }>['kind'];
  /** What it is: activations (with their parametrisation), a user-defined kind's part, or model weights made trainable. */
  readonly part:
    | { readonly shape: 'activations'; readonly group: ActivationGroup }
    | { readonly shape: 'custom'; readonly custom: CustomPart }
    | { readonly shape: 'weights'; readonly names: ReadonlySet<string> };
  readonly trainable: readonly ParamSpec[];
  readonly lengths: PartLengths;
  /** Its edits for a batch of B (nodes built on demand; hash-consing shares repeated builds). */
  readonly edits: (inj: Injection, B: Dim) => PartEdits;
}

/** The positions a variant adds, per site and layer (the sum over its parts), which every graph and the host use. */
export interface Geometry {
  readonly past: ReadonlyMap<Site, ReadonlyMap<number, number>>;
  readonly infix: ReadonlyMap<number, number>;
  readonly embeddings: number;
}

export interface Injection {
  readonly variant: Variant;
  /** Every realised part, in variant order. */
  readonly parts: readonly InjectedPart[];
  /** The activation groups among them (what adapters store and word initialisation fits). */
  readonly groups: readonly ActivationGroup[];
  /** Parts of user-defined kinds, in variant order. */
  readonly custom: readonly CustomPart[];
  /** The model's sites, as kinds see them. */
  readonly model: KindModel;
  /** Trainable parameters: activation groups', custom parts', then model weights made trainable by finetune parts. */
  readonly trainable: readonly ParamSpec[];
  readonly geometry: Geometry;
  readonly users: number;
  readonly mode: 'train' | 'stored';
  readonly dropoutInputs: boolean;
}

/** What a kind's record sees when it realises one leaf. */
export interface RealiseContext {
  readonly model: ModelSites;
  readonly opts: InjectOptions;
  readonly users: number;
  readonly mode: 'train' | 'stored';
  /** A fresh parameter scope: `base`, then `base_1`, `base_2`, … across the whole variant. */
  readonly scope: (base: string) => string;
  /** A layer selection resolved against `n` layers of `what`; an error, not a clamp, when it does not fit. */
  readonly layers: (layers: Layers | undefined, n: number, what: string) => number[];
}

/**
 * A variant kind: its options' codec, the parts (with their parameters and lengths) one leaf
 * realises, and the transform of a part: what it adds at the model's sites for a batch of B.
 */
export interface KindRecord<V, P> {
  readonly codec: t.Type<V, unknown, unknown>;
  readonly parts: (leaf: V, ctx: RealiseContext) => readonly P[];
  readonly describe: (part: P) => InjectedPart['part'];
  readonly params: (part: P, ctx: RealiseContext) => readonly ParamSpec[];
  readonly lengths: (part: P, ctx: RealiseContext) => PartLengths;
  readonly transform: (part: P, inj: Injection, B: Dim) => PartEdits;
}

/** A kind's record with its part type closed over: what the table holds. */
export interface KindEntry<V> {
  readonly codec: t.Type<V, unknown, unknown>;
  readonly realise: (leaf: V, ctx: RealiseContext) => InjectedPart[];
}

/** Closes a record over its part type. */
export const kindEntry = <V extends { readonly kind: InjectedPart['kind'] }, P>(r: KindRecord<V, P>): KindEntry<V> => ({
  codec: r.codec,
  realise: (leaf, ctx) => r.parts(leaf, ctx).map((p): InjectedPart => ({
    kind: leaf.kind, part: r.describe(p), trainable: r.params(p, ctx), lengths: r.lengths(p, ctx), edits: (inj, B) => r.transform(p, inj, B),
  })),
});
