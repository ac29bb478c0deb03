/**
 * What the fronts ask a model instead of its model_type: whether it is an encoder-decoder, its
 * one-line description (layers and width as the injection sites count them), and GPT-2-only
 * features refused for the others.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { asGpt2Config, describeModel, isEncoderDecoder, modelTypeName } from '../../src/models/index.ts';
import { modelSites } from '../../src/prefix/index.ts';
import { bartJson, gpt2Json, llamaJson, decodeOk } from './random.ts';

test('isEncoderDecoder, describeModel and asGpt2Config agree with each config\'s type and its injection sites', () => {
  fc.assert(fc.property(fc.oneof(gpt2Json, llamaJson, bartJson), (json) => {
    const cfg = decodeOk(json);
    const type = (json as { model_type: string }).model_type;
    assert.equal(modelTypeName(cfg), type);
    assert.equal(isEncoderDecoder(cfg), type === 'bart');
    const s = modelSites(cfg);
    assert.equal(describeModel(cfg), `${type}, ${s.layers} layers, width ${s.embedDim}, vocab ${cfg.vocab_size}`);
    const g = asGpt2Config(cfg, 'pretraining');
    if (type === 'gpt2') assert.ok(E.isRight(g) && g.right === cfg);
    else assert.deepEqual(g, E.left(`pretraining is implemented for gpt2 models, this is ${type}`));
  }));
});
