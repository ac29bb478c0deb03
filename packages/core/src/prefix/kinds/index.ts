/**
 * The table of variant kinds: one record per kind of variant leaf, typed so that a leaf kind
 * without its record (or a record without its codec, parts, parameters, lengths or transform)
 * does not compile. `compose` is not a kind: it is flattened into its leaves.
 */
import * as t from 'io-ts';
import type { Variant } from '../variant.ts';
import type { KindEntry } from '../part.ts';
import { prefixKind } from './prefix.ts';
import { embeddingKind } from './embedding.ts';
import { infixKind } from './infix.ts';
import { finetuneKind } from './finetune.ts';
import { customKind } from './custom.ts';

/** A leaf of a variant (anything but `compose`). */
export type Leaf = Exclude<Variant, { kind: 'compose' }>;
type LeafOf<K extends Leaf['kind']> = Extract<Leaf, { kind: K }>;

export const kindTable: { readonly [K in Leaf['kind']]: KindEntry<LeafOf<K>> } = {
  prefix: prefixKind,
  embedding: embeddingKind,
  infix: infixKind,
  finetune: finetuneKind,
  custom: customKind,
};

/** The record of a leaf's kind. */
export const kindOf = <L extends Leaf>(leaf: L): KindEntry<L> => kindTable[leaf.kind] as unknown as KindEntry<L>;

/** The codec of variants: the table's codecs, and `compose` of variants (built from the table, so a kind's codec is its record's). */
export const VariantC: t.Type<Variant> = t.recursion('Variant', () => {
  const [a, b, ...rest] = Object.values(kindTable).map((k) => k.codec) as t.Mixed[];
  return t.union([a!, b!, ...rest, t.type({ kind: t.literal('compose'), parts: t.readonlyArray(VariantC) })]);
});
