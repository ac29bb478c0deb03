/**
 * pycocoevalcap's tokenizer (Stanford CoreNLP 3.4.1 PTBTokenizer -preserveLines -lowerCase plus
 * its punctuation filter) against the jar's output: hand-written sentences and every reference
 * of the E2E dev set (fixtures/metrics/coco-ptb-*.json from tools/metrics_oracle_coco.py).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { COCO_PUNCTUATIONS, ptbTokenize, ptbTokenizeLines, ptbTokens } from '../../src/metrics/ptb-tokenize.ts';
import { devGroups, fixture, hasDevset } from './coco-e2e.ts';

test('hand-written sentences equal CoreNLP 3.4.1 + pycocoevalcap', () => {
  const fx = fixture<{ cases: { input: string; output: string }[] }>('coco-ptb-cases.json');
  const wrong = fx.cases.filter((c) => ptbTokenize(c.input) !== c.output).map((c) => `${c.input} -> ${ptbTokenize(c.input)} (official: ${c.output})`);
  assert.deepEqual(wrong, []);
  assert.ok(fx.cases.length >= 15);
});

test('every E2E dev reference equals the official tokenization', { skip: !hasDevset() && 'no ../shared/data/e2e/devset.csv' }, () => {
  const fx = fixture<{ count: number; sha256_12: string[] }>('coco-ptb-e2e-dev.json');
  const refs = devGroups().flatMap(([, rs]) => rs);
  assert.equal(refs.length, fx.count);
  const ours = ptbTokenizeLines(refs);
  const wrong = ours
    .map((t, i) => [i, t] as const)
    .filter(([i, t]) => createHash('sha256').update(t, 'utf8').digest('hex').slice(0, 12) !== fx.sha256_12[i])
    .map(([i, t]) => `#${i}: ${refs[i]} -> ${t}`);
  assert.deepEqual(wrong.slice(0, 10), []);
});

test('clitics, currency, brackets and the punctuation filter (hand-checked)', () => {
  assert.deepEqual(ptbTokens("It's £20 (cheap), isn't it?"), ['It', "'s", '#', '20', '-LRB-', 'cheap', '-RRB-', ',', 'is', "n't", 'it', '?']);
  // pycocoevalcap compares its upper-case bracket names with lower-cased tokens: brackets stay
  assert.equal(ptbTokenize("It's £20 (cheap), isn't it?"), "it 's # 20 -lrb- cheap -rrb- is n't it");
  assert.equal(ptbTokenize('We cannot go.'), 'we can not go');
  // a sentence end after an abbreviation depends on the next caption's first letter
  assert.deepEqual(ptbTokenizeLines(['It opened in Jan.', 'The end']), ['it opened in jan.', 'the end']);
  assert.deepEqual(ptbTokenizeLines(['It opened in Jan.', 'the end']), ['it opened in jan.', 'the end']);
  assert.deepEqual(ptbTokens('in Jan.\nThe'), ['in', 'Jan.', '.', 'The']);
});

const word = fc.constantFrom(
  'The', 'pub', "it's", "don't", 'cannot', 'family-friendly', '£20-25', '5.00', '(near', 'river)', 'St.', 'U.S.', 'etc.',
  'café', '"cheap"', 'rated', '3', 'out', 'of', '5,', 'yes!', 'no?', '...', '--', 'and/or', 'x@y.com', "O'Neill", 'Mr.', 'a.',
);
const sentence = fc.array(word, { maxLength: 14 }).map((ws) => ws.join(' '));

test('tokenizing tokenized text changes nothing', () => {
  fc.assert(fc.property(sentence, (s) => {
    const once = ptbTokenize(s);
    assert.equal(ptbTokenize(once), once);
  }), { numRuns: 300 });
});

test('output is lower-case, single-spaced, without filtered punctuation, one line per caption', () => {
  fc.assert(fc.property(fc.array(sentence, { maxLength: 6 }), (caps) => {
    const out = ptbTokenizeLines(caps);
    assert.equal(out.length, caps.length);
    for (const line of out) {
      assert.equal(line, line.toLowerCase());
      assert.ok(!/ {2}|^ | $/.test(line));
      for (const t of line.split(' ').filter((x) => x !== '')) assert.ok(!COCO_PUNCTUATIONS.has(t), t);
    }
  }), { numRuns: 200 });
});
