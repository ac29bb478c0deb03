import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { bpeTokenizerConfig, bpeTokenizerJson, byteToUnicode, countWords, trainBpe } from '../src/bpe-train.ts';
import { makeTokenizer, type TextTokenizer } from '../src/tokenizer.ts';
import { shared } from './paths.ts';

const load = (v: ReturnType<typeof trainBpe>): TextTokenizer => {
  const t = makeTokenizer(bpeTokenizerJson(v), bpeTokenizerConfig(v, 256));
  if (E.isLeft(t)) throw new Error(t.left);
  return t.right;
};

const sample = [
  'The history of the city begins in the Middle Ages, when the river was first bridged.',
  'It was the best of times, it was the worst of times; it was the age of wisdom.',
  'Numbers like 1984 and 2001 appear, as do "quotes", dashes — and ünïcödé letters.',
].join('\n').repeat(20);

test('bpe: merges as derived by hand on a tiny corpus (most frequent pair first, counts updated after each merge)', () => {
  // words: "ab" x1, " ab" x2, " cd" x1. Pairs: (a,b) 3, (Ġ,a) 2, (Ġ,c) 1, (c,d) 1 -> merge a+b;
  // then (Ġ,ab) 2 -> merge; then every pair occurs once: stop.
  const v = trainBpe(countWords(['ab ab ab cd']), { vocabSize: 1000, minWordCount: 1 });
  assert.deepEqual(v.merges, [['a', 'b'], ['Ġ', 'ab']]);
  assert.equal(v.tokens.length, 256 + 2 + 1);
  assert.equal(v.tokens.at(-1), '<|endoftext|>');
  const tok = load(v);
  assert.deepEqual(tok.encode('ab ab cd', { addSpecialTokens: false }), [256, 257, byteToUnicode.indexOf('Ġ'), 99, 100]);
  assert.equal(tok.eosId, 258);
});

test('bpe: byte table is a bijection onto 256 printable characters, equal to GPT-2\'s', () => {
  assert.equal(new Set(byteToUnicode).size, 256);
  for (const c of byteToUnicode) assert.ok(!/\s/u.test(c), `whitespace char ${JSON.stringify(c)}`);
  assert.equal(byteToUnicode[32], 'Ġ');
  assert.equal(byteToUnicode[10], 'Ċ');
  const gpt2 = join(shared, 'models/gpt2-tokenizer/vocab.json');
  if (existsSync(gpt2)) {
    const vocab = JSON.parse(readFileSync(gpt2, 'utf8')) as Record<string, number>;
    // GPT-2's byte tokens are exactly the 256 single characters of its table
    const singles = Object.keys(vocab).filter((k) => [...k].length === 1);
    assert.deepEqual(new Set(singles), new Set(byteToUnicode));
  }
});

test('bpe: the vocabulary fills to the requested size, tokens unique, each merge the concatenation of known tokens', () => {
  const v = trainBpe(countWords([sample]), { vocabSize: 300, minWordCount: 1 });
  assert.equal(v.tokens.length, 300);
  assert.equal(new Set(v.tokens).size, 300);
  const known = new Set(v.tokens.slice(0, 256));
  v.merges.forEach(([a, b], i) => {
    assert.ok(known.has(a) && known.has(b), `merge ${i} uses an unknown token`);
    assert.equal(v.tokens[256 + i], a + b);
    known.add(a + b);
  });
  // deterministic
  assert.deepEqual(trainBpe(countWords([sample]), { vocabSize: 300, minWordCount: 1 }), v);
});

test('bpe: law: decode(encode(s)) = s for any text, and trained text takes fewer tokens than bytes', () => {
  const v = trainBpe(countWords([sample]), { vocabSize: 400, minWordCount: 1 });
  const tok = load(v);
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
      const ids = tok.encode(s, { addSpecialTokens: false });
      assert.ok(ids.every((i) => i >= 0 && i < v.tokens.length));
      assert.equal(tok.decode(ids, { cleanUpSpaces: false }), s);
    }),
    { numRuns: 300 },
  );
  const line = 'The history of the city begins in the Middle Ages.';
  assert.ok(tok.encode(line, { addSpecialTokens: false }).length < new TextEncoder().encode(line).length / 2);
});

test('bpe: a vocabulary too small for the bytes and specials is an error', () => {
  assert.throws(() => trainBpe(new Map([['a', 3]]), { vocabSize: 200 }), /below 256/);
});
