/**
 * The generation-config codec, merge and resolution (transformers 5.23's rules; the tokens they
 * lead to are checked against transformers' generate in packages/cli/test/genconfig.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { decodeGenerationConfig, mergeGenerationConfigs, newTokensFor, resolveGeneration, type GenerationConfig } from '../../src/index.ts';
import { generationKeys } from '../../src/decode/index.ts';

const right = <A>(e: E.Either<string, A>): A => {
  if (E.isLeft(e)) assert.fail(e.left);
  return e.right;
};
const D = { maxNewTokens: 100 };

test('a summarisation generation_config.json (bart-large-cnn style) is read whole', () => {
  const { config, unsupported } = right(decodeGenerationConfig({
    num_beams: 4, max_length: 142, min_length: 56, early_stopping: true, no_repeat_ngram_size: 3, length_penalty: 2, forced_bos_token_id: 0,
    forced_eos_token_id: 2, decoder_start_token_id: 2, eos_token_id: 2, pad_token_id: 1, bos_token_id: 0, transformers_version: '5.23.0', _from_model_config: true,
  }));
  assert.deepEqual(unsupported, []);
  const r = right(resolveGeneration(config, D));
  assert.deepEqual(r.length, { maxLength: 142 });
  assert.deepEqual(r.options, {
    numBeams: 4, doSample: false, lengthPenalty: 2, earlyStopping: true, minLength: 56, noRepeatNgramSize: 3, forcedBosTokenId: 0,
    forcedEosTokenIds: [2], eosTokenIds: [2], padTokenId: 1,
  });
  assert.equal(r.decoderStartTokenId, 2);
  // max_length counts the search's prompt: 141 new tokens after BART's [decoder_start], 132 after a 10-token GPT-2 prompt
  assert.equal(newTokensFor(r, 1), 141);
  assert.equal(newTokensFor(r, 10), 132);
});

test('early_stopping is true, false or "never"; anything else names the key', () => {
  for (const v of [true, false, 'never'] as const) assert.equal(right(resolveGeneration(right(decodeGenerationConfig({ early_stopping: v, num_beams: 2 })).config, D)).options.earlyStopping, v);
  assert.deepEqual(decodeGenerationConfig({ early_stopping: 'always' }), E.left('early_stopping must be true, false or "never", got "always"'));
  assert.deepEqual(decodeGenerationConfig({ bad_words_ids: [[1], []] }), E.left('bad_words_ids must be a list of non-empty lists of token ids, got [[1],[]]'));
  assert.deepEqual(decodeGenerationConfig({ eos_token_id: [1, -2] }), E.left('eos_token_id must be a token id or a list of token ids, got [1,-2]'));
  assert.deepEqual(decodeGenerationConfig({ repetition_penalty: 0 }), E.left('repetition_penalty must be a number > 0, got 0'));
});

test('keys transformers applies and this library does not are reported (at a non-default value); metadata is not', () => {
  const r = right(decodeGenerationConfig({ typical_p: 0.9, num_beam_groups: 1, diversity_penalty: 0.5, use_cache: true, output_scores: false, my_own_key: 3 }));
  assert.deepEqual(r.unsupported, ['typical_p', 'diversity_penalty', 'my_own_key']);
  // a config.json: only generation keys are taken, and its model keys are not "unsupported"
  const c = right(decodeGenerationConfig({ d_model: 16, num_beams: 3, typical_p: 0.5, architectures: ['X'] }, { fromModelConfig: true }));
  assert.deepEqual(c, { config: { num_beams: 3 }, unsupported: ['typical_p'] });
});

test('merge: the first layer that sets a key wins; null is unset', () => {
  const call: GenerationConfig = { num_beams: 2 };
  const file: GenerationConfig = { num_beams: 4, max_length: 20, top_k: null };
  assert.deepEqual(mergeGenerationConfigs(call, file), { num_beams: 2, max_length: 20 });
});

test("transformers' rules: max_new_tokens over max_length and min_new_tokens over min_length (warned), modes, neutral values off", () => {
  const r = right(resolveGeneration({ max_new_tokens: 5, max_length: 50, min_new_tokens: 0, min_length: 9 }, D));
  assert.deepEqual(r.length, { maxNewTokens: 5 });
  assert.equal(r.options.minLength, undefined); // min_new_tokens 0 still wins: min_length = 0 + prompt
  assert.equal(r.warnings.length, 2);
  assert.deepEqual(right(resolveGeneration({}, D)).length, { maxNewTokens: 100 });
  // warpers only when sampling, beam settings only with beams
  const g = right(resolveGeneration({ temperature: 0.5, top_k: 5, length_penalty: 2, early_stopping: true }, D)).options;
  assert.deepEqual(g, { numBeams: 1, doSample: false });
  const s = right(resolveGeneration({ do_sample: true, temperature: 0.5, top_k: 0, top_p: 1, num_return_sequences: 3 }, D)).options;
  assert.deepEqual(s, { numBeams: 1, doSample: true, temperature: 0.5, numReturnSequences: 3 });
  const n = right(resolveGeneration({ repetition_penalty: 1, encoder_repetition_penalty: 1, no_repeat_ngram_size: 0, encoder_no_repeat_ngram_size: 0, suppress_tokens: [] }, D)).options;
  assert.deepEqual(n, { numBeams: 1, doSample: false });
  assert.ok(E.isLeft(resolveGeneration({ do_sample: true, num_beams: 2 }, D)));
  assert.ok(E.isLeft(resolveGeneration({ num_return_sequences: 2 }, D)));
  assert.ok(E.isLeft(resolveGeneration({ num_return_sequences: 3, num_beams: 2 }, D)));
  assert.ok(E.isLeft(resolveGeneration({ do_sample: true, temperature: 0 }, D)));
});

test('property: decoding any JSON object never throws; what it keeps are the known keys, each accepted again on its own', () => {
  const value = fc.oneof(fc.integer({ min: -3, max: 200 }), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null), fc.constant('never'), fc.string(),
    fc.array(fc.integer({ min: -1, max: 9 }), { maxLength: 3 }), fc.array(fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 2 }), { maxLength: 2 }));
  const key = fc.oneof(fc.constantFrom(...generationKeys), fc.constantFrom('typical_p', 'use_cache', 'foo'));
  fc.assert(fc.property(fc.dictionary(key, value), (json) => {
    const r = decodeGenerationConfig(json);
    if (E.isLeft(r)) {
      assert.match(r.left, /^\w+ must be .+, got /);
      return;
    }
    for (const [k, v] of Object.entries(r.right.config)) {
      assert.ok((generationKeys as readonly string[]).includes(k));
      assert.deepEqual(decodeGenerationConfig({ [k]: v }), E.right({ config: { [k]: v }, unsupported: [] }));
    }
    // resolving is total on what decodes: a Left is one of the refused combinations, never an exception
    resolveGeneration(r.right.config, D);
  }), { numRuns: 300 });
});
