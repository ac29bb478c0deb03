/**
 * Parameter names and shapes equal the Hugging Face checkpoint keys (enumerated here from the
 * transformers module structure, independently of the model code); parameter counts equal
 * closed forms and the published totals; paramsFromCheckpoint maps fixture checkpoints and
 * reports every mismatch by name.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  type BartConfig, type Checkpoint, type Gpt2Config, type LlamaConfig, type ModelConfig,
  modelParamShapes, parameterCount, paramsFromCheckpoint,
} from '../../src/models/index.ts';
import { bartJson, decodeOk, gpt2Json, llamaJson } from './random.ts';
import { fixtureNames, loadFixture } from './fixtures.ts';

type Shapes = Record<string, readonly number[]>;

/** GPT2LMHeadModel's keys without `transformer.` (Conv1D weights are [in, out]). */
const gpt2Keys = (c: Gpt2Config): Shapes => {
  const [D, F, V] = [c.n_embd, c.n_inner, c.vocab_size];
  const s: Shapes = { 'wte.weight': [V, D], 'wpe.weight': [c.n_positions, D], 'ln_f.weight': [D], 'ln_f.bias': [D] };
  for (let i = 0; i < c.n_layer; i++)
    Object.assign(s, {
      [`h.${i}.ln_1.weight`]: [D], [`h.${i}.ln_1.bias`]: [D], [`h.${i}.ln_2.weight`]: [D], [`h.${i}.ln_2.bias`]: [D],
      [`h.${i}.attn.c_attn.weight`]: [D, 3 * D], [`h.${i}.attn.c_attn.bias`]: [3 * D],
      [`h.${i}.attn.c_proj.weight`]: [D, D], [`h.${i}.attn.c_proj.bias`]: [D],
      [`h.${i}.mlp.c_fc.weight`]: [D, F], [`h.${i}.mlp.c_fc.bias`]: [F],
      [`h.${i}.mlp.c_proj.weight`]: [F, D], [`h.${i}.mlp.c_proj.bias`]: [D],
    });
  if (!c.tie_word_embeddings) s['lm_head.weight'] = [V, D];
  return s;
};

/** LlamaForCausalLM's keys without `model.` (nn.Linear weights are [out, in]). */
const llamaKeys = (c: LlamaConfig): Shapes => {
  const [D, F, V, q, kv] = [c.hidden_size, c.intermediate_size, c.vocab_size, c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim];
  const s: Shapes = { 'embed_tokens.weight': [V, D], 'norm.weight': [D] };
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const a = `layers.${i}.self_attn`;
    const m = `layers.${i}.mlp`;
    Object.assign(s, {
      [`layers.${i}.input_layernorm.weight`]: [D], [`layers.${i}.post_attention_layernorm.weight`]: [D],
      [`${a}.q_proj.weight`]: [q, D], [`${a}.k_proj.weight`]: [kv, D], [`${a}.v_proj.weight`]: [kv, D], [`${a}.o_proj.weight`]: [D, q],
      [`${m}.gate_proj.weight`]: [F, D], [`${m}.up_proj.weight`]: [F, D], [`${m}.down_proj.weight`]: [D, F],
    });
    if (c.attention_bias) Object.assign(s, { [`${a}.q_proj.bias`]: [q], [`${a}.k_proj.bias`]: [kv], [`${a}.v_proj.bias`]: [kv], [`${a}.o_proj.bias`]: [D] });
    if (c.mlp_bias) Object.assign(s, { [`${m}.gate_proj.bias`]: [F], [`${m}.up_proj.bias`]: [F], [`${m}.down_proj.bias`]: [D] });
  }
  if (!c.tie_word_embeddings) s['lm_head.weight'] = [V, D];
  return s;
};

/** BartForConditionalGeneration's keys without `model.` (plus the `final_logits_bias` buffer). */
const bartKeys = (c: BartConfig): Shapes => {
  const [D, V] = [c.d_model, c.vocab_size];
  const s: Shapes = { final_logits_bias: [1, V] };
  const lin = (p: string, o: number, i: number) => ({ [`${p}.weight`]: [o, i], [`${p}.bias`]: [o] });
  const ln = (p: string) => ({ [`${p}.weight`]: [D], [`${p}.bias`]: [D] });
  const attn = (p: string) => ({ ...lin(`${p}.q_proj`, D, D), ...lin(`${p}.k_proj`, D, D), ...lin(`${p}.v_proj`, D, D), ...lin(`${p}.out_proj`, D, D) });
  for (const [stack, layers, F] of [['encoder', c.encoder_layers, c.encoder_ffn_dim], ['decoder', c.decoder_layers, c.decoder_ffn_dim]] as const) {
    Object.assign(s, { [`${stack}.embed_positions.weight`]: [c.max_position_embeddings + 2, D], ...ln(`${stack}.layernorm_embedding`) });
    for (let i = 0; i < layers; i++) {
      const p = `${stack}.layers.${i}`;
      Object.assign(s, attn(`${p}.self_attn`), ln(`${p}.self_attn_layer_norm`), lin(`${p}.fc1`, F, D), lin(`${p}.fc2`, D, F), ln(`${p}.final_layer_norm`));
      if (stack === 'decoder') Object.assign(s, attn(`${p}.encoder_attn`), ln(`${p}.encoder_attn_layer_norm`));
    }
    if (!c.tie_word_embeddings) s[`${stack}.embed_tokens.weight`] = [V, D];
  }
  s[c.tie_word_embeddings ? 'shared.weight' : 'lm_head.weight'] = [V, D];
  return s;
};

const hfKeys = (c: ModelConfig): Shapes => (c.model_type === 'gpt2' ? gpt2Keys(c) : c.model_type === 'llama' ? llamaKeys(c) : bartKeys(c));
const sorted = (s: Shapes) => Object.fromEntries(Object.entries(s).sort(([a], [b]) => (a < b ? -1 : 1)));

/** Closed-form parameter counts. */
const countFormula = (c: ModelConfig): number => {
  switch (c.model_type) {
    case 'gpt2': {
      const [D, F, V] = [c.n_embd, c.n_inner, c.vocab_size];
      const layer = 4 * D + (3 * D * D + 3 * D) + (D * D + D) + (D * F + F) + (F * D + D);
      return V * D * (c.tie_word_embeddings ? 1 : 2) + c.n_positions * D + c.n_layer * layer + 2 * D;
    }
    case 'llama': {
      const [D, F, V, q, kv] = [c.hidden_size, c.intermediate_size, c.vocab_size, c.num_attention_heads * c.head_dim, c.num_key_value_heads * c.head_dim];
      const attn = 2 * D * q + 2 * D * kv + (c.attention_bias ? q + 2 * kv + D : 0);
      const mlp = 3 * D * F + (c.mlp_bias ? 2 * F + D : 0);
      return V * D * (c.tie_word_embeddings ? 1 : 2) + c.num_hidden_layers * (attn + mlp + 2 * D) + D;
    }
    case 'bart': {
      const [D, V] = [c.d_model, c.vocab_size];
      const attn = 4 * (D * D + D);
      const enc = attn + 2 * D + (D * c.encoder_ffn_dim + c.encoder_ffn_dim) + (c.encoder_ffn_dim * D + D) + 2 * D;
      const dec = 2 * attn + 4 * D + (D * c.decoder_ffn_dim + c.decoder_ffn_dim) + (c.decoder_ffn_dim * D + D) + 2 * D;
      const embeds = c.tie_word_embeddings ? V * D : 3 * V * D;
      return embeds + V + 2 * ((c.max_position_embeddings + 2) * D + 2 * D) + c.encoder_layers * enc + c.decoder_layers * dec;
    }
  }
};

const anyJson = fc.oneof(gpt2Json, llamaJson, bartJson);

describe('parameters', () => {
  it('names and shapes equal the transformers checkpoint keys for random configs', () => {
    fc.assert(fc.property(anyJson, (json) => {
      const cfg = decodeOk(json);
      assert.deepEqual(sorted(modelParamShapes(cfg)), sorted(hfKeys(cfg)));
    }), { numRuns: 60 });
  });

  it('counts equal the closed forms', () => {
    fc.assert(fc.property(anyJson, (json) => {
      const cfg = decodeOk(json);
      assert.equal(parameterCount(cfg), countFormula(cfg));
    }), { numRuns: 60 });
  });

  it('counts equal the published totals of gpt2, facebook/bart-large and Llama-2-7b', () => {
    const gpt2 = decodeOk({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 });
    assert.equal(parameterCount(gpt2), 124_439_808);
    const bart = decodeOk({
      model_type: 'bart', vocab_size: 50265, d_model: 1024, encoder_layers: 12, decoder_layers: 12, encoder_attention_heads: 16,
      decoder_attention_heads: 16, encoder_ffn_dim: 4096, decoder_ffn_dim: 4096, max_position_embeddings: 1024,
    });
    // 406,291,456 parameters + the final_logits_bias buffer [1, 50265], a graph parameter here
    assert.equal(parameterCount(bart), 406_291_456 + 50265);
    const llama = decodeOk({
      model_type: 'llama', vocab_size: 32000, hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32,
      max_position_embeddings: 4096,
    });
    assert.equal(parameterCount(llama), 6_738_415_616);
  });
});

const tensor = (shape: readonly number[], fill = 0.5) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });
const fromShapes = (s: Shapes, prefix = ''): Record<string, ReturnType<typeof tensor>> =>
  Object.fromEntries(Object.entries(s).map(([k, v]) => [k.startsWith('lm_head') || k === 'final_logits_bias' ? k : prefix + k, tensor(v)]));
const leftOf = (cfg: ModelConfig, ck: Checkpoint): string => {
  const r = paramsFromCheckpoint(cfg, ck);
  assert.ok(E.isLeft(r), 'expected a Left');
  return r.left;
};
const gpt2Tiny = () => decodeOk({ model_type: 'gpt2', vocab_size: 7, n_positions: 8, n_embd: 4, n_layer: 2, n_head: 2 });

describe('paramsFromCheckpoint', () => {
  it('maps every fixture checkpoint to exactly the graph parameters, with the file\'s data', () => {
    const names = fixtureNames();
    assert.ok(names.length > 0);
    for (const name of names) {
      const fx = loadFixture(name);
      const cfg = decodeOk(fx.config);
      const r = paramsFromCheckpoint(cfg, fx.checkpoint);
      assert.ok(E.isRight(r), `${name}: ${E.isLeft(r) ? r.left : ''}`);
      assert.deepEqual(Object.keys(r.right).sort(), Object.keys(modelParamShapes(cfg)).sort(), name);
      for (const [k, v] of Object.entries(r.right)) {
        const file = fx.checkpoint[k] ?? fx.checkpoint[`model.${k}`] ?? fx.checkpoint[`transformer.${k}`];
        assert.ok(file, `${name}: ${k} not read from the file under its own name`);
        assert.equal(v.data, file.data, `${name}: ${k} is not the file's tensor`);
      }
    }
  });

  it('accepts keys with or without the base-model prefix', () => {
    fc.assert(fc.property(anyJson, fc.boolean(), (json, prefixed) => {
      const cfg = decodeOk(json);
      const prefix = prefixed ? (cfg.model_type === 'gpt2' ? 'transformer.' : 'model.') : '';
      assert.ok(E.isRight(paramsFromCheckpoint(cfg, fromShapes(hfKeys(cfg), prefix))));
    }), { numRuns: 30 });
  });

  it('reports a shape mismatch with the tensor name and both shapes', () => {
    const cfg = gpt2Tiny();
    const ck = { ...fromShapes(hfKeys(cfg), 'transformer.'), 'transformer.h.1.attn.c_attn.weight': tensor([12, 4]) };
    assert.match(leftOf(cfg, ck), /transformer\.h\.1\.attn\.c_attn\.weight: config expects \[4,12\], checkpoint has \[12,4\]/);
  });

  it('reports missing and unexpected tensors by name', () => {
    const cfg = gpt2Tiny();
    const { 'transformer.ln_f.bias': _a, 'transformer.h.0.mlp.c_fc.weight': _b, ...rest } = fromShapes(hfKeys(cfg), 'transformer.');
    const msg = leftOf(cfg, { ...rest, 'transformer.h.0.attn.q_proj.weight': tensor([4, 4]), 'score.weight': tensor([2, 4]) });
    assert.match(msg, /missing: .*transformer\.h\.0\.mlp\.c_fc\.weight.*transformer\.ln_f\.bias|missing: .*transformer\.ln_f\.bias.*transformer\.h\.0\.mlp\.c_fc\.weight/);
    assert.match(msg, /unexpected: .*score\.weight/);
    assert.match(msg, /unexpected: .*transformer\.h\.0\.attn\.q_proj\.weight/);
  });

  it('reports data whose length does not match its shape', () => {
    const cfg = gpt2Tiny();
    const ck = { ...fromShapes(hfKeys(cfg)), 'ln_f.weight': { shape: [4], data: new Float32Array(3) } };
    assert.match(leftOf(cfg, ck), /ln_f\.weight: shape \[4\] needs 4 values, the data has 3/);
  });

  it('rejects the same tensor with and without the prefix', () => {
    const cfg = gpt2Tiny();
    const ck = { ...fromShapes(hfKeys(cfg), 'transformer.'), 'ln_f.bias': tensor([4]) };
    assert.match(leftOf(cfg, ck), /transformer\.ln_f\.bias and ln_f\.bias are the same tensor/);
  });

  it('ignores known buffers (GPT-2 attn.bias/masked_bias, rotary inv_freq, BART *.version)', () => {
    const g = gpt2Tiny();
    assert.ok(E.isRight(paramsFromCheckpoint(g, { ...fromShapes(hfKeys(g), 'transformer.'), 'transformer.h.0.attn.bias': tensor([1, 1, 8, 8]), 'transformer.h.1.attn.masked_bias': tensor([]) })));
    const l = decodeOk({ model_type: 'llama', vocab_size: 9, hidden_size: 4, intermediate_size: 3, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 8 });
    assert.ok(E.isRight(paramsFromCheckpoint(l, { ...fromShapes(hfKeys(l), 'model.'), 'model.layers.0.self_attn.rotary_emb.inv_freq': tensor([1]), 'model.rotary_emb.inv_freq': tensor([1]) })));
    const b = decodeOk({ model_type: 'bart', vocab_size: 9, d_model: 4, encoder_layers: 1, decoder_layers: 1, encoder_attention_heads: 2, decoder_attention_heads: 2, encoder_ffn_dim: 3, decoder_ffn_dim: 3, max_position_embeddings: 8 });
    assert.ok(E.isRight(paramsFromCheckpoint(b, { ...fromShapes(hfKeys(b), 'model.'), 'model.encoder.version': tensor([1]) })));
  });

  it('tied heads: takes the table from any tied name, accepts equal copies, rejects different ones', () => {
    const cfg = gpt2Tiny();
    const base = fromShapes(hfKeys(cfg), 'transformer.');
    const { 'transformer.wte.weight': wte, ...noWte } = base;
    const viaHead = paramsFromCheckpoint(cfg, { ...noWte, 'lm_head.weight': wte! });
    assert.ok(E.isRight(viaHead));
    assert.equal(viaHead.right['wte.weight']!.data, wte!.data);
    assert.ok(E.isRight(paramsFromCheckpoint(cfg, { ...base, 'lm_head.weight': tensor([7, 4]) })));
    assert.match(leftOf(cfg, { ...base, 'lm_head.weight': tensor([7, 4], 0.25) }), /lm_head\.weight differs from transformer\.wte\.weight although the config ties them/);
    const b = decodeOk({ model_type: 'bart', vocab_size: 9, d_model: 4, encoder_layers: 1, decoder_layers: 1, encoder_attention_heads: 2, decoder_attention_heads: 2, encoder_ffn_dim: 3, decoder_ffn_dim: 3, max_position_embeddings: 8 });
    const { 'model.shared.weight': shared, ...noShared } = fromShapes(hfKeys(b), 'model.');
    assert.ok(E.isRight(paramsFromCheckpoint(b, { ...noShared, 'model.encoder.embed_tokens.weight': shared!, 'model.decoder.embed_tokens.weight': shared! })));
  });

  it('BART: final_logits_bias defaults to zeros; an untied checkpoint\'s unused shared.weight is ignored', () => {
    const b = decodeOk({ model_type: 'bart', vocab_size: 9, d_model: 4, encoder_layers: 1, decoder_layers: 1, encoder_attention_heads: 2, decoder_attention_heads: 2, encoder_ffn_dim: 3, decoder_ffn_dim: 3, max_position_embeddings: 8 });
    const { final_logits_bias: _f, ...noBias } = fromShapes(hfKeys(b), 'model.');
    const r = paramsFromCheckpoint(b, noBias);
    assert.ok(E.isRight(r));
    assert.deepEqual(r.right['final_logits_bias']!.shape, [1, 9]);
    assert.ok((r.right['final_logits_bias']!.data as Float32Array).every((v) => v === 0));
    const u = decodeOk({ ...JSON.parse(JSON.stringify(b)), tie_word_embeddings: false });
    assert.ok(E.isRight(paramsFromCheckpoint(u, { ...fromShapes(hfKeys(u), 'model.'), 'model.shared.weight': tensor([9, 4], 0.1) })));
  });
});
