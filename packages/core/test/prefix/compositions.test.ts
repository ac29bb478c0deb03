/**
 * Random compositions of the variant kinds (prefix with a layer subset, shared, direct or MLP,
 * at BART's sites; embedding; infix on decoder-only models; a user-defined gated kind) on random small GPT-2, Llama and
 * BART configs: every output's shape is decided when the graph is built, and the reference
 * evaluator's outputs have exactly those shapes once the symbolic sizes are bound; the loss is
 * a finite scalar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dimEval, dimSymbols, sym, type Dim } from '../../src/types/dim.ts';
import { graph, graphInputs, type Graph } from '../../src/ir/graph.ts';
import { input } from '../../src/ops/leaves.ts';
import { evaluate } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { inject } from '../../src/prefix/inject.ts';
import { hasInfix, injectedBartForward, injectedCausalForward, injectedTrainGraph, modelSites } from '../../src/prefix/graphs.ts';
import type { Variant } from '../../src/prefix/variant.ts';
import { gated } from './gated-kind.ts';
import { isEncoderDecoder, type ModelConfig } from '../../src/models/config.ts';
import { gpt2Json, llamaJson, bartJson, decodeOk, randomParams, prng } from '../models/random.ts';

// at most three parts of length <= 2 and sizes of 3 (source and target) fit the smallest position table (12)
const length = fc.integer({ min: 1, max: 2 });
const reparam = fc.oneof(fc.constant({ kind: 'direct' as const }), fc.record({ kind: fc.constant('mlp' as const), hidden: fc.integer({ min: 1, max: 4 }) }));
const layers = fc.oneof(fc.constant('all' as const), fc.constant({ top: 1 }), fc.constant([0]));

/** One leaf kind the model can take (infix, and layer subsets whose lengths differ per layer: decoder-only models; BART refuses those by name). */
const leaf = (encDec: boolean): fc.Arbitrary<Variant> => fc.oneof(
  fc.record({ kind: fc.constant('prefix' as const), length, reparam, layers: encDec ? fc.constant('all' as const) : layers }),
  fc.record({ kind: fc.constant('prefix' as const), length, shared: fc.constant(true) }),
  fc.record({ kind: fc.constant('embedding' as const), length }),
  length.map((n): Variant => ({ kind: 'custom', name: 'gated', options: { length: n } })),
  ...(encDec
    ? [fc.record({ kind: fc.constant('prefix' as const), length, sites: fc.subarray(['self', 'encoder', 'cross'] as const, { minLength: 1 }) })]
    : [fc.record({ kind: fc.constant('infix' as const), length, layers })]),
);
/** A leaf, or a composition of two or three leaves (at most one infix). */
const variantFor = (encDec: boolean): fc.Arbitrary<Variant> => fc.oneof(
  leaf(encDec),
  fc.array(leaf(encDec), { minLength: 2, maxLength: 3 })
    .filter((ps) => ps.filter((p) => p.kind === 'infix').length <= 1)
    .map((parts): Variant => ({ kind: 'compose', parts })),
);

const configAndVariant = fc.oneof(gpt2Json, llamaJson, bartJson).map(decodeOk)
  .chain((cfg: ModelConfig) => variantFor(isEncoderDecoder(cfg)).map((v) => [cfg, v] as const));

/** Feeds every input of `g` (ids random, masks ones; `B` = 2, other sizes 3) and checks each evaluated output against its build-time shape. */
const checkShapes = (g: Graph, cfg: ModelConfig, params: Record<string, HostTensor>, seed: number, what: string): Record<string, HostTensor> => {
  const env: Record<string, number> = {};
  const bind = (ds: readonly Dim[]) => { for (const d of ds) for (const s of dimSymbols(d)) env[s] ??= s === 'B' ? 2 : 3; };
  const rnd = prng(seed);
  const feeds: Record<string, HostTensor> = {};
  for (const x of graphInputs(g)) {
    bind(x.shape);
    const shape = x.shape.map((d) => dimEval(d, env));
    const n = shape.reduce((a, b) => a * b, 1);
    const name = x.attrs.name;
    assert.equal(x.dtype, 'int32', `${name}: an integer input`);
    const data = /mask/.test(name) ? Array<number>(n).fill(1) : Array.from({ length: n }, () => Math.floor(rnd() * cfg.vocab_size));
    feeds[name] = { dtype: 'int32', shape, data: Int32Array.from(data) };
  }
  const out = evaluate(g, feeds, params);
  for (const [name, node] of Object.entries(g.outputs)) {
    bind(node.shape);
    assert.deepEqual(out[name]!.shape, node.shape.map((d) => dimEval(d, env)), `${what}: ${name}`);
  }
  return out;
};

test('property: random compositions on random GPT-2, Llama and BART configs: build-time shapes are the evaluated shapes', () => {
  fc.assert(fc.property(configAndVariant, fc.integer({ min: 0, max: 1e6 }), ([cfg, variant], seed) => {
    const inj = inject(modelSites(cfg), variant, { kinds: [gated] });
    const rnd = prng(seed + 1);
    const params = { ...randomParams(cfg, seed), ...Object.fromEntries(inj.trainable.map((p) => [p.name, {
      dtype: 'float32' as const, shape: [...p.shape], data: Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, () => rnd() - 0.5),
    }])) };
    const what = JSON.stringify(variant);
    // the forward graph: logits [B, T, V] (BART: decoder length) decided at build time
    const [B, T] = [sym('B'), sym('T')];
    const ids = input('input_ids', [B, T], 'int32'), mask = input('attention_mask', [B, T], 'int32');
    const fwd = isEncoderDecoder(cfg)
      ? graph(injectedBartForward(cfg, inj, { ids, mask, decoderIds: input('decoder_input_ids', [B, sym('U')], 'int32') }))
      : graph({ logits: injectedCausalForward(cfg, inj, {
        ids, mask, ...(hasInfix(inj) ? { source: { ids: input('source_ids', [B, sym('S')], 'int32'), mask: input('source_mask', [B, sym('S')], 'int32') } } : {}),
      }).logits });
    const logits = fwd.outputs['logits']!;
    assert.equal(logits.shape.length, 3);
    assert.equal(logits.shape[2], cfg.vocab_size);
    checkShapes(fwd, cfg, params, seed, `${what} forward`);
    // the training graph: a finite scalar loss
    const out = checkShapes(injectedTrainGraph(cfg, inj, { loss: 'mean' }), cfg, params, seed, `${what} train`);
    assert.deepEqual(out['loss']!.shape, []);
    assert.ok(Number.isFinite(out['loss']!.data[0]), 'finite loss');
  }), { numRuns: 40 });
});
