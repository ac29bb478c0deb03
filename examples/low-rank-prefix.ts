/**
 * A custom variant kind in a few lines: a *low-rank* prefix. Every self-attention layer's
 * keys and values come from one product U·V (U [P, r], V [r, 2·L·td]): r·(P + 2·L·td)
 * parameters instead of the paper's P·2·L·td. Its variant: `lowRankPrefix.variant({ length, rank })`.
 * Train it with `tune`, store its adapter, generate with it:
 *
 *   node --import tsx examples/train-kind.ts low-rank
 */
import * as t from 'io-ts';
import { defineKind } from '@prefix-tuning/core';
import { siteOf } from '@prefix-tuning/core/prefix';
import { matmul } from '@prefix-tuning/core/graph';

export const lowRankPrefix = defineKind({
  name: 'low-rank',
  codec: t.type({ length: t.Int, rank: t.Int }),
  params: ({ length, rank }, model) => {
    const self = siteOf(model, 'self');
    return {
      U: { shape: [length, rank], init: { kind: 'normal', std: 1 } },
      V: { shape: [rank, 2 * self.layers * self.tokenDim], init: { kind: 'normal', std: 1 / Math.sqrt(rank) } },
    };
  },
  // U [B, P, r] · V [B, r, 2·L·td] -> the prompt [B, P, 2·L·td], split per layer as PEFT lays it out
  transform: ({ U, V }, _options, ctx) => ({ past: { self: ctx.toPast(matmul(U, V), 'self', siteOf(ctx, 'self').indices) } }),
});
