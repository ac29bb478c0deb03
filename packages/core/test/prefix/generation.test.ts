/**
 * Generation with any variant: KV-cache decoding of left-padded batches (prefill puts the
 * variant at the first cache positions, then one-token steps) equals recomputing the whole
 * sequence for each prompt alone; infix bookkeeping: a zero-length infix is the base model on
 * [x; y]; an infix row's target never depends on the batch's padding, and cached decoding
 * with an infix (sources of different lengths) equals recomputation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { input } from '../../src/ops/leaves.ts';
import { graph } from '../../src/ir/graph.ts';
import { evaluate, referenceBackend } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { causalLmForward, type CausalLmConfig } from '../../src/models/index.ts';
import { inject } from '../../src/prefix/inject.ts';
import { injectedCausalForward, modelSites } from '../../src/prefix/graphs.ts';
import type { Variant } from '../../src/prefix/variant.ts';
import { causalDecoder } from '../../src/prefix/decoding.ts';
import { greedyOrSample } from '../../src/decode/search.ts';
import { gpt2Json, llamaJson, decodeOk, randomParams, prng, randomIds } from '../models/random.ts';

const i32 = (shape: number[], data: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });
const randomTrainable = (specs: readonly { name: string; shape: readonly number[] }[], seed: number): Record<string, HostTensor> => {
  const rnd = prng(seed);
  return Object.fromEntries(specs.map((s) => [s.name, { dtype: 'float32' as const, shape: [...s.shape], data: Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => 2 * rnd() - 1) }]));
};
const causalCfg = fc.oneof(gpt2Json, llamaJson).map((j) => decodeOk(j) as CausalLmConfig);
const variants: Variant[] = [
  { kind: 'prefix', length: 2 },
  { kind: 'prefix', length: 3, layers: [0] },
  { kind: 'embedding', length: 2 },
  { kind: 'compose', parts: [{ kind: 'prefix', length: 1, layers: [0] }, { kind: 'prefix', length: 2 }, { kind: 'embedding', length: 1 }] },
];

test('cached, left-padded batch decoding with any variant equals recomputing each prompt alone', async () => {
  await fc.assert(fc.asyncProperty(causalCfg, fc.constantFrom(...variants), fc.integer({ min: 0, max: 1e6 }), async (cfg, variant, seed) => {
    const inj = inject(modelSites(cfg), variant);
    const params = { ...randomParams(cfg, seed), ...randomTrainable(inj.trainable, seed + 3) };
    const rnd = prng(seed);
    const prompts = [randomIds(rnd, 1, 3, cfg.vocab_size), randomIds(rnd, 1, 1, cfg.vocab_size)];
    const steps = 3;
    const dec = await causalDecoder(referenceBackend({ precision: 'f64' }), cfg, params, inj);
    const cached = await greedyOrSample(await dec.start(prompts), prompts, { maxNewTokens: steps });
    const ids = input('input_ids', ['B', 'T'], 'int32');
    const full = graph({ logits: injectedCausalForward(cfg, inj, { ids }).logits });
    prompts.forEach((p, row) => {
      const seq = [...p];
      for (let s = 0; s < steps; s++) {
        const lg = evaluate(full, { input_ids: i32([1, seq.length], seq) }, params, { precision: 'f64' })['logits']!;
        const V = cfg.vocab_size;
        const last = Array.from(lg.data.slice((seq.length - 1) * V, seq.length * V) as Float64Array);
        seq.push(last.indexOf(Math.max(...last)));
      }
      assert.deepEqual(cached.tokens[row], seq.slice(p.length), `${JSON.stringify(variant)} row ${row}`);
    });
    await dec.dispose();
  }), { numRuns: 12 });
});

test('infix bookkeeping: a zero-length infix is the base model on [x; y]; a real one changes only y', () => {
  fc.assert(fc.property(causalCfg, fc.integer({ min: 0, max: 1e6 }), (cfg, seed) => {
    const rnd = prng(seed);
    const [S, T] = [3, 2];
    const x = randomIds(rnd, 1, S, cfg.vocab_size);
    const y = randomIds(rnd, 1, T, cfg.vocab_size);
    const base = evaluate(graph({ l: causalLmForward(cfg, { ids: input('ids', ['B', 'T'], 'int32') }).logits }), { ids: i32([1, S + T], [...x, ...y]) }, randomParams(cfg, seed), { precision: 'f64' })['l']!;
    const V = cfg.vocab_size;
    const run = (length: number) => {
      const inj = inject(modelSites(cfg), { kind: 'infix', length });
      const out = injectedCausalForward(cfg, inj, {
        ids: input('input_ids', ['B', 'T'], 'int32'), mask: input('attention_mask', ['B', 'T'], 'int32'),
        source: { ids: input('source_ids', ['B', 'S'], 'int32'), mask: input('source_mask', ['B', 'S'], 'int32') },
      });
      return evaluate(graph({ l: out.logits }), {
        input_ids: i32([1, T], y), attention_mask: i32([1, T], [1, 1]), source_ids: i32([1, S], x), source_mask: i32([1, S], [1, 1, 1]),
      }, { ...randomParams(cfg, seed), ...randomTrainable(inj.trainable, seed + 1) }, { precision: 'f64' })['l']!;
    };
    const zero = run(0);
    for (let i = 0; i < T * V; i++) assert.ok(Math.abs(Number(zero.data[i]) - Number(base.data[S * V + i])) < 1e-9);
    const two = run(2);
    assert.deepEqual(two.shape, [1, T, V]);
    assert.ok(Array.from(two.data as Float64Array).some((v, i) => Math.abs(v - Number(zero.data[i])) > 1e-6));
  }), { numRuns: 15 });
});

const infixVariants: Variant[] = [
  { kind: 'infix', length: 2 },
  { kind: 'compose', parts: [{ kind: 'prefix', length: 1, layers: [0] }, { kind: 'infix', length: 2 }] },
  { kind: 'compose', parts: [{ kind: 'embedding', length: 1 }, { kind: 'infix', length: 1 }, { kind: 'prefix', length: 2 }] },
];

/** The injected forward of an infix variant on right-padded sources and targets: logits [B, T, V]. */
const infixLogits = (cfg: CausalLmConfig, inj: ReturnType<typeof inject>, params: Record<string, HostTensor>, src: number[][], tgt: number[][]): Float64Array[][] => {
  const out = injectedCausalForward(cfg, inj, {
    ids: input('input_ids', ['B', 'T'], 'int32'), mask: input('attention_mask', ['B', 'T'], 'int32'),
    source: { ids: input('source_ids', ['B', 'S'], 'int32'), mask: input('source_mask', ['B', 'S'], 'int32') },
  });
  const S = Math.max(...src.map((x) => x.length));
  const T = Math.max(...tgt.map((x) => x.length));
  const padded = (rows: number[][], n: number) => rows.flatMap((r) => [...r, ...Array<number>(n - r.length).fill(0)]);
  const ones = (rows: number[][], n: number) => rows.flatMap((r) => [...r.map(() => 1), ...Array<number>(n - r.length).fill(0)]);
  const lg = evaluate(graph({ l: out.logits }), {
    source_ids: i32([src.length, S], padded(src, S)), source_mask: i32([src.length, S], ones(src, S)),
    input_ids: i32([tgt.length, T], padded(tgt, T)), attention_mask: i32([tgt.length, T], ones(tgt, T)),
  }, params, { precision: 'f64' })['l']!;
  const V = cfg.vocab_size;
  return tgt.map((row, b) => row.map((_, j) => Float64Array.from(lg.data.slice((b * T + j) * V, (b * T + j + 1) * V) as Float64Array)));
};

test("infix: padding a batch (sources and targets of different lengths) never changes a row's logits", () => {
  fc.assert(fc.property(causalCfg, fc.constantFrom(...infixVariants), fc.integer({ min: 0, max: 1e6 }), (cfg, variant, seed) => {
    const inj = inject(modelSites(cfg), variant);
    const params = { ...randomParams(cfg, seed), ...randomTrainable(inj.trainable, seed + 5) };
    const rnd = prng(seed);
    const src = [randomIds(rnd, 1, 4, cfg.vocab_size), randomIds(rnd, 1, 1, cfg.vocab_size)];
    const tgt = [randomIds(rnd, 1, 1, cfg.vocab_size), randomIds(rnd, 1, 3, cfg.vocab_size)];
    const batch = infixLogits(cfg, inj, params, src, tgt);
    src.forEach((_, b) => {
      const alone = infixLogits(cfg, inj, params, [src[b]!], [tgt[b]!])[0]!;
      alone.forEach((row, j) => row.forEach((v, k) => assert.ok(Math.abs(v - batch[b]![j]![k]!) < 1e-9, `${JSON.stringify(variant)} row ${b} position ${j}`)));
    });
  }), { numRuns: 12 });
});

test('infix: cached batch decoding (sources of different lengths) equals recomputing each row alone', async () => {
  await fc.assert(fc.asyncProperty(causalCfg, fc.constantFrom(...infixVariants), fc.integer({ min: 0, max: 1e6 }), async (cfg, variant, seed) => {
    const inj = inject(modelSites(cfg), variant);
    const params = { ...randomParams(cfg, seed), ...randomTrainable(inj.trainable, seed + 7) };
    const rnd = prng(seed);
    const sources = [randomIds(rnd, 1, 4, cfg.vocab_size), randomIds(rnd, 1, 1, cfg.vocab_size), randomIds(rnd, 1, 2, cfg.vocab_size)];
    const starts = sources.map(() => randomIds(rnd, 1, 1, cfg.vocab_size));
    const steps = 3;
    const dec = await causalDecoder(referenceBackend({ precision: 'f64' }), cfg, params, inj);
    const cached = await greedyOrSample(await dec.start(starts, { sources }), starts, { maxNewTokens: steps });
    sources.forEach((src, row) => {
      const seq = [...starts[row]!];
      for (let s = 0; s < steps; s++) {
        const last = Array.from(infixLogits(cfg, inj, params, [src], [seq])[0]!.at(-1)!);
        seq.push(last.indexOf(Math.max(...last)));
      }
      assert.deepEqual(cached.tokens[row], seq.slice(1), `${JSON.stringify(variant)} row ${row}`);
    });
    await assert.rejects(dec.start(starts), /one source per prompt/);
    await dec.dispose();
  }), { numRuns: 10 });
});
