/** pycocoevalcap CIDEr(-D) against the official scorer (fixtures/metrics/coco-e2e-dev.json) and by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cider, ciderSegments } from '../../src/metrics/cider.ts';
import { cocoTokenizeCorpus } from '../../src/metrics/coco.ts';
import { buildSet, fixture, hasDevset, type SetName } from './coco-e2e.ts';

const fx = fixture('coco-e2e-dev.json');

for (const name of ['heldout-first', 'heldout-last', 'template'] as SetName[]) {
  test(`E2E dev ${name}: corpus and segment CIDEr equal pycocoevalcap`, { skip: !hasDevset() && 'no ../shared E2E dev set' }, () => {
    const s = buildSet(name);
    const c = cocoTokenizeCorpus(s.refs, s.hyps);
    const exp = fx.sets[name];
    const seg = ciderSegments(c.refs, c.hyps, { tokenize: false });
    const score = seg.reduce((a, b) => a + b, 0) / seg.length;
    // required: within 0.02; measured: equal to rounding
    assert.ok(Math.abs(score - exp.CIDEr) < 1e-9, `ours ${score}, official ${exp.CIDEr}`);
    const bad = seg.filter((v, i) => Math.abs(v - exp.segment_scores.CIDEr[i]) > 1e-6);
    assert.deepEqual(bad, []);
  });
}

test('hand-computed corpora', () => {
  // one segment: idf = log(1) - log(1) = 0 for every n-gram, so CIDEr is 0 whatever the text
  assert.equal(cider([['a b c']], ['a b c'], { tokenize: false }), 0);
  // two segments with disjoint vocabularies, hypothesis = reference: cosine 1 for n = 1, 2,
  // no 3- or 4-grams (0), equal lengths: 10 × (1 + 1 + 0 + 0) / 4 = 5
  assert.ok(Math.abs(cider([['a b'], ['c d']], ['a b', 'c d'], { tokenize: false }) - 5) < 1e-12);
  // pycocoevalcap's length penalty counts bigrams: "a b" (1 bigram) vs "a b c d e f g h" (7)
  const seg = ciderSegments([['a b c d e f g h'], ['x y']], ['a b', 'x y'], { tokenize: false });
  const idf = Math.log(2);
  const cos1 = (2 * idf * idf) / (Math.sqrt(2) * idf * Math.sqrt(8) * idf);
  const cos2 = (idf * idf) / (idf * Math.sqrt(7) * idf);
  assert.ok(Math.abs(seg[0] - 10 * ((cos1 + cos2) / 4) * Math.exp(-36 / 72)) < 1e-12);
});

const sent = fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'), { minLength: 1, maxLength: 10 }).map((w) => w.join(' '));
const corpus = fc.array(fc.tuple(sent, fc.array(sent, { minLength: 1, maxLength: 3 })), { minLength: 1, maxLength: 6 });

test('scores lie in [0, 10] and do not depend on segment order', () => {
  fc.assert(fc.property(corpus, ([...segs]) => {
    const hyps = segs.map(([h]) => h);
    const refs = segs.map(([, r]) => r);
    const s = ciderSegments(refs, hyps, { tokenize: false });
    for (const v of s) assert.ok(v >= -1e-12 && v <= 10 + 1e-9, String(v));
    const rev = cider(refs.slice().reverse(), hyps.slice().reverse(), { tokenize: false });
    assert.ok(Math.abs(rev - cider(refs, hyps, { tokenize: false })) < 1e-9);
  }), { numRuns: 200 });
});
