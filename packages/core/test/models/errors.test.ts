/**
 * Builder errors: wrong user-supplied nodes (pasts, ids, embeddings, missing encoder states)
 * become `Left(GraphError)`s under `build`, naming the model path (`h[1].attn`) and the shapes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as E from 'fp-ts/lib/Either.js';
import { build } from '../../src/ir/build.ts';
import { input } from '../../src/ops/leaves.ts';
import { gpt2Forward, llamaForward, bartDecoderForward, type BartConfig, type Gpt2Config, type LlamaConfig } from '../../src/models/index.ts';
import { decodeOk } from './random.ts';

const gpt2 = decodeOk({ model_type: 'gpt2', vocab_size: 7, n_positions: 8, n_embd: 4, n_layer: 2, n_head: 2 }) as Gpt2Config;
const llama = decodeOk({ model_type: 'llama', vocab_size: 7, hidden_size: 8, intermediate_size: 4, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 8 }) as LlamaConfig;
const bart = decodeOk({ model_type: 'bart', vocab_size: 9, d_model: 4, encoder_layers: 1, decoder_layers: 2, encoder_attention_heads: 2, decoder_attention_heads: 2, encoder_ffn_dim: 3, decoder_ffn_dim: 3, max_position_embeddings: 8 }) as BartConfig;

const leftMessage = (f: () => unknown): string => {
  const r = build(f);
  assert.ok(E.isLeft(r), 'expected a Left');
  return r.left.message;
};
const ids = () => input('input_ids', ['B', 'T'], 'int32');

describe('model builder errors', () => {
  it('a past of the wrong geometry names the layer path and the expected shape', () => {
    const msg = leftMessage(() => gpt2Forward(gpt2, {
      ids: ids(),
      pastKeyValues: (l) => (l === 1 ? { key: input('k', ['B', 3, 'P', 2]), value: input('v', ['B', 3, 'P', 2]) } : undefined),
    }));
    assert.match(msg, /^h\[1\]\.attn: pastKeyValues: past key must be f32\[B,2,Tpast,2\], got f32\[B,3,P,2\]/);
    // Llama pasts have the key/value head count (GQA), not the query head count
    const m2 = leftMessage(() => llamaForward(llama, {
      ids: ids(),
      pastKeyValues: () => ({ key: input('k', ['B', 4, 'P', 2]), value: input('v', ['B', 4, 'P', 2]) }),
    }));
    assert.match(m2, /^layers\[0\]\.self_attn: pastKeyValues: past key must be f32\[B,2,Tpast,2\]/);
  });

  it('ids and inputsEmbeds: exactly one, with the right dtype and width', () => {
    assert.match(leftMessage(() => gpt2Forward(gpt2, {})), /exactly one of ids and inputsEmbeds/);
    assert.match(leftMessage(() => gpt2Forward(gpt2, { ids: ids(), inputsEmbeds: input('e', ['B', 'T', 4]) })), /exactly one of ids and inputsEmbeds/);
    assert.match(leftMessage(() => gpt2Forward(gpt2, { ids: input('x', ['B', 'T']) })), /expected i32\/i64 ids \[B,T\], got f32\[B,T\]/);
    assert.match(leftMessage(() => llamaForward(llama, { inputsEmbeds: input('e', ['B', 'T', 5]) })), /expected f32\[B,T,8\], got f32\[B,T,5\]/);
  });

  it('a key mask of the wrong length is rejected by attention at the layer path', () => {
    const msg = leftMessage(() => gpt2Forward(gpt2, { ids: ids(), attentionMask: input('m', ['B', 'S'], 'int32') }));
    assert.match(msg, /^h\[0\]\.attn: attention: key mask \[B,S\] must be \[B,T\]/);
  });

  it('the BART decoder needs encoder states or cached cross key/values', () => {
    const msg = leftMessage(() => bartDecoderForward(bart, { ids: ids() }));
    assert.match(msg, /^decoder\.layers\[0\]\.encoder_attn: bart decoder: needs encoderHidden or crossKeyValues/);
    const cached = build(() => bartDecoderForward(bart, {
      ids: ids(),
      crossKeyValues: () => ({ key: input('ck', ['B', 2, 'S', 2]), value: input('cv', ['B', 2, 'S', 2]) }),
    }));
    assert.ok(E.isRight(cached));
    assert.equal(cached.right.logits.shape.length, 3);
  });
});
