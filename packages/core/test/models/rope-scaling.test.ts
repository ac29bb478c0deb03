/**
 * Llama `rope_scaling` (linear, dynamic, llama3) against transformers on checkpoints it wrote
 * (fixtures/fidelity/rope, tools/make_fidelity_fixtures.py): logits of a forward longer than
 * the original context within 1e-4, of a short forward (dynamic: unscaled), a greedy
 * continuation through the KV cache that crosses the original context token for token, and the
 * transformers-4 spelling of each config (`rope_scaling` with `type`) decoding to the same config.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { evaluate, referenceBackend } from '../../src/backend/reference.ts';
import { i32 } from '../../src/backend/tensor.ts';
import { decodeModelConfig, paramsFromCheckpoint, causalLmGraph, eosTokenIds, type LlamaConfig } from '../../src/models/index.ts';
import { scaledInvFreq, ropeInvFreq } from '../../src/models/llama.ts';
import { causalDecoder } from '../../src/prefix/decoding.ts';
import { greedyOrSample } from '../../src/decode/search.ts';
import { maxAbsDiff, readCheckpoint, repoRoot } from './fixtures.ts';

const dir = join(repoRoot, 'fixtures', 'fidelity', 'rope');
const names = readdirSync(dir).sort();
const json = (p: string): any => JSON.parse(readFileSync(p, 'utf8')); // eslint-disable-line @typescript-eslint/no-explicit-any
const decodeOk = (j: unknown): LlamaConfig => {
  const c = decodeModelConfig(j);
  assert.ok(E.isRight(c), E.isLeft(c) ? c.left : '');
  return c.right as LlamaConfig;
};

describe('Llama rope_scaling equals transformers', () => {
  it('has a fixture per rope type', () => assert.deepEqual(names, ['llama-rope-dynamic', 'llama-rope-linear', 'llama-rope-llama3']));
  for (const name of names) {
    describe(name, () => {
      const cfg = decodeOk(json(join(dir, name, 'config.json')));
      const params = paramsFromCheckpoint(cfg, readCheckpoint(join(dir, name, 'model.safetensors')));
      assert.ok(E.isRight(params));
      const expected = json(join(dir, name, 'expected.json'));
      const ids = expected.inputs.input_ids;

      it('reads the transformers 4 spelling (rope_scaling with type, top-level rope_theta) as the same config', () => {
        assert.deepEqual(decodeOk(json(join(dir, name, 'config-legacy.json'))), cfg);
        assert.equal(cfg.rope_scaling?.rope_type, name.slice('llama-rope-'.length));
      });

      it('logits past the original context, and of a short prefix, within 1e-4 (reference evaluator)', () => {
        const g = causalLmGraph(cfg);
        const long = evaluate(g, { input_ids: i32(ids.shape, ids.data) }, params.right)['logits']!;
        assert.ok(maxAbsDiff(long.data as Float32Array, expected.logits.data) <= 1e-4, `long: ${maxAbsDiff(long.data as Float32Array, expected.logits.data)}`);
        const short = evaluate(g, { input_ids: i32([1, 10], ids.data.slice(0, 10)) }, params.right)['logits']!;
        assert.ok(maxAbsDiff(short.data as Float32Array, expected.short_logits.data) <= 1e-4);
      });

      it('greedy continuation across the original context through the KV cache, token for token', async () => {
        const g = expected.greedy;
        const dec = await causalDecoder(referenceBackend(), cfg, params.right);
        const r = await greedyOrSample(await dec.start([g.prompt_ids]), [g.prompt_ids], {
          maxNewTokens: g.max_new_tokens, minLength: g.prompt_ids.length + g.max_new_tokens, eosTokenIds: eosTokenIds(cfg),
        });
        await dec.dispose();
        assert.deepEqual(r.tokens[0], g.new_tokens);
      });
    });
  }
});

describe('rope_scaling decoding', () => {
  const base = { model_type: 'llama', vocab_size: 10, hidden_size: 32, intermediate_size: 4, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 64 };
  const left = (j: object): string => {
    const c = decodeModelConfig(j);
    assert.ok(E.isLeft(c));
    return c.left;
  };
  it('names what is missing or unsupported', () => {
    assert.match(left({ ...base, rope_scaling: { type: 'yarn', factor: 2 } }), /rope_scaling: RoPE type 'yarn' is not supported/);
    assert.match(left({ ...base, rope_scaling: { rope_type: 'linear' } }), /rope_scaling\.factor: missing/);
    assert.match(left({ ...base, rope_parameters: { rope_type: 'llama3', factor: 8, low_freq_factor: 4, high_freq_factor: 1 } }), /high_freq_factor \(1\) must be greater/);
    assert.match(left({ ...base, rope_parameters: { rope_type: 'dynamic', factor: 2, partial_rotary_factor: 0.5 } }), /partial_rotary_factor/);
  });
  it('follows transformers 5 precedence: rope_scaling over rope_parameters, dict theta over top-level, top-level original_max_position_embeddings', () => {
    const c = decodeOk({ ...base, rope_theta: 5, rope_parameters: { rope_type: 'default' }, rope_scaling: { type: 'linear', factor: 2, rope_theta: 7 } });
    assert.deepEqual([c.rope_theta, c.rope_scaling], [7, { rope_type: 'linear', factor: 2 }]);
    const l3 = decodeOk({ ...base, original_max_position_embeddings: 16, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 } });
    assert.equal(l3.rope_scaling?.rope_type === 'llama3' && l3.rope_scaling.original_max_position_embeddings, 16);
    const dflt = decodeOk({ ...base, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4 } });
    assert.equal(dflt.rope_scaling?.rope_type === 'llama3' && dflt.rope_scaling.original_max_position_embeddings, 64);
    assert.equal(decodeOk({ ...base, rope_scaling: {} }).rope_scaling, undefined);
  });
  it('llama3 keeps high frequencies, divides low ones by factor and interpolates between (property)', () => {
    fc.assert(fc.property(fc.constantFrom(8, 16, 32, 64), fc.constantFrom(10000, 500000), fc.integer({ min: 2, max: 64 }), fc.double({ min: 1, max: 32, noNaN: true }), (Dh, theta, old, factor) => {
      const cfg = decodeOk({ ...base, head_dim: Dh, rope_theta: theta, rope_scaling: { rope_type: 'llama3', factor, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: old } });
      const inv = ropeInvFreq(theta, Dh);
      scaledInvFreq(cfg).forEach((x, j) => {
        const wl = (2 * Math.PI) / inv[j]!;
        if (wl < old / 4 * (1 - 1e-6)) assert.equal(x, inv[j]);
        else if (wl > old * (1 + 1e-6)) assert.ok(Math.abs(x - inv[j]! / factor) <= 1e-6 * inv[j]!);
        else assert.ok(x <= inv[j]! * (1 + 1e-6) && x >= (inv[j]! / factor) * (1 - 1e-6));
      });
    }));
  });
});
