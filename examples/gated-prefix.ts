/**
 * A placement no built-in kind has: one prefix shared by every self-attention layer, scaled
 * per layer by a learned gate, layer l's keys and values = (1 + g_l)·S. With the gates at
 * zero (their initialisation) it is exactly the built-in `shared: true` prefix; training
 * lets each layer take more or less of it. 2·P·td + L parameters. Its variant:
 * `gatedPrefix.variant({ length })`.
 *
 *   node --import tsx examples/train-kind.ts gated
 */
import * as t from 'io-ts';
import { defineKind } from '@prefix-tuning/core';
import { siteOf } from '@prefix-tuning/core/prefix';
import { add, mul, reshape, scalar, slice } from '@prefix-tuning/core/graph';

export const gatedPrefix = defineKind({
  name: 'gated',
  codec: t.type({ length: t.Int }),
  params: ({ length }, model) => {
    const self = siteOf(model, 'self');
    return {
      shared: { shape: [length, 2 * self.tokenDim], init: { kind: 'normal', std: 1 } },
      gate: { shape: [self.layers], init: { kind: 'zeros' }, decay: false },
    };
  },
  transform: ({ shared, gate }, _options, ctx) => {
    const self = siteOf(ctx, 'self');
    // gate [B, L]: layer l scales the shared prompt [B, P, 2·td] by 1 + gate[:, l]
    const layer = (l: number) => ctx.toPast(mul(shared, add(scalar(1), reshape(slice(gate, 1, l, l + 1), [ctx.batch, 1, 1]))), 'self', [l]);
    return { past: { self: new Map(self.indices.flatMap((l) => [...layer(l)])) } };
  },
});
