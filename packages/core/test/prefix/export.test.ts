/**
 * The stored adapter (prefix/export.ts): for random models and variants, the stored
 * activations read through a `stored` injection compute exactly what the trained parameters
 * compute; serialise ∘ parse is the identity; PEFT-expressible variants are plain PEFT files
 * that peft.ts reads; files for another model are refused with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { input } from '../../src/ops/leaves.ts';
import { graph } from '../../src/ir/graph.ts';
import { evaluate } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import type { ModelConfig, CausalLmConfig, BartConfig } from '../../src/models/index.ts';
import { inject, type Injection } from '../../src/prefix/inject.ts';
import { injectedCausalForward, injectedBartForward, modelSites } from '../../src/prefix/graphs.ts';
import { initialValues } from '../../src/prefix/init.ts';
import type { Variant } from '../../src/prefix/variant.ts';
import { parseAdapterConfig, parseAdapterWeights } from '../../src/io/peft.ts';
import {
  parseAdapter, peftExpressible, serializeAdapter, storedInjection, storedParams, OWN_PEFT_TYPE, ADAPTER_EXTRAS_KEY,
} from '../../src/prefix/export.ts';
import { gpt2Json, llamaJson, bartJson, decodeOk, randomParams, prng, randomIds } from '../models/random.ts';

const i32 = (shape: number[], data: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });

const reparam = fc.oneof(fc.constant({ kind: 'direct' as const }), fc.integer({ min: 1, max: 5 }).map((hidden) => ({ kind: 'mlp' as const, hidden })));
const len = fc.integer({ min: 1, max: 3 });

/** Variants for decoder-only models (users: prefix bank size). */
const causalVariant: fc.Arbitrary<{ v: Variant; users: number }> = fc.oneof(
  fc.record({ length: len, reparam, layers: fc.constantFrom('all' as const, { top: 1 }), shared: fc.boolean() }).map((p) => ({ v: { kind: 'prefix', ...p } as Variant, users: 0 })),
  fc.record({ length: len, reparam }).map((p) => ({ v: { kind: 'embedding', ...p } as Variant, users: 0 })),
  fc.record({ length: len, reparam }).map((p) => ({ v: { kind: 'infix', ...p } as Variant, users: 0 })),
  fc.record({ length: len, users: fc.integer({ min: 2, max: 3 }) }).map((p) => ({ v: { kind: 'prefix', length: p.length, reparam: { kind: 'mlp', hidden: 3 } } as Variant, users: p.users })),
  fc.record({ a: len, b: len }).map(({ a, b }) => ({ v: { kind: 'compose', parts: [{ kind: 'prefix', length: a }, { kind: 'finetune', layers: { top: 1 } }, { kind: 'embedding', length: b, reparam: { kind: 'mlp', hidden: 2 } }] } as Variant, users: 0 })),
);

const logitsOf = (cfg: ModelConfig, inj: Injection, params: Record<string, HostTensor>, seed: number): Float32Array => {
  const rnd = prng(seed);
  const B = 2;
  const V = cfg.vocab_size;
  const feeds: Record<string, HostTensor> = { input_ids: i32([B, 3], randomIds(rnd, B, 3, V)) };
  if (inj.users > 0) feeds['user_ids'] = i32([B], [1, 0]);
  let out;
  if (cfg.model_type === 'bart') {
    feeds['decoder_input_ids'] = i32([B, 2], randomIds(rnd, B, 2, V));
    feeds['attention_mask'] = i32([B, 3], [1, 1, 1, 0, 1, 1]);
    out = injectedBartForward(cfg as BartConfig, inj, {
      ids: input('input_ids', ['B', 'S'], 'int32'), mask: input('attention_mask', ['B', 'S'], 'int32'), decoderIds: input('decoder_input_ids', ['B', 'T'], 'int32'),
    }).logits;
  } else {
    const infix = inj.groups.some((g) => g.kind === 'infix');
    if (infix) {
      feeds['source_ids'] = i32([B, 2], randomIds(rnd, B, 2, V));
      feeds['source_mask'] = i32([B, 2], [1, 1, 1, 0]);
    }
    out = injectedCausalForward(cfg as CausalLmConfig, inj, {
      ids: input('input_ids', ['B', 'T'], 'int32'),
      ...(infix ? { source: { ids: input('source_ids', ['B', 'S'], 'int32'), mask: input('source_mask', ['B', 'S'], 'int32') } } : {}),
    }).logits;
  }
  return evaluate(graph({ l: out }), feeds, params)['l']!.data as Float32Array;
};

test('a stored adapter computes what its trained parameters compute, and survives serialise ∘ parse (property)', () => {
  const cases = fc.oneof(
    fc.tuple(fc.oneof(gpt2Json, llamaJson).map(decodeOk), causalVariant),
    fc.tuple(bartJson.map(decodeOk), fc.record({ length: len, reparam }).map((p) => ({ v: { kind: 'prefix', ...p } as Variant, users: 0 }))),
  );
  fc.assert(fc.property(cases, fc.integer({ min: 0, max: 1e6 }), ([cfg, { v, users }], seed) => {
    const sites = modelSites(cfg);
    const train = inject(sites, v, { users });
    const frozen = randomParams(cfg, seed);
    const trained = { ...frozen, ...initialValues(train.trainable, seed + 1, frozen) };
    // finetuned weights are moved away from the base model so that storing them matters
    for (const p of train.trainable) if (p.init.kind === 'copy') trained[p.name] = { ...trained[p.name]!, data: (trained[p.name]!.data as Float32Array).map((x, i) => x + 0.01 * Math.sin(i)) };
    const stored = storedParams(train, trained);
    const bytes = serializeAdapter(cfg, train, stored, { baseModel: 'm' });
    assert.equal(bytes.peft, peftExpressible(cfg, train));
    const back = parseAdapter(cfg, JSON.parse(bytes.config), bytes.weights);
    assert.ok(E.isRight(back), E.isLeft(back) ? back.left : '');
    for (const [n, x] of Object.entries(stored)) assert.deepEqual(back.right.params[n]!.data, x.data, n);
    const inj = back.right.injection ?? storedInjection(sites, v, users);
    const a = logitsOf(cfg, train, trained, seed);
    const b = logitsOf(cfg, inj, { ...frozen, ...back.right.params }, seed);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    assert.ok(worst < 1e-4, `${JSON.stringify(v)}: max |trained - stored| logits ${worst}`);
  }), { numRuns: 40 });
});

test('PEFT can express exactly one full per-layer prefix of a decoder-only model; its files are plain PEFT', () => {
  const cfg = decodeOk({ model_type: 'gpt2', vocab_size: 11, n_positions: 16, n_embd: 6, n_layer: 2, n_head: 3 });
  const sites = modelSites(cfg);
  const yes = inject(sites, { kind: 'prefix', length: 4, reparam: { kind: 'mlp', hidden: 5 } });
  const no: Variant[] = [
    { kind: 'prefix', length: 4, layers: { top: 1 } }, { kind: 'prefix', length: 4, shared: true }, { kind: 'embedding', length: 2 },
    { kind: 'infix', length: 2 }, { kind: 'finetune', layers: 'all' }, { kind: 'compose', parts: [{ kind: 'prefix', length: 1 }, { kind: 'prefix', length: 1 }] },
  ];
  assert.ok(peftExpressible(cfg, yes));
  for (const v of no) assert.ok(!peftExpressible(cfg, inject(sites, v)), JSON.stringify(v));
  assert.ok(!peftExpressible(cfg, inject(sites, { kind: 'prefix', length: 4 }, { users: 2 })));
  const bart = decodeOk({ model_type: 'bart', vocab_size: 11, d_model: 4, encoder_layers: 1, decoder_layers: 1, encoder_attention_heads: 2, decoder_attention_heads: 2, encoder_ffn_dim: 3, decoder_ffn_dim: 3, max_position_embeddings: 16 });
  assert.ok(!peftExpressible(bart, inject(modelSites(bart), { kind: 'prefix', length: 2 })));

  const trained = initialValues(yes.trainable, 3, {});
  const stored = storedParams(yes, trained);
  const bytes = serializeAdapter(cfg, yes, stored, { baseModel: 'gpt2-medium' });
  const c = parseAdapterConfig(JSON.parse(bytes.config));
  assert.ok(E.isRight(c));
  assert.deepEqual(
    [c.right.peft_type, c.right.task_type, c.right.num_virtual_tokens, c.right.num_layers, c.right.token_dim, c.right.num_attention_heads, c.right.base_model_name_or_path],
    ['PREFIX_TUNING', 'CAUSAL_LM', 4, 2, 6, 3, 'gpt2-medium'],
  );
  assert.ok(!(ADAPTER_EXTRAS_KEY in JSON.parse(bytes.config)), 'no fields of ours in a PEFT adapter');
  const w = parseAdapterWeights(c.right)(bytes.weights);
  assert.ok(E.isRight(w));
  assert.deepEqual(w.right.data, stored['prefix.embedding.weight']!.data);
});

test('the base model name and weight digest go into the adapter (PEFT and own format) and come back', () => {
  const cfg = decodeOk({ model_type: 'gpt2', vocab_size: 11, n_positions: 16, n_embd: 6, n_layer: 2, n_head: 3 });
  const digest = `sha256:${'ab'.repeat(32)}`;
  for (const v of [{ kind: 'prefix', length: 2 }, { kind: 'embedding', length: 2 }] as const) {
    const inj = inject(modelSites(cfg), v);
    const stored = storedParams(inj, initialValues(inj.trainable, 1, {}));
    const withD = serializeAdapter(cfg, inj, stored, { baseModel: 'models/m', baseModelDigest: digest });
    const r = parseAdapter(cfg, JSON.parse(withD.config), withD.weights);
    assert.ok(E.isRight(r));
    assert.deepEqual(r.right.base, { nameOrPath: 'models/m', digest });
    const plain = serializeAdapter(cfg, inj, stored);
    const p = parseAdapter(cfg, JSON.parse(plain.config), plain.weights);
    assert.ok(E.isRight(p));
    assert.deepEqual(p.right.base, { nameOrPath: null, digest: null });
  }
});

test('adapters for another model are refused with the reason', () => {
  const cfg = decodeOk({ model_type: 'gpt2', vocab_size: 11, n_positions: 16, n_embd: 6, n_layer: 2, n_head: 3 });
  const other = decodeOk({ model_type: 'gpt2', vocab_size: 11, n_positions: 16, n_embd: 6, n_layer: 3, n_head: 3 });
  const llama = decodeOk({ model_type: 'llama', vocab_size: 11, hidden_size: 6, intermediate_size: 5, num_hidden_layers: 2, num_attention_heads: 3, num_key_value_heads: 3, max_position_embeddings: 16 });
  const peft = inject(modelSites(cfg), { kind: 'prefix', length: 2 });
  const own = inject(modelSites(cfg), { kind: 'embedding', length: 2 });
  const pb = serializeAdapter(cfg, peft, storedParams(peft, initialValues(peft.trainable, 1, {})));
  const ob = serializeAdapter(cfg, own, storedParams(own, initialValues(own.trainable, 1, {})));
  const left = (r: E.Either<string, unknown>) => (E.isLeft(r) ? r.left : assert.fail('expected a Left'));
  assert.match(left(parseAdapter(other, JSON.parse(pb.config), pb.weights)), /num_layers is 2, but the model has 3/);
  assert.match(left(parseAdapter(other, JSON.parse(ob.config), ob.weights)), /trained for a gpt2 with 2 layers and width 6; this model is a gpt2 with 3 layers/);
  assert.match(left(parseAdapter(llama, JSON.parse(ob.config), ob.weights)), /this model is a llama/);
  const cj = JSON.parse(ob.config);
  assert.equal(cj['peft_type'], OWN_PEFT_TYPE);
  cj[ADAPTER_EXTRAS_KEY].tensors = { embedding: 'embedding.embedding.weight', extra: 'h.0.attn.c_attn.weight' };
  assert.match(left(parseAdapter(cfg, cj, ob.weights)), /tensor 'extra' maps to 'h\.0\.attn\.c_attn\.weight', which the variant does not have/);
  cj[ADAPTER_EXTRAS_KEY].tensors = {};
  assert.match(left(parseAdapter(cfg, cj, ob.weights)), /missing embedding\.embedding\.weight/);
  assert.match(left(parseAdapter(cfg, JSON.parse(pb.config), ob.weights)), /no 'prompt_embeddings' tensor/);
});
