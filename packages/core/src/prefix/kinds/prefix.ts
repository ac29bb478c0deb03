/**
 * The paper's method: P trainable key/value activations prepended at every attention layer of
 * the chosen sites (BART: encoder, decoder and cross-attention by default; some layers; one
 * prefix shared by all of them), P = MLP(P') while training with the `mlp` parametrisation.
 */
import { PrefixC, type Site } from '../variant.ts';
import { groupPast } from '../activations.ts';
import { kindEntry } from '../part.ts';
import { activations, groupParams, keyValueGroups, layerLengths } from './groups.ts';

export const prefixKind = kindEntry({
  codec: PrefixC,
  parts: (leaf, ctx) => keyValueGroups('prefix', leaf, leaf.sites ?? (Object.keys(ctx.model.sites) as Site[]), (s) => (s === 'self' ? 'prefix' : `prefix_${s}`), ctx),
  describe: activations,
  params: groupParams,
  lengths: (g) => ({ past: new Map([[g.site!, layerLengths(g)]]) }),
  transform: (g, inj, B) => (g.length > 0 ? { past: { [g.site!]: groupPast(inj, g, B) } } : {}),
});
