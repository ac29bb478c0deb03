/** A user-defined kind for the property tests: one prefix shared by every self-attention layer, scaled per layer by 1 + gate (as examples/gated-prefix.ts). */
import * as t from 'io-ts';
import { defineKind, siteOf } from '../../src/prefix/kind.ts';
import { add, mul, reshape, scalar, slice } from '../../src/graph.ts';

export const gated = defineKind({
  name: 'gated',
  codec: t.type({ length: t.Int }),
  params: ({ length }, m) => ({
    shared: { shape: [length, 2 * siteOf(m, 'self').tokenDim], init: { kind: 'normal', std: 1 } },
    gate: { shape: [siteOf(m, 'self').layers], init: { kind: 'zeros' } },
  }),
  transform: ({ shared, gate }, _o, ctx) => ({
    past: { self: new Map(siteOf(ctx, 'self').indices.flatMap((l) =>
      [...ctx.toPast(mul(shared, add(scalar(1), reshape(slice(gate, 1, l, l + 1), [ctx.batch, 1, 1]))), 'self', [l])])) },
  }),
});
