import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { flattenVariant, selectLayers, paperPrefix } from '../../src/prefix/variant.ts';
import { VariantC } from '../../src/prefix/kinds/index.ts';
import { storedPrefixCount, activationParamSpecs, promptWidth } from '../../src/prefix/params.ts';
import { inject } from '../../src/prefix/inject.ts';
import { modelSites } from '../../src/prefix/graphs.ts';
import { decodeModelConfig } from '../../src/models/index.ts';

test('variant codec accepts every variant kind and compositions', () => {
  const ok = [
    paperPrefix(),
    { kind: 'prefix', length: 5, reparam: { kind: 'direct' }, layers: [0, 2], shared: true },
    { kind: 'embedding', length: 3, init: { kind: 'words', text: 'table-to-text:' } },
    { kind: 'infix', length: 4, dropout: 0.1 },
    { kind: 'finetune', layers: { top: 2 } },
    { kind: 'compose', parts: [{ kind: 'prefix', length: 2 }, { kind: 'infix', length: 2 }] },
  ];
  for (const v of ok) assert.ok(E.isRight(VariantC.decode(v)), JSON.stringify(v));
});

test('variant codec rejects malformed variants', () => {
  const bad = [
    { kind: 'prefix' },
    { kind: 'prefix', length: -1 },
    { kind: 'prefix', length: 2.5 },
    { kind: 'prefix', length: 2, reparam: { kind: 'mlp' } },
    { kind: 'prefix', length: 2, dropout: 1 },
    { kind: 'lora', rank: 4 },
    { kind: 'compose', parts: [{ kind: 'prefix' }] },
  ];
  for (const v of bad) assert.ok(E.isLeft(VariantC.decode(v)), JSON.stringify(v));
});

test('flattenVariant expands nested compositions depth first', () => {
  const v = { kind: 'compose' as const, parts: [{ kind: 'compose' as const, parts: [{ kind: 'prefix' as const, length: 1 }] }, { kind: 'infix' as const, length: 2 }] };
  assert.deepEqual(flattenVariant(v).map((x) => x.kind), ['prefix', 'infix']);
});

test('selectLayers: all, top-k and explicit', () => {
  assert.deepEqual(selectLayers('all', 4), [0, 1, 2, 3]);
  assert.deepEqual(selectLayers({ top: 2 }, 12), [10, 11]);
  assert.deepEqual(selectLayers([3, 1, 3], 4), [1, 3]);
  fc.assert(fc.property(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 1, max: 30 }), (k, n) => {
    const s = selectLayers({ top: k }, n);
    return s.length === Math.min(k, n) && s.every((l) => l >= 0 && l < n) && (s.length === 0 || s[s.length - 1] === n - 1);
  }));
});

test("GPT-2 medium's config at prefix length 5 stores 245,760 parameters (the paper's ~250K)", () => {
  // gpt2-medium's config.json sizes: 24 layers, d = 1024, 16 heads
  const cfg = decodeModelConfig({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_ctx: 1024, n_embd: 1024, n_layer: 24, n_head: 16, activation_function: 'gelu_new' });
  assert.ok(E.isRight(cfg));
  const stored = inject(modelSites(cfg.right), { kind: 'prefix', length: 5, reparam: { kind: 'mlp', hidden: 512 } }, { mode: 'stored' });
  assert.equal(stored.trainable.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0), 245_760);
  assert.equal(storedPrefixCount(stored.groups[0]!.geometry!, 5), 245_760);
});

test('parameter count of the MLP reparametrisation matches its formula', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), (P, L, td, h) => {
    const W = promptWidth({ layers: L, kvHeads: 1, headDim: td });
    const n = activationParamSpecs('prefix', P, W, td, { kind: 'mlp', hidden: h }).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    return n === P * td + h * td + h + W * h + W && W === 2 * L * td;
  }));
});
