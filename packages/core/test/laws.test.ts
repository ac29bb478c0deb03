/**
 * Algebraic laws of dims, shapes and layout ops: the symbolic dim algebra is a polynomial
 * ring that evaluation respects; broadcasting is commutative/associative with [] as identity
 * and agrees with concrete broadcasting; the matmul shape rule; reshape and transpose round
 * trips; slice/concat and slice/pad inverses (symbolically and on values).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { type Dim, type Node, build, graph, evaluate, hostTensor } from '../src/index.ts';
import {
  sym, dimAdd, dimMul, dimSub, dimDiv, dimEq, dimEval, dimToString, parseDim, broadcastShapes, shapeEq, shapeToString, input, matmul, reshape, transpose, concat, slice, pad
} from '../src/graph.ts';
import { broadcastConcrete } from '../src/ops/kernel.ts';
import { rng } from './support/gen.ts';

const SYMS = ['A', 'B', 'C'] as const;
const envArb = fc.record({ A: fc.integer({ min: 0, max: 5 }), B: fc.integer({ min: 0, max: 5 }), C: fc.integer({ min: 0, max: 5 }) });
/** Random polynomial dims built from symbols and small integers with +, -, *. */
const dimArb: fc.Arbitrary<Dim> = fc.letrec<{ d: Dim }>((tie) => ({
  d: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: -4, max: 6 }),
    fc.constantFrom(...SYMS).map((s) => sym(s)),
    fc.tuple(tie('d'), tie('d')).map(([a, b]) => dimAdd(a, b)),
    fc.tuple(tie('d'), tie('d')).map(([a, b]) => dimSub(a, b)),
    fc.tuple(tie('d'), tie('d')).map(([a, b]) => dimMul(a, b)),
  ),
})).d;

test('dims: printing and parsing round-trips, and equality is by canonical form', () => {
  fc.assert(fc.property(dimArb, (d) => {
    const p = parseDim(dimToString(d));
    assert.ok(p !== undefined && dimEq(p, d), `${dimToString(d)} reparsed as ${p === undefined ? 'undefined' : dimToString(p)}`);
  }), { numRuns: 300 });
});

test('dims: a commutative ring that evaluation respects', () => {
  fc.assert(fc.property(dimArb, dimArb, dimArb, envArb, (a, b, c, env) => {
    assert.ok(dimEq(dimAdd(a, b), dimAdd(b, a)));
    assert.ok(dimEq(dimMul(a, b), dimMul(b, a)));
    assert.ok(dimEq(dimAdd(dimAdd(a, b), c), dimAdd(a, dimAdd(b, c))));
    assert.ok(dimEq(dimMul(a, dimAdd(b, c)), dimAdd(dimMul(a, b), dimMul(a, c))));
    assert.ok(dimEq(dimSub(dimAdd(a, b), b), a));
    // (+ 0 maps -0 to 0: the ring is over integers)
    assert.equal(dimEval(dimAdd(a, b), env) + 0, dimEval(a, env) + dimEval(b, env) + 0);
    assert.equal(dimEval(dimMul(a, b), env) + 0, dimEval(a, env) * dimEval(b, env) + 0);
    const m = sym('B');
    const q = dimDiv(dimMul(a, m), m);
    assert.ok(q !== undefined && dimEq(q, a));
  }), { numRuns: 300 });
});

// shapes whose dims are small integers or single symbols, as user graphs have them
const tokArb = fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constantFrom<Dim>(sym('A'), sym('B')));
const shapeArb = fc.array(tokArb, { maxLength: 4 });
/** Pairs that broadcast: b derived from a by dropping leading dims and setting some to 1, in random order. */
const compatiblePair = fc.tuple(shapeArb, fc.nat(4), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.boolean()).map(([a, drop, ones, swap]) => {
  const b = a.slice(Math.min(drop, a.length)).map((d, i) => (ones[i] ? 1 : d));
  return swap ? [b, a] as const : [a, b] as const;
});

test('broadcasting: commutative, [] is the identity, idempotent, rank is the max', () => {
  fc.assert(fc.property(shapeArb, shapeArb, (a, b) => {
    const ab = broadcastShapes(a, b);
    const ba = broadcastShapes(b, a);
    assert.equal(typeof ab, typeof ba);
    if (typeof ab !== 'string') {
      assert.ok(shapeEq(ab, ba as Dim[]));
      assert.equal(ab.length, Math.max(a.length, b.length));
      assert.ok(shapeEq(broadcastShapes(a, ab) as Dim[], ab));
    }
    assert.ok(shapeEq(broadcastShapes(a, []) as Dim[], a));
    assert.ok(shapeEq(broadcastShapes(a, a) as Dim[], a));
  }), { numRuns: 300 });
  fc.assert(fc.property(compatiblePair, ([a, b]) => typeof broadcastShapes(a, b) !== 'string'));
});

test('broadcasting: associative, and equal to concrete broadcasting after evaluation', () => {
  fc.assert(fc.property(compatiblePair, fc.nat(4), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), envArb, ([a, b], drop, ones, env0) => {
    const c = a.slice(Math.min(drop, a.length)).map((d, i) => (ones[i] ? 1 : d));
    const l = broadcastShapes(broadcastShapes(a, b) as Dim[], c);
    const r = broadcastShapes(a, broadcastShapes(b, c) as Dim[]);
    assert.ok(typeof l !== 'string' && typeof r !== 'string' && shapeEq(l, r));
    const env = { A: env0.A + 2, B: env0.B + 2 }; // symbols are never 1 here, so they cannot stretch
    const ev = (s: readonly Dim[]) => s.map((d) => dimEval(d, env));
    assert.deepEqual(ev(broadcastShapes(a, b) as Dim[]), broadcastConcrete(ev(a), ev(b)));
  }), { numRuns: 300 });
});

test('broadcasting: a symbol broadcasts only against itself or 1', () => {
  assert.equal(typeof broadcastShapes([sym('A')], [sym('B')]), 'string');
  assert.equal(typeof broadcastShapes([sym('A')], [2]), 'string');
  assert.ok(shapeEq(broadcastShapes([sym('A'), 1], [3]) as Dim[], [sym('A'), 3]));
});

test('matmul shape rule: [...ba, M, K] @ [...bb, K, N] = [...broadcast(ba, bb), M, N]; other K is a Left naming both shapes', () => {
  fc.assert(fc.property(compatiblePair, tokArb, tokArb, tokArb, tokArb, ([ba, bb], M, K, N, K2) => {
    const a = input('a', [...ba, M, K]);
    const b = input('b', [...bb, K, N]);
    const m = matmul(a, b);
    assert.ok(shapeEq(m.shape, [...(broadcastShapes(ba, bb) as Dim[]), M, N]));
    const bad = build(() => matmul(a, input('b2', [...bb, K2, N])));
    if (dimEq(K, K2)) assert.ok(E.isRight(bad));
    else {
      assert.ok(E.isLeft(bad));
      assert.match(bad.left.message, /^matmul: contraction dims differ/);
      assert.ok(bad.left.message.includes(shapeToString(a.shape)), bad.left.message);
      assert.ok(bad.left.message.includes(shapeToString([...bb, K2, N])), bad.left.message);
    }
  }), { numRuns: 300 });
});

// --- value round trips ---------------------------------------------------------------------
const valuesOf = (shape: readonly number[], seed: number) => {
  const r = rng(seed);
  return hostTensor('float32', shape, Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r()));
};
const same = (n: Node, x: Node, feeds: Record<string, ReturnType<typeof valuesOf>>) => {
  const r = evaluate(graph({ n, x }), feeds);
  assert.deepEqual(r.n!.shape, r.x!.shape);
  assert.deepEqual([...r.n!.data as Float32Array], [...r.x!.data as Float32Array]);
};
const concreteShape = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 });

test('reshape round trip: reshape(reshape(x, s), shape(x)) = x, including -1 inference', () => {
  fc.assert(fc.property(concreteShape, fc.nat(), fc.boolean(), (s, seed, hole) => {
    const x = input('x', s);
    const n = s.reduce((a, b) => a * b, 1);
    const flat = reshape(x, hole ? [-1] : [n]);
    assert.deepEqual(flat.shape, [n]);
    same(reshape(flat, s), x, { x: valuesOf(s, seed) });
    // symbolic: [A, ...rest] -> [A * prod(rest)] -> back
    const xs = input('xs', ['A', ...s.slice(1)]);
    const merged = reshape(xs, [-1]);
    assert.equal(dimToString(merged.shape[0]!), s.slice(1).reduce((a, b) => a * b, 1) === 1 ? 'A' : `${s.slice(1).reduce((a, b) => a * b, 1)}*A`);
    same(reshape(merged, xs.shape), xs, { xs: valuesOf(s, seed) });
  }), { numRuns: 150 });
});

test('transpose round trip: transpose(transpose(x, p), p^-1) = x; transposes compose', () => {
  fc.assert(fc.property(concreteShape, fc.nat(), fc.nat(), fc.nat(), (s, s1, s2, seed) => {
    const perm = (k: number) => { const r = rng(k); return s.map((_, i) => i).sort(() => r() - 0.5); };
    const p = perm(s1);
    const q = perm(s2);
    const inv = new Array<number>(p.length);
    p.forEach((v, i) => { inv[v] = i; });
    const x = input('x', s);
    const feeds = { x: valuesOf(s, seed) };
    same(transpose(transpose(x, p), inv), x, feeds);
    // transpose(transpose(x, p), q) = transpose(x, p∘q)
    same(transpose(transpose(x, p), q), transpose(x, q.map((i) => p[i]!)), { ...feeds });
  }), { numRuns: 150 });
});

test('slice/concat inverses: splitting and re-joining gives x; slicing a concat gives the parts', () => {
  fc.assert(fc.property(concreteShape, fc.nat(), fc.nat(), fc.nat(), (s, axSeed, kSeed, seed) => {
    const ax = axSeed % s.length;
    const k = kSeed % (s[ax]! + 1);
    const x = input('x', s);
    const feeds = { x: valuesOf(s, seed) };
    const parts = [slice(x, ax, 0, k), slice(x, ax, k, s[ax]!)].filter((p) => p.shape[ax] !== 0);
    same(concat(parts.length > 0 ? parts : [x], ax), x, feeds);
    // pad then slice back
    same(slice(pad(x, ax, 2, 1), ax, 2, 2 + s[ax]!), x, feeds);
  }), { numRuns: 150 });
});

test('slice/concat inverses with symbolic lengths: slice(concat([a, b]), P, P+T) has b\'s shape and values', () => {
  const a = input('a', ['B', 'P', 3]);
  const b = input('b', ['B', 'T', 3]);
  const c = concat([a, b], 1);
  assert.equal(shapeToString(c.shape), '[B,P+T,3]');
  const P = sym('P');
  const back = slice(c, 1, P, dimAdd(P, sym('T')));
  assert.ok(shapeEq(back.shape, b.shape));
  assert.ok(shapeEq(slice(c, 1, 0, P).shape, a.shape));
  fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.nat(), (B, Pn, T, seed) => {
    const fa = valuesOf([B, Pn, 3], seed);
    const fb = valuesOf([B, T, 3], seed + 1);
    same(back, b, { a: fa, b: fb });
  }), { numRuns: 50 });
});
