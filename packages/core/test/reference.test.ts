/**
 * The reference evaluator and backend: binding symbolic dims from fed shapes (conflicts and
 * unbindable symbols are errors naming the input), feed validation, int64 and bool storage,
 * composites through their decomposition, and the Backend contract (params, state, `next`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { input, param, add, sub, mul, concat, reshape, iota, reduceSum, softmax, gather, dimEval, grad, cast } from '../src/graph.ts';
import { graph, evaluate, referenceBackend, f32, i32, hostTensor } from '../src/index.ts';
import { evaluateE, bindDims, EvalError } from '../src/backend/index.ts';

const left = (r: E.Either<EvalError, unknown>): string => {
  assert.ok(E.isLeft(r), 'expected a Left');
  assert.ok(r.left instanceof EvalError);
  return r.left.message;
};

test('symbols bind from lone-symbol dims and solve linear dims (P+T once P is known, B*T once B is)', () => {
  const prefix = input('prefix', ['B', 'P', 4]);
  const tokens = input('tokens', ['B', 'P+T', 4]);
  const flat = input('flat', ['B*T', 4]);
  const env = bindDims([
    { node: tokens as never, shape: [2, 5, 4] },
    { node: flat as never, shape: [6, 4] },
    { node: prefix as never, shape: [2, 2, 4] },
  ]);
  assert.deepEqual(E.isRight(env) && env.right, { B: 2, P: 2, T: 3 });
  // property: any consistent sizes are recovered, whatever the order of the leaves
  fc.assert(fc.property(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.boolean(), (P, T, B, rev) => {
    const ls = [
      { node: tokens as never, shape: [B, P + T, 4] },
      { node: flat as never, shape: [B * T, 4] },
      { node: prefix as never, shape: [B, P, 4] },
    ];
    const r = bindDims(rev ? ls.reverse() : ls);
    assert.ok(E.isRight(r));
    assert.deepEqual(r.right, { B, P, T });
  }));
});

test('conflicting or unbindable sizes are errors naming the input, the declared and the fed shapes', () => {
  const a = input('a', ['B', 3]);
  const b = input('b', ['B', 3]);
  const m1 = left(evaluateE(graph({ s: add(a, b) }), { a: f32([2, 3], new Array(6).fill(0)), b: f32([4, 3], new Array(12).fill(0)) }));
  assert.match(m1, /input: 'b' \(declared f32\[B,3\]\): fed \[4,3\]: axis 0 is 4 but B = 2 with B=2 \(from input 'a'\)/);
  const c = input('c', ['B*T', 3]);
  const m2 = left(evaluateE(graph({ s: reduceSum(c) }), { c: f32([6, 3], new Array(18).fill(0)) }));
  assert.match(m2, /input: 'c' \(declared f32\[B\*T,3\]\): fed \[6,3\]: cannot determine B, T from axis 0 \(B\*T\); pass its size in `dims`/);
  // ... which the dims option resolves
  const ok = evaluate(graph({ s: reduceSum(c) }), { c: f32([6, 3], new Array(18).fill(1)) }, {}, { dims: { B: 2 } });
  assert.equal(ok.s!.data[0], 18);
  const d = input('d', ['P+1', 3]);
  assert.match(left(evaluateE(graph({ s: reduceSum(d) }), { d: f32([0, 3], []) })), /gives P = -1, not a size/);
  // a symbol no leaf mentions
  assert.match(left(evaluateE(graph({ s: iota(['Q'], 0) }), {})), /iota: unbound dimension 'Q' in Q; pass its size in `dims`/);
});

test('feeds are checked: missing, wrong dtype, wrong rank, wrong length, wrong storage, int64 range', () => {
  const x = input('x', ['B', 2]);
  const ids = input('ids', ['B'], 'int64');
  const g = graph({ y: add(x, reshape(cast(ids, 'float32'), ['B', 1])) });
  const okFeeds = { x: f32([3, 2], [1, 2, 3, 4, 5, 6]), ids: hostTensor('int64', [3], BigInt64Array.from([1n, 2n, 3n])) };
  assert.deepEqual(Array.from(evaluate(g, okFeeds).y!.data as Float32Array), [2, 3, 5, 6, 8, 9]);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ x: okFeeds.x }, /input: 'ids' \(declared i64\[B\]\): no value given \(feeds\)/],
    [{ ...okFeeds, x: i32([3, 2], [1, 2, 3, 4, 5, 6]) }, /input: 'x' \(declared f32\[B,2\]\): fed dtype int32/],
    [{ ...okFeeds, x: f32([6], [1, 2, 3, 4, 5, 6]) }, /input: 'x' \(declared f32\[B,2\]\): fed rank 1 \[6\]/],
    [{ ...okFeeds, x: { dtype: 'float32', shape: [3, 2], data: new Float32Array(5) } }, /fed 5 elements for shape \[3,2\]/],
    [{ ...okFeeds, ids: hostTensor('int64', [3], new Float64Array(3)) }, /int64 data must be a BigInt64Array or Int32Array, got Float64Array/],
    [{ ...okFeeds, ids: hostTensor('int64', [3], BigInt64Array.from([1n, 2n ** 40n, 3n])) }, /int64 value 1099511627776 at 1 outside the reference evaluator's range/],
  ];
  for (const [feeds, re] of bad) assert.match(left(evaluateE(g, feeds as never)), re);
  // int32 storage is accepted for int64 feeds; outputs of int64 come back as BigInt64Array
  const r = evaluate(graph({ ids }), { ids: hostTensor('int64', [2], Int32Array.from([7, -7])) });
  assert.ok(r.ids!.data instanceof BigInt64Array);
  assert.deepEqual([...(r.ids!.data as BigInt64Array)], [7n, -7n]);
});

test('a leaf name declared twice with different types is an error', () => {
  const a = input('dup', [2]);
  const b = input('dup', [3]);
  assert.match(left(evaluateE(graph({ a, b }), { dup: f32([2], [1, 2]) })), /'dup' is declared twice/);
});

test('outputs are copies: mutating a result does not change later results or params', () => {
  const w = param('w', [2]);
  const g = graph({ w, y: mul(w, 2) });
  const params = { w: f32([2], [1, 2]) };
  const r1 = evaluate(g, {}, params);
  (r1.w!.data as Float32Array)[0] = 100;
  assert.deepEqual(Array.from(evaluate(g, {}, params).y!.data as Float32Array), [2, 4]);
  assert.deepEqual(Array.from(params.w.data as Float32Array), [1, 2]);
});

test('bool feeds are normalised to 0/1; only requested outputs are computed', () => {
  const m = input('m', [3], 'bool');
  const r = evaluate(graph({ f: cast(m, 'float32') }), { m: hostTensor('bool', [3], Uint8Array.from([0, 7, 1])) });
  assert.deepEqual(Array.from(r.f!.data as Float32Array), [0, 1, 1]);
  const x = input('ox', [2]);
  const g = graph({ a: mul(x, 2), b: gather(x, input('oi', [1], 'int32')) });
  // 'b' needs 'oi' but is not requested
  assert.deepEqual(Object.keys(evaluate(g, { ox: f32([2], [1, 2]) }, {}, { outputs: ['a'] })), ['a']);
  assert.match(left(evaluateE(g, { ox: f32([2], [1, 2]) }, {}, { outputs: ['zz'] })), /unknown output 'zz'/);
});

test('composites evaluate through their decomposition (softmax rows sum to 1, shift invariance)', () => {
  const x = input('sx', ['B', 5]);
  fc.assert(fc.property(fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: 10, maxLength: 10 }), fc.double({ min: -50, max: 50, noNaN: true }), (v, c) => {
    const feeds = { sx: hostTensor('float32', [2, 5], Float64Array.from(v)) };
    const r = evaluate(graph({ s: softmax(x), t: softmax(add(x, c)) }), feeds, {}, { precision: 'f64' });
    const s = Array.from(r.s!.data as Float64Array);
    const t = Array.from(r.t!.data as Float64Array);
    for (const row of [0, 1]) assert.ok(Math.abs(s.slice(row * 5, row * 5 + 5).reduce((a, b) => a + b, 0) - 1) < 1e-12);
    s.forEach((p, i) => assert.ok(Math.abs(p - t[i]!) < 1e-12));
  }));
});

// --- the Backend contract ---------------------------------------------------------------------

test('referenceBackend: params bound at compile, inputs per run, state carried by `next`', async () => {
  // one SGD step on w for loss = sum((x*w - y)^2), as a pure graph; w lives in state
  const x = input('x', ['N']);
  const y = input('y', ['N']);
  const w = param('w', []);
  const lr = param('lr', []);
  const err = sub(mul(x, w), y);
  const loss = reduceSum(mul(err, err));
  const [gw] = grad(loss, [w]);
  const g = graph({ loss, 'w:new': sub(w, mul(lr, gw!)) });
  const be = referenceBackend({ precision: 'f64' });
  assert.equal(be.name, 'reference');
  const exe = await be.compile(g, { params: { lr: f32([], [0.05]) }, state: { w: { init: f32([], [0]), next: 'w:new' } }, internalOutputs: ['w:new'] });
  const feeds = { x: f32([3], [1, 2, 3]), y: f32([3], [2, 4, 6]) };
  const losses: number[] = [];
  for (let i = 0; i < 30; i++) {
    const r = await exe.run(feeds);
    assert.deepEqual(Object.keys(r), ['loss']);
    losses.push(r.loss!.data[0] as number);
  }
  assert.ok(losses[0]! > 50 && losses[29]! < 1e-10, `${losses[0]} -> ${losses[29]}`);
  const wNow = await exe.readState('w');
  assert.ok(Math.abs((wNow.data[0] as number) - 2) < 1e-6);
  await exe.writeState('w', f32([], [0]));
  assert.equal((await exe.run(feeds, ['loss'])).loss!.data[0], 56);
  // fetching an internal output explicitly is allowed
  assert.ok((await exe.run(feeds, ['w:new']))['w:new'] !== undefined);
  await exe.dispose();
  await assert.rejects(exe.run(feeds), /disposed/);
});

test('referenceBackend: compile and run errors are rejected promises with clear messages', async () => {
  const x = input('bx', [2]);
  const w = param('bw', [2]);
  const g = graph({ y: mul(x, w) });
  const be = referenceBackend();
  await assert.rejects(be.compile(g), /param: 'bw' \(declared f32\[2\]\): no value given \(params or state\)/);
  await assert.rejects(be.compile(g, { params: { bw: f32([3], [1, 2, 3]) } }), /param: 'bw' \(declared f32\[2\]\): fed \[3\]: axis 0 is 3, declared 2/);
  await assert.rejects(be.compile(g, { params: { bw: f32([2], [1, 2]) }, state: { nope: { init: f32([2], [1, 2]) } } }), /state 'nope' names no param or input/);
  await assert.rejects(be.compile(g, { params: { bw: f32([2], [1, 2]) }, state: { bx: { init: f32([2], [1, 2]), next: 'zz' } } }), /next 'zz' is not an output/);
  const exe = await be.compile(g, { params: { bw: f32([2], [1, 2]) } });
  await assert.rejects(exe.run({}), /input: 'bx' \(declared f32\[2\]\): no value fed/);
  await assert.rejects(exe.readState('bw'), /no state 'bw'/);
  assert.deepEqual(Array.from((await exe.run({ bx: f32([2], [3, 4]) })).y!.data as Float32Array), [3, 8]);
});

test('state shapes may be symbolic, but a `next` of another shape is an error', async () => {
  const prefix = param('prefix', ['P', 2]);
  const grow = graph({ out: reduceSum(prefix), bigger: concat([prefix, prefix], 0), same: mul(prefix, 2) });
  const exe = await referenceBackend().compile(grow, { state: { prefix: { init: f32([3, 2], [1, 1, 1, 1, 1, 1]), next: 'same' } } });
  assert.equal((await exe.run({})).out!.data[0], 6);
  assert.equal((await exe.run({})).out!.data[0], 12);
  const bad = await referenceBackend().compile(grow, { state: { prefix: { init: f32([1, 2], [1, 1]), next: 'bigger' } } });
  await assert.rejects(bad.run({}), /state 'prefix' is \[1,2\] but its next value 'bigger' is \[2,2\]/);
});

test('a reshape to a symbolic product evaluates under the bound sizes', () => {
  const x = input('rx', ['B', 'T', 2]);
  const flat = reshape(x, ['B*T', 2]);
  const r = evaluate(graph({ flat }), { rx: f32([2, 3, 2], new Array(12).fill(1)) });
  assert.deepEqual(r.flat!.shape, [6, 2]);
  assert.equal(dimEval(flat.shape[0]!, { B: 2, T: 3 }), 6);
});
