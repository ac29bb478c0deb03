/**
 * Decoding options: the user's flags over the model's generation_config.json, with transformers'
 * precedence (an explicit mode replaces the model's; sampling settings only when sampling; the
 * length penalty only with beams), and one-line usage errors for bad values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import type { LoadedModel } from '@prefix-tuning/hub';
import { UsageError } from '../src/cli.ts';
import { generationDefaults, parseDecoding } from '../src/run/generation.ts';
import { specialIds } from '../src/run/model.ts';

const D = { beams: 1, maxNewTokens: 100 };

const withConfig = <T>(cfg: object | string, f: (dir: string) => T): T => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-gencfg-'));
  try {
    writeFileSync(join(dir, 'generation_config.json'), typeof cfg === 'string' ? cfg : JSON.stringify(cfg));
    return f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

test('generation_config.json supplies defaults: beams, n-gram blocking, lengths', () => {
  withConfig({ bos_token_id: 1, num_beams: 4, no_repeat_ngram_size: 3, length_penalty: 2, max_new_tokens: 30, min_new_tokens: 5 }, (dir) => {
    const m = generationDefaults(dir);
    assert.deepEqual(parseDecoding({}, D, m), { maxNewTokens: 30, numBeams: 4, doSample: false, seed: 0, batchSize: 8, lengthPenalty: 2, noRepeatNgramSize: 3, minNewTokens: 5 });
    // --greedy replaces the model's mode and drops its length penalty; the n-gram rule stays (as in transformers)
    assert.deepEqual(parseDecoding({ greedy: true }, D, m), { maxNewTokens: 30, numBeams: 1, doSample: false, seed: 0, batchSize: 8, noRepeatNgramSize: 3, minNewTokens: 5 });
    // the user's values win, and 0 turns the model's n-gram rule off
    const o = parseDecoding({ beams: '2', 'no-repeat-ngram': '0', 'max-new-tokens': '7' }, D, m);
    assert.equal(o.numBeams, 2);
    assert.equal(o.noRepeatNgramSize, undefined);
    assert.equal(o.maxNewTokens, 7);
    assert.equal(o.lengthPenalty, 2);
  });
});

test("the model's sampling settings apply only when sampling", () => {
  withConfig({ do_sample: true, top_k: 50, temperature: 0.7 }, (dir) => {
    const m = generationDefaults(dir);
    const s = parseDecoding({}, D, m);
    assert.deepEqual([s.doSample, s.numBeams, s.topK, s.temperature], [true, 1, 50, 0.7]);
    const g = parseDecoding({ greedy: true }, D, m);
    assert.deepEqual([g.doSample, g.topK, g.temperature], [false, undefined, undefined]);
    const b = parseDecoding({ beams: '3' }, D, m);
    assert.deepEqual([b.doSample, b.numBeams, b.topK], [false, 3, undefined]);
    assert.equal(parseDecoding({ sample: true, 'top-k': '5' }, D, m).topK, 5);
  });
  withConfig({ do_sample: true, num_beams: 4 }, (dir) => {
    assert.throws(() => parseDecoding({}, D, generationDefaults(dir)), /beam sampling .* not implemented/);
    assert.equal(parseDecoding({ beams: '4' }, D, generationDefaults(dir)).numBeams, 4);
  });
});

test('without generation_config.json, or with only ids in it, the command defaults hold', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-gencfg-'));
  try {
    assert.deepEqual(generationDefaults(dir), {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  withConfig({ bos_token_id: 4095, eos_token_id: 4095 }, (dir) => assert.deepEqual(parseDecoding({}, D, generationDefaults(dir)), parseDecoding({}, D)));
});

test('a bad generation_config.json is a usage error naming the file and key', () => {
  withConfig('{ nope', (dir) => assert.throws(() => generationDefaults(dir), /generation_config\.json: invalid JSON/));
  withConfig({ top_k: 'many' }, (dir) => assert.throws(() => generationDefaults(dir), /generation_config\.json: top_k must be a number, got "many"/));
  withConfig('[4]', (dir) => assert.throws(() => generationDefaults(dir), /generation_config\.json: expected a JSON object, got an array/));
});

/** A model as `specialIds` reads it: its directory, no ids in config.json or the tokenizer. */
const bare = (dir: string) => ({ dir, config: { model_type: 'gpt2' }, params: {}, tokenizer: {} }) as unknown as LoadedModel;

test('the special ids come from the same reader: generation_config.json first, and an unparsable one is the same usage error', () => {
  withConfig({ eos_token_id: [5, 6], bos_token_id: 1, pad_token_id: 0, forced_bos_token_id: 2 }, (dir) =>
    assert.deepEqual(specialIds(bare(dir)), { eos: [5, 6], bos: 1, pad: 0, forcedBos: 2 }));
  for (const bad of ['{ nope', '"eos"']) {
    withConfig(bad, (dir) => {
      const err = (f: () => unknown): string => {
        try {
          f();
        } catch (e) {
          assert.ok(e instanceof UsageError, String(e));
          return e.message;
        }
        return assert.fail('no error');
      };
      const a = err(() => specialIds(bare(dir))), b = err(() => generationDefaults(dir));
      assert.equal(a, b);
      assert.match(a, new RegExp(`^${join(dir, 'generation_config.json').replace(/[.\\/]/g, '\\$&')}: (invalid JSON \\(|expected a JSON object, got string)`));
      assert.equal(a.split('\n').length, 1);
    });
  }
});

test("a value of generation_config.json that transformers refuses is a usage error naming the file and the key (not a flag the user never gave)", () => {
  const cases: [object, string][] = [
    [{ no_repeat_ngram_size: 2.5 }, 'no_repeat_ngram_size must be an integer >= 0, got 2.5'],
    [{ num_beams: 0 }, 'num_beams must be an integer >= 1, got 0'],
    [{ top_k: -1 }, 'top_k must be an integer >= 0, got -1'],
    [{ top_p: 1.5 }, 'top_p must be in (0, 1], got 1.5'],
    [{ top_p: 0 }, 'top_p must be in (0, 1], got 0'],
    [{ temperature: -0.5 }, 'temperature must be a number >= 0, got -0.5'],
    [{ min_new_tokens: 1.5 }, 'min_new_tokens must be an integer >= 0, got 1.5'],
    [{ max_new_tokens: 0 }, 'max_new_tokens must be an integer >= 1, got 0'],
  ];
  for (const [cfg, msg] of cases)
    withConfig(cfg, (dir) => assert.throws(() => generationDefaults(dir), (e: Error) => e instanceof UsageError && e.message === `${join(dir, 'generation_config.json')}: ${msg}`));
});

test('property: a count in generation_config.json that is not an integer is refused, naming its key', () => {
  const counts = ['num_beams', 'top_k', 'no_repeat_ngram_size', 'min_new_tokens', 'max_new_tokens'];
  fc.assert(fc.property(fc.constantFrom(...counts), fc.double({ min: -50, max: 50, noNaN: true }).filter((x) => !Number.isInteger(x)), (k, v) => {
    withConfig({ [k]: v }, (dir) => assert.throws(() => generationDefaults(dir), (e: Error) => e instanceof UsageError && e.message.includes(`generation_config.json: ${k} must be an integer >= `) && !e.message.includes('--')));
  }), { numRuns: 40 });
});

test("top_k 0 is off and temperature 0 marks greedy decoding, as in transformers: sampling then needs the user's --temperature", () => {
  withConfig({ top_k: 0, temperature: 0 }, (dir) => {
    const m = generationDefaults(dir);
    assert.deepEqual(parseDecoding({}, D, m), parseDecoding({}, D));
    assert.throws(() => parseDecoding({ sample: true }, D, m), /generation_config\.json has temperature 0 .*pass --temperature T with --sample, or --greedy/);
    const s = parseDecoding({ sample: true, temperature: '0.7' }, D, m);
    assert.deepEqual([s.doSample, s.temperature, s.topK], [true, 0.7, undefined]);
  });
  withConfig({ do_sample: true, temperature: 0 }, (dir) => {
    const m = generationDefaults(dir);
    assert.throws(() => parseDecoding({}, D, m), /temperature 0/);
    assert.equal(parseDecoding({ greedy: true }, D, m).doSample, false);
  });
});

test('property: an explicit user option always wins over the model default', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 200 }),
    (mb, mn, mm, ub, un, um) => {
      const model = { beams: mb, 'no-repeat-ngram': mn, 'max-new-tokens': mm };
      const o = parseDecoding({ beams: String(ub), 'no-repeat-ngram': String(un), 'max-new-tokens': String(um) }, D, model);
      assert.equal(o.numBeams, ub);
      assert.equal(o.noRepeatNgramSize, un > 0 ? un : undefined);
      assert.equal(o.maxNewTokens, um);
      const d = parseDecoding({}, D, model);
      assert.deepEqual([d.numBeams, d.noRepeatNgramSize, d.maxNewTokens], [mb, mn > 0 ? mn : undefined, mm]);
    }), { numRuns: 60 });
});
