/**
 * sacreBLEU-compatible BLEU, chrF/chrF++ and TER against sacrebleu itself (fixtures from
 * tools/metrics_oracle_bleu.py) on real E2E/DialogSum held-out references and on written cases,
 * plus hand-computed cases and laws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sacreBleu, sacreBleuDetailed, sacreBleuSentence } from '../../src/metrics/sacrebleu.ts';
import { chrf, chrfSentence } from '../../src/metrics/chrf.ts';
import { ter, terSentence, translationEditRate } from '../../src/metrics/ter.ts';
import { tokenize13a } from '../../src/metrics/mteval-tokenize.ts';
import { casesFixture, setsFixture, type OracleScores } from './oracle-fixtures.ts';
import { buildSet, maxAbsDiff, sha256, sharedDir, sharedMissing } from './shared-sets.ts';

const TOL = 1e-9; // on sacreBLEU's 0..100 scale

/** Compares every sacreBLEU number of a corpus; returns the measured differences. */
const checkCorpus = (label: string, refs: string[][], hyps: string[], o: OracleScores['sacrebleu']): string => {
  const sentences = o.bleu_sent.length; // the oracle records the first 150 segments of a set
  const d = sacreBleuDetailed(refs, hyps);
  assert.deepEqual([d.sysLen, d.refLen, d.correct, d.total], [o.bleu_sys_len, o.bleu_ref_len, o.bleu_counts, o.bleu_totals], `${label}: BLEU statistics`);
  const diffs = {
    bleu: Math.abs(d.score - o.bleu),
    chrf: Math.abs(chrf(refs, hyps) - o.chrf),
    'chrf++': Math.abs(chrf(refs, hyps, { wordOrder: 2 }) - o['chrf++']),
    ter: Math.abs(ter(refs, hyps) - o.ter),
    bleu_sent: maxAbsDiff(hyps.slice(0, sentences).map((h, i) => sacreBleuSentence(refs[i], h)), o.bleu_sent.slice(0, sentences)),
    chrf_sent: maxAbsDiff(hyps.slice(0, sentences).map((h, i) => chrfSentence(refs[i], h)), o.chrf_sent.slice(0, sentences)),
    ter_sent: maxAbsDiff(hyps.slice(0, sentences).map((h, i) => terSentence(refs[i], h)), o.ter_sent.slice(0, sentences)),
  };
  for (const [k, v] of Object.entries(diffs)) assert.ok(v < TOL, `${label}: ${k} differs from sacrebleu by ${v}`);
  return `sacreBLEU ${d.score.toFixed(4)} chrF ${o.chrf.toFixed(4)} TER ${o.ter.toFixed(4)}; max |diff| ${Math.max(...Object.values(diffs)).toExponential(1)}`;
};

for (const c of casesFixture.cases) {
  test(`sacrebleu case ${c.id}`, () => {
    checkCorpus(c.id, c.refs.map((r) => r.map((x) => x.trim())), c.hyps.map((h) => h.trim()), c.sacrebleu);
  });
}

for (const set of setsFixture.sets) {
  test(`sacrebleu ${setsFixture.oracles.sacrebleu} on ${set.id}`, { skip: sharedMissing(set.rule.source) }, (tc) => {
    assert.equal(sha256(readFileSync(join(sharedDir, set.rule.source))), set.sha256.source, `${set.rule.source} changed since the fixture was made`);
    const { hyps, refs } = buildSet(set.rule);
    // the oracle scored the strings as e2e-metrics read them (stripped lines)
    const strip = (s: string) => s.trim();
    tc.diagnostic(checkCorpus(set.id, refs.map((r) => r.map(strip)), hyps.map(strip), set.sacrebleu));
  });
}

test('13a tokenization by hand (case kept)', () => {
  assert.equal(tokenize13a('Hello, World. 1,000.50 (x)!  '), 'Hello , World . 1,000.50 ( x ) !');
  assert.equal(tokenize13a('A&amp;B &quot;q&quot;'), 'A & B " q "');
  assert.equal(tokenize13a('2-3 x-y'), '2 - 3 x-y');
});

test('BLEU by hand on the sacreBLEU scale', () => {
  const expected = 100 * Math.exp((Math.log(5 / 6) + Math.log(3 / 5) + Math.log(2 / 4) + Math.log(1 / 3)) / 4);
  assert.ok(Math.abs(sacreBleu([['the cat sat on a mat']], ['the cat sat on the mat']) - expected) < 1e-12);
  assert.equal(sacreBleu([['a b c d']], ['x y']), 0); // no match at all
  // sentence BLEU uses the effective order: a 2-word exact hypothesis scores 100 * BP
  assert.ok(Math.abs(sacreBleuSentence(['a b c'], 'a b') - 100 * Math.exp(1 - 3 / 2)) < 1e-12);
});

test('chrF and TER by hand', () => {
  assert.equal(chrf([['abc']], ['abc']), 100);
  assert.equal(chrf([['abc']], ['xyz']), 0);
  // TER: one substitution in four words
  assert.deepEqual(translationEditRate(['a', 'b', 'x', 'd'], ['a', 'b', 'c', 'd']), [1, 4]);
  // a phrase moved as a block costs one shift, not four edits
  assert.deepEqual(translationEditRate(['c', 'd', 'a', 'b'], ['a', 'b', 'c', 'd']), [1, 4]);
  assert.equal(ter([['A B C D']], ['a b x d']), 25); // lowercased by default
  assert.deepEqual(translationEditRate(['a'], []), [1, 0]);
});

const word = fc.constantFrom('the', 'a', 'cat', 'dog', 'sat', 'on', 'mat', 'Café', 'pub', 'near', '.', ',', '3-star');
const sentence = fc.array(word, { minLength: 1, maxLength: 12 }).map((ws) => ws.join(' '));

test('laws: identical hypothesis scores BLEU 100, chrF 100, TER 0; scores lie in their ranges', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(sentence, sentence), { minLength: 1, maxLength: 5 }), (pairs) => {
      const refs = pairs.map(([r]) => [r]), hyps = pairs.map(([, h]) => h), same = pairs.map(([r]) => r);
      assert.ok(Math.abs(sacreBleu(refs, same) - 100) < 1e-9 || same.every((s) => tokenize13a(s).split(' ').length < 4));
      assert.ok(Math.abs(chrf(refs, same) - 100) < 1e-9);
      assert.equal(ter(refs, same), 0);
      const b = sacreBleu(refs, hyps), c = chrf(refs, hyps), t = ter(refs, hyps);
      assert.ok(b >= 0 && b <= 100 + 1e-9 && c >= 0 && c <= 100 + 1e-9 && t >= 0);
    }),
    { numRuns: 60 },
  );
});

test('laws: corpus scores do not depend on the order of the segments; TER edits <= plain edit distance', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(sentence, sentence), { minLength: 2, maxLength: 5 }), (pairs) => {
      const rev = [...pairs].reverse();
      const m = (f: (r: string[][], h: string[]) => number) =>
        Math.abs(f(pairs.map(([r]) => [r]), pairs.map(([, h]) => h)) - f(rev.map(([r]) => [r]), rev.map(([, h]) => h)));
      assert.ok(m(sacreBleu) < 1e-9 && m(chrf) < 1e-9 && m(ter) < 1e-9);
      for (const [r, h] of pairs) {
        const [edits] = translationEditRate(h.split(' '), r.split(' '));
        assert.ok(edits <= Math.max(h.split(' ').length, r.split(' ').length));
      }
    }),
    { numRuns: 60 },
  );
});
