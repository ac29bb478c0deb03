/**
 * The two custom-kind examples as first-class variants: each trains on the reference evaluator,
 * ONNX and tfjs with the same losses and parameters (1e-4), exports an adapter that reads back
 * with the kind and generates the reference's tokens on ONNX and tfjs; the gated kind composed with a
 * built-in prefix runs in a prefix bank where each row decodes exactly as its user alone; a zero
 * gate is the built-in shared prefix, a length of 0 the base model; bad options and unknown
 * kinds are one-line errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as E from 'fp-ts/lib/Either.js';
import {
  defineKind, inject, modelSites, injectedTrainGraph, decodeModelConfig, modelParamShapes, referenceBackend, train, Sampler, initialValues,
  storedParams, serializeAdapter, parseAdapter, causalDecoder, generate, evaluate,
  type Backend, type HostTensor, type CausalLmConfig, type Injection, type Variant, type Batch,
} from '@prefix-tuning/core';
import { injectedPrefillGraph } from '@prefix-tuning/core/prefix';
import * as t from 'io-ts';
import { onnxBackend } from '@prefix-tuning/backend-onnx';
import { tfjsBackend } from '@prefix-tuning/backend-tfjs';
import { lowRankPrefix } from '../low-rank-prefix.ts';
import { gatedPrefix } from '../gated-prefix.ts';

const lowRankVariant = (length: number, rank: number) => lowRankPrefix.variant({ length, rank });
const gatedVariant = (length: number) => gatedPrefix.variant({ length });

const decoded = decodeModelConfig({ model_type: 'gpt2', vocab_size: 32, n_positions: 32, n_embd: 16, n_layer: 3, n_head: 2 });
if (E.isLeft(decoded)) throw new Error(decoded.left);
const cfg = decoded.right as CausalLmConfig;
const kinds = [lowRankPrefix, gatedPrefix];
const s = new Sampler(3);
const rand = (shape: readonly number[], std: number): HostTensor =>
  ({ dtype: 'float32', shape: [...shape], data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => s.normal() * std) });
const frozen = Object.fromEntries(Object.entries(modelParamShapes(cfg)).map(([n, sh]) => [n, rand(sh, 0.6)]));
const i32 = (shape: number[], d: readonly number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(d) });

/** Rows counting upwards from a start; `users` adds a user per row. */
const batch = (starts: readonly number[], users?: readonly number[]): Batch => {
  const ids = starts.flatMap((a) => [0, 1, 2, 3, 4].map((k) => (a + k) % 32));
  const shape = [starts.length, 5];
  return {
    feeds: { input_ids: i32(shape, ids), attention_mask: i32(shape, ids.map(() => 1)), labels: i32(shape, ids), ...(users ? { user_ids: i32([users.length], users) } : {}) },
    tokens: starts.length * 4,
  };
};
const trainBatches = [batch([1, 7]), batch([3, 11]), batch([20, 5])];

const run = async (backend: Backend, inj: Injection, init: Record<string, HostTensor>, batches: readonly Batch[] = trainBatches) => {
  const losses: number[] = [];
  const r = await train({
    backend, loss: injectedTrainGraph(cfg, inj, { loss: 'mean' }).outputs['loss']!, trainable: inj.trainable, init, frozen, trainBatches: batches,
    config: { epochs: 2, seed: 1, schedule: { lr: 0.05, warmupSteps: 1, decay: 'linear' }, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } },
    hooks: { onStep: (m) => { losses.push(m.loss); } },
  });
  return { losses, params: r.params };
};

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

/** Last-position logits of prompts (all of length 3) through the injected prefill graph on the reference evaluator. */
const logits = (inj: Injection, params: Record<string, HostTensor>, prompts: number[][], users?: number[]): Float32Array => {
  const shape = [prompts.length, 3];
  const feeds = {
    input_ids: i32(shape, prompts.flat()), attention_mask: i32(shape, prompts.flat().map(() => 1)),
    position_ids: i32(shape, prompts.flatMap(() => [0, 1, 2])), ...(users ? { user_ids: i32([users.length], users) } : {}),
  };
  return evaluate(injectedPrefillGraph(cfg, inj), feeds, { ...frozen, ...params })['logits']!.data as Float32Array;
};

const examples: [string, Variant][] = [['low-rank', lowRankVariant(4, 2)], ['gated', gatedVariant(4)]];

for (const [name, variant] of examples) {
  test(`the ${name} kind trains on ONNX and tfjs as on the reference evaluator, exports an adapter and generates with it on both`, async () => {
    const inj = inject(modelSites(cfg), variant, { kinds });
    assert.ok(inj.trainable.length > 0 && inj.trainable.every((p) => p.name.startsWith(`${name}.`)), inj.trainable.map((p) => p.name).join());
    // start away from the identity so every parameter gets a gradient
    const init = Object.fromEntries(inj.trainable.map((p) => [p.name, rand(p.shape, 0.5)]));
    const ref = await run(referenceBackend(), inj, init);
    const epoch = (e: number) => ref.losses.slice(3 * e, 3 * e + 3).reduce((a, b) => a + b);
    assert.ok(ref.losses.length === 6 && epoch(1) < epoch(0), `the loss falls over an epoch: ${ref.losses.join(' ')}`);
    for (const backend of [onnxBackend(), tfjsBackend({ log: false })]) {
      const got = await run(backend, inj, init);
      close(got.losses, ref.losses, 1e-4, `${backend.name} losses`);
      for (const p of inj.trainable) close(got.params[p.name]!.data as Float32Array, ref.params[p.name]!.data as Float32Array, 1e-4, `${backend.name} ${p.name}`);
    }
    // the adapter stores the kind's own parameters and reads back with the kind
    const bytes = serializeAdapter(cfg, inj, storedParams(inj, ref.params), { baseModel: 'random' });
    assert.equal(bytes.peft, false);
    const missing = parseAdapter(cfg, JSON.parse(bytes.config), bytes.weights);
    assert.ok(E.isLeft(missing) && new RegExp(`uses the user-defined kind '${name}'; read it with parseAdapter`).test(missing.left), E.isLeft(missing) ? missing.left : 'parsed without its kind');
    const loaded = parseAdapter(cfg, JSON.parse(bytes.config), bytes.weights, { kinds });
    assert.ok(E.isRight(loaded), E.isLeft(loaded) ? loaded.left : '');
    for (const p of inj.trainable) assert.deepEqual(loaded.right.params[p.name]!.data, ref.params[p.name]!.data, p.name);
    // generation from the adapter on ONNX = the training injection on the reference evaluator
    const prompts = [[2, 3], [9, 10, 11]];
    const decode = async (backend: Backend, params: Record<string, HostTensor>, i: Injection) => {
      const dec = await causalDecoder(backend, cfg, { ...frozen, ...params }, i);
      const out = await generate(await dec.start(prompts), prompts, { maxNewTokens: 5 });
      await dec.dispose();
      return out.tokens;
    };
    const want = await decode(referenceBackend(), ref.params, inj);
    for (const backend of [onnxBackend(), tfjsBackend({ log: false })])
      assert.deepEqual(await decode(backend, loaded.right.params, loaded.right.injection!), want, backend.name);
    // the kind steers: the base model's logits differ
    const base = inject(modelSites(cfg), { kind: 'prefix', length: 0 });
    const [a, b] = [logits(inj, ref.params, [[2, 3, 4]]), logits(base, {}, [[2, 3, 4]])];
    assert.ok(a.some((x, i) => Math.abs(x - b[i]!) > 1e-2), 'the trained kind changes the logits');
  });
}

test('the gated kind composed with a built-in prefix runs in a prefix bank: each row decodes as its user alone', async () => {
  const variant: Variant = { kind: 'compose', parts: [{ kind: 'prefix', length: 3 }, gatedVariant(2)] };
  const bank = inject(modelSites(cfg), variant, { kinds, users: 2 });
  assert.deepEqual(bank.trainable.map((p) => `${p.name} [${p.shape.join(',')}]`), ['prefix.embedding.weight [2,3,96]', 'gated.shared [2,2,32]', 'gated.gate [2,3]']);
  const init = { ...initialValues(bank.trainable, 4), 'gated.gate': rand([2, 3], 0.5) };
  const trained = (await run(onnxBackend(), bank, init, [batch([1, 4, 7], [0, 1, 1]), batch([3, 9], [1, 0])])).params;
  // user u's own values, as a single-user injection
  const single = inject(modelSites(cfg), variant, { kinds });
  const userParams = (u: number) => Object.fromEntries(single.trainable.map((p) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    return [p.name, { dtype: 'float32' as const, shape: [...p.shape], data: (trained[p.name]!.data as Float32Array).slice(u * n, (u + 1) * n) }];
  }));
  const prompts = [[5, 6, 7], [5, 6, 7], [12, 13, 14]];
  const users = [0, 1, 1];
  const mixed = logits(bank, trained, prompts, users);
  const V = 32;
  prompts.forEach((p, r) => close(mixed.subarray(r * V, (r + 1) * V), logits(single, userParams(users[r]!), [p]), 1e-5, `row ${r} (user ${users[r]})`));
  assert.ok(mixed.subarray(0, V).some((x, i) => Math.abs(x - mixed[V + i]!) > 1e-3), 'the two users steer differently');
  // and on ONNX, one mixed batch of greedy decoding = each user's rows decoded alone
  const dec = await causalDecoder(onnxBackend(), cfg, { ...frozen, ...trained }, bank);
  const together = (await generate(await dec.start(prompts, { userIds: users }), prompts, { maxNewTokens: 4 })).tokens;
  for (const [r, p] of prompts.entries())
    assert.deepEqual((await generate(await dec.start([p], { userIds: [users[r]!] }), [p], { maxNewTokens: 4 })).tokens[0], together[r], `row ${r}`);
  await dec.dispose();
});

test('a zero gate is the built-in shared prefix, and a length of 0 is the base model', () => {
  const gated = inject(modelSites(cfg), gatedVariant(3), { kinds });
  const shared = inject(modelSites(cfg), { kind: 'prefix', length: 3, shared: true }, {});
  const S = rand([3, 32], 1);
  const prompts = [[1, 2, 3], [4, 8, 16]];
  const zero: HostTensor = { dtype: 'float32', shape: [3], data: new Float32Array(3) };
  close(logits(gated, { 'gated.shared': S, 'gated.gate': zero }, prompts), logits(shared, { 'prefix.embedding.weight': S }, prompts), 1e-5, 'zero gate');
  // and a non-zero gate is not: the placement is the kind's own
  const gate: HostTensor = { dtype: 'float32', shape: [3], data: Float32Array.from([0.5, -0.5, 1]) };
  assert.ok(logits(gated, { 'gated.shared': S, 'gated.gate': gate }, prompts).some((x, i) => Math.abs(x - logits(shared, { 'prefix.embedding.weight': S }, prompts)[i]!) > 1e-3));
  const base = inject(modelSites(cfg), { kind: 'prefix', length: 0 }, {});
  for (const v of [gatedVariant(0), lowRankVariant(0, 2)]) {
    const inj = inject(modelSites(cfg), v, { kinds });
    close(logits(inj, Object.fromEntries(inj.trainable.map((p) => [p.name, rand(p.shape, 1)])), prompts), logits(base, {}, prompts), 1e-5, JSON.stringify(v));
  }
});

test('custom kinds refuse, in one line, options their codec rejects, an unknown kind and a site the model lacks', () => {
  const refuse = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof Error && re.test(e.message) && !e.message.includes('\n'));
  refuse(() => inject(modelSites(cfg), { kind: 'custom', name: 'gated', options: { length: 'four' } }, { kinds }), /options of kind 'gated' are invalid/);
  refuse(() => inject(modelSites(cfg), { kind: 'custom', name: 'gated', options: { length: 2.5 } }, { kinds }), /options of kind 'gated' are invalid/);
  refuse(() => inject(modelSites(cfg), { kind: 'custom', name: 'keys-only' }, { kinds }), /no kind 'keys-only' \(known: low-rank, gated\)/);
  refuse(() => inject(modelSites(cfg), gatedVariant(2)), /no kind 'gated'/);
  // a kind that acts at cross-attention, which a decoder-only model lacks
  const cross = defineKind({
    name: 'cross-only', codec: t.type({}), params: () => ({ p: { shape: [2, 2 * 16], init: { kind: 'zeros' } } }),
    transform: ({ p }, _o, ctx) => ({ past: { cross: ctx.toPast(p, 'cross', [0]) } }),
  });
  refuse(() => inject(modelSites(cfg), cross.variant({}), { kinds: [cross] }), /no 'cross' attention/);
  // a prompt of the wrong width for its layers, a parameter named like a model weight, and two kinds of one name
  const wide = defineKind({
    name: 'wide', codec: t.type({}), params: () => ({ p: { shape: [2, 3 * 16], init: { kind: 'zeros' } } }),
    transform: ({ p }, _o, ctx) => ({ past: { self: ctx.toPast(p, 'self', [0]) } }),
  });
  refuse(() => inject(modelSites(cfg), wide.variant({}), { kinds: [wide] }), /toPast: a prompt for 1 'self' layer\(s\) is \[B, P, 32\]/);
  const wte = defineKind({ name: 'wte', codec: t.type({}), params: () => ({ weight: { shape: [32, 16], init: { kind: 'zeros' } } }), transform: () => ({}) });
  refuse(() => inject(modelSites(cfg), wte.variant({}), { kinds: [wte] }), /parameter 'wte.weight' is a weight of the model/);
  refuse(() => inject(modelSites(cfg), gatedVariant(2), { kinds: [gatedPrefix, gatedPrefix] }), /two kinds are named 'gated'/);
});
