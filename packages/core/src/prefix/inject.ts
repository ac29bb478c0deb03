/**
 * `inject(model, variant)`: a tuning variant applied to a model as a pure transform. The
 * result names the trainable parameters (with their initialisation) and builds the model's
 * forward pass with the variant's activations in place:
 *
 * - prefix     per-layer key/value activations prepended at the chosen attention sites;
 * - embedding  virtual-token embeddings prepended to the input embeddings;
 * - infix      per-layer key/value activations between the source and the target
 *              (`[x; INFIX; y]`): the source is encoded first, the target attends to
 *              source ++ infix ++ itself;
 * - finetune   the model's own weights (all, or the top k layers) become trainable;
 * - custom     a user-defined kind (./kind.ts): its transform's edits at the sites, after the
 *              built-in parts' activations there;
 * - compose    all of its parts at once (activations at one site are concatenated in order).
 *
 * Positions and masks (as the official code and PEFT): a past of P virtual positions shifts
 * the real tokens' absolute positions by P (GPT-2's learned positions and Llama's RoPE both
 * see positions P, P+1, …), and virtual positions are never masked. With length 0 every
 * variant is exactly the base model.
 *
 * A prefix *bank* (`users` > 0) holds one prefix per user; a `user_ids` [B] input picks each
 * row's prefix, so one batch mixes users in training and in generation.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Node } from '../ir/node.ts';
import { withPath } from '../ir/node.ts';
import { type Dim, sym } from '../types/dim.ts';
import { input, param } from '../ops/leaves.ts';
import { concat, broadcastTo, reshape } from '../ops/layout.ts';
import { gather } from '../ops/gather.ts';
import { add, mul } from '../ops/binary.ts';
import { tanh } from '../ops/unary.ts';
import { matmul, mT } from '../ops/matmul.ts';
import type { KeyValue, PastKeyValues, ModelSites } from '../models/common.ts';
import { type Variant, type Reparam, type Site, flattenVariant, selectLayers } from './variant.ts';
import { type ParamSpec, type SiteGeometry, activationParamSpecs, promptToPast, tokenDim } from './params.ts';
import { type Kind, type KindModel, type RealisedKind, type SiteEdits, kindContext, checkEdits } from './kind.ts';

/** What a variant needs to know about the model (declared by the model's own file, `modelSites`). */
export type { ModelSites } from '../models/common.ts';

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

/** One group of trainable activations. */
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
  /** Lengths of its edits (decided when the graph is built): per site and layer, and of its embeddings. */
  readonly lengths: { readonly past: ReadonlyMap<Site, ReadonlyMap<number, number>>; readonly embeddings: number };
}

export interface Injection {
  readonly variant: Variant;
  readonly groups: readonly ActivationGroup[];
  /** Parts of user-defined kinds, in variant order. */
  readonly custom: readonly CustomPart[];
  /** The model's sites, as kinds see them. */
  readonly model: KindModel;
  /** Trainable parameters: the groups' and the model weights made trainable by finetune parts. */
  readonly trainable: readonly ParamSpec[];
  readonly users: number;
  readonly mode: 'train' | 'stored';
  readonly dropoutInputs: boolean;
}

const scopeName = (kind: string, i: number): string => (i === 0 ? kind : `${kind}_${i}`);

/** A layer selection resolved against `n` layers of `what`; more layers than there are is an error, not a silent clamp. */
const checkedLayers = (layers: Parameters<typeof selectLayers>[0], n: number, what: string): number[] => {
  if (layers !== undefined && layers !== 'all' && 'top' in layers && layers.top > n)
    throw new Error(`inject: layers {top: ${layers.top}} selects more layers than ${what} has (${n})`);
  const selected = selectLayers(layers, n);
  const bad = selected.find((l) => l >= n);
  if (bad !== undefined) throw new Error(`inject: layer ${bad} out of range (${what} has ${n} layers)`);
  return selected;
};

/** Realises a variant against a model's sites: groups and trainable parameters. Throws on a bad selection. */
export const inject = (model: ModelSites, variant: Variant, opts: InjectOptions = {}): Injection => {
  const users = opts.users ?? 0;
  const mode = opts.mode ?? 'train';
  const counts: Record<string, number> = {};
  const groups: ActivationGroup[] = [];
  const finetune = new Set<string>();
  const custom: CustomPart[] = [];
  const kindModel: KindModel = { sites: model.sites, embedDim: model.embedDim };
  const next = (kind: string): string => scopeName(kind, (counts[kind] = (counts[kind] ?? -1) + 1));
  for (const part of flattenVariant(variant)) {
    if (part.kind === 'custom') {
      const kind = (opts.kinds ?? []).find((k) => k.name === part.name);
      if (!kind) throw new Error(`inject: no kind '${part.name}' (known: ${(opts.kinds ?? []).map((k) => k.name).join(', ') || 'none; pass it in the options\' kinds'})`);
      const r = kind.realise(part.options, kindModel);
      if (E.isLeft(r)) throw new Error(`inject: ${r.left}`);
      const scope = next(part.name);
      const edits = r.right.transform(kindNodes(scope, r.right, users, BATCH), kindContext(kindModel, BATCH));
      custom.push({ scope, name: part.name, kind: r.right, lengths: checkEdits(part.name, kindModel, BATCH, edits) });
      continue;
    }
    if (part.kind === 'finetune') {
      const layers = new Set(checkedLayers(part.layers, model.layers, 'the model'));
      const all = part.layers === 'all';
      for (const w of model.weights) if (all || layers.has(w.layer)) finetune.add(w.name);
      continue;
    }
    const reparam: Reparam = mode === 'stored' ? { kind: 'direct' } : (part.reparam ?? { kind: 'direct' });
    const common = {
      kind: part.kind,
      length: part.length,
      reparam,
      dropout: part.dropout ?? 0,
      ...(part.init?.kind === 'words' ? { initText: part.init.text } : {}),
    };
    if (part.kind === 'embedding') {
      groups.push({ ...common, scope: next('embedding'), width: model.embedDim, inDim: model.embedDim });
      continue;
    }
    const peft = opts.layout === 'peft' && model.sites.encoder !== undefined;
    const sites: readonly Site[] = peft ? ['self']
      : part.kind === 'prefix' && part.sites ? part.sites : (Object.keys(model.sites) as Site[]).filter((s) => part.kind === 'prefix' || s === 'self');
    for (const site of sites) {
      const g = model.sites[site];
      if (!g) throw new Error(`inject: the model has no '${site}' attention (it has ${Object.keys(model.sites).join(', ')})`);
      const layers = checkedLayers(part.layers, g.layers, `the '${site}' attention`);
      const shared = part.kind === 'prefix' && part.shared === true;
      const base = part.kind === 'infix' ? 'infix' : site === 'self' ? 'prefix' : `prefix_${site}`;
      if (peft) {
        // PEFT seq2seq: a [P, 2·Lp·td] prompt; layer l self-attention takes rows 4l, 4l+1 (mod 2Lp)
        const Lp = opts.peftRows ?? model.sites.encoder!.layers;
        const rows = layers.map((l) => [(4 * l) % (2 * Lp), (4 * l + 1) % (2 * Lp)] as const);
        groups.push({ ...common, scope: next(base), site, layers, shared: false, geometry: g, width: 2 * Lp * tokenDim(g), inDim: tokenDim(g), rows });
        continue;
      }
      const width = 2 * (shared ? 1 : layers.length) * tokenDim(g);
      groups.push({ ...common, scope: next(base), site, layers, shared, geometry: g, width, inDim: tokenDim(g) });
    }
  }
  const groupParams = (g: ActivationGroup): readonly ParamSpec[] =>
    activationParamSpecs(g.scope, g.length, g.width, g.inDim, g.reparam).map((p) =>
      users > 0 && p.name.endsWith('.embedding.weight') ? { ...p, shape: [users, ...p.shape] } : p);
  const trainable: ParamSpec[] = [
    ...groups.flatMap(groupParams),
    ...custom.flatMap((c) => Object.entries(c.kind.params).map(([n, p]): ParamSpec => ({
      name: `${c.scope}.${n}`, shape: users > 0 ? [users, ...p.shape] : p.shape, init: p.init, decay: p.decay ?? true,
    }))),
    ...model.weights.filter((w) => finetune.has(w.name)).map((w): ParamSpec => ({
      name: w.name, shape: w.shape, init: { kind: 'copy', from: w.name }, decay: w.decay,
    })),
  ];
  return { variant, groups, custom, model: kindModel, trainable, users, mode, dropoutInputs: opts.dropout === true };
};

/**
 * The nodes a kind's transform receives: each parameter with a leading batch axis, `[B, ...shape]`
 * (broadcast, or in a bank gathered by `user_ids` from the stored `[U, ...shape]`).
 */
const kindNodes = (scope: string, kind: RealisedKind, users: number, B: Dim): Record<string, Node> =>
  withPath(scope, () => Object.fromEntries(Object.entries(kind.params).map(([n, p]) => {
    if (users > 0) return [n, gather(param(`${scope}.${n}`, [users, ...p.shape]), userIdsInput(B))];
    return [n, broadcastTo(reshape(param(`${scope}.${n}`, p.shape), [1, ...p.shape]), [B, ...p.shape])];
  })));

/** The edits of a custom part for a batch of `B`. */
export const customEdits = (inj: Injection, c: CustomPart, B: Dim): SiteEdits =>
  withPath(c.scope, () => c.kind.transform(kindNodes(c.scope, c.kind, inj.users, B), kindContext(inj.model, B)));

/** The batch-size symbol used by injected graphs. */
export const BATCH: Dim = sym('B');

/** The `user_ids` [B] input of a prefix bank. */
export const userIdsInput = (B: Dim = BATCH): Node => input('user_ids', [B], 'int32');

/**
 * A group's activations for a batch: [B, P, W] (bank, or with a dropout mask) or [P, W]
 * shared by all rows.
 */
export const groupActivations = (inj: Injection, g: ActivationGroup, B: Dim): Node =>
  withPath(g.scope, () => {
    const bank = inj.users > 0;
    const ids = bank ? userIdsInput(B) : undefined;
    const emb = (shape: readonly number[]) => {
      const e = param(`${g.scope}.embedding.weight`, bank ? [inj.users, ...shape] : shape);
      return ids ? gather(e, ids) : e; // [B, P, *] or [P, *]
    };
    let a: Node;
    if (g.reparam.kind === 'direct') a = emb([g.length, g.width]);
    else {
      const h = g.reparam.hidden;
      const w0 = param(`${g.scope}.transform.0.weight`, [h, g.inDim]);
      const b0 = param(`${g.scope}.transform.0.bias`, [h]);
      const w2 = param(`${g.scope}.transform.2.weight`, [g.width, h]);
      const b2 = param(`${g.scope}.transform.2.bias`, [g.width]);
      a = add(matmul(tanh(add(matmul(emb([g.length, g.inDim]), mT(w0)), b0)), mT(w2)), b2); // [(B,) P, W]
    }
    if (inj.dropoutInputs && g.dropout > 0) {
      const mask = input(`${g.scope}.dropout_mask`, [B, g.length, g.width]);
      a = mul(a.shape.length === 3 ? a : broadcastTo(reshape(a, [1, g.length, g.width]), [B, g.length, g.width]), mask);
    }
    return a;
  });

/** Per-layer key/value activations of a group for a batch ([B, Hkv, P, Dh] each), by layer index. */
export const groupPast = (inj: Injection, g: ActivationGroup, B: Dim): Map<number, KeyValue> => {
  const a = groupActivations(inj, g, B);
  const geo = g.geometry!;
  const n = g.shared ? 1 : g.layers!.length;
  const kvs = promptToPast(a, geo, B, n, g.rows);
  return new Map(g.layers!.map((l, j) => [l, kvs[g.shared ? 0 : j]!]));
};

const concatPasts = (a: KeyValue | undefined, b: KeyValue): KeyValue =>
  a === undefined ? b : { key: concat([a.key, b.key], 2), value: concat([a.value, b.value], 2) };

/** Merged per-layer activations of every group of `kind` at `site` (concatenated in variant order). */
export const sitePast = (inj: Injection, kind: 'prefix' | 'infix', site: Site, B: Dim): { past: PastKeyValues; length: Dim; layers: Map<number, Dim> } | undefined => {
  const groups = inj.groups.filter((g) => g.kind === kind && g.site === site && g.length > 0);
  const custom = kind === 'prefix' ? inj.custom.filter((c) => [...(c.lengths.past.get(site)?.values() ?? [])].some((n) => n > 0)) : [];
  if (groups.length === 0 && custom.length === 0) return undefined;
  const merged = new Map<number, KeyValue>();
  for (const g of groups) for (const [l, kv] of groupPast(inj, g, B)) merged.set(l, concatPasts(merged.get(l), kv));
  for (const c of custom) for (const [l, kv] of customEdits(inj, c, B).past![site]!) if (kv.key.shape[2] !== 0) merged.set(l, concatPasts(merged.get(l), kv));
  const lengths = new Map<number, Dim>([...merged].map(([l, kv]) => [l, kv.key.shape[2]!]));
  const length = Math.max(0, ...[...lengths.values()].map((d) => d as number));
  return { past: (l) => merged.get(l), length, layers: lengths };
};

/** Virtual-token embeddings of the embedding groups, [B, Pe, D], or undefined. */
export const embeddingPrefix = (inj: Injection, B: Dim): Node | undefined => {
  const parts = inj.groups.filter((g) => g.kind === 'embedding' && g.length > 0).map((g) => {
    const a = groupActivations(inj, g, B);
    return a.shape.length === 3 ? a : broadcastTo(reshape(a, [1, g.length, g.width]), [B, g.length, g.width]);
  });
  for (const c of inj.custom) if (c.lengths.embeddings > 0) parts.push(customEdits(inj, c, B).embeddings!);
  return parts.length === 0 ? undefined : concat(parts, 1);
};
