/**
 * Errors are values: building with mismatched shapes gives a Left whose message names the
 * op, the operand shapes and the model path; and no exception escapes `build`, whatever the
 * builders are given.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { type Node, type Dim, build, GraphError } from '../src/index.ts';
import {
  withPath, input, param, constant, iota, matmul, add, mul, where, reshape, transpose, broadcastTo, slice, pad, concat, gather, scatterAdd, reduceSum, reduceMax, argMax, softmax, logSoftmax, layerNorm, rmsNorm, gelu, attention, crossEntropy, cast, exp, logicalNot, equal, sym
} from '../src/graph.ts';
import type { DType } from '../src/types/dtype.ts';

test('a shape mismatch is a Left naming the op, the operand shapes and the path in the model', () => {
  const x = input('x', ['B', 'T', 768]);
  const wrong = param('h.3.attn.q.weight', [2304, 768]);
  const r = build(() => withPath('layers[3]', () => withPath('attn', () => withPath('q', () => matmul(x, wrong)))));
  assert.ok(E.isLeft(r));
  const e = r.left;
  assert.ok(e instanceof GraphError);
  assert.equal(e.op, 'matmul');
  assert.equal(e.path, 'layers[3].attn.q');
  assert.equal(e.message, 'layers[3].attn.q: matmul: contraction dims differ: 768 vs 2304 in [B,T,768] @ [2304,768] (operands: f32[B,T,768], f32[2304,768])');
});

test('errors from deep inside a model keep the full path; the path stack unwinds after an error', () => {
  const h = input('h', ['B', 'T', 8]);
  const r = build(() =>
    withPath('h[1]', () => withPath('mlp', () => {
      const fc1 = withPath('c_fc', () => matmul(h, param('w1', [8, 32])));
      return withPath('c_proj', () => add(fc1, param('b2', [8])));
    })),
  );
  assert.ok(E.isLeft(r));
  assert.equal(r.left.message, 'h[1].mlp.c_proj: add: cannot broadcast [B,T,32] with [8] (axis 2: 32 vs 8) (operands: f32[B,T,32], f32[8])');
  // after the failure, new nodes are built at the root path again
  assert.equal(add(h, 1).path, '');
});

// --- no exception escapes -------------------------------------------------------------------

const dtypeArb = fc.constantFrom<DType>('float32', 'float32', 'int32', 'int64', 'bool');
const dimArb = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom('B', 'T', 'P+T', 'B*T'), fc.integer({ min: -3, max: -1 }));
const shapeArb = fc.array(dimArb, { maxLength: 5 });
const axisArb = fc.integer({ min: -6, max: 6 });
const nodeArb: fc.Arbitrary<() => Node> = fc.tuple(fc.constantFrom('a', 'b', 'c'), shapeArb, dtypeArb).map(([n, s, d]) => () => input(n, s, d));

const call = (name: string, f: () => unknown): [string, () => unknown] => [name, f];

/** Random calls of the public builders with arbitrary (mostly wrong) operands and attributes. */
const callArb: fc.Arbitrary<[string, () => unknown]> = fc.oneof(
  fc.tuple(nodeArb, nodeArb).map(([a, b]) => call('matmul', () => matmul(a(), b()))),
  fc.tuple(nodeArb, nodeArb).map(([a, b]) => call('add', () => add(a(), b()))),
  fc.tuple(nodeArb, nodeArb).map(([a, b]) => call('mul', () => [mul(a(), 2.5), mul(a(), b())])),
  fc.tuple(nodeArb, nodeArb, nodeArb).map(([c, a, b]) => call('where', () => where(c(), a(), b()))),
  fc.tuple(nodeArb, shapeArb).map(([a, s]) => call('reshape', () => reshape(a(), s))),
  fc.tuple(nodeArb, fc.array(fc.integer({ min: -2, max: 5 }), { maxLength: 5 })).map(([a, p]) => call('transpose', () => transpose(a(), p))),
  fc.tuple(nodeArb, shapeArb).map(([a, s]) => call('broadcastTo', () => broadcastTo(a(), s))),
  fc.tuple(nodeArb, axisArb, fc.integer({ min: -2, max: 5 }), fc.integer({ min: -2, max: 5 })).map(([a, ax, s, e]) => call('slice', () => slice(a(), ax, s, e))),
  fc.tuple(nodeArb, axisArb, fc.integer({ min: -2, max: 3 }), fc.integer({ min: -2, max: 3 })).map(([a, ax, s, e]) => call('pad', () => pad(a(), ax, s, e))),
  fc.tuple(fc.array(nodeArb, { maxLength: 3 }), axisArb).map(([xs, ax]) => call('concat', () => concat(xs.map((f) => f()), ax))),
  fc.tuple(nodeArb, nodeArb, axisArb).map(([t, i, ax]) => call('gather', () => gather(t(), i(), ax))),
  fc.tuple(nodeArb, nodeArb, axisArb, dimArb).map(([u, i, ax, n]) => call('scatterAdd', () => scatterAdd(u(), i(), ax, typeof n === 'string' ? sym('B') : (n as Dim)))),
  fc.tuple(nodeArb, fc.array(axisArb, { maxLength: 3 }), fc.boolean()).map(([a, ax, k]) => call('reduceSum', () => reduceSum(a(), ax, k))),
  fc.tuple(nodeArb, axisArb).map(([a, ax]) => call('reduceMax', () => reduceMax(a(), ax))),
  fc.tuple(nodeArb, axisArb).map(([a, ax]) => call('argMax', () => argMax(a(), ax))),
  fc.tuple(nodeArb, axisArb).map(([a, ax]) => call('softmax', () => softmax(a(), ax))),
  fc.tuple(nodeArb, axisArb).map(([a, ax]) => call('logSoftmax', () => logSoftmax(a(), ax))),
  fc.tuple(nodeArb, nodeArb, nodeArb).map(([x, g, b]) => call('layerNorm', () => layerNorm(x(), g(), b()))),
  fc.tuple(nodeArb, nodeArb).map(([x, w]) => call('rmsNorm', () => rmsNorm(x(), w()))),
  nodeArb.map((x) => call('gelu', () => gelu(x(), 'tanh'))),
  fc.tuple(nodeArb, nodeArb, nodeArb, fc.option(nodeArb), fc.boolean()).map(([q, k, v, m, c]) => call('attention', () => attention(q(), k(), v(), { causal: c, ...(m ? { keyMask: m() } : {}) }))),
  fc.tuple(nodeArb, nodeArb).map(([l, y]) => call('crossEntropy', () => crossEntropy(l(), y()))),
  fc.tuple(nodeArb, dtypeArb).map(([x, d]) => call('cast', () => cast(x(), d))),
  nodeArb.map((x) => call('exp', () => exp(x()))),
  nodeArb.map((x) => call('logicalNot', () => logicalNot(x()))),
  fc.tuple(nodeArb, nodeArb).map(([a, b]) => call('equal', () => equal(a(), b()))),
  fc.tuple(fc.array(fc.double(), { maxLength: 4 }), fc.array(fc.integer({ min: -1, max: 3 }), { maxLength: 3 }), dtypeArb).map(([v, s, d]) => call('constant', () => constant(v, s, d))),
  fc.tuple(shapeArb, axisArb, dtypeArb).map(([s, ax, d]) => call('iota', () => iota(s, ax, d))),
  fc.tuple(fc.string({ maxLength: 4 }), fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 })).map(([n, s]) => call('input', () => input(n, s))),
);

test('no exception escapes build: every builder given arbitrary operands returns Right or a located Left', () => {
  fc.assert(
    fc.property(callArb, fc.constantFrom('', 'layers[0].attn', 'h[7].mlp'), ([name, call], path) => {
      const r = build(() => (path === '' ? call() : withPath(path, call)));
      if (E.isLeft(r)) {
        assert.ok(r.left instanceof GraphError);
        if (path !== '') assert.ok(r.left.message.startsWith(`${path}: `), `${name}: ${r.left.message}`);
        assert.ok(r.left.message.length > 0);
      }
    }),
    { numRuns: 3000 },
  );
});

test('reshape names what it cannot infer', () => {
  const r = build(() => reshape(input('r', ['B', 3]), [-1, 2]));
  assert.ok(E.isLeft(r));
  assert.equal(r.left.message, 'reshape: cannot infer -1 in [-1,2]: 3*B elements of [B,3] are not a multiple of 2');
});

test('shape rules reject negative and malformed dims', () => {
  const x = input('neg', [2, 3]);
  const calls: (() => unknown)[] = [() => reshape(x, [-2, -3]), () => broadcastTo(x, [-1, 3]), () => input('bad', [-1]), () => input('bad2', ['B-']), () => sym('1x')];
  for (const f of calls) {
    const r = build(f);
    assert.ok(E.isLeft(r), String(f));
  }
});
