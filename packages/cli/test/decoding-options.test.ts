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
import { generationDefaults, parseDecoding } from '../src/run/generation.ts';

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
