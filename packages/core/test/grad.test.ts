/**
 * `grad` as a graph transform: random composed graphs against finite differences; fan-in;
 * the one `unbroadcast`; symbolic zeros and the restriction to nodes on a path to `wrt`
 * (checked on the nodes `grad` constructs); integer nodes carry no gradient; seeds; errors
 * as values; `gradGraph`; gradient nodes at the forward node's path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { type Node, graph, evaluate, build, f32, i32, hostTensor, GraphError } from '../src/index.ts';
import {
  input, param, grad, gradGraph, unbroadcast, withPath, nodeCount, topoOrder, shapeToString, add, sub, mul, div, pow, tanh, sin, exp, log, sqrt, rsqrt, recip, erf, neg, gelu, silu, where, reduceSum, reduceMean, matmul, layerNorm, softmax, logSoftmax, concat, slice, reshape, transpose, broadcastTo, gather, argMax, cast, crossEntropy
} from '../src/graph.ts';
import { Ctx, withCtx, rng } from './support/gen.ts';
import { fdCheck } from './support/fd.ts';

// --- random composed graphs ---------------------------------------------------------------
// Every node has a shape that broadcasts to [A, 3], so any two can be combined.

const D = 3;
const one = (x: Node) => add(mul(x, x), 1); // > 0

const buildRandom = (c: Ctx) => {
  const x = c.input(['A', D]);
  const y = c.input(c.pick([['A', 1], [D], [1, D], []]));
  const W = c.param([D, D]);
  const g = c.param([D]);
  const b = c.param([D]);
  const emb = c.param([5, D]);
  const ids = c.input(['A'], 'int32', () => c.int(0, 4));
  const cond = c.input(['A', D], 'bool', () => c.int(0, 1));
  const pool: Node[] = [x, y];
  const pickNode = (): Node => (c.bool() ? pool[pool.length - 1]! : c.pick(pool));
  const last3 = (n: Node) => n.shape.length === 2 && n.shape[1] === D;
  const steps = c.int(2, 9);
  for (let s = 0; s < steps; s++) {
    const a = pickNode();
    const bb = pickNode();
    const ops: (() => Node | undefined)[] = [
      () => tanh(a), () => sin(a), () => exp(tanh(a)), () => log(one(a)), () => sqrt(one(a)), () => rsqrt(one(a)), () => recip(one(a)),
      () => erf(a), () => gelu(a, c.pick(['none', 'tanh'] as const)), () => silu(a), () => neg(a),
      () => add(a, bb), () => sub(a, bb), () => mul(a, bb), () => div(a, one(bb)), () => pow(one(a), tanh(bb)),
      () => where(cond, a, bb), () => (a.shape.length > 0 ? reduceSum(a, -1, true) : undefined), () => (a.shape.length > 0 ? reduceMean(a, -1, true) : undefined), () => mul(a, a),
      () => (last3(a) ? matmul(a, W) : undefined),
      () => (last3(a) ? layerNorm(a, g, b) : undefined),
      () => (last3(a) ? softmax(a, -1) : undefined),
      () => (last3(a) ? logSoftmax(a, -1) : undefined),
      () => (last3(a) && last3(bb) && a.shape[0] === bb.shape[0] ? slice(concat([a, bb], 1), 1, 1, 1 + D) : undefined),
      () => (a.shape.length === 2 && a.shape[1] === D && typeof a.shape[0] !== 'number' ? reshape(transpose(a, [1, 0]), ['A', D]) : undefined),
      () => broadcastTo(a, ['A', D]),
      () => add(gather(emb, ids), a),
    ];
    const n = c.pick(ops)();
    if (n !== undefined) pool.push(n);
  }
  // fan-in: several pool nodes feed the loss
  const used = pool.filter(() => c.bool());
  const out = [pool[pool.length - 1]!, ...used].reduce((acc, n) => add(acc, reduceSum(mul(n, 0.5))), reduceSum(pool[pool.length - 1]!));
  const leaves = { x, y, W, g, b, emb };
  const wrt = Object.entries(leaves).filter(() => c.bool()).map(([, n]) => n);
  return { c, out, wrt: wrt.length > 0 ? wrt : [x] };
};

test('grad of random composed graphs agrees with finite differences', () => {
  fc.assert(
    fc.property(withCtx(buildRandom), ({ c, out, wrt }) => {
      const names = wrt.map((w) => Object.entries(c.inputs).find(([, v]) => v === w)![0]);
      const err = fdCheck(out, c.inputs, c.feeds, c.params, names, { dims: c.env, maxCoords: 6, rtol: 1e-5, atol: 1e-6 });
      assert.equal(err, undefined, err);
    }),
    { numRuns: 60 },
  );
});

// --- specific properties ------------------------------------------------------------------

const ev = (outs: Record<string, Node>, feeds: Record<string, ReturnType<typeof f32>>, params: Record<string, ReturnType<typeof f32>> = {}) =>
  evaluate(graph(outs), feeds, params, { precision: 'f64' });
const arr = (t: { data: ArrayLike<number | bigint> }) => Array.from(t.data as ArrayLike<number>);

test('fan-in is summed: d/dx sum(x*x + 3x) = 2x + 3', () => {
  const x = input('fx', [3]);
  const [g] = grad(reduceSum(add(mul(x, x), mul(x, 3))), [x]);
  assert.deepEqual(arr(ev({ g: g! }, { fx: f32([3], [1, -2, 0.5]) }).g!), [5, -1, 4]);
});

test('unbroadcast sums over leading axes and stretched size-1 axes (symbolic dims too)', () => {
  const ct = input('ct', [2, 'A', 3]);
  const u = unbroadcast(ct, [ct.shape[1]!, 1]);
  assert.equal(shapeToString(u.shape), '[A,1]');
  const vals = Array.from({ length: 12 }, (_, i) => i);
  const r = arr(ev({ u }, { ct: f32([2, 2, 3], vals) }).u!);
  // out[a] = sum over leading axis and last axis of ct[:, a, :]
  const expect = [0, 1].map((a) => [0, 1].reduce((s, l) => s + [0, 1, 2].reduce((t, k) => t + vals[l * 6 + a * 3 + k]!, 0), 0));
  assert.deepEqual(r, expect);
  assert.equal(unbroadcast(ct, ct.shape), ct);
  // law: unbroadcast(broadcastTo(x, s), shape x) = x * (numel s / numel x)
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), fc.integer({ min: 0, max: 2 }), (s, ones, lead) => {
    const xs = s.map((d, i) => (ones[i] ? 1 : d));
    const target = [...Array.from({ length: lead }, () => 2), ...s];
    const xn = input('ub', xs);
    const back = unbroadcast(broadcastTo(xn, target), xn.shape);
    const n = xs.reduce((a, b) => a * b, 1);
    const vx = Array.from({ length: n }, (_, i) => i + 1);
    const factor = target.reduce((a, b) => a * b, 1) / n;
    assert.deepEqual(arr(ev({ back }, { ub: f32(xs, vx) }).back!), vx.map((v) => v * factor));
  }));
});

test('symbolic zeros: a wrt the loss does not depend on gets zeros, and grad builds nothing for unrelated branches', () => {
  const x = input('sx', ['A', 2]);
  const y = input('sy', ['A', 2]);
  const W = param('sW', [2, 2]);
  const yBranch = matmul(y, W);
  const loss = add(reduceSum(mul(x, x)), reduceSum(yBranch));
  const unrelated = input('su', [4]);
  const before = nodeCount();
  const [gx, gu] = grad(loss, [x, unrelated]);
  const created = topoOrder([gx!, gu!]).filter((n) => n.id >= before);
  const forbidden = new Set([y.id, W.id, yBranch.id]);
  for (const n of created)
    for (const a of topoOrder([n])) assert.ok(!forbidden.has(a.id), `grad w.r.t. x built ${n.op}${shapeToString(n.shape)} over the y/W branch`);
  const r = ev({ gu: gu!, gx: gx! }, { sx: f32([1, 2], [1, 2]), su: f32([4], [9, 9, 9, 9]) });
  assert.deepEqual(arr(r.gu!), [0, 0, 0, 0]);
  assert.deepEqual(arr(r.gx!), [2, 4]);
});

test('integer nodes carry no gradient: argMax/cast and gather indices', () => {
  const x = input('ix', [2, 3]);
  const am = cast(argMax(x, -1, true), 'float32'); // piecewise constant in x
  const loss = reduceSum(mul(x, am));
  const [g] = grad(loss, [x]);
  const r = ev({ g: g! }, { ix: f32([2, 3], [1, 5, 2, 7, 0, 1]) });
  assert.deepEqual(arr(r.g!), [1, 1, 1, 0, 0, 0]);
  assert.throws(() => grad(loss, [argMax(x, -1)]), GraphError);
  const emb = param('iemb', [4, 2]);
  const ids = input('iids', [3], 'int32');
  const [ge] = grad(reduceSum(gather(emb, ids)), [emb]);
  assert.ok(topoOrder([ge!]).some((n) => n.op === 'scatterAdd'));
  const re = evaluate(graph({ ge: ge! }), { iids: i32([3], [1, 3, 1]) }, { iemb: f32([4, 2], new Array(8).fill(0)) });
  assert.deepEqual(arr(re.ge!), [0, 0, 2, 2, 0, 0, 1, 1]);
});

test('duplicate operands: primitives (mul(x, x)) and composites through their decomposition (layerNorm(x, g, g))', () => {
  fc.assert(fc.property(withCtx((c) => {
    const x = c.input([2, 3]);
    const g = c.param([3]);
    return { c, out: add(reduceSum(layerNorm(x, g, g)), reduceSum(mul(g, g))), names: [Object.keys(c.inputs)[0]!, Object.keys(c.inputs)[1]!] };
  }, false), ({ c, out, names }) => {
    const err = fdCheck(out, c.inputs, c.feeds, c.params, names);
    assert.equal(err, undefined, err);
  }), { numRuns: 10 });
});

test('a seed gives the vector-Jacobian product of a non-scalar output', () => {
  const x = input('vx', [3]);
  const s = input('vs', [3]);
  const [g] = grad(mul(x, x), [x], s);
  assert.deepEqual(arr(ev({ g: g! }, { vx: f32([3], [1, 2, 3]), vs: f32([3], [1, 10, 100]) }).g!), [2, 40, 600]);
});

test('misuse of grad is a GraphError (a Left under build) naming the problem', () => {
  const x = input('ex', [3]);
  const ids = input('eids', [3], 'int32');
  const cases: [() => unknown, RegExp][] = [
    [() => grad(mul(x, x), [x]), /loss must be a scalar without a seed, got mul f32\[3\]/],
    [() => grad(reduceSum(ids), [x]), /loss must be float32/],
    [() => grad(reduceSum(x), [ids]), /cannot differentiate w.r.t. input i32\[3\]/],
    [() => grad(mul(x, x), [x], input('es', [2])), /seed .* must be float32 of the loss's shape \[3\]/],
  ];
  for (const [f, re] of cases) {
    const r = build(f);
    assert.ok(E.isLeft(r), String(re));
    assert.match(r.left.message, re);
  }
});

test('gradGraph adds grad:<name> outputs that evaluate to grad', () => {
  const x = input('gx', [2]);
  const w = param('gw', [2]);
  const g0 = graph({ loss: reduceSum(mul(mul(x, w), w)) });
  const gg = gradGraph(g0, 'loss', ['gw', x]);
  assert.deepEqual(Object.keys(gg.outputs).sort(), ['grad:gw', 'grad:gx', 'loss']);
  const r = evaluate(gg, { gx: f32([2], [1, 2]) }, { gw: f32([2], [3, 4]) }, { precision: 'f64' });
  assert.deepEqual(arr(r['grad:gw']!), [6, 16]);
  assert.deepEqual(arr(r['grad:gx']!), [9, 16]);
  assert.ok(E.isLeft(build(() => gradGraph(g0, 'nope', ['gw']))));
  assert.ok(E.isLeft(build(() => gradGraph(g0, 'loss', ['missing']))));
});

test('gradient nodes are built at the path of the forward node they differentiate', () => {
  const x = input('px', ['B', 4]);
  const w = param('pw', [4, 4]);
  const h = withPath('layers[3]', () => withPath('attn', () => withPath('q', () => matmul(x, w))));
  const [gx] = grad(reduceSum(tanh(h)), [x]);
  assert.equal(gx!.path, 'layers[3].attn.q');
  assert.equal(gx!.op, 'matmul');
});

test('grad needs no concrete sizes: the same gradient graph serves every batch size', () => {
  const x = input('bx', ['B', 'T', 2]);
  const [g] = grad(reduceMean(mul(x, x)), [x]);
  for (const [B, T] of [[1, 1], [2, 3], [4, 2]] as const) {
    const vals = Array.from({ length: B * T * 2 }, (_, i) => Math.fround(i / 7));
    const r = arr(evaluate(graph({ g: g! }), { bx: f32([B, T, 2], vals) }, {}, { precision: 'f64' }).g!);
    r.forEach((v, i) => assert.ok(Math.abs(v - (2 * vals[i]!) / (B * T * 2)) < 1e-12));
  }
});

test('crossEntropy gradient w.r.t. logits flows only through the float path (labels are ints)', () => {
  fc.assert(fc.property(withCtx((c) => {
    const logits = c.input(['A', 4], 'float32', () => c.uniform(-2, 2));
    const labels = c.input(['A'], 'int32', () => (c.int(0, 3) === 0 ? -100 : c.int(0, 3)));
    return { c, out: crossEntropy(logits, labels) };
  }), ({ c, out }) => {
    const err = fdCheck(out, c.inputs, c.feeds, c.params, ['x0'], { dims: c.env });
    assert.equal(err, undefined, err);
  }), { numRuns: 20 });
  void rng;
  void hostTensor;
});
