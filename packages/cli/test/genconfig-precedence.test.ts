/**
 * The README's generation-config precedence table, one test per row ("README precedence N").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadedModel } from '@prefix-tuning/hub';
import { generationDefaults, parseDecoding } from '../src/run/generation.ts';
import { specialIds } from '../src/run/model.ts';

const G = { beams: 1, maxNewTokens: 100 }; // generate's defaults
const EV = { beams: 5, maxNewTokens: 100 }; // eval's

/** A model directory with these files (an object is written as JSON). */
const withDir = <T>(files: Record<string, object>, f: (dir: string) => T): T => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-prec-'));
  try {
    for (const [n, v] of Object.entries(files)) writeFileSync(join(dir, n), JSON.stringify(v));
    return f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
/** stderr lines written while `f` runs. */
const stderrOf = <T>(f: () => T): [T, string] => {
  const lines: string[] = [];
  const w = process.stderr.write;
  process.stderr.write = ((s: string) => { lines.push(String(s)); return true; }) as typeof process.stderr.write;
  try {
    return [f(), lines.join('')];
  } finally {
    process.stderr.write = w;
  }
};
const SUM = { num_beams: 4, max_length: 20, min_length: 8, early_stopping: true, no_repeat_ngram_size: 3, length_penalty: 2 };

test('README precedence 1: a flag wins over generation_config.json', () => {
  withDir({ 'generation_config.json': SUM }, (dir) => {
    const d = parseDecoding({ beams: 2, 'no-repeat-ngram': 0, 'max-length': 12, 'early-stopping': 'never' }, G, generationDefaults(dir));
    assert.deepEqual([d.numBeams, d.noRepeatNgramSize, d.maxLength, d.earlyStopping, d.lengthPenalty, d.minLength], [2, undefined, 12, 'never', 2, 8]);
  });
});

test("README precedence 2: generation_config.json wins over the command's defaults", () => {
  withDir({ 'generation_config.json': SUM }, (dir) => {
    const d = parseDecoding({}, G, generationDefaults(dir));
    assert.deepEqual([d.numBeams, d.maxLength, d.maxNewTokens, d.earlyStopping], [4, 20, undefined, true]);
    assert.equal(parseDecoding({}, EV, generationDefaults(dir)).numBeams, 4);
  });
});

test("README precedence 3: without generation_config.json, config.json's generation keys apply (as transformers reads them)", () => {
  withDir({ 'config.json': { model_type: 'bart', d_model: 16, ...SUM } }, (dir) => {
    const d = parseDecoding({}, G, generationDefaults(dir));
    assert.deepEqual([d.numBeams, d.maxLength, d.minLength, d.earlyStopping], [4, 20, 8, true]);
  });
});

test("README precedence 4: with generation_config.json, config.json's generation keys are not read", () => {
  withDir({ 'config.json': { model_type: 'bart', ...SUM }, 'generation_config.json': { max_new_tokens: 7 } }, (dir) => {
    const d = parseDecoding({}, G, generationDefaults(dir));
    assert.deepEqual([d.numBeams, d.maxNewTokens, d.minLength, d.noRepeatNgramSize], [1, 7, undefined, undefined]);
  });
});

test("README precedence 5: what nothing sets is the command's default (generate: greedy, 100 new tokens; eval: 5 beams)", () => {
  withDir({}, (dir) => {
    assert.deepEqual(parseDecoding({}, G, generationDefaults(dir)), { numBeams: 1, doSample: false, maxNewTokens: 100, seed: 0, batchSize: 8 });
    assert.equal(parseDecoding({}, EV, generationDefaults(dir)).numBeams, 5);
  });
});

test('README precedence 6: max_new_tokens wins over max_length whichever layer sets each, with a warning', () => {
  withDir({ 'generation_config.json': { max_new_tokens: 30 } }, (dir) => {
    const [d, err] = stderrOf(() => parseDecoding({ 'max-length': 50 }, G, generationDefaults(dir)));
    assert.deepEqual([d.maxNewTokens, d.maxLength], [30, undefined]);
    assert.match(err, /^warning: both max_new_tokens \(30\) and max_length \(50\) are set: max_new_tokens wins, as in transformers\n$/);
  });
  withDir({ 'generation_config.json': { max_length: 50 } }, (dir) => {
    const [d] = stderrOf(() => parseDecoding({ 'max-new-tokens': 9 }, G, generationDefaults(dir)));
    assert.deepEqual([d.maxNewTokens, d.maxLength], [9, undefined]);
  });
});

test('README precedence 7: min_new_tokens wins over min_length', () => {
  withDir({ 'generation_config.json': { min_length: 8 } }, (dir) => {
    const [d] = stderrOf(() => parseDecoding({ 'min-new-tokens': 3 }, G, generationDefaults(dir)));
    assert.deepEqual([d.minNewTokens, d.minLength], [3, undefined]);
  });
});

test("README precedence 8: --greedy, --beams N or --sample replaces the file's num_beams and do_sample", () => {
  withDir({ 'generation_config.json': { num_beams: 4, do_sample: false } }, (dir) => {
    const m = generationDefaults(dir);
    assert.deepEqual([parseDecoding({ greedy: true }, G, m).numBeams, parseDecoding({ sample: true }, G, m).numBeams, parseDecoding({ sample: true }, G, m).doSample], [1, 1, true]);
  });
  withDir({ 'generation_config.json': { do_sample: true } }, (dir) => {
    const d = parseDecoding({ beams: 3 }, G, generationDefaults(dir));
    assert.deepEqual([d.numBeams, d.doSample], [3, false]);
  });
});

test("README precedence 9: the file's sampling settings apply only when sampling, its length penalty and early stopping only with beams; such a flag elsewhere is a usage error", () => {
  withDir({ 'generation_config.json': { temperature: 0.7, top_p: 0.9, length_penalty: 2, early_stopping: true } }, (dir) => {
    const m = generationDefaults(dir);
    const g = parseDecoding({}, G, m);
    assert.deepEqual([g.temperature, g.topP, g.lengthPenalty, g.earlyStopping], [undefined, undefined, undefined, undefined]);
    const s = parseDecoding({ sample: true }, G, m);
    assert.deepEqual([s.temperature, s.topP, s.lengthPenalty], [0.7, 0.9, undefined]);
    assert.throws(() => parseDecoding({ 'early-stopping': 'true' }, G, m), /--early-stopping applies to beam search/);
  });
});

test('README precedence 10: special ids: a flag, then generation_config.json, then config.json, then the tokenizer', () => {
  withDir({ 'generation_config.json': { eos_token_id: [5, 6], pad_token_id: 0 } }, (dir) => {
    const model = { dir, config: { model_type: 'gpt2', eos_token_id: 9 }, params: {}, tokenizer: { eosId: 11 } } as unknown as LoadedModel;
    assert.deepEqual(specialIds(model).eos, [5, 6]);
    const d = parseDecoding({ 'eos-token-id': '7,8', 'pad-token-id': 1, 'decoder-start-token-id': 2 }, G, generationDefaults(dir));
    assert.deepEqual([d.eosTokenIds, d.padTokenId, d.decoderStartTokenId], [[7, 8], 1, 2]);
  });
  withDir({}, (dir) => {
    const model = { dir, config: { model_type: 'gpt2', eos_token_id: 9 }, params: {}, tokenizer: { eosId: 11 } } as unknown as LoadedModel;
    assert.deepEqual(specialIds(model).eos, [9]);
    assert.deepEqual(specialIds({ ...model, config: { model_type: 'gpt2', eos_token_id: null } } as unknown as LoadedModel).eos, [11]);
  });
});

test('README precedence 11: a key this library does not implement is named in one warning line, once per file', () => {
  withDir({ 'generation_config.json': { num_beams: 2, typical_p: 0.8, num_beam_groups: 1, penalty_alpha: 0.6 } }, (dir) => {
    const [m, err] = stderrOf(() => generationDefaults(dir));
    assert.equal(err, `warning: ${join(dir, 'generation_config.json')}: not implemented, ignored: typical_p, penalty_alpha\n`);
    assert.equal(parseDecoding({}, G, m).numBeams, 2);
    assert.equal(stderrOf(() => generationDefaults(dir))[1], '');
  });
});

test('the new flags: a bad value is one usage error naming the flag', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ 'early-stopping': 'always', beams: 2 }, /^--early-stopping must be true, false or never, got always$/],
    [{ 'bad-words-ids': '[[1],[]]' }, /^--bad-words-ids must be a JSON list of non-empty lists of token ids, e\.g\. \[\[5\],\[7,8\]\], got \[\[1\],\[\]\]$/],
    [{ 'bad-words-ids': 'nope' }, /^--bad-words-ids must be a JSON list/],
    [{ 'suppress-tokens': ['1', 'x'] }, /^--suppress-tokens must be comma-separated token ids, got 1,x$/],
    [{ 'repetition-penalty': 0 }, /^--repetition-penalty must be a positive number, got 0$/],
    [{ 'max-length': 0 }, /^--max-length must be an integer >= 1, got 0$/],
    [{ 'num-return-sequences': 2 }, /^greedy decoding returns one sequence: num_return_sequences 2 needs beam search or sampling$/],
    [{ 'num-return-sequences': 3, beams: 2 }, /^num_return_sequences \(3\) must be <= num_beams \(2\)$/],
  ];
  for (const [opts, re] of cases) assert.throws(() => parseDecoding(opts, G, {}), (e: Error) => re.test(e.message) && e.message.split('\n').length === 1, JSON.stringify(opts));
});
