/**
 * Initialisation from real words: the prefix is the words' activations, so the prefixed model
 * on x equals the base model on [words; x] at x's positions — for the direct and the MLP
 * parametrisation (the MLP's last layer is solved to reproduce them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { input } from '../../src/ops/leaves.ts';
import { graph } from '../../src/ir/graph.ts';
import { evaluate, referenceBackend } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { causalLmForward, type CausalLmConfig } from '../../src/models/index.ts';
import { inject } from '../../src/prefix/inject.ts';
import { injectedCausalForward, modelSites } from '../../src/prefix/graphs.ts';
import { initialiseInjection, initialValues } from '../../src/prefix/init.ts';
import { gpt2Json, llamaJson, decodeOk, randomParams, prng, randomIds } from '../models/random.ts';

const i32 = (shape: number[], data: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });

test('a prefix initialised from words equals the base model reading those words first', async () => {
  await fc.assert(fc.asyncProperty(fc.oneof(gpt2Json, llamaJson).map((j) => decodeOk(j) as CausalLmConfig), fc.boolean(), fc.integer({ min: 0, max: 1e6 }), async (cfg, mlp, seed) => {
    const rnd = prng(seed);
    const words = randomIds(rnd, 1, 3, cfg.vocab_size);
    const x = randomIds(rnd, 1, 2, cfg.vocab_size);
    const frozen = randomParams(cfg, seed);
    const inj = inject(modelSites(cfg), { kind: 'prefix', length: 3, init: { kind: 'words', text: 'w' }, reparam: mlp ? { kind: 'mlp', hidden: 7 } : { kind: 'direct' } });
    const init = await initialiseInjection({ backend: referenceBackend({ precision: 'f64' }), cfg, frozen, groups: inj.groups, trainable: inj.trainable, seed, wordIds: () => words });
    const ids = input('input_ids', ['B', 'T'], 'int32');
    const ours = evaluate(graph({ l: injectedCausalForward(cfg, inj, { ids }).logits }), { input_ids: i32([1, 2], x) }, { ...frozen, ...init }, { precision: 'f64' })['l']!;
    const base = evaluate(graph({ l: causalLmForward(cfg, { ids }).logits }), { input_ids: i32([1, 5], [...words, ...x]) }, frozen, { precision: 'f64' })['l']!;
    const V = cfg.vocab_size;
    for (let i = 0; i < 2 * V; i++) assert.ok(Math.abs(Number(ours.data[i]) - Number(base.data[3 * V + i])) < 1e-4, `${i}: ${ours.data[i]} vs ${base.data[3 * V + i]}`);
  }), { numRuns: 15 });
});

test('random initialisation follows the specs and is seeded', () => {
  const specs = [
    { name: 'a', shape: [3, 4], init: { kind: 'normal' as const, std: 2 }, decay: true },
    { name: 'b', shape: [5], init: { kind: 'uniform' as const, bound: 0.1 }, decay: false },
    { name: 'c', shape: [2], init: { kind: 'zeros' as const }, decay: false },
  ];
  const v = initialValues(specs, 1);
  assert.deepEqual(v['a']!.shape, [3, 4]);
  assert.ok(Array.from(v['b']!.data as Float32Array).every((x) => Math.abs(x) <= 0.1));
  assert.deepEqual(Array.from(v['c']!.data as Float32Array), [0, 0]);
  assert.deepEqual(initialValues(specs, 1)['a']!.data, v['a']!.data);
  assert.notDeepEqual(initialValues(specs, 2)['a']!.data, v['a']!.data);
});

test('word initialisation refuses a length that differs from the number of word tokens', async () => {
  const cfg = decodeOk({ model_type: 'gpt2', vocab_size: 11, n_positions: 16, n_embd: 8, n_layer: 1, n_head: 2 }) as CausalLmConfig;
  const inj = inject(modelSites(cfg), { kind: 'prefix', length: 4, init: { kind: 'words', text: 'table-to-text:' } });
  await assert.rejects(
    initialiseInjection({ backend: referenceBackend(), cfg, frozen: randomParams(cfg, 1), groups: inj.groups, trainable: inj.trainable, seed: 0, wordIds: () => [1, 2, 3] }),
    /'table-to-text:' is 3 tokens but the prefix has length 4/,
  );
});
