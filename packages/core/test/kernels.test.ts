/**
 * Reference kernels against independent oracles: naive per-index implementations written
 * from the ops' definitions (not from the kernels), known function values, and the documented
 * integer/bool/precision semantics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  input, constant, scalar, iota, matmul, transpose, reduceSum, reduceMax, reduceMean, argMax, gather, scatterAdd, concat, slice, pad, where, add, sub, mul, div, cast, erf
} from '../src/graph.ts';
import { graph, evaluate, f32, i32, hostTensor, type Node, type HostTensor } from '../src/index.ts';
import { evaluateE, EvalError } from '../src/backend/index.ts';
import { erfScalar } from '../src/ops/unary.ts';
import { rng } from './support/gen.ts';

const run = (n: Node, feeds: Record<string, HostTensor> = {}, precision: 'f32' | 'f64' = 'f64'): HostTensor =>
  evaluate(graph({ n }), feeds, {}, { precision }).n!;
const vals = (t: HostTensor): number[] => Array.from(t.data as ArrayLike<number>, Number);

// --- naive oracles ------------------------------------------------------------------------
const allIndices = (shape: readonly number[]): number[][] =>
  shape.reduce<number[][]>((acc, d) => acc.flatMap((ix) => Array.from({ length: d }, (_, i) => [...ix, i])), [[]]);
const offset = (shape: readonly number[], ix: readonly number[]): number => ix.reduce((o, i, k) => o * shape[k]! + i, 0);
/** Element of `t` that broadcasts to output index `ix` (right-aligned, size-1 dims stretch). */
const bget = (t: { shape: readonly number[]; data: ArrayLike<number> }, ix: readonly number[]): number => {
  const lead = ix.length - t.shape.length;
  return t.data[offset(t.shape, t.shape.map((d, k) => (d === 1 ? 0 : ix[lead + k]!)))]!;
};

const smallShape = (maxRank: number) => fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: maxRank });
const randTensor = (shape: readonly number[], seed: number): HostTensor => {
  const r = rng(seed);
  return hostTensor('float32', shape, Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.round((r() * 4 - 2) * 8) / 8));
};
/** A shape broadcasting to `out`, from a mask. */
const operandOf = (out: readonly number[], drop: number, ones: readonly boolean[]): number[] =>
  out.slice(Math.min(drop, out.length)).map((d, i) => (ones[i] ? 1 : d));

test('broadcasting binary kernels equal the per-index definition', () => {
  fc.assert(
    fc.property(smallShape(4), fc.nat(4), fc.nat(4), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.nat(), (out, da, db, oa, ob, seed) => {
      const sa = operandOf(out, da, oa);
      const sb = operandOf(out, db, ob);
      const ta = randTensor(sa, seed);
      const tb = randTensor(sb, seed + 1);
      const a = input('a', sa);
      const b = input('b', sb);
      for (const [f, g] of [[add, (x: number, y: number) => x + y], [sub, (x: number, y: number) => x - y], [mul, (x: number, y: number) => x * y]] as const) {
        const r = run(f(a, b), { a: ta, b: tb });
        const expected = allIndices(r.shape).map((ix) => g(bget(ta as never, ix), bget(tb as never, ix)));
        assert.deepEqual(vals(r), expected);
      }
    }),
    { numRuns: 150 },
  );
});

test('matmul equals the triple-loop definition with broadcast batch dims', () => {
  fc.assert(
    fc.property(smallShape(2), fc.nat(2), fc.nat(2), fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }), fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.nat(), (batch, da, db, oa, ob, M, K, N, seed) => {
      const sa = [...operandOf(batch, da, oa), M, K];
      const sb = [...operandOf(batch, db, ob), K, N];
      const ta = randTensor(sa, seed);
      const tb = randTensor(sb, seed + 7);
      const r = run(matmul(input('a', sa), input('b', sb)), { a: ta, b: tb });
      const expected = allIndices(r.shape).map((ix) => {
        const bix = ix.slice(0, -2);
        const [i, j] = ix.slice(-2) as [number, number];
        let s = 0;
        for (let k = 0; k < K; k++) s += bget(ta as never, [...bix, i, k]) * bget(tb as never, [...bix, k, j]);
        return s;
      });
      assert.deepEqual(vals(r).map((v) => Math.round(v * 1e9)), expected.map((v) => Math.round(v * 1e9)));
    }),
    { numRuns: 150 },
  );
});

test('transpose: out[ix] = x[ix permuted back]', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 }), fc.nat(), fc.nat(), (s, permSeed, seed) => {
      const r0 = rng(permSeed);
      const perm = s.map((_, i) => i).sort(() => r0() - 0.5);
      const t = randTensor(s, seed);
      const r = run(transpose(input('x', s), perm), { x: t });
      assert.deepEqual(r.shape, perm.map((p) => s[p]));
      const expected = allIndices(r.shape).map((ix) => {
        const src = new Array<number>(s.length);
        perm.forEach((p, k) => { src[p] = ix[k]!; });
        return t.data[offset(s, src)];
      });
      assert.deepEqual(vals(r), expected);
    }),
    { numRuns: 150 },
  );
});

test('reductions equal the per-output-slot definition', () => {
  fc.assert(
    fc.property(smallShape(4), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.boolean(), fc.nat(), (s, mask, keep, seed) => {
      const axes = s.map((_, i) => i).filter((i) => mask[i]);
      const t = randTensor(s, seed);
      const x = input('x', s);
      const slots = new Map<string, number[]>();
      for (const ix of allIndices(s)) {
        const key = ix.map((v, i) => (axes.includes(i) ? 0 : v)).join();
        slots.set(key, [...(slots.get(key) ?? []), t.data[offset(s, ix)] as number]);
      }
      const outIx = allIndices(s.map((d, i) => (axes.includes(i) ? 1 : d))).map((ix) => ix.join());
      const per = (f: (xs: number[]) => number) => outIx.map((k) => f(slots.get(k)!));
      // equal up to summation order: relative 1e-12 (rounding both to 1e-9 flips at a .5 boundary)
      const close = (a: number[], b: number[]) => {
        assert.equal(a.length, b.length);
        a.forEach((v, i) => assert.ok(v === b[i] || Math.abs(v - b[i]!) <= 1e-12 * Math.max(1, Math.abs(b[i]!)), `slot ${i}: ${v} vs ${b[i]}`));
      };
      close(vals(run(reduceSum(x, axes, keep), { x: t })), per((xs) => xs.reduce((p, q) => p + q, 0)));
      close(vals(run(reduceMax(x, axes, keep), { x: t })), per((xs) => Math.max(...xs)));
      close(vals(run(reduceMean(x, axes, keep), { x: t })), per((xs) => xs.reduce((p, q) => p + q, 0) / xs.length));
    }),
    { numRuns: 150 },
  );
});

test('empty reductions: sum 0, max -Infinity, mean NaN', () => {
  const x = input('x', [2, 0]);
  const t = hostTensor('float32', [2, 0], new Float64Array(0));
  assert.deepEqual(vals(run(reduceSum(x, 1), { x: t })), [0, 0]);
  assert.deepEqual(vals(run(reduceMax(x, 1), { x: t })), [-Infinity, -Infinity]);
  assert.ok(vals(run(reduceMean(x, 1), { x: t })).every(Number.isNaN));
});

test('argMax takes the first maximum on ties, along any axis', () => {
  const x = input('x', [2, 4]);
  const t = f32([2, 4], [1, 3, 3, 2, 5, 5, 5, 5]);
  assert.deepEqual(vals(run(argMax(x, 1), { x: t })), [1, 0]);
  assert.deepEqual(vals(run(argMax(x, 0), { x: t })), [1, 1, 1, 1]);
  assert.deepEqual(run(argMax(x, 1, true), { x: t }).shape, [2, 1]);
  assert.equal(run(argMax(x, 1), { x: t }).dtype, 'int32');
});

test('gather picks rows (any axis); an out-of-range index is an EvalError naming the index', () => {
  const table = input('t', [3, 2]);
  const ids = input('i', [2, 2], 'int32');
  const tt = f32([3, 2], [0, 1, 10, 11, 20, 21]);
  const r = run(gather(table, ids, 0), { t: tt, i: i32([2, 2], [2, 0, 1, 2]) });
  assert.deepEqual(r.shape, [2, 2, 2]);
  assert.deepEqual(vals(r), [20, 21, 0, 1, 10, 11, 20, 21]);
  const cols = run(gather(table, input('j', [1], 'int32'), 1), { t: tt, j: i32([1], [1]) });
  assert.deepEqual(vals(cols), [1, 11, 21]);
  for (const bad of [3, -1]) {
    const res = evaluateE(graph({ r: gather(table, ids, 0) }), { t: tt, i: i32([2, 2], [0, bad, 1, 1]) });
    assert.ok(E.isLeft(res));
    assert.ok(res.left instanceof EvalError);
    assert.match(res.left.message, new RegExp(`gather: index ${bad} at position 1 out of range \\[0, 3\\)`));
  }
});

test('scatterAdd sums duplicate indices into a zero table', () => {
  const upd = input('u', [3, 2]);
  const ids = input('i', [3], 'int32');
  const r = run(scatterAdd(upd, ids, 0, 4), { u: f32([3, 2], [1, 2, 3, 4, 5, 6]), i: i32([3], [1, 3, 1]) });
  assert.deepEqual(r.shape, [4, 2]);
  assert.deepEqual(vals(r), [0, 0, 6, 8, 0, 0, 3, 4]);
  const bad = evaluateE(graph({ r: scatterAdd(upd, ids, 0, 4) }), { u: f32([3, 2], [1, 2, 3, 4, 5, 6]), i: i32([3], [1, 4, 1]) });
  assert.ok(E.isLeft(bad) && /index 4 at position 1 out of range \[0, 4\)/.test(bad.left.message));
});

test('concat, slice, pad, iota and where on small examples', () => {
  const a = input('a', [2, 1]);
  const b = input('b', [2, 2]);
  const fa = f32([2, 1], [1, 2]);
  const fb = f32([2, 2], [3, 4, 5, 6]);
  assert.deepEqual(vals(run(concat([a, b], 1), { a: fa, b: fb })), [1, 3, 4, 2, 5, 6]);
  assert.deepEqual(vals(run(slice(b, 1, 1, 2), { b: fb })), [4, 6]);
  assert.deepEqual(vals(run(pad(a, 0, 1, 2), { a: fa })), [0, 1, 2, 0, 0]);
  assert.deepEqual(vals(run(iota([2, 3], 1))), [0, 1, 2, 0, 1, 2]);
  assert.deepEqual(vals(run(iota([2, 3], 0, 'int64'))), [0, 0, 0, 1, 1, 1]);
  const c = input('c', [2, 1], 'bool');
  assert.deepEqual(vals(run(where(c, b, -1), { b: fb, c: hostTensor('bool', [2, 1], Uint8Array.from([1, 0])) })), [3, 4, -1, -1]);
});

test('erf matches known values and is odd', () => {
  // values of erf from Abramowitz & Stegun table 7.1 / standard references
  const known: [number, number][] = [
    [0, 0], [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149],
    [1.5, 0.9661051464753108], [2, 0.9953222650189527], [2.5, 0.999593047982555], [3, 0.9999779095030014], [4, 0.9999999845827421],
  ];
  for (const [x, v] of known) {
    assert.ok(Math.abs(erfScalar(x) - v) <= 5e-16, `erf(${x}) = ${erfScalar(x)}, expected ${v}`);
    assert.equal(erfScalar(-x), -erfScalar(x));
  }
  assert.equal(erfScalar(10), 1);
  assert.ok(Number.isNaN(erfScalar(NaN)));
  // continuity across the switch between the series and the continued fraction
  assert.ok(Math.abs(erfScalar(2.5 - 1e-12) - erfScalar(2.5)) < 1e-14);
  // derivative 2/sqrt(pi) e^(-x^2), by central differences
  fc.assert(fc.property(fc.double({ min: -5, max: 5, noNaN: true }), (x) => {
    const h = 1e-5;
    const fd = (erfScalar(x + h) - erfScalar(x - h)) / (2 * h);
    return Math.abs(fd - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x)) < 1e-9;
  }));
  const r = vals(run(erf(input('x', [2])), { x: f32([2], [0.5, -1]) }));
  assert.ok(Math.abs(r[0]! - 0.5204998778130465) <= 5e-16 && Math.abs(r[1]! + 0.8427007929497149) <= 5e-16, `${r}`);
});

test('cast: float -> int truncates toward zero; bool <-> 0/1; out-of-range is an error', () => {
  const x = input('x', [4]);
  const fx = f32([4], [2.7, -2.7, 0.2, -0]);
  assert.deepEqual(vals(run(cast(x, 'int32'), { x: fx })), [2, -2, 0, 0]);
  assert.deepEqual(vals(run(cast(x, 'bool'), { x: fx })), [1, 1, 1, 0]);
  assert.deepEqual(vals(run(cast(cast(x, 'bool'), 'float32'), { x: fx })), [1, 1, 1, 0]);
  const big = evaluateE(graph({ r: cast(x, 'int64') }), { x: f32([4], [1, 2, 3e9, 4]) });
  assert.ok(E.isLeft(big) && /cannot cast 3000000000 to int64/.test(big.left.message));
  const nan = evaluateE(graph({ r: cast(x, 'int32') }), { x: f32([4], [1, NaN, 3, 4]) });
  assert.ok(E.isLeft(nan));
});

test('integer arithmetic: division truncates, division by zero is an error, int32 wraps, int64 beyond 2^31 is an error', () => {
  const a = input('a', [4], 'int32');
  const b = input('b', [4], 'int32');
  const fa = i32([4], [7, -7, 7, -7]);
  const fb = i32([4], [2, 2, -2, -2]);
  assert.deepEqual(vals(run(div(a, b), { a: fa, b: fb })), [3, -3, -3, 3]);
  const z = evaluateE(graph({ r: div(a, b) }), { a: fa, b: i32([4], [1, 0, 1, 1]) });
  assert.ok(E.isLeft(z) && /integer division by zero/.test(z.left.message));
  assert.deepEqual(vals(run(add(a, 1), { a: i32([4], [2147483647, 0, 0, 0]) })), [-2147483648, 1, 1, 1]);
  const l = input('l', [1], 'int64');
  const over = evaluateE(graph({ r: add(l, 1) }), { l: hostTensor('int64', [1], BigInt64Array.from([2147483647n])) });
  assert.ok(E.isLeft(over) && /int64 value 2147483648 outside/.test(over.left.message));
  const r = run(mul(l, 3), { l: hostTensor('int64', [1], BigInt64Array.from([-5n])) });
  assert.ok(r.data instanceof BigInt64Array);
  assert.deepEqual([...(r.data as BigInt64Array)], [-15n]);
});

test('f32 precision rounds every op result to float32; f64 does not', () => {
  const x = input('x', [1]);
  const y = add(mul(x, 0.1), 0.2);
  const f = f32([1], [3]);
  const r32 = run(y, { x: f }, 'f32');
  const r64 = run(y, { x: f }, 'f64');
  assert.ok(r32.data instanceof Float32Array);
  assert.ok(r64.data instanceof Float64Array);
  const fr = Math.fround;
  assert.equal(r32.data[0], fr(fr(3 * fr(0.1)) + fr(0.2)));
  assert.equal(r64.data[0], 3 * 0.1 + 0.2);
  // constants keep full precision at f64
  assert.equal(run(scalar(0.1)).data[0], 0.1);
  assert.equal(run(constant([0.1], [1]), {}, 'f32').data[0], fr(0.1));
});
