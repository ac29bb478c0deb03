/**
 * `inject(model, variant)`: a tuning variant applied to a model as a pure transform. Each leaf
 * of the variant is realised by its kind's record (./kinds/, one file per kind) into parts with
 * their parameters, lengths and transform; the result names the trainable parameters (with
 * their initialisation), holds one geometry (the positions the variant adds per site and
 * layer), and builds the model's forward pass with every part's edits in place:
 *
 * - prefix     per-layer key/value activations prepended at the chosen attention sites;
 * - embedding  virtual-token embeddings prepended to the input embeddings;
 * - infix      per-layer key/value activations between the source and the target
 *              (`[x; INFIX; y]`): the source is encoded first, the target attends to
 *              source ++ infix ++ itself;
 * - finetune   the model's own weights (all, or the top k layers) become trainable;
 * - custom     a user-defined kind (./kind.ts): its transform's edits at the sites;
 * - compose    all of its parts at once (edits at one site are concatenated in variant order).
 *
 * Positions and masks (as the official code and PEFT): a past of P virtual positions shifts
 * the real tokens' absolute positions by P (GPT-2's learned positions and Llama's RoPE both
 * see positions P, P+1, …), and virtual positions are never masked. With length 0 every
 * variant is exactly the base model.
 *
 * A prefix *bank* (`users` > 0) holds one prefix per user; a `user_ids` [B] input picks each
 * row's prefix, so one batch mixes users in training and in generation.
 */
import type { Node } from '../ir/node.ts';
import type { Dim } from '../types/dim.ts';
import { concat } from '../ops/layout.ts';
import type { KeyValue, PastKeyValues, ModelSites } from '../models/common.ts';
import { type Variant, type Site, flattenVariant, selectLayers } from './variant.ts';
import type { ParamSpec } from './params.ts';
import type { Geometry, InjectOptions, Injection, InjectedPart, RealiseContext } from './part.ts';
import { kindOf } from './kinds/index.ts';

export type { ModelSites } from '../models/common.ts';
export type { InjectOptions, ActivationGroup, CustomPart, Injection, InjectedPart, PartEdits, PartLengths, Geometry } from './part.ts';
export { BATCH, userIdsInput, groupActivations, groupPast, customEdits } from './activations.ts';

const scopeName = (kind: string, i: number): string => (i === 0 ? kind : `${kind}_${i}`);

/** A layer selection resolved against `n` layers of `what`; more layers than there are is an error, not a silent clamp. */
const checkedLayers: RealiseContext['layers'] = (layers, n, what) => {
  if (layers !== undefined && layers !== 'all' && 'top' in layers && layers.top > n)
    throw new Error(`inject: layers {top: ${layers.top}} selects more layers than ${what} has (${n})`);
  const selected = selectLayers(layers, n);
  const bad = selected.find((l) => l >= n);
  if (bad !== undefined) throw new Error(`inject: layer ${bad} out of range (${what} has ${n} layers)`);
  return selected;
};

const addLengths = (into: Map<number, number>, from: ReadonlyMap<number, number> | undefined): void => {
  for (const [l, n] of from ?? []) if (n > 0) into.set(l, (into.get(l) ?? 0) + n);
};

/** The positions the parts add, summed per site and layer. */
const geometryOf = (parts: readonly InjectedPart[]): Geometry => {
  const past = new Map<Site, Map<number, number>>();
  const infix = new Map<number, number>();
  let embeddings = 0;
  for (const p of parts) {
    for (const [site, lens] of p.lengths.past ?? []) {
      if (![...lens.values()].some((n) => n > 0)) continue;
      if (!past.has(site)) past.set(site, new Map());
      addLengths(past.get(site)!, lens);
    }
    addLengths(infix, p.lengths.infix);
    embeddings += p.lengths.embeddings ?? 0;
  }
  return { past, infix, embeddings };
};

/** Realises a variant against a model's sites: parts, trainable parameters and geometry. Throws on a bad selection. */
export const inject = (model: ModelSites, variant: Variant, opts: InjectOptions = {}): Injection => {
  const counts: Record<string, number> = {};
  const ctx: RealiseContext = {
    model, opts, users: opts.users ?? 0, mode: opts.mode ?? 'train', layers: checkedLayers,
    scope: (base) => scopeName(base, (counts[base] = (counts[base] ?? -1) + 1)),
  };
  const parts = flattenVariant(variant).flatMap((leaf) => kindOf(leaf).realise(leaf, ctx));
  const groups = parts.flatMap((p) => (p.part.shape === 'activations' ? [p.part.group] : []));
  const custom = parts.flatMap((p) => (p.part.shape === 'custom' ? [p.part.custom] : []));
  // activations first, then custom parts, then model weights (in the model's order, once each)
  const rank = { activations: 0, custom: 1, weights: 2 } as const;
  const order = new Map(model.weights.map((w, i) => [w.name, i]));
  const specs = [...parts].sort((a, b) => rank[a.part.shape] - rank[b.part.shape]).flatMap((p) => p.trainable);
  const trainable: ParamSpec[] = [
    ...specs.filter((p) => !order.has(p.name)),
    ...[...new Map(specs.filter((p) => order.has(p.name)).map((p) => [p.name, p])).values()].sort((a, b) => order.get(a.name)! - order.get(b.name)!),
  ];
  const seen = new Set<string>();
  for (const p of trainable) {
    if (seen.has(p.name)) throw new Error(`inject: two parts name the parameter '${p.name}' (rename a user-defined kind?)`);
    seen.add(p.name);
  }
  return {
    variant, parts, groups, custom, model: { sites: model.sites, embedDim: model.embedDim }, trainable, geometry: geometryOf(parts),
    users: ctx.users, mode: ctx.mode, dropoutInputs: opts.dropout === true,
  };
};

const concatPasts = (a: KeyValue | undefined, b: KeyValue): KeyValue =>
  a === undefined ? b : { key: concat([a.key, b.key], 2), value: concat([a.value, b.value], 2) };

/**
 * Merged per-layer activations at `site` of every part (concatenated in variant order): `prefix`
 * before the input, or `infix` between source and target (self-attention).
 */
export const sitePast = (inj: Injection, where: 'prefix' | 'infix', site: Site, B: Dim): { past: PastKeyValues; length: Dim; layers: Map<number, Dim> } | undefined => {
  const lengths = where === 'infix' ? (site === 'self' ? inj.geometry.infix : new Map<number, number>()) : inj.geometry.past.get(site);
  if (!lengths || lengths.size === 0) return undefined;
  const merged = new Map<number, KeyValue>();
  for (const p of inj.parts) {
    const own = where === 'infix' ? p.lengths.infix : p.lengths.past?.get(site);
    if (![...(own?.values() ?? [])].some((n) => n > 0)) continue;
    const e = p.edits(inj, B);
    const kvs = where === 'infix' ? e.infix : e.past?.[site];
    for (const [l, kv] of kvs ?? []) {
      const n = own!.get(l) ?? 0;
      if (n === 0) continue;
      // the geometry the host and the plans read is the graph's: a part's lengths and its edits agree
      if (kv.key.shape[2] !== n) throw new Error(`bug: a ${p.kind} part declares ${n} positions at '${site}' layer ${l} but its edits have ${String(kv.key.shape[2])}`);
      merged.set(l, concatPasts(merged.get(l), kv));
    }
  }
  const layers = new Map<number, Dim>([...lengths]);
  return { past: (l) => merged.get(l), length: Math.max(0, ...lengths.values()), layers };
};

/** Virtual-token embeddings of every part, [B, Pe, D] (concatenated in variant order), or undefined. */
export const embeddingPrefix = (inj: Injection, B: Dim): Node | undefined => {
  const rows = inj.parts.filter((p) => (p.lengths.embeddings ?? 0) > 0).map((p) => {
    const e = p.edits(inj, B).embeddings!;
    if (e.shape[1] !== p.lengths.embeddings) throw new Error(`bug: a ${p.kind} part declares ${p.lengths.embeddings} virtual embeddings but its edits have ${String(e.shape[1])}`);
    return e;
  });
  return rows.length === 0 ? undefined : concat(rows, 1);
};
