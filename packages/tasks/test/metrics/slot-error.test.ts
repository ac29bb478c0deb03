/**
 * The E2E slot-error matcher: hand-judged sentences for each slot and outcome, corpus laws
 * (a reference realises what a shuffled reference does not), and properties of the rate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { parseMR } from '../../src/data/linearise.ts';
import { loadE2E } from '../../src/data/e2e.ts';
import { slotErrorRate, slotVerdicts, type SlotOutcome } from '../../src/metrics/slot-error.ts';
import { sharedDir } from './shared-sets.ts';

const mr = (s: string) => {
  const r = parseMR(s);
  if (E.isLeft(r)) throw new Error(r.left);
  return r.right;
};
const outcomes = (m: string, text: string): Record<string, SlotOutcome> =>
  Object.fromEntries(slotVerdicts(mr(m), text).map((v) => [v.key, v.outcome]));

test('every slot realised by a faithful sentence', () => {
  const m = 'name[The Eagle], eatType[coffee shop], food[French], priceRange[moderate], customer rating[3 out of 5], area[riverside], familyFriendly[yes], near[Burger King]';
  const o = outcomes(m, 'The Eagle is a family-friendly coffee shop serving French food at moderate prices, rated 3 out of 5, by the riverside near Burger King.');
  assert.deepEqual(o, { name: 'realised', eatType: 'realised', food: 'realised', priceRange: 'realised', 'customer rating': 'realised', area: 'realised', familyFriendly: 'realised', near: 'realised' });
  assert.equal(slotErrorRate([mr(m)], ['']).rate, 1);
});

test('missing and contradicted values are told apart', () => {
  const m = 'name[Aromi], eatType[pub], food[Chinese], area[city centre], familyFriendly[no]';
  assert.deepEqual(outcomes(m, 'Aromi is a restaurant in the riverside area that welcomes children.'),
    { name: 'realised', eatType: 'contradicted', food: 'missing', area: 'contradicted', familyFriendly: 'contradicted' });
  assert.deepEqual(outcomes(m, 'The pub Aromi serves Chinese food in the city center and is not family-friendly.'),
    { name: 'realised', eatType: 'realised', food: 'realised', area: 'realised', familyFriendly: 'realised' });
  assert.equal(outcomes(m, 'Aromi is an adults only pub.')['familyFriendly'], 'realised');
  assert.equal(outcomes('name[X], familyFriendly[yes]', 'X is not kid friendly.')['familyFriendly'], 'contradicted');
});

test('price and rating classes: synonyms realise, other classes contradict, rating words need a rating anchor', () => {
  assert.equal(outcomes('name[X], priceRange[less than £20]', 'X is cheap.')['priceRange'], 'realised');
  assert.equal(outcomes('name[X], priceRange[less than £20]', 'X costs less than £ 20 per head.')['priceRange'], 'realised');
  assert.equal(outcomes('name[X], priceRange[cheap]', 'X is expensive.')['priceRange'], 'contradicted');
  assert.equal(outcomes('name[X], priceRange[£20-25]', 'Meals at X cost £20-25.')['priceRange'], 'realised');
  assert.equal(outcomes('name[X], priceRange[more than £30]', 'X is a high-priced place.')['priceRange'], 'realised');
  assert.equal(outcomes('name[X], customer rating[low]', 'X has a low customer rating.')['customer rating'], 'realised');
  assert.equal(outcomes('name[X], customer rating[low]', 'X has low prices.')['customer rating'], 'missing');
  assert.equal(outcomes('name[X], customer rating[low]', 'Customers rated X 5 out of 5.')['customer rating'], 'contradicted');
  assert.equal(outcomes('name[X], customer rating[high]', 'X is highly rated by its customers.')['customer rating'], 'realised');
});

test('entity names are not read as categorical values', () => {
  const m = 'name[The Punter], food[English], near[Raja Indian Cuisine]';
  assert.deepEqual(outcomes(m, 'The Punter serves English food near Raja Indian Cuisine.'), { name: 'realised', food: 'realised', near: 'realised' });
  assert.deepEqual(outcomes(m, 'The Punter is near Raja Indian Cuisine.'), { name: 'realised', food: 'missing', near: 'realised' });
});

test('the rate is the share of erroneous slots, in [0, 1], and additive over corpora', () => {
  const mrs = [mr('name[A], food[Italian]'), mr('name[B], area[riverside], eatType[pub]')];
  const r = slotErrorRate(mrs, ['A serves Italian food.', 'B is a restaurant.']);
  assert.deepEqual([r.slots, r.missing, r.contradicted], [5, 1, 1]);
  assert.equal(r.rate, 2 / 5);
  assert.throws(() => slotErrorRate(mrs, ['x']), /2 inputs but 1 outputs/);
  const value = fc.constantFrom('A', 'B', 'Italian', 'riverside', 'pub', 'restaurant', 'cheap', 'not', 'family', 'kids', 'high', 'rating', 'of', '5');
  fc.assert(fc.property(fc.array(fc.array(value, { maxLength: 12 }).map((w) => w.join(' ')), { minLength: 2, maxLength: 2 }), fc.array(fc.array(value, { maxLength: 12 }).map((w) => w.join(' ')), { minLength: 2, maxLength: 2 }), (h1, h2) => {
    const a = slotErrorRate(mrs, h1), b = slotErrorRate(mrs, h2);
    const both = slotErrorRate([...mrs, ...mrs], [...h1, ...h2]);
    assert.ok(a.rate >= 0 && a.rate <= 1);
    assert.equal(both.missing, a.missing + b.missing);
    assert.equal(both.contradicted, a.contradicted + b.contradicted);
  }));
});

const devset = join(sharedDir, 'data', 'e2e', 'devset.csv');
test('E2E dev: human references realise their own slots, shuffled references do not', { skip: existsSync(devset) ? false : `${devset} is missing` }, async () => {
  const r = await loadE2E(devset)();
  if (E.isLeft(r)) throw new Error(JSON.stringify(r.left));
  const rows = r.right.rows;
  const own = slotErrorRate(rows.map((x) => x.attributes), rows.map((x) => x.ref));
  const shuffled = slotErrorRate(rows.map((x) => x.attributes), rows.map((_, i) => rows[(i + 997) % rows.length]!.ref));
  // E2E's references themselves leave out or contradict some slots (Dušek et al. 2019 cleaned them for that)
  assert.ok(own.rate < 0.12, `references' own slot error rate ${own.rate}`);
  assert.ok(shuffled.rate > 0.6, `shuffled references' slot error rate ${shuffled.rate}`);
  assert.ok(own.byKey['name']!.missing / own.byKey['name']!.slots < 0.01);
});
