/**
 * Byte-fallback decoding equals the Rust tokenizers library and transformers' `decode`
 * (fixtures/fidelity/bytefallback.json, written by tools/make_fidelity_fixtures.py on the
 * llama-sp tokenizer and a llama2.c-style tokenizer), including invalid UTF-8: one U+FFFD per
 * byte token of an invalid run. Plus the decoder step's own laws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { byteFallbackChain, makeTokenizer, type TextTokenizer } from '../src/tokenizer.ts';
import { repoRoot } from './paths.ts';

interface Case { tokenizer: string; ids: number[]; decode: string; decode_skip_special: string; transformers_decode: string; transformers_decode_skip_special: string }
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const table = JSON.parse(readFileSync(join(repoRoot, 'fixtures', 'fidelity', 'bytefallback.json'), 'utf8')) as { tokenizers: Record<string, string>; cases: Case[] };
const toks: Record<string, TextTokenizer> = Object.fromEntries(Object.entries(table.tokenizers).map(([name, dir]) => {
  const j = (f: string): unknown => JSON.parse(readFileSync(join(repoRoot, dir, f), 'utf8'));
  const t = makeTokenizer(j('tokenizer.json'), j('tokenizer_config.json'));
  if (E.isLeft(t)) throw new Error(t.left);
  return [name, t.right];
}));

test('the table covers both tokenizers and invalid UTF-8', () => {
  for (const name of Object.keys(toks)) assert.ok(table.cases.filter((c) => c.tokenizer === name).length >= 100);
  assert.ok(table.cases.filter((c) => c.decode.includes('\uFFFD')).length >= 50);
  // [E2 82 AC FF]: the valid euro sign is not kept when its run holds an invalid byte
  assert.equal(table.cases[0]!.decode, '\uFFFD'.repeat(4));
});

test('decode equals tokenizers and transformers on every committed id sequence (fast-check over the table)', () => {
  fc.assert(fc.property(fc.constantFrom(...table.cases), (c) => {
    const tok = toks[c.tokenizer]!;
    assert.equal(tok.decode(c.ids), c.decode, JSON.stringify(c.ids));
    assert.equal(tok.decode(c.ids), c.transformers_decode);
    assert.equal(tok.decode(c.ids, { skipSpecialTokens: true }), c.decode_skip_special, JSON.stringify(c.ids));
    assert.equal(tok.decode(c.ids, { skipSpecialTokens: true }), c.transformers_decode_skip_special);
  }), { numRuns: table.cases.length * 3 });
});

const byteToken = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;

test('byteFallbackChain: a run is its UTF-8 text when valid, else one U+FFFD per byte; other tokens pass through', () => {
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  fc.assert(fc.property(fc.array(fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 6 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }).map((s) => new TextEncoder().encode(s))), { maxLength: 5 }), fc.constantFrom('▁a', 'x', '<s>'), (runs, sep) => {
    const tokens = runs.flatMap((r, i) => [...(i > 0 ? [sep] : []), ...[...r].map(byteToken)]);
    const expected = runs.flatMap((r, i) => {
      let text: string[];
      try { text = [strict.decode(r)]; } catch { text = Array.from(r, () => '\uFFFD'); }
      return [...(i > 0 ? [sep] : []), ...text];
    });
    assert.deepEqual(byteFallbackChain(tokens), expected);
  }));
  // valid text round-trips through its bytes, whatever the characters (a BOM is kept)
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => {
    const bytes = [...new TextEncoder().encode(s)].map(byteToken);
    assert.equal(byteFallbackChain(bytes).join(''), s);
  }));
  assert.deepEqual(byteFallbackChain(['<0xEF>', '<0xBB>', '<0xBF>']), ['\uFEFF']);
  assert.deepEqual(byteFallbackChain(['<0x+A>', '<0xg0>', '<0x0A>']), ['\n', '<0xg0>', '\n']);
});
