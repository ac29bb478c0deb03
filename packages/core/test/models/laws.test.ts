/**
 * Laws of the model graphs on random small configs and random weights (reference evaluator):
 * output shapes; the KV-cache path equals the full forward; left padding with position ids
 * equals the unpadded row; a fully masked past with offset 0 equals no past; padding the BART
 * source with a masked tail changes nothing; the losses equal their definitions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { evaluate } from '../../src/backend/reference.ts';
import { i32, f32, type HostTensor } from '../../src/backend/tensor.ts';
import { graph } from '../../src/ir/graph.ts';
import { input } from '../../src/ops/leaves.ts';
import {
  type BartConfig, type CausalLmConfig,
  causalLmGraph, causalLmForward, causalLmKvGeometry, bartGraph, bartEncoderGraph, bartPrefillGraph, bartStepGraph, shiftTokensRight,
} from '../../src/models/index.ts';
import { bartJson, decodeOk, gpt2Json, llamaJson, prng, randomIds, randomParams } from './random.ts';
import { maxAbsDiff } from './fixtures.ts';

const causalJson = fc.oneof(gpt2Json, llamaJson);
const vocabOf = (c: CausalLmConfig | BartConfig): number => c.vocab_size;
const data = (t: HostTensor | undefined): Float32Array => t!.data as Float32Array;
/** rows [from, to) of axis `axis` of a row-major tensor */
const sliceAxis = (t: HostTensor, axis: number, from: number, to: number): HostTensor => {
  const outer = t.shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = t.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = t.shape[axis]!;
  const out: number[] = [];
  for (let o = 0; o < outer; o++) for (let r = from; r < to; r++) for (let k = 0; k < inner; k++) out.push(t.data[(o * n + r) * inner + k] as number);
  return f32(t.shape.map((d, i) => (i === axis ? to - from : d)), out);
};
const presentsAsPast = (out: Record<string, HostTensor>): Record<string, HostTensor> =>
  Object.fromEntries(Object.entries(out).filter(([k]) => k.startsWith('present.')).map(([k, v]) => [`past_key_values.${k.slice(8)}`, v]));

describe('decoder-only model laws (GPT-2, Llama)', () => {
  it('logits are [B, T, V] and presents [B, Hkv, T, Dh] for random B, T', () => {
    fc.assert(fc.property(causalJson, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.nat(), (json, B, T, seed) => {
      const cfg = decodeOk(json) as CausalLmConfig;
      const out = evaluate(causalLmGraph(cfg, { presents: true }), { input_ids: i32([B, T], randomIds(prng(seed), B, T, cfg.vocab_size)) }, randomParams(cfg, seed));
      assert.deepEqual(out['logits']!.shape, [B, T, vocabOf(cfg)]);
      const g = causalLmKvGeometry(cfg);
      for (let i = 0; i < g.layers; i++) assert.deepEqual(out[`present.${i}.key`]!.shape, [B, g.heads, T, g.headDim]);
      assert.ok(data(out['logits']).every(Number.isFinite));
    }), { numRuns: 25 });
  });

  it('the KV-cache path (past of length k, then T-k tokens) equals the full forward', () => {
    fc.assert(fc.property(causalJson, fc.integer({ min: 1, max: 2 }), fc.integer({ min: 2, max: 6 }), fc.nat(), fc.nat(), (json, B, T, k0, seed) => {
      const cfg = decodeOk(json) as CausalLmConfig;
      const k = 1 + (k0 % (T - 1));
      const params = randomParams(cfg, seed);
      const ids = randomIds(prng(seed + 1), B, T, cfg.vocab_size);
      const full = evaluate(causalLmGraph(cfg), { input_ids: i32([B, T], ids) }, params)['logits']!;
      const idsT = i32([B, T], ids);
      const head = evaluate(causalLmGraph(cfg, { presents: true }), { input_ids: sliceAxisInt(idsT, 0, k) }, params);
      const tail = evaluate(causalLmGraph(cfg, { past: true, presents: true }), { input_ids: sliceAxisInt(idsT, k, T), ...presentsAsPast(head) }, params);
      assert.ok(maxAbsDiff(data(tail['logits']), data(sliceAxis(full, 1, k, T))) < 1e-4);
      assert.deepEqual(tail['present.0.key']!.shape.slice(2, 3), [T]);
    }), { numRuns: 25 });
  });

  it('a left-padded row with attention_mask and position_ids gives the unpadded row\'s logits', () => {
    fc.assert(fc.property(causalJson, fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.nat(), (json, T, padN, seed) => {
      const cfg = decodeOk(json) as CausalLmConfig;
      const params = randomParams(cfg, seed);
      const ids = randomIds(prng(seed + 2), 1, T, cfg.vocab_size);
      const plain = evaluate(causalLmGraph(cfg), { input_ids: i32([1, T], ids) }, params)['logits']!;
      const L = padN + T;
      const padded = evaluate(causalLmGraph(cfg, { attentionMask: true, positionIds: true }), {
        input_ids: i32([1, L], [...new Array<number>(padN).fill(0), ...ids]),
        attention_mask: i32([1, L], [...new Array<number>(padN).fill(0), ...new Array<number>(T).fill(1)]),
        position_ids: i32([1, L], [...new Array<number>(padN).fill(1), ...ids.map((_, i) => i)]),
      }, params)['logits']!;
      assert.ok(maxAbsDiff(data(sliceAxis(padded, 1, padN, L)), data(plain)) < 1e-4);
    }), { numRuns: 20 });
  });

  it('a past masked out by attention_mask, with positionOffset 0, equals no past (the prefix hook and its mask are aligned)', () => {
    fc.assert(fc.property(causalJson, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.nat(), (json, T, P, seed) => {
      const cfg = decodeOk(json) as CausalLmConfig;
      const geo = causalLmKvGeometry(cfg);
      const params = randomParams(cfg, seed);
      const rnd = prng(seed + 3);
      const ids = randomIds(rnd, 1, T, cfg.vocab_size);
      const plain = evaluate(causalLmGraph(cfg), { input_ids: i32([1, T], ids) }, params)['logits']!;
      const keyLen = P + T;
      const forward = causalLmForward(cfg, {
        ids: input('input_ids', [1, T], 'int32'),
        pastKeyValues: (l) => ({ key: input(`pk${l}`, [1, geo.heads, P, geo.headDim]), value: input(`pv${l}`, [1, geo.heads, P, geo.headDim]) }),
        positionOffset: 0,
        attentionMask: input('mask', [1, keyLen], 'int32'),
      });
      const feeds: Record<string, HostTensor> = {
        input_ids: i32([1, T], ids),
        mask: i32([1, keyLen], [...new Array<number>(P).fill(0), ...new Array<number>(T).fill(1)]),
      };
      for (let l = 0; l < geo.layers; l++)
        for (const n of [`pk${l}`, `pv${l}`]) feeds[n] = f32([1, geo.heads, P, geo.headDim], Array.from({ length: geo.heads * P * geo.headDim }, () => 4 * rnd() - 2));
      const out = evaluate(graph({ logits: forward.logits }), feeds, params)['logits']!;
      assert.ok(maxAbsDiff(data(out), data(plain)) < 1e-4);
    }), { numRuns: 20 });
  });
});

describe('losses', () => {
  it('causal LM loss = mean (or sum) over t of -log softmax(logits[t])[labels[t+1]], skipping -100', () => {
    fc.assert(fc.property(causalJson, fc.integer({ min: 1, max: 2 }), fc.integer({ min: 2, max: 5 }), fc.nat(), (json, B, T, seed) => {
      const cfg = decodeOk(json) as CausalLmConfig;
      const rnd = prng(seed + 4);
      const ids = randomIds(rnd, B, T, cfg.vocab_size);
      const labels = ids.map((v) => (rnd() < 0.3 ? -100 : v));
      const params = randomParams(cfg, seed);
      const V = cfg.vocab_size;
      for (const reduction of ['mean', 'sum'] as const) {
        const out = evaluate(causalLmGraph(cfg, { loss: reduction }), { input_ids: i32([B, T], ids), labels: i32([B, T], labels) }, params);
        const lg = data(out['logits']);
        let total = 0;
        let count = 0;
        for (let b = 0; b < B; b++)
          for (let t = 0; t + 1 < T; t++) {
            const y = labels[b * T + t + 1]!;
            if (y === -100) continue;
            const row = Array.from(lg.subarray((b * T + t) * V, (b * T + t + 1) * V));
            const m = Math.max(...row);
            total += m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[y]!;
            count++;
          }
        const want = reduction === 'sum' ? total : count === 0 ? 0 : total / count;
        const got = data(out['loss'])[0]!;
        assert.ok(Math.abs(got - want) < 1e-4 * Math.max(1, Math.abs(want)), `${reduction}: ${got} vs ${want}`);
      }
    }), { numRuns: 20 });
  });

  it('shiftTokensRight prepends the start id, drops the last label and turns -100 into the pad id', () => {
    fc.assert(fc.property(fc.array(fc.array(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.constant(-100)), { minLength: 3, maxLength: 3 }), { minLength: 1, maxLength: 3 }), (rows) => {
      const B = rows.length;
      const g = graph({ y: shiftTokensRight(input('labels', ['B', 3], 'int32'), 1, 2) });
      const got = Array.from(evaluate(g, { labels: i32([B, 3], rows.flat()) })['y']!.data as Int32Array);
      const want = rows.flatMap((r) => [2, r[0]!, r[1]!].map((v) => (v === -100 ? 1 : v)));
      assert.deepEqual(got, want);
    }));
  });

  it('BART loss with shifted labels = mean -log softmax(logits[t])[labels[t]] over non-ignored t', () => {
    fc.assert(fc.property(bartJson, fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 4 }), fc.nat(), (json, S, T, seed) => {
      const cfg = decodeOk(json) as BartConfig;
      const rnd = prng(seed + 5);
      const labels = randomIds(rnd, 1, T, cfg.vocab_size).map((v) => (rnd() < 0.25 ? -100 : v));
      const src = randomIds(rnd, 1, S, cfg.vocab_size);
      const params = randomParams(cfg, seed);
      const out = evaluate(bartGraph(cfg, { loss: 'mean', shiftLabels: true }), {
        input_ids: i32([1, S], src), attention_mask: i32([1, S], new Array<number>(S).fill(1)), labels: i32([1, T], labels),
      }, params);
      // the same logits from explicit decoder_input_ids = [start, labels[:-1]] with -100 -> pad
      const dec = [cfg.decoder_start_token_id!, ...labels.slice(0, -1)].map((v) => (v === -100 ? cfg.pad_token_id! : v));
      const ref = evaluate(bartGraph(cfg), { input_ids: i32([1, S], src), attention_mask: i32([1, S], new Array<number>(S).fill(1)), decoder_input_ids: i32([1, T], dec) }, params);
      assert.ok(maxAbsDiff(data(out['logits']), data(ref['logits'])) < 1e-5);
      const V = cfg.vocab_size;
      const lg = data(ref['logits']);
      let total = 0;
      let count = 0;
      labels.forEach((y, t) => {
        if (y === -100) return;
        const row = Array.from(lg.subarray(t * V, (t + 1) * V));
        const m = Math.max(...row);
        total += m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0)) - row[y]!;
        count++;
      });
      const want = count === 0 ? 0 : total / count;
      assert.ok(Math.abs(data(out['loss'])[0]! - want) < 1e-4 * Math.max(1, want));
    }), { numRuns: 15 });
  });
});

describe('BART laws', () => {
  it('logits are [B, T, V] and the encoder output [B, S, D] for random B, S, T', () => {
    fc.assert(fc.property(bartJson, fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.nat(), (json, B, S, T, seed) => {
      const cfg = decodeOk(json) as BartConfig;
      const rnd = prng(seed);
      const out = evaluate(bartGraph(cfg), {
        input_ids: i32([B, S], randomIds(rnd, B, S, cfg.vocab_size)), attention_mask: i32([B, S], new Array<number>(B * S).fill(1)),
        decoder_input_ids: i32([B, T], randomIds(rnd, B, T, cfg.vocab_size)),
      }, randomParams(cfg, seed));
      assert.deepEqual(out['logits']!.shape, [B, T, cfg.vocab_size]);
      assert.deepEqual(out['encoder_last_hidden_state']!.shape, [B, S, cfg.d_model]);
      assert.ok(data(out['logits']).every(Number.isFinite));
    }), { numRuns: 20 });
  });

  it('prefill + cached steps (self and cross key/values) equal the full decoder, and a masked source tail changes nothing', () => {
    fc.assert(fc.property(bartJson, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 0, max: 2 }), fc.nat(), (json, S, T, padN, seed) => {
      const cfg = decodeOk(json) as BartConfig;
      const rnd = prng(seed + 6);
      const params = randomParams(cfg, seed);
      const src = randomIds(rnd, 1, S, cfg.vocab_size);
      const dec = randomIds(rnd, 1, T, cfg.vocab_size);
      const full = evaluate(bartGraph(cfg), { input_ids: i32([1, S], src), attention_mask: i32([1, S], new Array<number>(S).fill(1)), decoder_input_ids: i32([1, T], dec) }, params)['logits']!;
      // the source padded with padN masked tokens
      const Sp = S + padN;
      const mask = i32([1, Sp], [...new Array<number>(S).fill(1), ...new Array<number>(padN).fill(0)]);
      const enc = evaluate(bartEncoderGraph(cfg), { input_ids: i32([1, Sp], [...src, ...new Array<number>(padN).fill(cfg.pad_token_id ?? 1)]), attention_mask: mask }, params);
      let out = evaluate(bartPrefillGraph(cfg), { decoder_input_ids: i32([1, 1], dec.slice(0, 1)), encoder_hidden_states: enc['last_hidden_state']!, encoder_attention_mask: mask }, params);
      const cross = Object.fromEntries(Object.entries(out).filter(([k]) => k.endsWith('.encoder.key') || k.endsWith('.encoder.value')).map(([k, v]) => [`past_key_values.${k.slice(8)}`, v]));
      const V = cfg.vocab_size;
      const rows: number[] = [...data(out['logits'])];
      for (let t = 1; t < T; t++) {
        const self = Object.fromEntries(Object.entries(out).filter(([k]) => k.includes('.decoder.')).map(([k, v]) => [`past_key_values.${k.slice(8)}`, v]));
        out = evaluate(bartStepGraph(cfg), { decoder_input_ids: i32([1, 1], [dec[t]!]), encoder_attention_mask: mask, ...cross, ...self }, params);
        rows.push(...data(out['logits']));
      }
      assert.equal(rows.length, T * V);
      assert.ok(maxAbsDiff(rows, data(full)) < 1e-4);
    }), { numRuns: 15 });
  });
});

/** int rows [from, to) along axis 1 of a [B, T] id tensor */
function sliceAxisInt(t: HostTensor, from: number, to: number): HostTensor {
  const [B, T] = t.shape as [number, number];
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let j = from; j < to; j++) out.push(t.data[b * T + j] as number);
  return i32([B, to - from], out);
}
