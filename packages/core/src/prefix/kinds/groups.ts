/**
 * What the three activation kinds (prefix, infix, embedding) share: a group's common fields
 * from a leaf's options, its parameters in PEFT's names (a bank holds one embedding per user;
 * the MLP is shared), the key/value groups of a leaf at its sites, and their lengths.
 */
import type { Reparam, Site, Layers } from '../variant.ts';
import { type ParamSpec, activationParamSpecs, tokenDim } from '../params.ts';
import type { ActivationGroup, InjectedPart, RealiseContext } from '../part.ts';

/** The options every activation kind takes. */
export interface ActivationOptions {
  readonly length: number;
  readonly reparam?: Reparam;
  readonly dropout?: number;
  readonly init?: { readonly kind: 'random'; readonly std?: number } | { readonly kind: 'words'; readonly text: string };
}

/** A group's fields from a leaf's options (stored mode keeps the computed activations: direct). */
export const commonFields = (kind: ActivationGroup['kind'], o: ActivationOptions, ctx: RealiseContext) => ({
  kind,
  length: o.length,
  reparam: ctx.mode === 'stored' ? { kind: 'direct' as const } : (o.reparam ?? { kind: 'direct' as const }),
  dropout: o.dropout ?? 0,
  ...(o.init?.kind === 'words' ? { initText: o.init.text } : {}),
});

/** A group's parameters: `<scope>.embedding.weight` (with a leading [U] in a bank) and the MLP's. */
export const groupParams = (g: ActivationGroup, ctx: RealiseContext): readonly ParamSpec[] =>
  activationParamSpecs(g.scope, g.length, g.width, g.inDim, g.reparam).map((p) =>
    ctx.users > 0 && p.name.endsWith('.embedding.weight') ? { ...p, shape: [ctx.users, ...p.shape] } : p);

/**
 * The key/value groups of a leaf at `sites` (one per site, scoped `base(site)`), or PEFT's
 * seq2seq geometry under the `peft` layout: a [P, 2·Lp·td] prompt where decoder layer l takes rows
 * 4l, 4l+1 (mod 2Lp).
 */
export const keyValueGroups = (
  kind: 'prefix' | 'infix',
  o: ActivationOptions & { readonly layers?: Layers; readonly shared?: boolean },
  sites: readonly Site[],
  base: (site: Site) => string,
  ctx: RealiseContext,
): ActivationGroup[] => {
  const { model } = ctx;
  const peft = ctx.opts.layout === 'peft' && model.sites.encoder !== undefined;
  const common = commonFields(kind, o, ctx);
  return (peft ? ['self' as const] : sites).map((site): ActivationGroup => {
    const g = model.sites[site];
    if (!g) throw new Error(`inject: the model has no '${site}' attention (it has ${Object.keys(model.sites).join(', ')})`);
    const layers = ctx.layers(o.layers, g.layers, `the '${site}' attention`);
    if (peft) {
      const Lp = ctx.opts.peftRows ?? model.sites.encoder!.layers;
      const rows = layers.map((l) => [(4 * l) % (2 * Lp), (4 * l + 1) % (2 * Lp)] as const);
      return { ...common, scope: ctx.scope(base(site)), site, layers, shared: false, geometry: g, width: 2 * Lp * tokenDim(g), inDim: tokenDim(g), rows };
    }
    const shared = o.shared === true;
    return { ...common, scope: ctx.scope(base(site)), site, layers, shared, geometry: g, width: 2 * (shared ? 1 : layers.length) * tokenDim(g), inDim: tokenDim(g) };
  });
};

/** A key/value group's lengths: its length at each of its layers (none at length 0). */
export const layerLengths = (g: ActivationGroup): Map<number, number> =>
  new Map(g.length > 0 ? (g.layers ?? []).map((l) => [l, g.length]) : []);

/** The part description of a group. */
export const activations = (group: ActivationGroup): InjectedPart['part'] => ({ shape: 'activations', group });

