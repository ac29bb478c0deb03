/**
 * E2E challenge BLEU and NIST against the official scorer (e2e-metrics running
 * mteval-v13a-sig.pl; fixtures from tools/metrics_oracle_bleu.py): on real E2E dev references
 * held out as hypotheses and on DialogSum, on small written cases, by hand, and by laws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  bleu, bleuSegments, mtevalBleuOfStats, mtevalCorpusStats, mtevalNistOfStats, nist, nistLengthPenalty, nistSegments,
} from '../../src/metrics/mteval.ts';
import { mtevalTokenize } from '../../src/metrics/mteval-tokenize.ts';
import { parseHypotheses, parseReferences } from '../../src/metrics/text-format.ts';
import { casesFixture, setsFixture, type OracleScores } from './oracle-fixtures.ts';
import { buildSet, e2eTextFiles, maxAbsDiff, sha256, sharedDir, sharedMissing } from './shared-sets.ts';

const FULL = 1e-9; // against the Perl's full-precision (%.15g) output
const PRINTED = 5e-5 + 1e-12; // against the 4 decimals e2e-metrics prints

const relClose = (a: number, b: number, tol = 1e-9): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

/** Compares ours with the oracle on one corpus; returns the measured differences. */
const checkCorpus = (label: string, refs: string[][], hyps: string[], o: OracleScores): string => {
  const stats = mtevalCorpusStats(refs, hyps, { maxOrder: 9 });
  const tot = stats.totals;
  assert.equal(tot.refLength, o.mteval.totals.ref_length, `${label}: reference length`);
  assert.deepEqual(tot.match, o.mteval.totals.match, `${label}: n-gram matches`);
  assert.deepEqual(tot.tst, o.mteval.totals.tst, `${label}: hypothesis n-grams`);
  assert.deepEqual(tot.ref, o.mteval.totals.ref, `${label}: reference n-grams`);
  tot.tstInfo.forEach((x, j) => assert.ok(relClose(x, o.mteval.totals.tst_info[j]), `${label}: information of ${j + 1}-grams ${x} vs ${o.mteval.totals.tst_info[j]}`));
  o.mteval.first_segments.forEach((s, i) => {
    const g = stats.segments[i];
    assert.deepEqual([g.refLength, g.match, g.tst, g.ref], [s.ref_length, s.match, s.tst, s.ref], `${label}: segment ${i}`);
  });
  const b = mtevalBleuOfStats(tot), n = mtevalNistOfStats(tot);
  const dB = Math.abs(b - o.mteval.bleu), dN = Math.abs(n - o.mteval.nist);
  assert.ok(dB < FULL, `${label}: BLEU ${b} vs mteval ${o.mteval.bleu}`);
  assert.ok(dN < FULL, `${label}: NIST ${n} vs mteval ${o.mteval.nist}`);
  assert.ok(Math.abs(b - o.e2e_metrics.BLEU) < PRINTED && Math.abs(n - o.e2e_metrics.NIST) < PRINTED, `${label}: printed`);
  const dSegB = maxAbsDiff(stats.segments.map(mtevalBleuOfStats), o.mteval.bleu_seg);
  const dSegN = maxAbsDiff(stats.segments.map(mtevalNistOfStats), o.mteval.nist_seg);
  assert.ok(dSegB < FULL && dSegN < FULL, `${label}: segment-level BLEU/NIST differ by ${dSegB}/${dSegN}`);
  return `BLEU ${b.toFixed(4)} (e2e-metrics ${o.e2e_metrics.BLEU}, |diff| ${dB.toExponential(1)}), NIST ${n.toFixed(4)} (e2e-metrics ${o.e2e_metrics.NIST}, |diff| ${dN.toExponential(1)}), segments |diff| ${dSegB.toExponential(1)}/${dSegN.toExponential(1)}`;
};

for (const c of casesFixture.cases) {
  test(`mteval case ${c.id}`, () => {
    checkCorpus(c.id, c.refs.map((r) => r.map((x) => x.trim())), c.hyps.map((h) => h.trim()), c);
  });
}

for (const set of setsFixture.sets) {
  test(`e2e-metrics ${setsFixture.oracles.e2e_metrics_commit.slice(0, 7)} on ${set.id}`, { skip: sharedMissing(set.rule.source) }, (tc) => {
    assert.equal(sha256(readFileSync(join(sharedDir, set.rule.source))), set.sha256.source, `${set.rule.source} changed since the fixture was made`);
    const built = buildSet(set.rule);
    const { refTxt, hypTxt } = e2eTextFiles(built.hyps, built.refs);
    assert.equal(sha256(refTxt), set.sha256.refs_txt, 'rebuilt reference file differs from the oracle input');
    assert.equal(sha256(hypTxt), set.sha256.hyp_txt, 'rebuilt hypothesis file differs from the oracle input');
    // read them back as e2e-metrics (and `prefix-tune score`) do
    const refs = parseReferences(refTxt, 'refs.txt');
    assert.ok(E.isRight(refs));
    const hyps = parseHypotheses(hypTxt);
    assert.equal(hyps.length, set.n);
    tc.diagnostic(checkCorpus(set.id, refs.right, hyps, set));
  });
}

test('tokenization by hand (mteval-v13a, as e2e-metrics runs it)', () => {
  assert.equal(mtevalTokenize('Hello, World. It costs 1,000.50 (approx)!'), 'hello , world . it costs 1,000.50 ( approx ) !');
  assert.equal(mtevalTokenize("The 3-star café's rating: 5/5 -- near x-y."), "the 3 - star café's rating : 5 / 5 -- near x-y .");
  assert.equal(mtevalTokenize('CAFÉ &amp; Bar &quot;ok&quot; &lt;b&gt;'), 'cafÉ & bar " ok " < b >'); // ASCII-only lowercasing
  assert.equal(mtevalTokenize('  a\u00a0b\u2003c\t\td  '), 'a b c d');
  assert.equal(mtevalTokenize('x<skipped>y'), 'xy');
  assert.equal(mtevalTokenize(''), '');
});

test('BLEU by hand: the cat sat on the mat', () => {
  // p1 = 5/6, p2 = 3/5, p3 = 2/4, p4 = 1/3, equal lengths (BP = 1)
  const expected = Math.exp((Math.log(5 / 6) + Math.log(3 / 5) + Math.log(2 / 4) + Math.log(1 / 3)) / 4);
  assert.ok(Math.abs(bleu([['the cat sat on a mat']], ['the cat sat on the mat']) - expected) < 1e-15);
  // brevity penalty exp(1 - 6/3); unmatched higher orders smoothed: 1/2 then 1/4 of 1/count
  const short = bleu([['the cat sat on a mat']], ['the cat sat']);
  const ps = [3 / 3, 2 / 2, 1 / 1, 1]; // order 4 has no hypothesis n-gram: mteval counts precision 1
  assert.ok(Math.abs(short - Math.exp(1 - 6 / 3) * Math.exp(ps.map(Math.log).reduce((a, b) => a + b) / 4)) < 1e-15);
  const none = bleu([['a b c d']], ['d c b a']); // p1 = 1, p2..p4 = 1/(2*3), 1/(4*2), 1/(8*1)
  assert.ok(Math.abs(none - Math.exp((Math.log(1) + Math.log(1 / 6) + Math.log(1 / 8) + Math.log(1 / 8)) / 4)) < 1e-15);
});

test('NIST by hand: information from the reference counts, length penalty', () => {
  // ref "a b a c": info(a) = log2(4/2) = 1, info(b) = 2, info("a b") = log2(2/1) = 1; hyp "a b":
  // (1 + 2)/2 + 1/1 = 2.5, times the penalty of 2 / 4
  assert.ok(Math.abs(nist([['a b a c']], ['a b']) - 2.5 * nistLengthPenalty(0.5)) < 1e-12);
  const beta = -Math.log(0.5) / Math.log(1.5) ** 2;
  assert.ok(Math.abs(nistLengthPenalty(0.5) - Math.exp(-beta * Math.log(0.5) ** 2)) < 1e-15);
  assert.equal(nistLengthPenalty(1.5), 1);
  assert.ok(Math.abs(nistLengthPenalty(1 / 1.5) - 0.5) < 1e-12); // the defining point: ratio 2/3 -> 0.5
  assert.equal(nist([['a b']], ['a b']), 1); // info(a) = info(b) = 1 over 2 unigrams; bigram info 0
  // Perl's "0" is false: the bigram "0 x" takes its information from the unigram total (log2(4/1) = 2)
  assert.ok(Math.abs(nist([['0 x 0 y']], ['0 x']) - (1.5 + 2) * nistLengthPenalty(0.5)) < 1e-12);
});

const word = fc.constantFrom('the', 'a', 'cat', 'dog', 'sat', 'on', 'mat', 'Aromi', 'pub', '£20', 'near', '.', ',', 'café', '3-star', '0');
const sentence = fc.array(word, { minLength: 1, maxLength: 15 }).map((ws) => ws.join(' '));
const corpus = fc.array(fc.tuple(fc.array(sentence, { minLength: 1, maxLength: 4 }), sentence), { minLength: 1, maxLength: 8 });

test('laws: a hypothesis equal to one of its references scores BLEU 1; BLEU in [0, 1], NIST >= 0', () => {
  fc.assert(
    fc.property(corpus, (c) => {
      const refs = c.map(([r]) => r), hyps = c.map(([, h]) => h);
      const b = bleu(refs, hyps), n = nist(refs, hyps);
      assert.ok(b >= 0 && b <= 1 + 1e-12 && n >= 0);
      assert.ok(Math.abs(bleu(refs, refs.map((r) => r[0])) - 1) < 1e-12);
      for (const s of bleuSegments(refs, hyps)) assert.ok(s >= 0 && s <= 1 + 1e-12);
    }),
  );
});

test('laws: corpus scores do not depend on the order of the segments or of the references', () => {
  fc.assert(
    fc.property(corpus, fc.integer({ min: 1, max: 7 }), (c, k) => {
      const rot = [...c.slice(k % c.length), ...c.slice(0, k % c.length)].map(([r, h]): [string[], string] => [[...r].reverse(), h]);
      const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a));
      assert.ok(close(bleu(c.map(([r]) => r), c.map(([, h]) => h)), bleu(rot.map(([r]) => r), rot.map(([, h]) => h))));
      assert.ok(close(nist(c.map(([r]) => r), c.map(([, h]) => h)), nist(rot.map(([r]) => r), rot.map(([, h]) => h))));
    }),
  );
});

test('laws: tokenization is idempotent; segment NIST of a one-segment corpus equals its corpus NIST', () => {
  fc.assert(
    fc.property(sentence, fc.array(sentence, { minLength: 1, maxLength: 3 }), (h, r) => {
      assert.equal(mtevalTokenize(mtevalTokenize(h)), mtevalTokenize(h));
      assert.ok(Math.abs(nistSegments([r], [h])[0] - nist([r], [h])) < 1e-12);
    }),
  );
});

test('malformed corpora throw RangeError naming the problem', () => {
  assert.throws(() => bleu([['a']], ['a', 'b']), /2 hypotheses but 1 reference lists/);
  assert.throws(() => nist([[]], ['a']), /segment 0 has no reference/);
  assert.throws(() => mtevalCorpusStats([['a']], ['a'], { maxOrder: 10 }), /maxOrder/);
});
