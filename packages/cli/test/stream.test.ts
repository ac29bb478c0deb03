/**
 * Streaming (issue 15): the library's `generator(...).stream` yields the same tokens and outputs
 * as the whole-result `run` (greedy, sampling with several sequences, beam search), its text
 * pieces join to each output's text on real tokenizers (byte-level BPE with characters split
 * across tokens, WordPiece, SentencePiece), and `generate --stream` prints what `generate` prints.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { referenceBackend } from '@prefix-tuning/core';
import { byteTokenIds, generator, loadModel, loadTokenizer, specialIds, textPieces, type LoadedModel, type Output, type TextTokenizer } from '@prefix-tuning/hub';
import { generationDefaults, parseDecoding } from '../src/run/generation.ts';
import { cli, repoRoot, rmrf, tempDir, tinyModelDir } from './train-fixture.ts';

const genDir = join(repoRoot, 'fixtures', 'genconfig', 'gpt2-gen'); // 32 positions, `wN` is token N
const embedded = join(repoRoot, 'models', 'tiny-gpt2-en');
let model: LoadedModel;
before(async () => {
  const m = await loadModel(genDir);
  assert.ok(E.isRight(m));
  model = m.right;
});
const text = (ids: readonly number[]): string => ids.map((i) => `w${i}`).join(' ');

test('property: stream yields run\'s outputs, each sequence\'s tokens as they come, and pieces that join to its text', async () => {
  const gen = await generator({ backend: referenceBackend(), model });
  const quiet = process.stderr.write;
  process.stderr.write = () => true; // parseDecoding's max_length warnings
  try {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.array(fc.integer({ min: 6, max: 63 }), { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
      fc.constantFrom<Record<string, unknown>>({ greedy: true }, { beams: 2, 'num-return-sequences': 2 }, { sample: true, seed: 3, 'num-return-sequences': 2 }),
      fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 3 }),
      async (prompts, mode, n, batch) => {
        const dec = parseDecoding({ ...mode, 'max-new-tokens': n, 'batch-size': batch }, { beams: 1, maxNewTokens: 8 }, generationDefaults(genDir));
        const texts = prompts.map(text);
        const whole = await gen.run(texts, dec);
        const done: Output[] = [];
        const tokens = new Map<string, number[]>();
        const pieces = new Map<string, string>();
        for await (const e of gen.stream(texts, dec)) {
          if (e.type === 'token') {
            const k = `${e.index}/${e.sequence}`;
            tokens.set(k, [...(tokens.get(k) ?? []), e.token]);
            pieces.set(k, (pieces.get(k) ?? '') + e.text);
          } else {
            const k = `${e.output.index}/${e.output.sequence}`;
            assert.ok(!done.some((o) => `${o.index}/${o.sequence}` === k), 'one done per sequence');
            pieces.set(k, (pieces.get(k) ?? '') + e.rest);
            done.push(e.output);
          }
        }
        assert.deepEqual(done, whole);
        const ids = specialIds(model);
        assert.ok(E.isRight(ids));
        const eos = new Set(dec.eosTokenIds ?? ids.right.eos); // the stream's tokens end before EOS
        for (const o of whole) {
          const k = `${o.index}/${o.sequence}`;
          const body = o.ids.filter((_, i) => !(i === o.ids.length - 1 && eos.has(o.ids[i]!)));
          assert.deepEqual(tokens.get(k) ?? [], body, k);
          assert.equal(pieces.get(k) ?? '', o.text, k);
        }
      }), { numRuns: 25 });
  } finally {
    process.stderr.write = quiet;
    await gen.dispose();
  }
});

test('a consumer that stops early ends the stream without error; a prompt the model cannot take rejects the stream', async () => {
  const gen = await generator({ backend: referenceBackend(), model });
  try {
    const dec = parseDecoding({ greedy: true, 'max-new-tokens': 6, 'batch-size': 1 }, { beams: 1, maxNewTokens: 8 });
    let n = 0;
    for await (const e of gen.stream([text([6, 7]), text([8, 9]), text([10])], dec)) if (e.type === 'done' && ++n === 1) break;
    assert.equal(n, 1);
    const tooLong = text(Array.from({ length: 40 }, (_, i) => 6 + (i % 50)));
    await assert.rejects(async () => { for await (const _ of gen.stream([tooLong], { ...dec, truncate: 'error' })) { /* drain */ } }, /prompt 1 has 40 tokens and the model leaves room for 31/);
  } finally {
    await gen.dispose();
  }
});

/** Real tokenizers: the embedded byte-level BPE, GPT-2's (from ../shared, when present), a SentencePiece BPE with byte fallback, a WordPiece. */
const tokenizers = async (): Promise<[string, TextTokenizer][]> => {
  const out: [string, TextTokenizer][] = [];
  const gpt2 = join(process.env['PREFIX_TUNING_SHARED'] ?? join(repoRoot, '..', 'shared'), 'models', 'gpt2-tokenizer');
  const word = tinyModelDir();
  for (const [name, dir] of [['tiny-gpt2-en', embedded], ['gpt2', gpt2], ['llama-sp', join(repoRoot, 'fixtures', 'tokenizers', 'llama-sp')], ['wordpiece', word]] as const) {
    if (!existsSync(join(dir, 'tokenizer.json'))) continue;
    const t = await loadTokenizer(dir);
    assert.ok(E.isRight(t), name);
    out.push([name, t.right]);
  }
  rmrf(word);
  return out;
};

test('property: textPieces join to the decoded text of any token sequence, trimmed or not (real tokenizers)', async () => {
  for (const [name, tok] of await tokenizers()) {
    const decode = (ids: readonly number[]) => tok.decode(ids, { skipSpecialTokens: true });
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: tok.vocabSize - 1 }), { maxLength: 24 }), fc.boolean(), (ids, trim) => {
      const p = textPieces(decode, trim, byteTokenIds(tok));
      let s = '';
      for (const id of ids) s += p.push(id);
      s += p.end();
      const want = decode(ids);
      assert.equal(s, trim ? want.trim() : want, `${name}: ${JSON.stringify(ids)}`);
    }), { numRuns: 1000 });
  }
});

test('generate --stream prints what generate prints (plain prompts, several sequences per prompt, beam search)', () => {
  const dir = tempDir('pt-stream-');
  const file = join(dir, 'prompts.txt');
  writeFileSync(file, 'The history of\nIn 1850 the\n\nShe said that\n');
  for (const extra of [['--greedy'], ['--sample', '--seed', '5', '--num-return-sequences', '2'], ['--beams', '2']]) {
    const args = ['generate', '--model', embedded, '--input', file, '--max-new-tokens', '20', ...extra];
    const whole = cli(args);
    const streamed = cli([...args, '--stream']);
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(streamed.code, 0, streamed.stderr);
    assert.equal(streamed.stdout, whole.stdout, extra.join(' '));
    assert.equal(whole.stdout.split('\n').length, 3 * (extra.includes('--num-return-sequences') ? 2 : 1) + 1);
  }
  const both = cli(['generate', '--model', embedded, '--prompt', 'a', '--stream', '--json']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--stream prints plain text as it comes; --json prints whole results/);
  rmrf(dir);
});
