import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { loadTokenizer, makeTokenizer, type TextTokenizer } from '../src/tokenizer.ts';
import { fixtures, shared } from './paths.ts';

const gpt2Dir = join(shared, 'models/gpt2-tokenizer');
const haveGpt2 = existsSync(join(gpt2Dir, 'tokenizer.json'));

/**
 * An independent GPT-2 encoder written from OpenAI's published algorithm (encoder.py): regex
 * pre-tokenisation, bytes -> printable unicode, then BPE by merge rank over vocab.json/merges.txt.
 * It shares no code with @huggingface/tokenizers and reads the slow-tokenizer files.
 */
const referenceGpt2 = (dir: string): ((text: string) => number[]) => {
  const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
  const merges = readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#version'));
  const rank = new Map(merges.map((m, i) => [m, i]));
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const byteChar = new Map(bs.map((b, i) => [b, String.fromCodePoint(cs[i]!)]));
  const pat = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
  const bpe = (word: string[]): string[] => {
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = rank.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) return word;
      const [a, b] = [word[best]!, word[best + 1]!];
      const out: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && word[i] === a && word[i + 1] === b) { out.push(a + b); i++; } else out.push(word[i]!);
      }
      word = out;
    }
  };
  return (text) =>
    [...text.matchAll(pat)].flatMap((m) => {
      const chars = [...new TextEncoder().encode(m[0])].map((b) => byteChar.get(b)!);
      return bpe(chars).map((tok) => vocab[tok]!);
    });
};

const load = async (dir: string): Promise<TextTokenizer> => {
  const r = await loadTokenizer(dir);
  if (E.isLeft(r)) assert.fail(r.left);
  return r.right;
};

test('GPT-2 tokenizer: special ids from tokenizer_config.json, vocabulary size', { skip: !haveGpt2 && 'shared models missing' }, async () => {
  const tok = await load(gpt2Dir);
  assert.equal(tok.vocabSize, 50257);
  assert.equal(tok.bosId, 50256);
  assert.equal(tok.eosId, 50256);
  assert.equal(tok.unkId, 50256);
  assert.equal(tok.padId, undefined);
  assert.equal(tok.tokenToId('<|endoftext|>'), 50256);
});

test('GPT-2 tokenizer equals an independent implementation of the GPT-2 BPE (property)', { skip: !haveGpt2 && 'shared models missing' }, async () => {
  const tok = await load(gpt2Dir);
  const ref = referenceGpt2(gpt2Dir);
  const samples = [
    'name[The Eagle], eatType[coffee shop], food[French], priceRange[moderate]',
    "It's 3:45pm — isn't it?  Two  spaces, tabs\tand\nnewlines\n\n",
    'naïve café 日本語 🤖 emoji',
    ' leading space and trailing ',
  ];
  for (const s of samples) assert.deepEqual(tok.encode(s), ref(s), s);
  fc.assert(
    fc.property(fc.string({ unit: fc.oneof(fc.constantFrom(' ', '  ', '\n', "'s", 'the', '.', ',', '1', '!'), fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 30 }).filter((s) => !s.includes('<|')), (s) => {
      assert.deepEqual(tok.encode(s), ref(s));
    }),
    { numRuns: 300 },
  );
});

test('GPT-2 tokenizer: decode(encode(s)) = s without clean-up; specials split out and skippable', { skip: !haveGpt2 && 'shared models missing' }, async () => {
  const tok = await load(gpt2Dir);
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('<|')), (s) => {
      assert.equal(tok.decode(tok.encode(s), { cleanUpSpaces: false }), s);
    }),
    { numRuns: 300 },
  );
  const ids = tok.encode('Hi there<|endoftext|>');
  assert.equal(ids[ids.length - 1], 50256);
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'Hi there');
  // transformers' default for GPT-2 (clean_up_tokenization_spaces: true) drops the space before punctuation
  assert.equal(tok.decode(tok.encode('a , b .')), 'a, b.');
  assert.equal(tok.decode(tok.encode('a , b .'), { cleanUpSpaces: false }), 'a , b .');
  assert.equal(tok.decode([]), '');
  assert.throws(() => tok.decode([50257]), /outside the vocabulary/);
});

test('makeTokenizer rejects values that are not tokenizers, with the file named', () => {
  const r = makeTokenizer({ nope: 1 });
  assert.ok(E.isLeft(r));
  assert.match(r.left, /tokenizer\.json/);
  const c = makeTokenizer({ model: { type: 'BPE', vocab: {}, merges: [] } }, { bos_token: 3 });
  assert.ok(E.isLeft(c));
  assert.match(c.left, /tokenizer_config\.json/);
});

test('loadTokenizer names the missing file', async () => {
  const r = await loadTokenizer('/nonexistent-dir');
  assert.ok(E.isLeft(r));
  assert.match(r.left, /nonexistent-dir\/tokenizer\.json: cannot read/);
});

// Fixtures produced by transformers (tools/make_tokenizer_fixtures.py): strings, ids and decoded text.
const Fixture = (name: string) => join(fixtures, 'tokenizers', `${name}.json`);

/**
 * The tokenizer the BART fixture was written with: transformers' BartTokenizerFast over the shared
 * GPT-2 vocab.json and merges.txt (see the fixture's notes), written here as a tokenizer.json
 * into a temporary directory (nothing from ../shared is committed): GPT-2's byte-level BPE
 * model, no added `<|endoftext|>` (an ordinary vocab entry there), BART's five special tokens
 * appended as added tokens at the fixture's ids (`<mask>` strips spaces on its left), and
 * RoBERTa's post-processor wrapping every encoding as `<s> ... </s>`.
 */
const bartFromGpt2 = (): string | undefined => {
  const fx = Fixture('bart');
  if (!haveGpt2 || !existsSync(fx)) return undefined;
  const specials = (JSON.parse(readFileSync(fx, 'utf8')) as { special_tokens: Record<string, number> }).special_tokens;
  const gpt2 = JSON.parse(readFileSync(join(gpt2Dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const added = Object.entries(specials).sort((a, b) => a[1] - b[1]).map(([content, id]) => ({
    id, content, single_word: false, lstrip: content === '<mask>', rstrip: false, normalized: false, special: true,
  }));
  const dir = mkdtempSync(join(tmpdir(), 'prefix-tuning-bart-tok-'));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    ...gpt2, added_tokens: added,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'RobertaProcessing', sep: ['</s>', specials['</s>']], cls: ['<s>', specials['<s>']], trim_offsets: true, add_prefix_space: false },
  }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>', mask_token: '<mask>' }));
  return dir;
};
const bartDir = bartFromGpt2();
after(() => { if (bartDir) rmSync(bartDir, { recursive: true, force: true }); });

for (const [name, dir] of [
  ['gpt2', gpt2Dir],
  ['bart', bartDir],
  ['llama-sp', join(fixtures, 'tokenizers/llama-sp')],
] as const) {
  const have = dir !== undefined && existsSync(Fixture(name)) && existsSync(join(dir, 'tokenizer.json'));
  test(`${name}: ids and decoded text equal transformers' on the committed fixture`, { skip: !have && `fixtures/tokenizers/${name}.json or the tokenizer it was written with (from ../shared) is missing` }, async () => {
    const tok = await load(dir!);
    const fx = JSON.parse(readFileSync(Fixture(name), 'utf8')) as { strings: string[]; ids: number[][]; decoded?: string[] };
    fx.strings.forEach((s, i) => {
      assert.deepEqual(tok.encode(s), fx.ids[i], `encode(${JSON.stringify(s)})`);
      if (fx.decoded !== undefined) assert.equal(tok.decode(fx.ids[i]!), fx.decoded[i], `decode of ${JSON.stringify(s)}`);
    });
  });
}
