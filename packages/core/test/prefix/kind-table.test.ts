/**
 * The table of variant kinds is complete by type: a table missing a leaf kind's record, or a
 * record missing one of its parts, does not compile (the `@ts-expect-error` lines fail the
 * typecheck if they ever do compile); and at run time every leaf kind of the variant codec has
 * its record, whose codec is the one `VariantC` uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as E from 'fp-ts/lib/Either.js';
import { kindTable, VariantC } from '../../src/prefix/kinds/index.ts';
import { kindEntry } from '../../src/prefix/part.ts';
import { PrefixC } from '../../src/prefix/variant.ts';

test('a table without a kind\'s record, or a record without its transform, does not compile', () => {
  const { custom: _dropped, ...partial } = kindTable;
  // @ts-expect-error the custom kind's record is missing
  const incomplete: typeof kindTable = partial;
  void incomplete;
  // @ts-expect-error a record needs its transform
  const noTransform = kindEntry({ codec: PrefixC, parts: () => [], describe: () => ({ shape: 'weights', names: new Set<string>() }), params: () => [], lengths: () => ({}) });
  void noTransform;
});

test('every leaf kind has its record, and VariantC decodes with the records\' codecs', () => {
  assert.deepEqual(Object.keys(kindTable).sort(), ['custom', 'embedding', 'finetune', 'infix', 'prefix']);
  const leaves = [
    { kind: 'prefix', length: 2 }, { kind: 'embedding', length: 1 }, { kind: 'infix', length: 1 },
    { kind: 'finetune', layers: 'all' }, { kind: 'custom', name: 'gated', options: { length: 2 } },
  ] as const;
  for (const leaf of leaves) {
    const codec: { decode: (x: unknown) => E.Either<unknown, unknown> } = kindTable[leaf.kind].codec;
    assert.ok(E.isRight(codec.decode(leaf)), leaf.kind);
    assert.ok(E.isRight(VariantC.decode(leaf)), leaf.kind);
    assert.ok(E.isLeft(VariantC.decode({ ...leaf, kind: `${leaf.kind}x` })), `${leaf.kind}x is no kind`);
  }
  assert.ok(E.isRight(VariantC.decode({ kind: 'compose', parts: leaves })));
});
