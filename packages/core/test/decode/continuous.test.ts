/**
 * Continuous batching (`continuousDecoder`): rows that join at different steps, each with its
 * own adapter from a prefix bank (or none) and its own settings, get exactly the tokens they
 * get decoded alone by `causalDecoder` with that adapter (greedy and sampling with the same
 * seed), and leave at EOS, at their token limit, at the consumer's stop or when cancelled;
 * `session` + beam search equals `causalDecoder` + beam search.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { referenceBackend } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import type { CausalLmConfig } from '../../src/models/index.ts';
import { modelSites } from '../../src/prefix/graphs.ts';
import { storedInjection } from '../../src/prefix/export.ts';
import { causalPlan } from '../../src/prefix/decoding.ts';
import type { Variant } from '../../src/prefix/variant.ts';
import { causalDecoder } from '../../src/prefix/decoding.ts';
import { beamSearch, greedyOrSample } from '../../src/decode/search.ts';
import { continuousDecoder, type FinishReason } from '../../src/decode/continuous.ts';
import { gpt2Json, llamaJson, decodeOk, randomParams, prng, randomIds } from '../models/random.ts';

const causalCfg = fc.oneof(gpt2Json, llamaJson).map((j) => decodeOk(j) as CausalLmConfig);
const variants: Variant[] = [{ kind: 'prefix', length: 2 }, { kind: 'embedding', length: 1 }, { kind: 'prefix', length: 1, layers: { top: 1 } }];

const randomStored = (specs: readonly { name: string; shape: readonly number[] }[], seed: number): Record<string, HostTensor> => {
  const rnd = prng(seed);
  return Object.fromEntries(specs.map((s) => [s.name, { dtype: 'float32' as const, shape: [...s.shape], data: Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => 2 * rnd() - 1) }]));
};

test('continuous batch: every row gets its tokens decoded alone (adapters from a bank or none, greedy and sampling, joining at any step)', async () => {
  await fc.assert(fc.asyncProperty(
    causalCfg, fc.constantFrom(...variants), fc.integer({ min: 0, max: 1e6 }),
    fc.array(fc.record({ adapter: fc.integer({ min: -1, max: 2 }), join: fc.integer({ min: 0, max: 4 }), len: fc.integer({ min: 1, max: 3 }), max: fc.integer({ min: 1, max: 5 }), sample: fc.boolean() }), { minLength: 1, maxLength: 6 }),
    fc.integer({ min: 1, max: 4 }),
    async (cfg, variant, seed, reqs, maxRows) => {
      const backend = referenceBackend({ precision: 'f64' });
      const params = randomParams(cfg, seed);
      const sites = modelSites(cfg);
      const single = storedInjection(sites, variant);
      const adapters = [0, 1, 2].map((a) => randomStored(single.trainable, seed + 10 + a));
      const rnd = prng(seed + 2);
      const prompts = reqs.map((r) => randomIds(rnd, 1, r.len, cfg.vocab_size));
      const eos = [Math.floor(rnd() * cfg.vocab_size)];
      const dec = await continuousDecoder(backend, cfg, params, { maxRows });
      const bank = await dec.bank(causalPlan(cfg, storedInjection(sites, variant, 3)), 3);
      for (const [a, ps] of adapters.entries()) await bank.set(a, ps);
      const got = reqs.map(() => ({ tokens: [] as number[], reason: undefined as FinishReason | undefined }));
      const add = (i: number) => {
        const r = reqs[i]!;
        dec.add({
          prompt: prompts[i]!, ...(r.adapter >= 0 ? { prefix: { bank, slot: r.adapter } } : {}),
          options: { maxNewTokens: r.max, eosTokenIds: eos, ...(r.sample ? { doSample: true, seed: seed + i, temperature: 1.5 } : {}) },
          onToken: (t) => { got[i]!.tokens.push(t); },
          onDone: (reason, err) => { assert.equal(err, undefined); got[i]!.reason = reason; },
        });
      };
      for (let step = 0; step < 40; step++) {
        reqs.forEach((r, i) => { if (r.join === step) add(i); });
        const left = await dec.step();
        if (left === 0 && step >= 4) break;
      }
      await dec.dispose();
      for (const [i, r] of reqs.entries()) {
        const inj = r.adapter >= 0 ? single : undefined;
        const alone = await causalDecoder(backend, cfg, { ...params, ...(r.adapter >= 0 ? adapters[r.adapter]! : {}) }, inj);
        const want = await greedyOrSample(await alone.start([prompts[i]!]), [prompts[i]!], { maxNewTokens: r.max, eosTokenIds: eos, ...(r.sample ? { doSample: true, seed: seed + i, temperature: 1.5 } : {}) });
        await alone.dispose();
        assert.deepEqual(got[i]!.tokens, want.tokens[0], `request ${i} ${JSON.stringify(r)}`);
        const last = want.tokens[0]!.at(-1)!;
        assert.equal(got[i]!.reason, eos.includes(last) ? 'stop' : 'length');
      }
    },
  ), { numRuns: 20 });
});

test('continuous batch: a stop from the consumer and a cancellation free the row at the next step; the others go on', async () => {
  const cfg = decodeOk({ model_type: 'gpt2', vocab_size: 17, n_positions: 64, n_embd: 8, n_layer: 2, n_head: 2 }) as CausalLmConfig;
  const backend = referenceBackend({ precision: 'f64' });
  const params = randomParams(cfg, 3);
  const dec = await continuousDecoder(backend, cfg, params, { maxRows: 8 });
  const log: string[] = [];
  let cancel = false;
  const counts = [0, 0, 0];
  for (const i of [0, 1, 2])
    dec.add({
      prompt: [1 + i, 2], options: { maxNewTokens: 10 },
      onToken: () => { counts[i]!++; return i === 0 && counts[0] === 2; },
      onDone: (reason) => log.push(`${i}:${reason}`),
      cancelled: () => i === 1 && cancel,
    });
  await dec.step();
  assert.equal(dec.running, 3);
  await dec.step();
  assert.deepEqual(log, ['0:stop']);
  assert.equal(dec.running, 2);
  cancel = true;
  await dec.step();
  assert.deepEqual(log, ['0:stop', '1:cancelled']);
  while ((await dec.step()) > 0);
  assert.deepEqual(log, ['0:stop', '1:cancelled', '2:length']);
  assert.deepEqual(counts, [2, 2, 10]);
  // the rows beyond maxRows wait
  const small = await continuousDecoder(backend, cfg, params, { maxRows: 1 });
  for (const i of [0, 1]) small.add({ prompt: [i + 1], options: { maxNewTokens: 2 }, onToken: () => {}, onDone: () => {} });
  await small.step();
  assert.equal(small.running, 1);
  assert.equal(small.waiting, 1);
  await dec.dispose();
  await small.dispose();
});

test('session + beam search over a bank slot = causalDecoder + beam search with that adapter', async () => {
  const cfg = decodeOk({ model_type: 'gpt2', vocab_size: 19, n_positions: 64, n_embd: 8, n_layer: 2, n_head: 2 }) as CausalLmConfig;
  const backend = referenceBackend({ precision: 'f64' });
  const params = randomParams(cfg, 5);
  const variant: Variant = { kind: 'prefix', length: 3 };
  const sites = modelSites(cfg);
  const single = storedInjection(sites, variant);
  const adapter = randomStored(single.trainable, 7);
  const dec = await continuousDecoder(backend, cfg, params, { maxRows: 4 });
  const bank = await dec.bank(causalPlan(cfg, storedInjection(sites, variant, 2)), 2);
  await bank.set(1, adapter);
  const prompt = [[3, 4, 5]];
  const o = { maxNewTokens: 6, numBeams: 3, eosTokenIds: [2], lengthPenalty: 0.7 };
  const got = await beamSearch(await dec.session(prompt, { beams: 3, prefix: { bank, slot: 1 } }), prompt, o);
  const alone = await causalDecoder(backend, cfg, { ...params, ...adapter }, single);
  const want = await beamSearch(await alone.start(prompt, { beams: 3 }), prompt, o);
  assert.deepEqual(got, want);
  await alone.dispose();
  await dec.dispose();
});
