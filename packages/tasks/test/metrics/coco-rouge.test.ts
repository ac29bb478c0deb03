/** pycocoevalcap ROUGE-L against the official scorer (fixtures/metrics/coco-e2e-dev.json) and by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cocoRougeL, cocoRougeLSegments, cocoRougeLSentence, lcsLength } from '../../src/metrics/coco-rouge.ts';
import { cocoTokenizeCorpus } from '../../src/metrics/coco.ts';
import { buildSet, fixture, hasDevset, type SetName } from './coco-e2e.ts';

const fx = fixture('coco-e2e-dev.json');

for (const name of ['heldout-first', 'heldout-last', 'template'] as SetName[]) {
  test(`E2E dev ${name}: corpus and segment ROUGE_L equal pycocoevalcap`, { skip: !hasDevset() && 'no ../shared E2E dev set' }, () => {
    const s = buildSet(name);
    const c = cocoTokenizeCorpus(s.refs, s.hyps);
    const exp = fx.sets[name];
    const score = cocoRougeL(c.refs, c.hyps, { tokenize: false });
    assert.ok(Math.abs(score - exp.ROUGE_L) < 1e-9, `ours ${score}, official ${exp.ROUGE_L}`);
    assert.ok(Math.abs(cocoRougeL(s.refs, s.hyps) - exp.ROUGE_L) < 1e-9, 'raw text through our tokenizer');
    const seg = cocoRougeLSegments(c.refs, c.hyps, { tokenize: false });
    const bad = seg.filter((v, i) => Math.abs(v - exp.segment_scores.ROUGE_L[i]) > 1e-6);
    assert.deepEqual(bad, []);
  });
}

test('hand-computed: P and R are maximised separately, β = 1.2', () => {
  assert.equal(lcsLength(['a', 'b', 'c', 'd'], ['a', 'c', 'e']), 2);
  // hyp "a b c d" vs ref "a c e": P = 2/4, R = 2/3
  const f = (p: number, r: number) => ((1 + 1.44) * p * r) / (r + 1.44 * p);
  assert.ok(Math.abs(cocoRougeLSentence(['a c e'], 'a b c d') - f(0.5, 2 / 3)) < 1e-15);
  // best precision from one reference (3/4), best recall from another (1/1)
  assert.ok(Math.abs(cocoRougeLSentence(['a b c x y z', 'a'], 'a b c d') - f(3 / 4, 1)) < 1e-15);
  assert.equal(cocoRougeLSentence(['x y'], 'a b'), 0);
  assert.throws(() => cocoRougeL([['a']], ['a', 'b']), /2 hypotheses but 1 reference lists/);
  assert.throws(() => cocoRougeL([[]], ['a']), /segment 0 has no reference/);
});

const toks = fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { minLength: 1, maxLength: 12 }).map((w) => w.join(' '));

test('identical hypothesis scores 1; scores lie in [0, 1]; LCS is symmetric and bounded', () => {
  fc.assert(fc.property(toks, fc.array(toks, { minLength: 1, maxLength: 3 }), (h, refs) => {
    assert.ok(Math.abs(cocoRougeLSentence([h], h) - 1) < 1e-12);
    const s = cocoRougeLSentence(refs, h);
    assert.ok(s >= 0 && s <= 1 + 1e-12);
    const a = h.split(' ');
    const b = refs[0].split(' ');
    assert.equal(lcsLength(a, b), lcsLength(b, a));
    assert.ok(lcsLength(a, b) <= Math.min(a.length, b.length));
  }), { numRuns: 300 });
});
