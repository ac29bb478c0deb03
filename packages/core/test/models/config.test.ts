/**
 * decodeModelConfig: real transformers config.json files decode; defaults are transformers';
 * a missing or ill-typed required key is reported by name; extra keys are ignored; an unknown
 * model_type and unsupported options are clear Lefts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { decodeModelConfig, eosTokenIds } from '../../src/models/index.ts';
import { bartJson, gpt2Json, llamaJson, decodeOk } from './random.ts';
import { fixtureNames, fixturesDir, sharedDir } from './fixtures.ts';

const required = {
  gpt2: ['vocab_size', 'n_positions', 'n_embd', 'n_layer', 'n_head'],
  llama: ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'max_position_embeddings'],
  bart: ['vocab_size', 'd_model', 'encoder_layers', 'decoder_layers', 'encoder_attention_heads', 'decoder_attention_heads', 'encoder_ffn_dim', 'decoder_ffn_dim', 'max_position_embeddings'],
} as const;

const anyJson = fc.oneof(gpt2Json, llamaJson, bartJson) as fc.Arbitrary<Record<string, unknown>>;

const left = (json: unknown): string => {
  const r = decodeModelConfig(json);
  assert.ok(E.isLeft(r), `expected a Left for ${JSON.stringify(json)}`);
  return r.left;
};

describe('decodeModelConfig', () => {
  it('decodes every fixture config.json (written by transformers 5) and the shared HF GPT-2 (transformers 4.36)', () => {
    const paths = fixtureNames().map((n) => join(fixturesDir, n, 'config.json'));
    const shared = join(sharedDir, 'models', 'hf-random-gpt2-lmbuddy', 'config.json');
    if (existsSync(shared)) paths.push(shared);
    assert.ok(paths.length > 0);
    for (const p of paths) decodeOk(JSON.parse(readFileSync(p, 'utf8')));
  });

  it('reads transformers 5 rope_parameters and transformers 4 rope_theta', () => {
    const fx = fixtureNames().find((n) => n.startsWith('llama-tiny-gqa-tied'));
    if (fx) {
      const cfg = decodeOk(JSON.parse(readFileSync(join(fixturesDir, fx, 'config.json'), 'utf8')));
      assert.equal(cfg.model_type === 'llama' && cfg.rope_theta, 500000);
    }
    const base = { model_type: 'llama', vocab_size: 10, hidden_size: 8, intermediate_size: 4, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16 };
    const theta = (j: object) => { const c = decodeOk(j); return c.model_type === 'llama' ? c.rope_theta : NaN; };
    assert.equal(theta(base), 10000);
    assert.equal(theta({ ...base, rope_theta: 1e6, rope_scaling: null }), 1e6);
    assert.equal(theta({ ...base, rope_parameters: { rope_type: 'default', rope_theta: 500000 } }), 500000);
    assert.equal(theta({ ...base, rope_theta: 123, rope_parameters: { rope_type: 'default' } }), 123);
    // linear, dynamic and llama3 are supported (test/models/rope-scaling.test.ts); other types are refused by name
    assert.match(left({ ...base, rope_scaling: { type: 'yarn', factor: 2 } }), /rope_scaling.*'yarn'.*not supported/);
    assert.match(left({ ...base, rope_parameters: { rope_type: 'longrope', rope_theta: 5e5, factor: 8 } }), /rope_parameters.*'longrope'.*not supported/);
  });

  it('applies transformers defaults to absent optional keys', () => {
    const g = decodeOk({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 });
    assert.deepEqual(g, {
      model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, n_inner: 3072,
      activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false,
      reorder_and_upcast_attn: false, tie_word_embeddings: true, bos_token_id: 50256, eos_token_id: 50256, pad_token_id: null,
    });
    const l = decodeOk({ model_type: 'llama', vocab_size: 32000, hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32, max_position_embeddings: 4096 });
    assert.deepEqual(l, {
      model_type: 'llama', vocab_size: 32000, hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32,
      num_key_value_heads: 32, head_dim: 128, max_position_embeddings: 4096, hidden_act: 'silu', rms_norm_eps: 1e-6, rope_theta: 10000,
      attention_bias: false, mlp_bias: false, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, pad_token_id: null,
    });
    const b = decodeOk({
      model_type: 'bart', vocab_size: 50265, d_model: 1024, encoder_layers: 12, decoder_layers: 12, encoder_attention_heads: 16,
      decoder_attention_heads: 16, encoder_ffn_dim: 4096, decoder_ffn_dim: 4096, max_position_embeddings: 1024,
      normalize_before: false, add_final_layer_norm: false, normalize_embedding: true, forced_bos_token_id: 0,
    });
    assert.deepEqual(b, {
      model_type: 'bart', vocab_size: 50265, d_model: 1024, encoder_layers: 12, decoder_layers: 12, encoder_attention_heads: 16,
      decoder_attention_heads: 16, encoder_ffn_dim: 4096, decoder_ffn_dim: 4096, max_position_embeddings: 1024, activation_function: 'gelu',
      scale_embedding: false, tie_word_embeddings: true, pad_token_id: 1, bos_token_id: 0, eos_token_id: 2, decoder_start_token_id: 2,
      forced_bos_token_id: 0, forced_eos_token_id: 2,
    });
    assert.deepEqual(eosTokenIds(decodeOk({ ...required_llama(), eos_token_id: [2, 7] })), [2, 7]);
    assert.deepEqual(eosTokenIds(decodeOk({ ...required_llama(), eos_token_id: null })), []);
  });

  it('ignores keys it does not use', () => {
    const known = new Set(['model_type', 'n_inner', 'head_dim', 'rope_theta', 'rope_scaling', 'rope_parameters', 'num_key_value_heads', 'eos_token_id',
      'bos_token_id', 'pad_token_id', 'normalize_before', 'add_final_layer_norm', 'normalize_embedding', 'static_position_embeddings', 'add_bias_logits',
      'add_cross_attention', 'decoder_start_token_id', 'forced_bos_token_id', 'forced_eos_token_id', 'hidden_act', 'activation_function',
      'attention_bias', 'mlp_bias', 'layer_norm_epsilon', 'rms_norm_eps', 'scale_attn_weights', 'scale_attn_by_inverse_layer_idx',
      'reorder_and_upcast_attn', 'tie_word_embeddings', 'scale_embedding', 'constructor', '__proto__']);
    const extra = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !known.has(k)), fc.jsonValue(), { maxKeys: 5 });
    fc.assert(fc.property(anyJson, extra, (json, more) => {
      const withExtra = { ...more, ...json };
      assert.deepEqual(decodeModelConfig(withExtra), decodeModelConfig(json));
      assert.ok(E.isRight(decodeModelConfig(withExtra)));
    }));
  });

  it('names a missing required key', () => {
    fc.assert(fc.property(anyJson, fc.nat(), (json, k) => {
      const keys = required[json['model_type'] as keyof typeof required];
      const key = keys[k % keys.length]!;
      const { [key]: _drop, ...rest } = json;
      assert.match(left(rest), new RegExp(`^${json['model_type']} config: .*\\b${key}: missing`));
    }));
  });

  it('names an ill-typed key with the value it got', () => {
    const bad = fc.constantFrom<unknown>('12', -1, 0, 2.5, null, true, [4], {});
    fc.assert(fc.property(anyJson, fc.nat(), bad, (json, k, value) => {
      const keys = required[json['model_type'] as keyof typeof required];
      const key = keys[k % keys.length]!;
      const msg = left({ ...json, [key]: value });
      assert.ok(msg.includes(`${key}: expected`) && msg.includes(`got ${JSON.stringify(value)}`), msg);
    }));
    assert.match(left({ ...required_llama(), hidden_act: 'mish' }), /hidden_act: expected .*got "mish"/);
    assert.match(left({ ...required_llama(), tie_word_embeddings: 'yes' }), /tie_word_embeddings: expected boolean, got "yes"/);
  });

  it('rejects an unknown or missing model_type, listing the supported ones', () => {
    fc.assert(fc.property(fc.string().filter((s) => !['gpt2', 'llama', 'bart'].includes(s)), (mt) => {
      assert.match(left({ model_type: mt, vocab_size: 3 }), /model_type: unsupported .*supported: gpt2, llama, bart/);
    }));
    assert.match(left({ vocab_size: 3 }), /model_type: missing/);
    assert.match(left([1, 2]), /expected a JSON object/);
    assert.match(left(null), /expected a JSON object/);
  });

  it('rejects inconsistent sizes and unsupported options by name', () => {
    assert.match(left({ model_type: 'gpt2', vocab_size: 5, n_positions: 8, n_embd: 10, n_head: 3, n_layer: 1 }), /n_embd \(10\) is not a multiple of n_head \(3\)/);
    assert.match(left({ model_type: 'gpt2', vocab_size: 5, n_positions: 8, n_embd: 8, n_head: 2, n_layer: 1, add_cross_attention: true }), /add_cross_attention/);
    assert.match(left({ ...required_llama(), num_key_value_heads: 3 }), /num_attention_heads \(2\) is not a multiple of num_key_value_heads \(3\)/);
    assert.match(left({ ...required_llama(), hidden_size: 9 }), /hidden_size \(9\) is not a multiple of num_attention_heads \(2\)/);
    assert.match(left({ ...required_llama(), head_dim: 3 }), /head_dim \(3\) must be even/);
    const bart = { model_type: 'bart', vocab_size: 9, d_model: 8, encoder_layers: 1, decoder_layers: 1, encoder_attention_heads: 2, decoder_attention_heads: 2, encoder_ffn_dim: 4, decoder_ffn_dim: 4, max_position_embeddings: 8 };
    assert.match(left({ ...bart, normalize_before: true }), /normalize_before: expected false, got true/);
    assert.match(left({ ...bart, decoder_attention_heads: 3 }), /d_model \(8\) is not a multiple of decoder_attention_heads \(3\)/);
  });
});

function required_llama() {
  return { model_type: 'llama', vocab_size: 10, hidden_size: 8, intermediate_size: 4, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 16 };
}
