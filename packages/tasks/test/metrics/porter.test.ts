/**
 * The Porter stemmer against NLTK's PorterStemmer() (NLTK_EXTENSIONS, what rouge-score uses):
 * fixtures/metrics/porter.json from tools/metrics_oracle_rouge.py.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as t from 'io-ts';
import { porterStem } from '../../src/metrics/porter.ts';
import { rougeTokenize } from '../../src/metrics/rouge.ts';
import { Rule, buildSet, decodeFixture, sha256, sharedMissing } from './shared-sets.ts';

const PorterFixture = t.type({
  mode: t.string,
  words: t.record(t.string, t.string),
  vocabulary_digest: t.type({ sets: t.array(t.string), count: t.number, sha256: t.string }),
});
const fixture = decodeFixture(PorterFixture, 'porter.json');

test(`NLTK ${fixture.mode}: every word of the generated list`, () => {
  const wrong = Object.entries(fixture.words).filter(([w, s]) => porterStem(w) !== s);
  assert.deepEqual(wrong.slice(0, 20).map(([w, s]) => `${w}: ours ${porterStem(w)}, NLTK ${s}`), []);
  assert.ok(Object.keys(fixture.words).length > 2000);
});

test('paper and NLTK-extension examples', () => {
  const cases: Record<string, string> = {
    caresses: 'caress', ponies: 'poni', ties: 'tie', cats: 'cat', agreed: 'agre', plastered: 'plaster',
    motoring: 'motor', hopping: 'hop', filing: 'file', happy: 'happi', enjoy: 'enjoy', dying: 'die',
    skies: 'sky', relational: 'relat', generalizations: 'gener', controll: 'control', news: 'news',
  };
  for (const [w, s] of Object.entries(cases)) assert.equal(porterStem(w), s, w);
});

// The digest covers all rouge-score tokens of the summarization sets of rouge.json.
const RougeSets = t.type({ sets: t.array(t.type({ id: t.string, rule: Rule })) });
const sets = decodeFixture(RougeSets, 'rouge.json').sets.filter((s) => fixture.vocabulary_digest.sets.includes(s.id));
const missing = sets.map((s) => sharedMissing(s.rule.source)).find((m) => m !== undefined);

test('NLTK stems of the whole DialogSum/SAMSum vocabulary (digest)', { skip: missing }, () => {
  const vocab = new Set<string>();
  for (const s of sets) {
    const { hyps, refs } = buildSet(s.rule);
    for (const x of [...hyps, ...refs.flat()]) for (const w of rougeTokenize(x, false)) vocab.add(w);
  }
  const sorted = [...vocab].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.equal(sorted.length, fixture.vocabulary_digest.count);
  const lines = sorted.map((w) => `${w}\t${w.length > 3 ? porterStem(w) : w}\n`).join('');
  assert.equal(sha256(lines), fixture.vocabulary_digest.sha256);
});

test('laws: stems of [a-z0-9] words are [a-z0-9], at most one letter longer, case-insensitive', () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[a-z0-9]{1,14}$/), (w) => {
      const s = porterStem(w);
      assert.match(s, /^[a-z0-9]*$/);
      assert.ok(s.length <= w.length + 1, `${w} -> ${s}`); // +1: step 1b may add an 'e' after removing 'ed'/'ing'
      assert.equal(porterStem(w.toUpperCase()), s);
    }),
  );
});
