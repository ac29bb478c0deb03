/**
 * The GPT-2-style blocks (attention with a causal mask over a per-layer past key/value + MLP
 * + layer norms), built from core ops with symbolic B, T, P:
 * - gradients w.r.t. the input and every layer's past key/value agree with finite
 *   differences (float64), and so do the weight gradients;
 * - when only the past key/values are requested, the gradient contains no weight gradient:
 *   (1) no node that carries the cotangent has a batch-free shape (a weight gradient sums
 *   over the batch, so its shape has no B; a negative control shows the criterion catches
 *   one), and (2) `grad` never even constructs weight-gradient work: computing the weight
 *   gradients afterwards reuses (by hash-consing) no node the first call built, except the
 *   activation cotangents both need;
 * - the reference evaluator runs a d=64, T=16, B=2 block well under a second.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Node, graph, evaluate } from '../src/index.ts';
import { grad, input, mul, reduceSum, nodeCount, topoOrder, dimSymbols, shapeToString } from '../src/graph.ts';
import { hostTensor } from '../src/backend/tensor.ts';
import { buildGpt2, gpt2Values } from './support/gpt2.ts';
import { fdCheck } from './support/fd.ts';
import { rng } from './support/gen.ts';

const sizes = { B: 2, T: 3, P: 2 };

test('gradients of a 2-layer GPT-2-style stack w.r.t. its input and each layer\'s past key/value agree with finite differences', () => {
  const s = buildGpt2({ nLayer: 2, d: 8, nHead: 2, tag: 'fd.' });
  const { params, feeds } = gpt2Values(s, sizes, 1);
  const leaves: Record<string, Node> = { 'fd.x': s.x, ...s.weights };
  s.past.forEach(([k, v], l) => Object.assign(leaves, { [`fd.past.${l}.key`]: k, [`fd.past.${l}.value`]: v }));
  const names = ['fd.x', 'fd.past.0.key', 'fd.past.0.value', 'fd.past.1.key', 'fd.past.1.value'];
  const err = fdCheck(s.out, leaves, feeds, params, names, { maxCoords: 48, atol: 1e-6, rtol: 1e-5 });
  assert.equal(err, undefined, err);
});

test('weight gradients of the stack agree with finite differences', () => {
  const s = buildGpt2({ nLayer: 1, d: 8, nHead: 2, tag: 'fdw.' });
  const { params, feeds } = gpt2Values(s, sizes, 2);
  const names = Object.keys(s.weights);
  const leaves: Record<string, Node> = { ...s.weights, 'fdw.x': s.x };
  const err = fdCheck(s.out, leaves, feeds, params, names, { maxCoords: 6 });
  assert.equal(err, undefined, err);
});

/** Ids of the nodes among `outs`' ancestors that carry the cotangent: depend on the random seed `R`. */
const cotangentCarriers = (outs: readonly Node[], R: Node): Set<number> => {
  const dep = new Set<number>([R.id]);
  for (const n of topoOrder(outs)) if (n.inputs.some((i) => dep.has(i.id))) dep.add(n.id);
  dep.delete(R.id);
  return dep;
};

/** Nodes of the gradient graph that carry the cotangent and have no batch dim. */
const batchFreeCotangents = (outs: readonly Node[], R: Node): Node[] => {
  const carriers = cotangentCarriers(outs, R);
  return topoOrder(outs).filter((n) => carriers.has(n.id) && !n.shape.some((d) => dimSymbols(d).includes('B')));
};

test('gradient w.r.t. the past key/values only: no weight-gradient node is in the graph, or ever built', () => {
  const s = buildGpt2({ nLayer: 2, d: 8, nHead: 2, tag: 'frozen.' });
  const R = input('frozen.R', ['B', 'T', 8]);
  const loss = reduceSum(mul(s.out, R));
  const pastKv = s.past.flat();
  const weights = Object.values(s.weights);

  const before = nodeCount();
  const gKv = grad(loss, pastKv);
  const after = nodeCount();
  assert.ok(after > before);

  // (1) on the graph: everything that carries the cotangent still has the batch axis
  const offending = batchFreeCotangents(gKv, R);
  assert.deepEqual(offending.map((n) => `${n.op}${shapeToString(n.shape)} @${n.path}`), []);
  // every gradient has its leaf's (batch-carrying) shape
  gKv.forEach((g, i) => assert.equal(shapeToString(g.shape), shapeToString(pastKv[i]!.shape)));

  // (2) construction: grad built no weight-gradient work, not even dead nodes. A cotangent
  // node built by the past-key/value call may appear in the weight gradients' graph
  // (computed next) only if it is part of the past-key/value gradient too (a shared
  // activation cotangent); hash-consing makes the weight gradients reuse anything the first
  // call built. (Forward nodes of decompositions expanded on the way are not gradient work.)
  const gW = grad(loss, weights);
  const kvLive = new Set(topoOrder(gKv).map((n) => n.id));
  const carriesCt = cotangentCarriers(gW, R);
  const wasted = topoOrder(gW).filter((n) => n.id >= before && n.id < after && !kvLive.has(n.id) && carriesCt.has(n.id));
  assert.deepEqual(wasted.map((n) => `${n.op}${shapeToString(n.shape)} @${n.path}`), []);
  gW.forEach((g, i) => assert.ok(g.id >= after, `the gradient of ${(weights[i]!.attrs as { name: string }).name} was built by the past-key/value gradient`));

  // negative control: ask for one weight as well and the criterion finds its gradient
  const [, , wGrad] = grad(loss, [pastKv[0]!, pastKv[1]!, s.weights['frozen.h.0.attn.c_attn.weight']!]);
  assert.ok(batchFreeCotangents([wGrad!], R).length > 0);
  // and the gradient of the embedding-free block input x needs no weight gradient either
  assert.deepEqual(batchFreeCotangents(grad(loss, [s.x]), R), []);
});

test('the past key/value gradient graph evaluates for any B, T, P (one graph, symbolic sizes)', () => {
  const s = buildGpt2({ nLayer: 1, d: 8, nHead: 2, tag: 'sym.' });
  const R = input('sym.R', ['B', 'T', 8]);
  const [gk, gv] = grad(reduceSum(mul(s.out, R)), s.past[0]!);
  for (const sz of [{ B: 1, T: 1, P: 0 }, { B: 1, T: 4, P: 1 }, { B: 3, T: 2, P: 5 }]) {
    const { params, feeds } = gpt2Values(s, sz, 3);
    const r = rng(4);
    feeds['sym.R'] = hostTensor('float32', [sz.B, sz.T, 8], Float64Array.from({ length: sz.B * sz.T * 8 }, () => r()));
    const res = evaluate(graph({ gk: gk!, gv: gv! }), feeds, params, { precision: 'f64' });
    assert.deepEqual(res.gk!.shape, [sz.B, 2, sz.P, 4]);
    assert.deepEqual(res.gv!.shape, [sz.B, 2, sz.P, 4]);
    assert.ok(Array.from(res.gk!.data as Float64Array).every(Number.isFinite));
  }
});

test('reference evaluator: a d=64, T=16, B=2 GPT-2 block forward runs well under a second', (t) => {
  const s = buildGpt2({ nLayer: 1, d: 64, nHead: 4, tag: 'perf.' });
  const sz = { B: 2, T: 16, P: 4 };
  const { params, feeds } = gpt2Values(s, sz, 5);
  const g = graph({ out: s.out });
  evaluate(g, feeds, params); // warm-up (decompositions are memoised per node)
  const t0 = performance.now();
  const reps = 5;
  for (let i = 0; i < reps; i++) evaluate(g, feeds, params);
  const ms = (performance.now() - t0) / reps;
  const R = input('perf.R', ['B', 'T', 64]);
  const gr = grad(reduceSum(mul(s.out, R)), [s.x, ...Object.values(s.weights)]);
  const gg = graph(Object.fromEntries(gr.map((n, i) => [`g${i}`, n])));
  const fr = rng(6);
  const gfeeds = { ...feeds, 'perf.R': hostTensor('float32', [2, 16, 64], Float32Array.from({ length: 2048 }, () => fr())) };
  evaluate(gg, gfeeds, params);
  const t1 = performance.now();
  evaluate(gg, gfeeds, params);
  const msGrad = performance.now() - t1;
  t.diagnostic(`forward ${ms.toFixed(1)} ms, forward+backward (all weights) ${msGrad.toFixed(1)} ms (f32)`);
  assert.ok(ms < 500, `forward took ${ms} ms`);
});
