/** Linearisations: the official formats on hand-checked examples, and their round-trip laws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  lineariseE2E,
  lineariseTriples,
  parseLinearisedE2E,
  parseLinearisedTriples,
  parseMR,
  printMR,
} from '../../src/data/linearise.ts';
import { groupBySource } from '../../src/data/references.ts';

const mr = (s: string) => {
  const r = parseMR(s);
  assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
  return r.right;
};

test('E2E: the official key names and order (from the official src1_test.txt lines)', () => {
  assert.equal(
    lineariseE2E(mr('name[Blue Spice], eatType[restaurant], food[Chinese], area[city centre], familyFriendly[yes], near[Rainbow Vegetarian Café]')),
    'name : Blue Spice | Type : restaurant | food : Chinese | area : city centre | family friendly : yes | near : Rainbow Vegetarian Café',
  );
  assert.equal(
    lineariseE2E(mr('name[The Vaults], eatType[pub], priceRange[more than £30], customer rating[5 out of 5], near[Café Adriatic]')),
    'name : The Vaults | Type : pub | price : more than £30 | customer rating : 5 out of 5 | near : Café Adriatic',
  );
  assert.equal(lineariseE2E(mr('name[X], eatType[pub]'), 'raw'), 'name : X | eatType : pub');
});

test('MR parsing errors', () => {
  assert.deepEqual(parseMR(''), E.left('empty meaning representation'));
  assert.deepEqual(parseMR('name[A] food[B]'), E.left('expected "," after name[A], got "f"'));
  assert.deepEqual(parseMR('name[A], food'), E.left('attribute "food" has no [value]'));
  assert.deepEqual(parseMR('name[A'), E.left('value of "name" is not closed with "]"'));
  assert.deepEqual(parseMR('name[A],'), E.left('trailing comma'));
  assert.deepEqual(parseMR('[A]'), E.left('attribute 1 has an empty name'));
});

const keyArb = fc.constantFrom('name', 'eatType', 'food', 'priceRange', 'customer rating', 'area', 'familyFriendly', 'near', 'other key');
const valueArb = fc.string({ unit: fc.constantFrom('a', 'B', ' ', '£', '-', '|', ':', 'é', '5'), minLength: 1, maxLength: 10 });
const attrsArb = fc.array(fc.record({ key: keyArb, value: valueArb }, { noNullPrototype: true }), { minLength: 1, maxLength: 8 });
const cleanValue = (v: string) => !/[|:]/.test(v) && v.trim() === v && v !== '';

test('E2E laws: parseMR ∘ printMR = id; parseLinearised ∘ linearise = id when values hold no | or :', () => {
  fc.assert(
    fc.property(attrsArb, (attrs) => {
      const clean = attrs.filter((a) => !/[[\],]/.test(a.value) && a.value.trim() === a.value && a.value.trim() !== '');
      if (clean.length > 0) assert.deepEqual(parseMR(printMR(clean)), E.right(clean));
      const sep = attrs.filter((a) => cleanValue(a.value));
      if (sep.length > 0) assert.deepEqual(parseLinearisedE2E(lineariseE2E(sep)), E.right(sep));
      // separators: always |attrs| - 1 of them when values hold none
      if (sep.length > 0) assert.equal(lineariseE2E(sep).split(' | ').length, sep.length);
    }),
    { numRuns: 300 },
  );
});

test('triples: WebNLG and DART formats of the official code', () => {
  const ts = [
    { subject: 'Alan_Bean', property: 'birthPlace', object: 'Wheeler,_Texas' },
    { subject: 'Alan_Bean', property: 'occupation', object: 'Test_pilot' },
  ];
  assert.equal(lineariseTriples(ts, 'webnlg'), '| Alan_Bean : birthPlace : Wheeler,_Texas | Alan_Bean : occupation : Test_pilot');
  assert.equal(
    lineariseTriples(ts, 'webnlg', { underscores: 'space' }),
    '| Alan Bean : birthPlace : Wheeler, Texas | Alan Bean : occupation : Test pilot',
  );
  assert.equal(
    lineariseTriples([{ subject: 'Mars Hill College', property: 'JOINED', object: '1973' }, { subject: '[TABLECONTEXT]', property: '[TITLE]', object: 'X' }], 'dart'),
    'Mars Hill College : joined : 1973 | [TABLECONTEXT] : [title] : X',
  );
});

const fieldArb = fc.string({ unit: fc.constantFrom('a', 'B', '_', ' ', '"', ',', '|', ':', 'é'), minLength: 1, maxLength: 10 });
const tripleArb = fc.record({ subject: fieldArb, property: fieldArb, object: fieldArb }, { noNullPrototype: true });
const clean = (s: string) => !/[|:]/.test(s) && s.trim() === s && s !== '';

test('triple laws: round trip (WebNLG verbatim, DART with lower-cased relations); underscores never survive "space"', () => {
  fc.assert(
    fc.property(fc.array(tripleArb, { minLength: 1, maxLength: 6 }), (ts) => {
      const ok = ts.filter((t) => clean(t.subject) && clean(t.property) && clean(t.object));
      if (ok.length > 0) {
        assert.deepEqual(parseLinearisedTriples(lineariseTriples(ok, 'webnlg'), 'webnlg'), E.right(ok));
        assert.deepEqual(
          parseLinearisedTriples(lineariseTriples(ok, 'dart'), 'dart'),
          E.right(ok.map((t) => ({ ...t, property: t.property.toLowerCase() }))),
        );
        // WebNLG = "| " + DART-style join without lower-casing
        assert.equal(lineariseTriples(ok, 'webnlg'), `| ${ok.map((t) => `${t.subject} : ${t.property} : ${t.object}`).join(' | ')}`);
      }
      const spaced = lineariseTriples(ts, 'webnlg', { underscores: 'space' });
      const relUnderscores = ts.reduce((n, t) => n + (t.property.match(/_/g) ?? []).length, 0);
      assert.equal((spaced.match(/_/g) ?? []).length, relUnderscores);
    }),
    { numRuns: 300 },
  );
});

test('grouping by source: order of first appearance, every target kept once', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.string()), { maxLength: 30 }), (rows) => {
      const pairs = rows.map(([source, target], i) => ({ id: String(i), source, target }));
      const groups = groupBySource(pairs);
      assert.deepEqual(
        groups.map((g) => g.source),
        [...new Set(pairs.map((p) => p.source))],
      );
      assert.equal(
        groups.reduce((n, g) => n + g.references.length, 0),
        pairs.length,
      );
      for (const g of groups) {
        assert.deepEqual(g.references, pairs.filter((p) => p.source === g.source).map((p) => p.target));
        assert.equal(g.id, pairs.find((p) => p.source === g.source)!.id);
      }
    }),
  );
});
