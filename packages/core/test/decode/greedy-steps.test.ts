/**
 * Greedy decoding several tokens per run (`tokensPerRun`, `greedyStepsGraph`): the tokens are
 * those of one run per token and the scores agree, for GPT-2 and Llama, any variant, prefix
 * banks, left-padded prompts, rows that finish early and lengths that are not multiples of the
 * run length; with a logits processor the option changes nothing (one run per token).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { referenceBackend } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import type { CausalLmConfig } from '../../src/models/index.ts';
import { inject } from '../../src/prefix/inject.ts';
import { modelSites } from '../../src/prefix/graphs.ts';
import type { Variant } from '../../src/prefix/variant.ts';
import { causalDecoder } from '../../src/prefix/decoding.ts';
import { greedyOrSample, type DecodeSession } from '../../src/decode/search.ts';
import { greedyStepsGraph } from '../../src/decode/cache.ts';
import { gpt2Json, llamaJson, decodeOk, randomParams, prng, randomIds } from '../models/random.ts';

const causalCfg = fc.oneof(gpt2Json, llamaJson).map((j) => decodeOk(j) as CausalLmConfig);
const variants: (Variant | undefined)[] = [undefined, { kind: 'prefix', length: 2 }, { kind: 'embedding', length: 1 }];

const randomTrainable = (specs: readonly { name: string; shape: readonly number[] }[], seed: number): Record<string, HostTensor> => {
  const rnd = prng(seed);
  return Object.fromEntries(specs.map((s) => [s.name, { dtype: 'float32' as const, shape: [...s.shape], data: Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => 2 * rnd() - 1) }]));
};

test('tokensPerRun n: the tokens of one run per token, scores within 1e-5 (prefix banks, left padding, early EOS)', async () => {
  await fc.assert(fc.asyncProperty(
    causalCfg, fc.constantFrom(...variants), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.integer({ min: 0, max: 1e6 }),
    async (cfg, variant, perRun, maxNewTokens, bank, seed) => {
      const users = variant && bank ? 3 : 0;
      const inj = variant ? inject(modelSites(cfg), variant, users > 0 ? { users, mode: 'stored' } : undefined) : undefined;
      const params = { ...randomParams(cfg, seed), ...(inj ? randomTrainable(inj.trainable, seed + 1) : {}) };
      const rnd = prng(seed + 2);
      const prompts = [1 + Math.floor(rnd() * 3), 1 + Math.floor(rnd() * 3), 2].map((n) => randomIds(rnd, 1, n, cfg.vocab_size)); // positions stay below n_positions (12 at least)
      const eos = [Math.floor(rnd() * cfg.vocab_size)]; // some rows may stop early
      const dec = await causalDecoder(referenceBackend({ precision: 'f64' }), cfg, params, inj);
      const run = async (tokensPerRun: number) => greedyOrSample(
        await dec.start(prompts, users > 0 ? { userIds: [2, 0, 1] } : {}), prompts, { maxNewTokens, eosTokenIds: eos, tokensPerRun });
      const [one, many] = [await run(1), await run(perRun)];
      await dec.dispose();
      assert.deepEqual(many.tokens, one.tokens);
      many.scores.forEach((s, i) => assert.ok(Math.abs(s - one.scores[i]!) <= 1e-5 * Math.max(1, Math.abs(s)), `row ${i}: ${s} vs ${one.scores[i]}`));
    },
  ), { numRuns: 25 });
});

test('tokensPerRun is used only for plain greedy search: with a processor or sampling, one run per token', async () => {
  const cfg = decodeOk({ model_type: 'gpt2', vocab_size: 17, n_positions: 32, n_embd: 8, n_layer: 1, n_head: 2 }) as CausalLmConfig;
  const dec = await causalDecoder(referenceBackend(), cfg, randomParams(cfg, 4));
  const spy = async (o: Parameters<typeof greedyOrSample>[2]) => {
    const s = await dec.start([[1, 2, 3]]);
    let chunks = 0;
    const counting: DecodeSession = { vocabSize: s.vocabSize, logits: () => s.logits(), advance: (p, t) => s.advance(p, t), advanceGreedy: (t, n) => { chunks++; return s.advanceGreedy!(t, n); } };
    const r = await greedyOrSample(counting, [[1, 2, 3]], o);
    return { chunks, tokens: r.tokens[0]! };
  };
  assert.ok((await spy({ maxNewTokens: 8, tokensPerRun: 4 })).chunks > 0);
  for (const extra of [{ noRepeatNgramSize: 2 }, { minNewTokens: 3, eosTokenIds: [5] }, { badWordsIds: [[4]] }, { doSample: true, seed: 1 }]) {
    const r = await spy({ maxNewTokens: 8, tokensPerRun: 4, ...extra });
    assert.equal(r.chunks, 0, JSON.stringify(extra));
    assert.deepEqual(r.tokens, (await spy({ maxNewTokens: 8, ...extra })).tokens);
  }
  await dec.dispose();
  assert.throws(() => greedyStepsGraph(cfg, 0), /positive integer/);
});
