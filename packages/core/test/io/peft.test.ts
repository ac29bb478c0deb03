import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  parseAdapterConfig, makePrefixTuningConfig, serializeAdapterConfig, parseAdapterWeights, serializeAdapterWeights,
  splitPrefix, joinPrefix, prefixShape, type PrefixTuningConfig,
} from '../../src/io/peft.ts';
import { serializeSafetensors } from '../../src/io/safetensors.ts';

// the fields PEFT 0.x writes for a GPT-2 prefix-tuning adapter, plus fields we do not model
const peftWritten = {
  auto_mapping: null,
  base_model_name_or_path: 'gpt2-medium',
  encoder_hidden_size: 1024,
  inference_mode: true,
  modules_to_save: null,
  num_attention_heads: 16,
  num_layers: 24,
  num_transformer_submodules: 1,
  num_virtual_tokens: 10,
  peft_type: 'PREFIX_TUNING',
  peft_version: '0.13.2',
  prefix_projection: false,
  revision: null,
  task_type: 'CAUSAL_LM',
  token_dim: 1024,
};

test('adapter_config.json: decodes PEFT output and keeps unknown fields through a round trip', () => {
  const r = parseAdapterConfig(peftWritten);
  assert.ok(E.isRight(r));
  assert.equal(r.right.num_virtual_tokens, 10);
  const text = serializeAdapterConfig(r.right);
  assert.deepEqual(JSON.parse(text), peftWritten);
  // keys sorted, as PEFT's json.dumps(sort_keys=True)
  const keys = [...text.matchAll(/^ {2}"([^"]+)"/gm)].map((m) => m[1]);
  assert.deepEqual(keys, [...keys].sort());
});

test('adapter_config.json: clear errors for the wrong peft_type, bad numbers, indivisible heads', () => {
  const lora = parseAdapterConfig({ ...peftWritten, peft_type: 'LORA' });
  assert.ok(E.isLeft(lora));
  assert.match(lora.left, /peft_type/);
  const neg = parseAdapterConfig({ ...peftWritten, num_virtual_tokens: 0 });
  assert.ok(E.isLeft(neg));
  assert.match(neg.left, /num_virtual_tokens/);
  const heads = parseAdapterConfig({ ...peftWritten, num_attention_heads: 7 });
  assert.ok(E.isLeft(heads));
  assert.match(heads.left, /divisible/);
  const missing = parseAdapterConfig({ peft_type: 'PREFIX_TUNING' });
  assert.ok(E.isLeft(missing));
  assert.match(missing.left, /num_layers/);
});

test('makePrefixTuningConfig gives a config the codec accepts, with PEFT defaults', () => {
  const c = makePrefixTuningConfig({ numVirtualTokens: 5, numLayers: 2, tokenDim: 8, numAttentionHeads: 2, taskType: 'SEQ_2_SEQ_LM' });
  assert.ok(E.isRight(parseAdapterConfig(JSON.parse(serializeAdapterConfig(c)))));
  assert.equal(c.num_transformer_submodules, 2);
  assert.equal(c.inference_mode, true);
  assert.deepEqual(prefixShape(c), [5, 32]);
});

const configArb = fc
  .record({ P: fc.integer({ min: 1, max: 4 }), L: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 3 }), dh: fc.integer({ min: 1, max: 3 }), S: fc.constantFrom(1, 2) })
  .map(({ P, L, H, dh, S }) => makePrefixTuningConfig({ numVirtualTokens: P, numLayers: L, tokenDim: H * dh, numAttentionHeads: H, numTransformerSubmodules: S }));

test('adapter_model.safetensors round trip (F32 exact) and shape checked against the config', () => {
  fc.assert(
    fc.property(configArb, (c) => {
      const [P, W] = prefixShape(c);
      const prefix = { shape: [P, W], data: Float32Array.from({ length: P * W }, () => Math.fround(Math.random() - 0.5)) };
      const r = parseAdapterWeights(c)(serializeAdapterWeights(prefix));
      assert.ok(E.isRight(r));
      assert.deepEqual(r.right.data, prefix.data);
    }),
  );
  const c = makePrefixTuningConfig({ numVirtualTokens: 2, numLayers: 1, tokenDim: 2, numAttentionHeads: 1 });
  const wrong = parseAdapterWeights(c)(serializeAdapterWeights({ shape: [3, 4], data: new Float32Array(12) }));
  assert.ok(E.isLeft(wrong));
  assert.match(wrong.left, /prompt_embeddings: expected \[2,4\].*got \[3,4\]/);
  const none = parseAdapterWeights(c)(serializeSafetensors({ other: { dtype: 'F32', shape: [1], data: [0] } }));
  assert.ok(E.isLeft(none));
  assert.match(none.left, /no 'prompt_embeddings' tensor \(found: other\)/);
});

/** PEFT get_prompt, written out index by index: view(P, 2L·S', H, dh) with the S copies, permute([2,0,3,1,4]), split(2S). */
const peftGetPrompt = (c: PrefixTuningConfig, data: Float32Array): number[][][] => {
  const P = c.num_virtual_tokens, L = c.num_layers, H = c.num_attention_heads, dh = c.token_dim / H, S = c.num_transformer_submodules ?? 1;
  const at = (p: number, blk: number, h: number, i: number): number => data[((p * 2 * L + blk) * H + h) * dh + i]!;
  const blocks: number[][] = []; // concatenated along dim 2 S times
  for (let s = 0; s < S; s++)
    for (let blk = 0; blk < 2 * L; blk++) {
      const out: number[] = [];
      for (let h = 0; h < H; h++) for (let p = 0; p < P; p++) for (let i = 0; i < dh; i++) out.push(at(p, blk, h, i));
      blocks.push(out);
    }
  return Array.from({ length: L }, (_, l) => blocks.slice(2 * S * l, 2 * S * l + 2 * S));
};

test('splitPrefix follows PEFT get_prompt exactly; joinPrefix inverts it', () => {
  fc.assert(
    fc.property(configArb, (c) => {
      const [P, W] = prefixShape(c);
      const prefix = { shape: [P, W], data: Float32Array.from({ length: P * W }, (_, i) => i) };
      const layers = splitPrefix(c)(prefix);
      assert.deepEqual(layers.map((bs) => bs.map((b) => Array.from(b.data))), peftGetPrompt(c, prefix.data));
      assert.deepEqual(joinPrefix(c)(layers).data, prefix.data);
    }),
  );
});
