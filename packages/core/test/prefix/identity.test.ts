/**
 * Issue 15's identity: a variant whose every activation part has length 0 leaves the model
 * exactly as it was. On random small GPT-2, Llama and BART configs with random weights, random
 * compositions of prefix (layer subsets, BART sites, shared, direct or MLP), embedding and infix
 * parts, all of length 0 (with finetune parts, which change what trains but not the forward),
 * under random inject options (stored mode, a prefix bank, dropout inputs), give the plain
 * model's logits (`causalLmGraph` / `bartGraph`, no injection at all) and its loss on the same
 * random inputs, within 1e-5.
 *
 * Not vacuous: the same comparison with the activation parts given a positive length must see
 * the logits move (asserted for every example whose width is at least 4, and for at least one
 * example per run).
 *
 * User-defined kinds take part: a gated kind (one prefix shared by every self-attention layer,
 * scaled per layer by 1 + gate, as `examples/gated-prefix.ts`) is one of the leaves, at length 0
 * the identity too. (A zero gate is not an identity for key/value prefixes: zero keys still take
 * attention. What a zero gate is — the built-in shared prefix — is tested with the example.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dimEval } from '../../src/types/dim.ts';
import { graph, graphInputs, type Graph } from '../../src/ir/graph.ts';
import { input } from '../../src/ops/leaves.ts';
import { evaluate } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { causalLmGraph, bartGraph, isEncoderDecoder, type CausalLmConfig, type ModelConfig } from '../../src/models/index.ts';
import { inject, type InjectOptions } from '../../src/prefix/inject.ts';
import { hasInfix, injectedBartForward, injectedCausalForward, injectedTrainGraph, modelSites } from '../../src/prefix/graphs.ts';
import type { Variant } from '../../src/prefix/variant.ts';
import { gated } from './gated-kind.ts';
import { gpt2Json, llamaJson, bartJson, decodeOk, randomParams, prng, randomIds } from '../models/random.ts';

const TOL = 1e-5;
/** Runs per property: each evaluates four to six tiny graphs with the reference evaluator. */
const RUNS = 50;

type Leaf = Exclude<Variant, { kind: 'compose' }>;


// Lengths here are the positive lengths of the non-vacuity check; the identity sets them to 0.
// (At most three parts of length <= 2 plus T <= 3 real tokens stay inside the smallest position table, 12.)
const length = fc.integer({ min: 1, max: 2 });
const reparam = fc.oneof(fc.constant({ kind: 'direct' as const }), fc.record({ kind: fc.constant('mlp' as const), hidden: fc.integer({ min: 1, max: 4 }) }));
const layers = fc.oneof(fc.constant('all' as const), fc.constant({ top: 1 }), fc.constant([0]));
const dropout = fc.constantFrom(0, 0.25);

/**
 * One leaf. At length 0 BART takes everything a decoder-only model does: layer subsets (whose
 * per-layer lengths differ once positive) and infix parts (refused only at positive length).
 */
const leaf = (encDec: boolean): fc.Arbitrary<Leaf> => fc.oneof(
  { weight: 3, arbitrary: fc.oneof(
    fc.record({ kind: fc.constant('prefix' as const), length, reparam, layers, dropout }),
    fc.record({ kind: fc.constant('prefix' as const), length, shared: fc.constant(true), layers }),
    fc.record({ kind: fc.constant('embedding' as const), length, reparam, dropout }),
    fc.record({ kind: fc.constant('infix' as const), length, layers, reparam }),
    ...(encDec ? [fc.record({ kind: fc.constant('prefix' as const), length, reparam, sites: fc.subarray(['self', 'encoder', 'cross'] as const, { minLength: 1 }) })] : []),
  ) },
  { weight: 1, arbitrary: length.map((n): Leaf => ({ kind: 'custom', name: 'gated', options: { length: n } })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('finetune' as const), layers }) },
);

/** One to three leaves; composed flat, or nested (compose inside compose). */
const partsFor = (encDec: boolean) => fc.record({ parts: fc.array(leaf(encDec), { minLength: 1, maxLength: 3 }), nest: fc.boolean() });

const build = (leaves: readonly Leaf[], nest: boolean): Variant =>
  leaves.length === 1 ? leaves[0]!
    : nest ? { kind: 'compose', parts: [leaves[0]!, { kind: 'compose', parts: leaves.slice(1) }] }
      : { kind: 'compose', parts: leaves };

/** Every activation part at length 0 (finetune parts kept). */
const zeroOf = (parts: readonly Leaf[], nest: boolean): Variant =>
  build(parts.map((p) => (p.kind === 'finetune' ? p : p.kind === 'custom' ? { ...p, options: { length: 0 } } : { ...p, length: 0 })), nest);

/**
 * The same parts at their positive lengths, less what a positive length cannot take in the
 * graphs compared here: infix parts (the graph would then take the source separately; the
 * split test below covers them) and, for BART, layer subsets (one length per site). A prefix
 * of length 1 is added when no activation part is left.
 */
const positiveOf = (parts: readonly Leaf[], nest: boolean, encDec: boolean): Variant => {
  const kept = parts.filter((p) => p.kind !== 'infix').map((p): Leaf => {
    if (!encDec || p.kind !== 'prefix') return p;
    const { layers: _ignored, ...rest } = p;
    return rest;
  });
  if (!kept.some((p) => p.kind !== 'finetune')) kept.push({ kind: 'prefix', length: 1 });
  return build(kept, nest);
};

const injectOptions: fc.Arbitrary<InjectOptions> = fc.record({
  mode: fc.constantFrom('train' as const, 'stored' as const),
  users: fc.constantFrom(0, 2),
  dropout: fc.boolean(),
  kinds: fc.constant([gated]),
});

const i32 = (shape: number[], data: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });
const ones = (shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1) });

/** A random padding mask [B, n]: position 0 always real (so no query sees only masked keys), the rest random. */
const randomMask = (rnd: () => number, B: number, n: number): HostTensor =>
  i32([B, n], Array.from({ length: B * n }, (_, i) => (i % n === 0 || rnd() < 0.7 ? 1 : 0)));

/** A right-padded mask [B, n]: row b has `lens[b]` >= 1 real tokens first. */
const rightPadded = (B: number, n: number, lens: readonly number[]): HostTensor =>
  i32([B, n], Array.from({ length: B * n }, (_, i) => (i % n < lens[Math.floor(i / n)]! ? 1 : 0)));

/** Random values in [-0.5, 0.5) for the injection's trainable parameters that the model does not already have. */
const withTrainable = (base: Record<string, HostTensor>, specs: readonly { name: string; shape: readonly number[] }[], seed: number): Record<string, HostTensor> => {
  const rnd = prng(seed);
  const out = { ...base };
  for (const s of specs) {
    if (out[s.name]) continue; // finetune parts name the model's own weights: keep them
    out[s.name] = { dtype: 'float32', shape: [...s.shape], data: Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => rnd() - 0.5) };
  }
  return out;
};

/**
 * Evaluates `g` with the feeds it takes: named ones from `pool`; dropout masks (host-fed, only
 * where a part with dropout > 0 has a positive length) as ones. Fails on any other input.
 */
const run = (g: Graph, pool: Record<string, HostTensor>, params: Record<string, HostTensor>, B: number): Record<string, HostTensor> => {
  const feeds: Record<string, HostTensor> = {};
  for (const x of graphInputs(g)) {
    const name = x.attrs.name;
    if (pool[name]) feeds[name] = pool[name]!;
    else if (name.endsWith('.dropout_mask')) feeds[name] = ones(x.shape.map((d) => dimEval(d, { B })));
    else assert.fail(`unexpected graph input '${name}'`);
  }
  return evaluate(g, feeds, params);
};

/** Largest |a - b| (NaN if either has a NaN); the shapes must agree. */
const maxAbsDiff = (a: HostTensor, b: HostTensor): number => {
  assert.deepEqual(a.shape, b.shape);
  let m = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs(Number(a.data[i]) - Number(b.data[i]));
    m = Number.isNaN(d) ? NaN : Math.max(m, d);
  }
  return m;
};

/** The width a post-norm keeps: with 2 a LayerNorm keeps only a sign, so a prefix may not show (see laws.test.ts). */
const width = (cfg: ModelConfig): number =>
  cfg.model_type === 'gpt2' ? cfg.n_embd : cfg.model_type === 'llama' ? cfg.hidden_size : cfg.d_model;

const configAndParts = fc.oneof(gpt2Json, llamaJson, bartJson).map(decodeOk)
  .chain((cfg: ModelConfig) => partsFor(isEncoderDecoder(cfg)).map((p) => [cfg, p] as const));

test('property: zero-length activation parts (any composition, any model) give the base model\'s logits and loss; positive lengths move them', () => {
  let moved = 0;
  fc.assert(fc.property(
    configAndParts, injectOptions, fc.integer({ min: 1, max: 2 }), fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.constantFrom('mean' as const, 'sum' as const), fc.integer({ min: 0, max: 1e6 }),
    ([cfg, { parts, nest }], opts, B, T, U, loss, seed) => {
      const encDec = isEncoderDecoder(cfg);
      const zero = zeroOf(parts, nest);
      const sites = modelSites(cfg);
      const zeroInj = inject(sites, zero, opts);
      // hasInfix ignores length-0 groups, so a zero-length infix takes no separate source: the
      // graphs below take the plain input_ids, the same inputs as the base model (the split
      // [source; infix; target] forward is the next test's identity)
      assert.equal(hasInfix(zeroInj), false);
      const rnd = prng(seed);
      const weights = randomParams(cfg, seed);
      // decoder-only: input_ids/attention_mask [B, T]; BART: source [B, T], decoder inputs and labels [B, U]
      const ids = i32([B, T], randomIds(rnd, B, T, cfg.vocab_size));
      const pool: Record<string, HostTensor> = {
        input_ids: ids, attention_mask: randomMask(rnd, B, T),
        labels: encDec ? i32([B, U], randomIds(rnd, B, U, cfg.vocab_size)) : ids,
        decoder_input_ids: i32([B, U], randomIds(rnd, B, U, cfg.vocab_size)),
        user_ids: i32([B], Array.from({ length: B }, () => Math.floor(rnd() * 2))),
      };
      const [b, t, u] = ['B', 'T', 'U'];
      const ownInputs = () => ({ ids: input('input_ids', [b, t], 'int32'), mask: input('attention_mask', [b, t], 'int32') });
      const forward = (inj: ReturnType<typeof inject>): Graph => cfg.model_type === 'bart'
        ? graph({ logits: injectedBartForward(cfg, inj, { ...ownInputs(), decoderIds: input('decoder_input_ids', [b, u], 'int32') }).logits })
        : graph({ logits: injectedCausalForward(cfg, inj, ownInputs()).logits });
      const base = cfg.model_type === 'bart'
        ? { logits: bartGraph(cfg), loss: bartGraph(cfg, { loss, shiftLabels: true }) }
        : { logits: causalLmGraph(cfg, { attentionMask: true }), loss: causalLmGraph(cfg, { attentionMask: true, loss }) };
      const what = `${cfg.model_type} ${JSON.stringify(zero)} ${JSON.stringify(opts)}`;

      const baseLogits = run(base.logits, pool, weights, B)['logits']!;
      const baseLoss = run(base.loss, pool, weights, B)['loss']!;
      const zeroParams = withTrainable(weights, zeroInj.trainable, seed + 1);
      const d = maxAbsDiff(run(forward(zeroInj), pool, zeroParams, B)['logits']!, baseLogits);
      assert.ok(d <= TOL, `${what}: logits differ from the base model by ${d}`);
      const dl = maxAbsDiff(run(injectedTrainGraph(cfg, zeroInj, { loss }), pool, zeroParams, B)['loss']!, baseLoss);
      assert.ok(dl <= TOL, `${what}: loss differs from the base model by ${dl}`);

      // not vacuous: the same comparison sees a positive length
      const posInj = inject(sites, positiveOf(parts, nest, encDec), opts);
      const dp = maxAbsDiff(run(forward(posInj), pool, withTrainable(weights, posInj.trainable, seed + 1), B)['logits']!, baseLogits);
      assert.ok(!Number.isNaN(dp), `${what}: NaN logits at positive length`);
      if (width(cfg) >= 4) assert.ok(dp > TOL, `${cfg.model_type} ${JSON.stringify(posInj.variant)}: positive lengths left the logits unchanged (${dp})`);
      if (dp > TOL) moved++;
    },
  ), { numRuns: RUNS });
  assert.ok(moved > 0, 'no example had its logits moved by a positive length');
});

test('property: decoder-only, source and target apart: zero-length parts give the base model\'s logits on [source; target] (positive infix moves them)', () => {
  const causal = fc.oneof(gpt2Json, llamaJson).map((j) => decodeOk(j) as CausalLmConfig)
    .chain((cfg) => partsFor(false).map((p) => [cfg, p] as const));
  let moved = 0;
  fc.assert(fc.property(
    causal, fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), length, layers, fc.integer({ min: 0, max: 1e6 }),
    ([cfg, { parts, nest }], B, S, T, infixLen, infixLayers, seed) => {
      const rnd = prng(seed);
      const weights = randomParams(cfg, seed);
      const srcIds = randomIds(rnd, B, S, cfg.vocab_size), tgtIds = randomIds(rnd, B, T, cfg.vocab_size);
      const lens = Array.from({ length: B }, () => 1 + Math.floor(rnd() * S)); // right-padded sources
      const srcMask = rightPadded(B, S, lens), tgtMask = randomMask(rnd, B, T);
      const pool: Record<string, HostTensor> = { source_ids: i32([B, S], srcIds), source_mask: srcMask, input_ids: i32([B, T], tgtIds), attention_mask: tgtMask };
      const split = (inj: ReturnType<typeof inject>): Graph => graph({ logits: injectedCausalForward(cfg, inj, {
        ids: input('input_ids', ['B', 'T'], 'int32'), mask: input('attention_mask', ['B', 'T'], 'int32'),
        source: { ids: input('source_ids', ['B', 'S'], 'int32'), mask: input('source_mask', ['B', 'S'], 'int32') },
      }).logits });
      // the base model on the concatenation: the source at positions 0..S-1, the target right after
      // each row's real source tokens (as the split forward places it), padding masked
      const rows = <X,>(f: (r: number) => X[]): X[] => Array.from({ length: B }, (_, r) => f(r)).flat();
      const cat = {
        input_ids: i32([B, S + T], rows((r) => [...srcIds.slice(r * S, (r + 1) * S), ...tgtIds.slice(r * T, (r + 1) * T)])),
        attention_mask: i32([B, S + T], rows((r) => [...srcMask.data.slice(r * S, (r + 1) * S), ...tgtMask.data.slice(r * T, (r + 1) * T)].map(Number))),
        position_ids: i32([B, S + T], rows((r) => [...Array.from({ length: S }, (_, j) => j), ...Array.from({ length: T }, (_, j) => lens[r]! + j)])),
      };
      const full = run(causalLmGraph(cfg, { attentionMask: true, positionIds: true }), cat, weights, B)['logits']!;
      const V = cfg.vocab_size;
      const baseTarget: HostTensor = { dtype: 'float32', shape: [B, T, V], data: Float32Array.from(rows((r) => [...full.data.slice((r * (S + T) + S) * V, (r + 1) * (S + T) * V)].map(Number))) };

      const zero = zeroOf(parts, nest);
      const zeroInj = inject(modelSites(cfg), zero, { kinds: [gated] });
      const d = maxAbsDiff(run(split(zeroInj), pool, withTrainable(weights, zeroInj.trainable, seed + 1), B)['logits']!, baseTarget);
      assert.ok(d <= TOL, `${cfg.model_type} ${JSON.stringify(zero)}: target logits differ from the base model on [source; target] by ${d}`);

      const posInj = inject(modelSites(cfg), { kind: 'compose', parts: [zero, { kind: 'infix', length: infixLen, layers: infixLayers }] }, { kinds: [gated] });
      assert.equal(hasInfix(posInj), true);
      const dp = maxAbsDiff(run(split(posInj), pool, withTrainable(weights, posInj.trainable, seed + 1), B)['logits']!, baseTarget);
      if (width(cfg) >= 4) assert.ok(dp > TOL, `${cfg.model_type} ${JSON.stringify(posInj.variant)}: a positive infix left the logits unchanged (${dp})`);
      if (dp > TOL) moved++;
    },
  ), { numRuns: RUNS });
  assert.ok(moved > 0, 'no example had its logits moved by a positive infix');
});
