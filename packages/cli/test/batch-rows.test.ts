/**
 * Every row of a batch decodes as it would alone (issue 18.3): its own new-token room under the
 * model's positions and under `max_length`, its own processors' context and its own sampling
 * stream, so a long prompt never cuts the other rows and `eval` does not depend on
 * `--batch-size`; a prompt too long for the model is cut as `--truncate` says, and reported.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { referenceBackend } from '@prefix-tuning/core';
import { loadModel, type LoadedModel } from '@prefix-tuning/hub';
import { generationDefaults, makeGenerator, parseDecoding } from '../src/run/generation.ts';
import { cutPrompt } from '@prefix-tuning/hub';
import { UsageError } from '../src/cli.ts';
import { cli, e2eDir, repoRoot, rmrf, tempDir, tinyModelDir } from './train-fixture.ts';

const genDir = join(repoRoot, 'fixtures', 'genconfig', 'gpt2-gen'); // 32 positions, `wN` is token N
let model: LoadedModel;
before(async () => {
  const m = await loadModel(genDir);
  assert.ok(E.isRight(m));
  model = m.right;
});

const text = (ids: readonly number[]): string => ids.map((i) => `w${i}`).join(' ');
const D = { beams: 1, maxNewTokens: 8 };

test('property: in a random batch of prompts of random lengths, each row equals that prompt decoded alone (greedy, beams, sampling; reference evaluator)', async () => {
  const gen = await makeGenerator(referenceBackend(), model, undefined);
  const quiet = process.stderr.write;
  process.stderr.write = () => true; // the truncation and room notes
  try {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.array(fc.integer({ min: 6, max: 63 }), { minLength: 1, maxLength: 36, size: 'max' }), { minLength: 2, maxLength: 5 }),
      fc.constantFrom<Record<string, unknown>>({ greedy: true }, { beams: 2 }, { sample: true, seed: 7, 'top-k': 8 }),
      fc.integer({ min: 1, max: 12 }),
      async (prompts, mode, n) => {
        // the model's generation_config.json (repetition penalty, n-gram rule, two EOS ids) applies too
        const dec = parseDecoding({ ...mode, 'max-new-tokens': n, 'batch-size': prompts.length }, D, generationDefaults(genDir));
        const texts = prompts.map(text);
        const batched = await gen.run(texts, dec);
        const alone = (await Promise.all(texts.map(async (t, i) => (await gen.run([t], { ...dec, batchSize: 1 })).map((o) => ({ ...o, index: i }))))).flat();
        // sampling: a run of one prompt is row 0 of its own run; compare sampling across positions only via greedy/beam
        if (mode['sample'] === true) {
          const again = await gen.run(texts, { ...dec, batchSize: 1 });
          assert.deepEqual(again.map((o) => o.ids), batched.map((o) => o.ids));
          return;
        }
        assert.deepEqual(batched.map((o) => o.ids), alone.map((o) => o.ids));
        batched.forEach((o, i) => assert.ok(Math.abs(o.score - alone[i]!.score) < 1e-9));
      }), { numRuns: 16 });
  } finally {
    process.stderr.write = quiet;
    await gen.dispose();
  }
});

test('max_length counts each row\'s own prompt: in one batch, a 3-token and a 9-token prompt get 11 and 5 new tokens at most', async () => {
  const gen = await makeGenerator(referenceBackend(), model, undefined);
  try {
    // no EOS (3, 4) and no banned token: only the length rule stops these rows
    const dec = parseDecoding({ greedy: true, 'max-length': 14, 'suppress-tokens': '3,4', 'no-repeat-ngram': 0 }, D, {});
    const outs = await gen.run([text([10, 11, 12]), text([10, 11, 12, 13, 14, 15, 16, 17, 18])], dec);
    assert.deepEqual(outs.map((o) => o.ids.length), [11, 5]);
  } finally {
    await gen.dispose();
  }
});

test('a prompt longer than the model is cut as --truncate says, and the cut is reported: how many tokens, from which side', async () => {
  const gen = await makeGenerator(referenceBackend(), model, undefined);
  const lines: string[] = [];
  const quiet = process.stderr.write;
  process.stderr.write = ((s: string) => { lines.push(String(s)); return true; }) as typeof process.stderr.write;
  try {
    const long = Array.from({ length: 40 }, (_, i) => 6 + (i % 50));
    for (const side of ['left', 'right'] as const) {
      lines.length = 0;
      const outs = await gen.run([text([7, 8]), text(long)], parseDecoding({ greedy: true, 'max-new-tokens': 4, truncate: side }, D, {}));
      // 32 positions: the prompt keeps 31, leaving one new token; the short prompt keeps its 4
      assert.deepEqual(outs[1]!.prompt, side === 'left' ? long.slice(9) : long.slice(0, 31));
      assert.deepEqual(outs[1]!.truncated, { dropped: 9, side });
      assert.equal(outs[1]!.ids.length, 1);
      assert.equal(outs[0]!.truncated, undefined);
      assert.ok(outs[0]!.ids.length === 4 || outs[0]!.ids.some((t) => t === 3 || t === 4));
      assert.ok(lines.some((l) => l.includes(`prompt 2: 9 tokens dropped from the ${side}`)), lines.join(''));
      assert.ok(lines.some((l) => l.includes('prompt 2: generation limited to 1 new tokens')), lines.join(''));
    }
    await assert.rejects(gen.run([text(long)], parseDecoding({ greedy: true, truncate: 'error' }, D, {})), (e: Error) =>
      e instanceof UsageError && e.message === 'prompt 1 has 40 tokens and the model leaves room for 31 (--truncate left|right cuts it)');
  } finally {
    process.stderr.write = quiet;
    await gen.dispose();
  }
  assert.throws(() => parseDecoding({ truncate: 'middle' }, D, {}), /--truncate must be left, right or error, got middle/);
});

test('cutPrompt keeps the special tokens at either end (BOS, the separator)', () => {
  assert.deepEqual(cutPrompt([1, 5, 6, 7, 8, 2], 4, 'left', 1, 1, 'p'), { ids: [1, 7, 8, 2], truncated: { dropped: 2, side: 'left' } });
  assert.deepEqual(cutPrompt([1, 5, 6, 7, 8, 2], 4, 'right', 1, 1, 'p'), { ids: [1, 5, 6, 2], truncated: { dropped: 2, side: 'right' } });
  assert.deepEqual(cutPrompt([5, 6], 4, 'error', 0, 0, 'p'), { ids: [5, 6] });
});

const skip = !existsSync(join(e2eDir, 'testset_w_refs.csv')) && `${e2eDir} not found`;
let work = '';
let tiny = '';
after(() => { if (work) rmrf(work); if (tiny) rmrf(tiny); });

test('eval gives the same hypotheses at --batch-size 1 and 8 with one input far longer than the others (beam search)', { skip }, () => {
  tiny = tinyModelDir(); // gpt2-tiny: 64 positions
  work = tempDir('pt-batch-rows-');
  const t = cli(['train', '--model', tiny, '--task', 'e2e', '--max-examples', '20', '--max-dev-examples', '0', '--epochs', '1', '--batch-size', '10', '-q', '--out', join(work, 'run')]);
  assert.equal(t.code, 0, t.stderr);
  // seven short E2E inputs and one whose MR alone fills almost all 64 positions
  const data = join(work, 'data');
  mkdirSync(data);
  const rows = readFileSync(join(e2eDir, 'testset_w_refs.csv'), 'utf8').split('\n');
  const mrs = [...new Set(rows.slice(1).filter((l) => l.trim() !== '').map((l) => l.slice(0, l.indexOf('",') + 1)))].slice(0, 7);
  const long = `"${Array.from({ length: 12 }, (_, i) => `name[The Place ${i}], area[riverside]`).join(', ')}"`;
  writeFileSync(join(data, 'testset_w_refs.csv'), ['"mr","ref"', ...[...mrs.slice(0, 3), long, ...mrs.slice(3)].map((mr) => `${mr},"A place by the river."`)].join('\n') + '\n');
  const run = (bs: string) => {
    const out = join(work, `eval-${bs}`);
    const r = cli(['eval', '--model', tiny, '--adapter', join(work, 'run', 'adapter'), '--task', 'e2e', '--data-dir', data, '--split', 'test',
      '--beams', '2', '--max-new-tokens', '24', '--batch-size', bs, '--backend', 'reference', '--metrics', 'bleu', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    return { hyps: readFileSync(join(out, 'hypotheses.txt'), 'utf8'), stderr: r.stderr };
  };
  const [one, eight] = [run('1'), run('8')];
  assert.match(eight.stderr, /note: prompt 4: \d+ tokens dropped from the right/);
  assert.equal(eight.hyps, one.hyps);
  // the short inputs were not cut to one token by the long one
  const lens = eight.hyps.trimEnd().split('\n').map((h) => h.split(' ').length);
  assert.equal(lens.length, 8);
  assert.ok(lens.filter((n, i) => i !== 3 && n > 3).length >= 5, eight.hyps);
});
