/**
 * A user-defined kind (`defineKind`, ../kind.ts), named by a `{ kind: 'custom', name, options }`
 * leaf and found in `inject`'s `kinds`: its options decoded by its codec, its parameters under a
 * scope of its name (each with a leading [U] in a prefix bank), its transform's edits checked
 * against the model when realised.
 */
import * as E from 'fp-ts/lib/Either.js';
import { CustomC } from '../variant.ts';
import { BATCH, customEdits } from '../activations.ts';
import { checkEdits } from '../kind.ts';
import { kindEntry, type CustomPart } from '../part.ts';

/** A variant names a user-defined kind the caller did not pass (`inject`'s, `tune`'s or `parseAdapter`'s `kinds`). */
export class UnknownKind extends Error {
  override readonly name = 'UnknownKind';
  constructor(readonly kind: string, known: readonly string[]) {
    super(`inject: no kind '${kind}' (known: ${known.join(', ') || 'none; pass it in the options\' kinds'})`);
  }
}

export const customKind = kindEntry({
  codec: CustomC,
  parts: (leaf, ctx): CustomPart[] => {
    const kinds = ctx.opts.kinds ?? [];
    const twice = kinds.find((k, i) => kinds.findIndex((o) => o.name === k.name) !== i);
    if (twice) throw new Error(`inject: two kinds are named '${twice.name}'`);
    const kind = kinds.find((k) => k.name === leaf.name);
    if (!kind) throw new UnknownKind(leaf.name, kinds.map((k) => k.name));
    const r = kind.realise(leaf.options, { sites: ctx.model.sites, embedDim: ctx.model.embedDim });
    if (E.isLeft(r)) throw new Error(`inject: ${r.left}`);
    return [{ scope: ctx.scope(leaf.name), name: leaf.name, kind: r.right }];
  },
  describe: (custom) => ({ shape: 'custom', custom }),
  params: (c, ctx) => Object.entries(c.kind.params).map(([n, p]) => {
    const name = `${c.scope}.${n}`;
    if (ctx.model.weights.some((w) => w.name === name)) throw new Error(`inject: kind '${c.name}': its parameter '${name}' is a weight of the model (rename the kind or the parameter)`);
    return { name, shape: ctx.users > 0 ? [ctx.users, ...p.shape] : p.shape, init: p.init, decay: p.decay ?? true };
  }),
  lengths: (c, ctx) => {
    // its edits built once to read their shapes (the graphs build the same nodes again, hash-consed)
    const model = { sites: ctx.model.sites, embedDim: ctx.model.embedDim };
    return checkEdits(c.name, model, BATCH, customEdits({ users: ctx.users, model }, c, BATCH));
  },
  transform: (c, inj, B) => customEdits(inj, c, B),
});
