/**
 * Injection sites are declared by each model's own file (`gpt2Sites`, `llamaSites`, `bartSites`):
 * on random GPT-2, Llama and BART configs they cover every weight of the model, give each the
 * layer and weight-decay rule the variants relied on before (when they were read from parameter
 * names by one regex for all models, kept here as the oracle), and the attention geometry of the
 * model's key/value caches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { modelParamShapes, modelSites, causalLmKvGeometry, bartKvGeometry, isEncoderDecoder, families, supportedModelTypes, type ModelConfig } from '../../src/models/index.ts';
import { gpt2Json, llamaJson, bartJson, decodeOk } from './random.ts';

/** The rules as they were (prefix/graphs.ts and prefix/inject.ts before the sites moved into the models). */
const oldLayer = (cfg: ModelConfig, name: string): number => {
  if (isEncoderDecoder(cfg) && name.startsWith('encoder.')) return -2;
  const m = /(?:^|\.)(?:h|layers)\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
};
const oldDecay = (name: string): boolean =>
  !/(^|\.)(bias|ln_\w+|layer_?norm\w*|norm)(\.|$)|_layer_norm|layernorm|\.ln_|final_logits_bias/i.test(name);

test('property: each model declares every weight with the layer and decay rule of the old name regex, and its caches\' geometry', () => {
  fc.assert(fc.property(fc.oneof(gpt2Json, llamaJson, bartJson).map(decodeOk), (cfg) => {
    const s = modelSites(cfg);
    const shapes = modelParamShapes(cfg);
    assert.deepEqual(s.weights.map((w) => w.name).sort(), Object.keys(shapes).sort());
    for (const w of s.weights) {
      assert.deepEqual(w.shape, shapes[w.name]);
      assert.equal(w.layer, oldLayer(cfg, w.name), `${cfg.model_type} ${w.name}: layer`);
      assert.equal(w.decay, oldDecay(w.name), `${cfg.model_type} ${w.name}: decay`);
    }
    if (isEncoderDecoder(cfg)) {
      const g = bartKvGeometry(cfg);
      const kv = (x: typeof g.encoder) => ({ layers: x.layers, kvHeads: x.heads, headDim: x.headDim });
      assert.deepEqual(s.sites, { self: kv(g.decoder), encoder: kv(g.encoder), cross: kv(g.cross) });
      assert.equal(s.layers, cfg.decoder_layers);
      assert.equal(s.embedDim, cfg.d_model);
    } else {
      const g = causalLmKvGeometry(cfg);
      assert.deepEqual(s.sites, { self: { layers: g.layers, kvHeads: g.heads, headDim: g.headDim } });
      assert.equal(s.layers, g.layers);
      assert.equal(s.embedDim, cfg.model_type === 'gpt2' ? cfg.n_embd : cfg.hidden_size);
    }
    // every layer has weights, and finetune's `top` never reaches BART's encoder
    for (let l = 0; l < s.layers; l++) assert.ok(s.weights.some((w) => w.layer === l), `layer ${l} has weights`);
    if (isEncoderDecoder(cfg)) for (const w of s.weights) assert.equal(w.layer === -2, w.name.startsWith('encoder.'), `${w.name}: only the encoder's weights are never "top"`);
  }), { numRuns: 200 });
});

test('the family table is complete by type: a model type without its record does not compile', () => {
  const { bart: _dropped, ...partial } = families;
  // @ts-expect-error bart's record is missing
  const incomplete: typeof families = partial;
  void incomplete;
  assert.deepEqual(Object.keys(families).sort(), [...supportedModelTypes].sort());
});
