/**
 * User-defined variant kinds: a new way of steering a frozen model, written by a user in a few
 * lines and used like a built-in one (composed with other parts, in a prefix bank, trained,
 * exported as an adapter, decoded).
 *
 * A kind is one record, made by `defineKind`:
 * - `codec`     its options (an io-ts codec: `{ kind: 'custom', name, options }` in a variant
 *               is decoded with it, so bad options are a one-line error, not a cast);
 * - `params`    its trainable parameters, declared once: name -> shape and initialisation,
 *               from the options and the model's sites;
 * - `transform` the graph it adds at the model's sites, from the nodes made of those
 *               parameters: per-layer past keys/values at an attention site (`self`, and for
 *               BART `encoder` and `cross`), virtual-token embeddings before the input,
 *               and/or (decoder-only) key/values between the source and the target.
 *
 * The transform sees every parameter with a leading batch axis, `[B, ...shape]`: one value
 * broadcast to every row, or, in a prefix bank (`users` U), row b's user's own values (the
 * parameter is stored as `[U, ...shape]`), so every kind works in a bank without knowing it.
 * Its edits join the other parts' at the same site in variant order (positions, masks and
 * virtual lengths follow from their shapes, which are decided when the graph is built). Its
 * adapter stores its parameters as they are; reading it back needs the kind
 * (`parseAdapter(…, { kinds })`), so the CLI and the server, which load no user code, refuse it
 * in one line.
 *
 * See `examples/low-rank-prefix.ts` and `examples/gated-prefix.ts`.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import type { Node } from '../ir/node.ts';
import { type Dim, dimEq, dimToString } from '../types/dim.ts';
import type { KeyValue } from '../models/common.ts';
import type { Site } from './variant.ts';
import { type InitSpec, type SiteGeometry, promptToPast, tokenDim } from './params.ts';

/** One trainable parameter of a kind. */
export interface KindParam {
  readonly shape: readonly number[];
  readonly init: InitSpec;
  /** Whether AdamW's weight decay applies (default true). */
  readonly decay?: boolean;
}

/** What a kind sees of the model: its attention sites and its embedding width. */
export interface KindModel {
  readonly sites: Partial<Record<Site, SiteGeometry>>;
  readonly embedDim: number;
}

/**
 * What a transform adds to the model's graph. `past[site]` maps a layer to its key/value
 * activations, `[B, kvHeads, P, headDim]` each; `embeddings` is `[B, P, D]`, virtual tokens
 * before the input (BART: before the source).
 */
export interface SiteEdits {
  readonly past?: Partial<Record<Site, ReadonlyMap<number, KeyValue>>>;
  readonly embeddings?: Node;
  /**
   * Decoder-only models: per self-attention layer, key/values between the source and the
   * target (`[x; INFIX; y]`, as the infix kind places them); the graphs then take the source
   * apart (`source_ids`, `source_mask`).
   */
  readonly infix?: ReadonlyMap<number, KeyValue>;
}

/** Helpers a transform gets with its nodes. */
export interface KindContext extends KindModel {
  /** The batch size B (symbolic in training graphs). */
  readonly batch: Dim;
  /**
   * Splits a prompt `[B, P, 2·n·td]` in PEFT's layout (layer j's key at block 2j, value at 2j+1)
   * into the key/values of `layers` (n of them) at `site`.
   */
  readonly toPast: (prompt: Node, site: Site, layers: readonly number[]) => Map<number, KeyValue>;
}

/** A kind's definition: what `defineKind` takes (`O` its decoded options, `A` their JSON form). */
export interface KindDefinition<O, K extends string, A = O> {
  /** Its name in variants (`{ kind: 'custom', name }`) and its parameters' scope. */
  readonly name: string;
  readonly codec: t.Type<O, A, unknown>;
  readonly params: (options: O, model: KindModel) => Readonly<Record<K, KindParam>>;
  readonly transform: (nodes: Readonly<Record<K, Node>>, options: O, ctx: KindContext) => SiteEdits;
}

/** A kind's options decoded and its parameters declared, for one model. */
export interface RealisedKind {
  readonly params: Readonly<Record<string, KindParam>>;
  readonly transform: (nodes: Readonly<Record<string, Node>>, ctx: KindContext) => SiteEdits;
}

/** A kind as `inject` takes it (`InjectOptions.kinds`): its options are decoded when realised. */
export interface Kind {
  readonly name: string;
  /** Left: a one-line reason (bad options, or parameters that do not fit the model). */
  readonly realise: (options: unknown, model: KindModel) => E.Either<string, RealisedKind>;
}

/** A defined kind: also makes its variant leaf from typed options (`{ kind: 'custom', name, options }`). */
export interface DefinedKind<A> extends Kind {
  readonly variant: (options: A) => { readonly kind: 'custom'; readonly name: string; readonly options: A };
}

const NAME = /^[a-z][a-z0-9-]*$/;
const PARAM = /^[A-Za-z][A-Za-z0-9_]*$/;

/**
 * Defines a kind. The parameter names `K` tie `params` to `transform`: the transform receives
 * exactly the nodes of the parameters `params` declares, so one cannot drift from the other.
 */
export const defineKind = <O, K extends string, A = O>(k: KindDefinition<O, K, A>): DefinedKind<A> => {
  if (!NAME.test(k.name)) throw new Error(`defineKind: name '${k.name}' must be lower-case letters, digits and '-', starting with a letter`);
  return {
    name: k.name,
    variant: (options) => ({ kind: 'custom', name: k.name, options }),
    realise: (options, model) => {
      const o = k.codec.decode(options);
      if (E.isLeft(o)) return E.left(`the options of kind '${k.name}' are invalid: ${PathReporter.report(o).join('; ')}`);
      let params: Readonly<Record<K, KindParam>>;
      try {
        params = k.params(o.right, model);
        checkKindParams(k.name, params);
      } catch (e) {
        return E.left(e instanceof Error ? e.message : String(e));
      }
      const names = Object.keys(params) as K[];
      return E.right({
        params,
        transform: (nodes, ctx) => k.transform(Object.fromEntries(names.map((n) => [n, nodes[n]!])) as Record<K, Node>, o.right, ctx),
      });
    },
  };
};

/** Checks a kind's declared parameters (names and shapes). */
const checkKindParams = (name: string, params: Readonly<Record<string, KindParam>>): void => {
  for (const [p, spec] of Object.entries(params)) {
    if (!PARAM.test(p)) throw new Error(`kind '${name}': parameter name '${p}' must be letters, digits and '_'`);
    if (!spec.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`kind '${name}': parameter '${p}' has shape [${spec.shape.join(', ')}]; dims must be non-negative integers`);
  }
};

/** The context of a transform at batch size `batch`. */
export const kindContext = (model: KindModel, batch: Dim): KindContext => ({
  ...model,
  batch,
  toPast: (prompt, site, layers) => {
    const g = model.sites[site];
    if (!g) throw new Error(`toPast: the model has no '${site}' attention`);
    const want = 2 * layers.length * tokenDim(g);
    if (prompt.shape.length !== 3 || !dimEq(prompt.shape[0]!, batch) || prompt.shape[2] !== want)
      throw new Error(`toPast: a prompt for ${layers.length} '${site}' layer(s) is [${dimToString(batch)}, P, ${want}] (2·layers·td), got ${fmt(prompt.shape)}`);
    const kvs = promptToPast(prompt, g, batch, layers.length);
    return new Map(layers.map((l, j) => [l, kvs[j]!]));
  },
});

const same = (a: readonly Dim[], b: readonly Dim[]): boolean => a.length === b.length && a.every((d, i) => dimEq(d, b[i]!));
const fmt = (s: readonly Dim[]): string => `[${s.map(dimToString).join(', ')}]`;

/**
 * Checks a transform's edits against the model (sites, layers, shapes; static lengths) and
 * returns them with their lengths: per site and layer, and of the embeddings.
 */
export const checkEdits = (name: string, model: KindModel, batch: Dim, edits: SiteEdits): { past: Map<Site, Map<number, number>>; embeddings: number; infix: Map<number, number> } => {
  const past = new Map<Site, Map<number, number>>();
  const entries = Object.entries(edits.past ?? {}) as [Site, ReadonlyMap<number, KeyValue>][];
  let infix = new Map<number, number>();
  for (const [site, layers, isInfix] of [...entries.map(([a, b]) => [a, b, false] as const), ...(edits.infix ? [['self', edits.infix, true] as const] : [])]) {
    const g = model.sites[site];
    if (!g) throw new Error(`kind '${name}': the model has no '${site}' attention (it has ${Object.keys(model.sites).join(', ')})`);
    const lens = new Map<number, number>();
    for (const [l, kv] of layers) {
      if (!Number.isInteger(l) || l < 0 || l >= g.layers) throw new Error(`kind '${name}': layer ${l} out of range (the '${site}' attention has ${g.layers} layers)`);
      const P = kv.key.shape[2];
      if (typeof P !== 'number') throw new Error(`kind '${name}': the length of its '${site}' layer ${l} keys must be a number, got ${fmt(kv.key.shape)}`);
      const want = [batch, g.kvHeads, P, g.headDim];
      for (const [what, x] of [['keys', kv.key], ['values', kv.value]] as const)
        if (!same(x.shape, want) || x.dtype !== 'float32') throw new Error(`kind '${name}': its '${site}' layer ${l} ${what} must be float32 ${fmt(want)}, got ${x.dtype} ${fmt(x.shape)}`);
      lens.set(l, P);
    }
    if (isInfix) infix = lens;
    else past.set(site, lens);
  }
  let embeddings = 0;
  if (edits.embeddings) {
    const e = edits.embeddings;
    const P = e.shape[1];
    if (typeof P !== 'number' || !same(e.shape, [batch, P, model.embedDim]) || e.dtype !== 'float32')
      throw new Error(`kind '${name}': its embeddings must be float32 [${dimToString(batch)}, P, ${model.embedDim}], got ${e.dtype} ${fmt(e.shape)}`);
    embeddings = P;
  }
  return { past, embeddings, infix };
};

/** A site's geometry as kinds use it: its layers' indices and td = kvHeads·headDim. */
export interface KindSite extends SiteGeometry {
  /** Every layer index, 0..layers-1. */
  readonly indices: readonly number[];
  readonly tokenDim: number;
}

/** The geometry of `site` (throws, naming the sites there are, when the model has none). */
export const siteOf = (model: KindModel, site: Site): KindSite => {
  const g = model.sites[site];
  if (!g) throw new Error(`the model has no '${site}' attention (it has ${Object.keys(model.sites).join(', ')})`);
  return { ...g, indices: Array.from({ length: g.layers }, (_, i) => i), tokenDim: tokenDim(g) };
};
