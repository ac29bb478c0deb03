/**
 * The baselines: the model's own weights become trainable, every one (FT-full) or those of the
 * top k layers (FT-top2; BART counts decoder layers), by the layers the model declares. The
 * forward is the model's: nothing is added at its sites.
 */
import { FinetuneC } from '../variant.ts';
import { kindEntry } from '../part.ts';

export const finetuneKind = kindEntry({
  codec: FinetuneC,
  parts: (leaf, ctx) => {
    const layers = new Set(ctx.layers(leaf.layers, ctx.model.layers, 'the model'));
    return [new Set(ctx.model.weights.filter((w) => leaf.layers === 'all' || layers.has(w.layer)).map((w) => w.name))];
  },
  describe: (names) => ({ shape: 'weights', names }),
  // the union over every finetune leaf, in the model's order, is made once by `inject`
  params: () => [],
  lengths: () => ({}),
  transform: () => ({}),
});
