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
  // each weight starts as the model's own value; `inject` keeps one spec per weight when leaves overlap
  params: (names, ctx) => ctx.model.weights.filter((w) => names.has(w.name)).map((w) => ({ name: w.name, shape: w.shape, init: { kind: 'copy', from: w.name }, decay: w.decay })),
  lengths: () => ({}),
  transform: () => ({}),
});
