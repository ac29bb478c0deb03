import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { greedyOrSample, beamSearch, generate, type DecodeSession } from '../../src/decode/search.ts';
import { bannedNgramTokens, processRow, warpRow } from '../../src/decode/processors.ts';
import { Sampler } from '../../src/random.ts';

/** A toy "model": logits depend on the last two tokens through a seeded random table. */
const toySession = (seed: number, V: number, prompts: readonly (readonly number[])[], beams = 1): DecodeSession & { rows: number[][] } => {
  const s = new Sampler(seed);
  const table = Float32Array.from({ length: V * V * V }, () => s.normal() * 3);
  const rows = prompts.flatMap((p) => Array.from({ length: beams }, () => [...p]));
  return {
    vocabSize: V,
    rows,
    async logits() {
      const out = new Float32Array(rows.length * V);
      rows.forEach((r, i) => {
        const a = r[r.length - 1] ?? 0;
        const b = r[r.length - 2] ?? 0;
        out.set(table.subarray((a * V + b) * V, (a * V + b + 1) * V), i * V);
      });
      return out;
    },
    async advance(parents, tokens) {
      const old = rows.map((r) => [...r]);
      parents.forEach((p, i) => { rows[i] = [...old[p]!, tokens[i]!]; });
    },
  };
};

test('beam search with one beam and early stopping equals greedy', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 4, max: 12 }), async (seed, V) => {
    const prompts = [[1, 2], [3]];
    const o = { maxNewTokens: 8, eosTokenIds: [0] };
    const g = await greedyOrSample(toySession(seed, V, prompts), prompts, o);
    const b = await beamSearch(toySession(seed, V, prompts), prompts, { ...o, numBeams: 1, earlyStopping: true });
    assert.deepEqual(b.tokens, g.tokens);
  }), { numRuns: 30 });
});

test('generate with numBeams 1 is greedy', async () => {
  const prompts = [[1, 2, 3]];
  const g = await greedyOrSample(toySession(7, 9, prompts), prompts, { maxNewTokens: 6 });
  const h = await generate(toySession(7, 9, prompts), prompts, { maxNewTokens: 6, numBeams: 1 });
  assert.deepEqual(h.tokens, g.tokens);
});

test('beam search wide enough to keep every sequence finds the most likely one (brute force oracle)', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), async (seed) => {
    const V = 4, T = 3, prompts = [[1]];
    const b = await beamSearch(toySession(seed, V, prompts, V ** T), prompts, { maxNewTokens: T, lengthPenalty: 0, numBeams: V ** T });
    // brute force over all V^T continuations with the same toy model
    let best = -Infinity;
    for (let code = 0; code < V ** T; code++) {
      const seq = [1];
      let lp = 0;
      for (let t = 0; t < T; t++) {
        const s = toySession(seed, V, [seq]);
        const logits = await s.logits();
        const m = Math.max(...logits);
        const lse = m + Math.log(logits.reduce((a, x) => a + Math.exp(x - m), 0));
        const tok = Math.floor(code / V ** t) % V;
        lp += logits[tok]! - lse;
        seq.push(tok);
      }
      best = Math.max(best, lp);
    }
    assert.ok(Math.abs(b.scores[0]! - best) < 1e-9, `beam ${b.scores[0]} vs best ${best}`);
  }), { numRuns: 10 });
});

test('no-repeat n-gram: generated sequences never repeat an n-gram', async () => {
  await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 2, max: 3 }), async (seed, n) => {
    const prompts = [[1, 2]];
    const o = { maxNewTokens: 12, noRepeatNgramSize: n };
    const g = await greedyOrSample(toySession(seed, 8, prompts), prompts, o);
    const seq = [...prompts[0]!, ...g.tokens[0]!];
    const grams = new Set<string>();
    for (let i = 0; i + n <= seq.length; i++) {
      const k = seq.slice(i, i + n).join(',');
      assert.ok(!grams.has(k), `repeated ${k} in ${seq}`);
      grams.add(k);
    }
  }), { numRuns: 30 });
});

test('bannedNgramTokens follows the definition', () => {
  assert.deepEqual(bannedNgramTokens([1, 2, 3, 1, 2], 3), [3]);
  assert.deepEqual(bannedNgramTokens([1, 2], 3), []);
  assert.deepEqual(bannedNgramTokens([5, 5, 5], 2), [5, 5]);
});

test('processors: min length bans EOS, bad words ban, forced EOS', () => {
  const row = new Float64Array(5).fill(1);
  processRow(row, { tokens: [1, 2], promptLength: 2, maxLength: 10 }, { minLength: 5, eosTokenIds: [4], badWordsIds: [[3], [2, 1]] });
  assert.deepEqual([...row], [1, -Infinity, 1, -Infinity, -Infinity]);
  const r2 = new Float64Array(5).fill(1);
  processRow(r2, { tokens: [1, 2, 3], promptLength: 1, maxLength: 4 }, { forcedEosTokenIds: [4] });
  assert.deepEqual([...r2], [-Infinity, -Infinity, -Infinity, -Infinity, 0]);
});

test('top-k keeps k tokens and top-p keeps the smallest nucleus', () => {
  const r = Float64Array.from([1, 5, 3, 4, 2]);
  warpRow(r, { topK: 2 });
  assert.deepEqual([...r].map((x) => x > -Infinity), [false, true, false, true, false]);
  const p = Float64Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
  warpRow(p, { topP: 0.7 });
  assert.deepEqual([...p].map((x) => x > -Infinity), [true, true, false, false]);
});

test('sampling is reproducible for a seed and differs across seeds', async () => {
  const prompts = [[1]];
  const run = (seed: number) => greedyOrSample(toySession(3, 10, prompts), prompts, { maxNewTokens: 10, doSample: true, seed, temperature: 1.5 });
  assert.deepEqual((await run(1)).tokens, (await run(1)).tokens);
  const outs = new Set<string>();
  for (let s = 0; s < 5; s++) outs.add(JSON.stringify((await run(s)).tokens));
  assert.ok(outs.size > 1);
});

test('property: per-prompt limits and row seeds: every row of a batch equals that prompt decoded alone (greedy, beams, sampling)', async () => {
  const V = 7;
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(fc.array(fc.integer({ min: 1, max: V - 1 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 6 })), { minLength: 1, maxLength: 4 }),
    fc.integer({ min: 0, max: 50 }), fc.constantFrom(1, 3), fc.boolean(),
    async (items, seed, K, sample) => {
      const prompts = items.map(([p]) => p);
      const limits = items.map(([, n]) => n);
      const o = { eosTokenIds: [0], repetitionPenalty: 1.3, noRepeatNgramSize: 2 };
      const run = (ps: number[][], ls: number[], seeds: number[]) => K > 1 && !sample
        ? beamSearch(toySession(seed, V, ps, K), ps, { ...o, maxNewTokens: ls, numBeams: K })
        : greedyOrSample(toySession(seed, V, ps), ps, { ...o, maxNewTokens: ls, doSample: sample, rowSeeds: seeds });
      const all = await run(prompts, limits, prompts.map((_, i) => 100 + i));
      for (let i = 0; i < prompts.length; i++) {
        const one = await run([prompts[i]!], [limits[i]!], [100 + i]);
        assert.deepEqual(all.tokens[i], one.tokens[0]);
        assert.ok(all.tokens[i]!.length <= limits[i]!);
        assert.equal(all.scores[i], one.scores[0]);
      }
    }), { numRuns: 80 });
});

test('processors: repetition penalties, encoder n-grams, suppressed tokens as transformers defines them', () => {
  const row = Float64Array.from([2, -2, 1, 0.5, 3]);
  processRow(row, { tokens: [9, 0, 1], promptLength: 2, maxLength: 10 }, { repetitionPenalty: 2 });
  assert.deepEqual([...row], [1, -4, 1, 0.5, 3]); // positive divided, negative multiplied; tokens outside the vocabulary ignored
  const enc = Float64Array.from([2, -2, 1, 0.5, 3]);
  processRow(enc, { tokens: [0], promptLength: 1, maxLength: 10, encoderTokens: [4, 1] }, { encoderRepetitionPenalty: 2 });
  assert.deepEqual([...enc], [2, -1, 1, 0.5, 6]); // the source's tokens favoured (1 / penalty)
  const ng = new Float64Array(5);
  processRow(ng, { tokens: [0, 3], promptLength: 1, maxLength: 10, encoderTokens: [3, 4, 3, 2] }, { encoderNoRepeatNgramSize: 2 });
  assert.deepEqual([...ng], [0, 0, -Infinity, 0, -Infinity]); // 3 then 4 or 2 would repeat a bigram of the source
  const sup = new Float64Array(5);
  processRow(sup, { tokens: [2, 0], promptLength: 1, maxLength: 10 }, { forcedBosTokenId: 0, suppressTokens: [1], beginSuppressTokens: [3] });
  assert.deepEqual([...sup], [0, -Infinity, 0, -Infinity, 0]); // after the forced BOS of a one-token decoder prompt
  const bad = new Float64Array(3);
  processRow(bad, { tokens: [1], promptLength: 1, maxLength: 10 }, { badWordsIds: [[2], [0]], eosTokenIds: [2] });
  assert.deepEqual([...bad], [-Infinity, 0, 0]); // a bad word that is one EOS id is dropped, as transformers does
});
