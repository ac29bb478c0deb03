/**
 * The INFIX ablation, `[x; INFIX; y]`: trainable key/value activations at every (or some)
 * self-attention layer, placed between the source and the target. The source is encoded first;
 * the target attends to source ++ infix ++ itself.
 */
import { InfixC } from '../variant.ts';
import { groupPast } from '../activations.ts';
import { kindEntry } from '../part.ts';
import { activations, groupParams, keyValueGroups, layerLengths } from './groups.ts';

export const infixKind = kindEntry({
  codec: InfixC,
  parts: (leaf, ctx) => keyValueGroups('infix', leaf, ['self'], () => 'infix', ctx),
  describe: activations,
  params: groupParams,
  lengths: (g) => ({ infix: layerLengths(g) }),
  transform: (g, inj, B) => (g.length > 0 ? { infix: groupPast(inj, g, B) } : {}),
});
