import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { convertLlama2c } from '../src/llama2c.ts';
import { loadFloat32Weights } from '../src/checkpoint.ts';
import { loadTokenizer } from '../src/tokenizer.ts';
import { parseLlama2cTokenizer, parseLlama2cModel, llamaHfTensors, type Float32Tensor } from '../src/core-io.ts';
import { greedy, runcEncode } from './llama-reference.ts';
import { fixtures, shared, tempDir } from './paths.ts';

const dir = join(shared, 'models/stories260K');
const model = join(dir, 'stories260K.bin');
const tokBin = join(dir, 'tok512.bin');
const have = existsSync(model) && existsSync(tokBin);
const README_QUOTE =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.';

let converted: Promise<string> | undefined;
const convertOnce = (): Promise<string> =>
  (converted ??= (async () => {
    const out = join(await tempDir(), 'stories260K-hf');
    const r = await convertLlama2c({ model, tokenizer: tokBin, out });
    if (E.isLeft(r)) assert.fail(r.left);
    return out;
  })());

test('stories260K converts to a HF Llama directory with the right config and shapes', { skip: !have && 'shared models missing' }, async () => {
  const out = await convertOnce();
  const config = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
  assert.equal(config.model_type, 'llama');
  assert.deepEqual(config.architectures, ['LlamaForCausalLM']);
  // the figures quoted for stories260K in shared/README.md
  assert.equal(config.hidden_size, 64);
  assert.equal(config.intermediate_size, 172);
  assert.equal(config.num_hidden_layers, 5);
  assert.equal(config.num_attention_heads, 8);
  assert.equal(config.num_key_value_heads, 4);
  assert.equal(config.vocab_size, 512);
  assert.equal(config.max_position_embeddings, 512);
  assert.equal(config.tie_word_embeddings, true);
  assert.equal(config.rope_theta, 10000);
  assert.equal(config.rms_norm_eps, 1e-5);
  assert.equal(config.bos_token_id, 1);
  assert.equal(config.eos_token_id, 2);
  const w = await loadFloat32Weights(out);
  assert.ok(E.isRight(w));
  assert.deepEqual(w.right.get('model.embed_tokens.weight')?.shape, [512, 64]);
  assert.deepEqual(w.right.get('model.layers.4.self_attn.q_proj.weight')?.shape, [64, 64]);
  assert.deepEqual(w.right.get('model.layers.4.self_attn.k_proj.weight')?.shape, [32, 64]);
  assert.deepEqual(w.right.get('model.layers.0.mlp.gate_proj.weight')?.shape, [172, 64]);
  assert.deepEqual(w.right.get('model.layers.0.mlp.down_proj.weight')?.shape, [64, 172]);
  assert.equal(w.right.has('lm_head.weight'), false); // tied, as transformers saves it
  assert.equal(w.right.size, 1 + 5 * 9 + 1);
  const again = await convertLlama2c({ model, tokenizer: tokBin, out });
  assert.ok(E.isLeft(again));
  assert.match(again.left, /already holds a model/);
});

test('greedy decoding from BOS through the converted HF weights gives the text quoted for stories260K', { skip: !have && 'shared models missing' }, async () => {
  // An independent check of the whole conversion: names, layouts, the wq/wk RoPE permutation
  // (rotate_half here, interleaved pairs in llama2.c), the tied classifier and the tokenizer's decoder.
  const out = await convertOnce();
  const w = await loadFloat32Weights(out);
  assert.ok(E.isRight(w));
  const tok = await loadTokenizer(out);
  assert.ok(E.isRight(tok));
  const ids = greedy(w.right, { dim: 64, hidden: 172, layers: 5, heads: 8, kvHeads: 4, vocab: 512, eps: 1e-5, theta: 10000 }, [tok.right.bosId!], 90, tok.right.eosId!);
  const text = tok.right.decode(ids, { skipSpecialTokens: true });
  assert.ok(text.startsWith(README_QUOTE), text);
});

test('without the permutation the same check fails (the test can tell)', { skip: !have && 'shared models missing' }, async () => {
  const m = parseLlama2cModel(new Uint8Array(readFileSync(model)));
  assert.ok(E.isRight(m));
  const unpermuted = new Map<string, Float32Tensor>([...llamaHfTensors(m.right)].map(([n, t]) => [n, { shape: t.shape, data: 'data' in t ? Float32Array.from(t.data) : new Float32Array() }]));
  for (let l = 0; l < 5; l++) {
    unpermuted.set(`model.layers.${l}.self_attn.q_proj.weight`, { shape: [64, 64], data: m.right.weights.wq[l]! });
    unpermuted.set(`model.layers.${l}.self_attn.k_proj.weight`, { shape: [32, 64], data: m.right.weights.wk[l]! });
  }
  const tok = await loadTokenizer(await convertOnce());
  assert.ok(E.isRight(tok));
  const ids = greedy(unpermuted, { dim: 64, hidden: 172, layers: 5, heads: 8, kvHeads: 4, vocab: 512, eps: 1e-5, theta: 10000 }, [1], 40, 2);
  assert.ok(!tok.right.decode(ids, { skipSpecialTokens: true }).startsWith(README_QUOTE.slice(0, 80)));
});

test('the converted tokenizer.json encodes exactly as llama2.c run.c does, and decodes back', { skip: !have && 'shared models missing' }, async () => {
  const out = await convertOnce();
  const tok = await loadTokenizer(out);
  assert.ok(E.isRight(tok));
  const parsed = parseLlama2cTokenizer(new Uint8Array(readFileSync(tokBin)));
  assert.ok(E.isRight(parsed));
  const vocab = parsed.right.pieces.map((p) => p.text);
  const scores = parsed.right.pieces.map((p) => p.score);
  for (const s of [README_QUOTE, 'Tom and Sue went to the zoo.', 'Hello\nworld', '', 'a', '  two  spaces', 'café 😀 ü']) {
    assert.deepEqual(tok.right.encode(s), runcEncode(vocab, scores, s, true), JSON.stringify(s));
  }
  assert.equal(tok.right.vocabSize, 512);
  assert.equal(tok.right.unkId, 0);
  fc.assert(
    fc.property(fc.string({ unit: fc.oneof(fc.constantFrom(' ', 'the', 'Lily', '.', ',', '\n', 'ed', 'ing'), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 })), maxLength: 25 }), (s) => {
      const ids = tok.right.encode(s);
      assert.deepEqual(ids, runcEncode(vocab, scores, s, true));
      assert.equal(tok.right.decode(ids, { skipSpecialTokens: true }), s);
    }),
    { numRuns: 300 },
  );
});

const spFixture = join(fixtures, 'tokenizers/stories260K-llama2c.json');
test('the converted tokenizer equals real SentencePiece (tools/llama2c_tokenizer_oracle.py fixture)', { skip: (!have || !existsSync(spFixture)) && 'shared model or fixture missing' }, async () => {
  const tok = await loadTokenizer(await convertOnce());
  assert.ok(E.isRight(tok));
  const fx = JSON.parse(readFileSync(spFixture, 'utf8')) as { strings: string[]; ids: number[][]; decoded: string[] };
  fx.strings.forEach((s, i) => {
    assert.deepEqual(tok.right.encode(s), fx.ids[i], s);
    assert.equal(tok.right.decode(fx.ids[i]!, { skipSpecialTokens: true }), fx.decoded[i], s);
  });
});
