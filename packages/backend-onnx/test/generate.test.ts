/**
 * Generation on ONNX Runtime: a prefix bank's prefill (a different prefix per row) agrees with
 * the reference evaluator; through core's `causalDecoder`, each row of a mixed-prefix batch and
 * of a left-padded batch decodes as it would alone; BART's encoder-decoder session (all three
 * prefix sites, an embedding prefix, a bank) gives the reference evaluator's logits and tokens.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as E from 'fp-ts/lib/Either.js';
import {
  type HostTensor, type Gpt2Config, type BartConfig, type Backend, type DecodeSession, decodeModelConfig, modelParamShapes, inject, modelSites, evaluate, f32, i32, seq2seqDecoder, causalDecoder, referenceBackend
} from '@prefix-tuning/core';
import { injectedPrefillGraph } from '@prefix-tuning/core/prefix';
import { greedyOrSample, beamSearch } from '@prefix-tuning/core/decode';
import { onnxBackend } from '../src/index.ts';
import { rng } from './support.ts';

const cfgE = decodeModelConfig({ model_type: 'gpt2', vocab_size: 40, n_positions: 64, n_embd: 16, n_layer: 2, n_head: 2 });
if (E.isLeft(cfgE)) throw new Error(cfgE.left);
const cfg = cfgE.right as Gpt2Config;
const [P, U, T] = [3, 3, 5];

const r = rng(7);
const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
const params: Record<string, HostTensor> = Object.fromEntries(Object.entries(modelParamShapes(cfg)).map(([n, s]) => {
  const k = s.reduce((a, b) => a * b, 1);
  return [n, f32(s, Array.from({ length: k }, () => (/ln_/.test(n) && n.endsWith('weight') ? 1 : 0.3 * gauss())))];
}));
const inj = inject(modelSites(cfg), { kind: 'prefix', length: P }, { users: U, mode: 'stored' });
const bank = inj.trainable[0]!;
params[bank.name] = f32(bank.shape, Array.from({ length: bank.shape.reduce((a, b) => a * b, 1) }, () => gauss()));

const prompts = [[1, 5, 9, 2, 7], [3, 3, 8, 1, 0], [11, 4, 6, 2, 9]];
const feedsFor = (rows: readonly number[]): Record<string, HostTensor> => ({
  input_ids: i32([rows.length, T], rows.flatMap((u) => prompts[u]!)),
  attention_mask: i32([rows.length, T], new Array<number>(rows.length * T).fill(1)),
  position_ids: i32([rows.length, T], rows.flatMap(() => Array.from({ length: T }, (_, t) => P + t))),
  user_ids: i32([rows.length], rows),
});

const maxDiff = (a: HostTensor, b: HostTensor): number => {
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs((a.data[i] as number) - (b.data[i] as number)));
  return m;
};

describe('prefix bank decoding on onnxruntime', () => {
  it('prefill logits and cache equal the reference evaluator', async () => {
    const g = injectedPrefillGraph(cfg, inj);
    const want = evaluate(g, feedsFor([0, 1, 2]), params);
    const ex = await onnxBackend().compile(g, { params });
    const got = await ex.run(feedsFor([0, 1, 2]));
    for (const k of Object.keys(want)) assert.ok(maxDiff(got[k]!, want[k]!) < 1e-4, `${k}: ${maxDiff(got[k]!, want[k]!)}`);
    assert.deepEqual(got['present.0.key']!.shape, [3, cfg.n_head, P + T, cfg.n_embd / cfg.n_head], 'the prefix occupies the first P cache positions');
    await ex.dispose();
  });

  it('each row of a mixed batch decodes as it would alone with its own prefix (causalDecoder)', async () => {
    const dec = await causalDecoder(onnxBackend(), cfg, params, inj);
    const decode = async (rows: number[]) =>
      (await greedyOrSample(await dec.start(rows.map((u) => prompts[u]!), { userIds: rows }), rows.map((u) => prompts[u]!), { maxNewTokens: 6 })).tokens;
    const mixed = await decode([2, 0, 1]);
    const alone = [...(await decode([2])), ...(await decode([0])), ...(await decode([1]))];
    await dec.dispose();
    assert.deepEqual(mixed, alone);
    assert.notDeepEqual(mixed[0], mixed[1], 'different prefixes lead to different continuations');
  });
});

describe('left-padded batches', () => {
  it('rows of different lengths decode as they would alone (causalDecoder pads on the left)', async () => {
    const dec = await causalDecoder(onnxBackend(), cfg, params);
    const decode = async (rows: readonly (readonly number[])[]) => (await greedyOrSample(await dec.start(rows), rows, { maxNewTokens: 5 })).tokens;
    const rows = [[1, 5, 9, 2, 7, 3, 3], [8, 1], [11, 4, 6, 2]];
    const batched = await decode(rows);
    const alone = [...(await decode([rows[0]!])), ...(await decode([rows[1]!])), ...(await decode([rows[2]!]))];
    await dec.dispose();
    assert.deepEqual(batched, alone);
  });
});

describe('BART encoder-decoder session', () => {
  it('prefixes at every site, an embedding prefix and a bank: logits and tokens equal the reference evaluator (greedy and beams)', async () => {
    const bc = decodeModelConfig({
      model_type: 'bart', vocab_size: 40, d_model: 16, encoder_layers: 2, decoder_layers: 2, encoder_attention_heads: 2, decoder_attention_heads: 2,
      encoder_ffn_dim: 24, decoder_ffn_dim: 24, max_position_embeddings: 32, scale_embedding: true,
    });
    if (E.isLeft(bc)) throw new Error(bc.left);
    const bart = bc.right as BartConfig;
    const binj = inject(modelSites(bart), { kind: 'compose', parts: [{ kind: 'prefix', length: 2 }, { kind: 'embedding', length: 1 }] }, { users: 2, mode: 'stored' });
    const bp: Record<string, HostTensor> = Object.fromEntries([...Object.entries(modelParamShapes(bart)), ...binj.trainable.map((t) => [t.name, t.shape] as const)].map(([n, s]) => {
      const k = s.reduce((a, b) => a * b, 1);
      return [n, f32(s, Array.from({ length: k }, () => (/norm/.test(n) && n.endsWith('weight') ? 1 : 0.4 * gauss())))];
    }));
    const sources = [[0, 7, 9, 12, 2], [0, 30, 2], [0, 5, 5, 21, 33, 8, 2]];
    const userIds = [1, 0, 1];
    const trace = async (backend: Backend) => {
      const dec = await seq2seqDecoder(backend, bart, bp, binj);
      const log: Float32Array[] = [];
      const rec = (s: DecodeSession): DecodeSession => ({ vocabSize: s.vocabSize, logits: async () => { const l = await s.logits(); log.push(Float32Array.from(l)); return l; }, advance: (p, t) => s.advance(p, t) });
      const prompts = sources.map(() => dec.decoderPrompt);
      const greedy = await greedyOrSample(rec(await dec.start(sources, { userIds })), prompts, { maxNewTokens: 6 });
      const beams = await beamSearch(await dec.start(sources, { beams: 3, userIds }), prompts, { maxNewTokens: 6, numBeams: 3, eosTokenIds: [2] });
      await dec.dispose();
      return { greedy, beams, log };
    };
    const want = await trace(referenceBackend());
    const got = await trace(onnxBackend({ intraOpNumThreads: 1 }));
    assert.equal(got.log.length, want.log.length);
    got.log.forEach((l, i) => {
      const d = maxDiff(f32([l.length], l), f32([l.length], want.log[i]!));
      assert.ok(d < 1e-4, `step ${i}: logits max |diff| ${d}`);
    });
    assert.deepEqual(got.greedy.tokens, want.greedy.tokens);
    assert.deepEqual(got.beams.tokens, want.beams.tokens);
    got.beams.scores.forEach((s, i) => assert.ok(Math.abs(s - want.beams.scores[i]!) < 1e-4));
    assert.notDeepEqual(got.greedy.tokens[0], got.greedy.tokens[2], 'different sources and users decode differently');
  });
});
