/**
 * The Executable contract on TensorFlow.js, held to the reference backend as a model: random
 * sequences of run / readState / writeState on a stateful graph give the same results on both;
 * state may be updated from any output (aliases are copied, not shared); fetch and internal
 * outputs; int64 and bool values; errors name what is wrong and leave nothing allocated;
 * executables on different engines interleave; frozen folding changes nothing but the work.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { type Executable, type HostTensor, graph, f32, i32, hostTensor, referenceBackend } from '@prefix-tuning/core';
import { input, param, add, mul, matmul, transpose, reduceSum, cast, less, where, tanh } from '@prefix-tuning/core/graph';
import { backendOf, assertClose, tfjs } from './support.ts';
import { tfjsBackend } from '../src/index.ts';

/** A stateful graph: an accumulator `acc` += x·w, a step counter, a mask from a bool input, an int64 sum. */
const stateful = () => {
  const x = input('x', ['B', 3]);
  const w = param('w', [3, 2]);
  const acc = param('acc', [2]);
  const count = param('count', [], 'int32');
  const flags = input('flags', ['B'], 'bool');
  const ids = input('ids', ['B'], 'int64');
  const y = matmul(x, w); // [B, 2]
  const acc2 = add(acc, reduceSum(y, [0]));
  return graph({
    y, masked: where(flags, reduceSum(y, [1]), 0), acc: acc2, 'acc:new': acc2, 'count:new': add(count, 1),
    idsum: reduceSum(ids), negflags: less(cast(flags, 'int32'), 1), t: tanh(acc),
  });
};
const params = { w: f32([3, 2], [0.5, -1, 0.25, 2, -0.75, 1]) };
const initState = () => ({
  acc: { init: f32([2], [0, 0]), next: 'acc:new' },
  count: { init: i32([], [0]), next: 'count:new' },
});
const feedsOf = (B: number, k: number): Record<string, HostTensor> => ({
  x: f32([B, 3], Array.from({ length: B * 3 }, (_, i) => Math.sin(i + k))),
  flags: hostTensor('bool', [B], Uint8Array.from({ length: B }, (_, i) => (i + k) % 2)),
  ids: hostTensor('int64', [B], BigInt64Array.from({ length: B }, (_, i) => BigInt(i * 1000 + k))),
});

type Action = { kind: 'run'; B: number; fetch?: string[] } | { kind: 'read'; name: 'acc' | 'count' } | { kind: 'write'; value: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('run' as const), B: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('run' as const), B: fc.integer({ min: 1, max: 4 }), fetch: fc.subarray(['y', 'masked', 'acc', 'idsum', 'negflags', 't'], { minLength: 1 }) }),
  fc.record({ kind: fc.constant('read' as const), name: fc.constantFrom('acc' as const, 'count' as const) }),
  fc.record({ kind: fc.constant('write' as const), value: fc.integer({ min: -5, max: 5 }) }),
);

describe('the Executable contract (reference backend as the model)', () => {
  it('random sequences of run, readState and writeState agree with the reference backend', async () => {
    await tfjs().ready();
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 8 }), async (actions) => {
        const g = stateful();
        const copts = { params, state: initState(), internalOutputs: ['acc:new', 'count:new'] };
        const ref = await referenceBackend().compile(g, copts);
        const before = tf.memory().numTensors;
        const tj = await tfjs().compile(g, copts);
        try {
          for (const [k, a] of actions.entries()) {
            if (a.kind === 'run') {
              const [r, t] = await Promise.all([ref.run(feedsOf(a.B, k), a.fetch), tj.run(feedsOf(a.B, k), a.fetch)]);
              assert.deepEqual(Object.keys(t).sort(), Object.keys(r).sort(), 'outputs returned');
              for (const key of Object.keys(r)) assertClose(key, t[key]!, r[key]!);
            } else if (a.kind === 'read') assertClose(a.name, await tj.readState(a.name), await ref.readState(a.name));
            else {
              await ref.writeState('acc', f32([2], [a.value, -a.value]));
              await tj.writeState('acc', f32([2], [a.value, -a.value]));
            }
          }
        } finally {
          await tj.dispose();
          await ref.dispose();
        }
        assert.equal(tf.memory().numTensors, before);
      }),
      { numRuns: 25 },
    );
  });

  it('state entries updated from the same output, or from a parameter, are independent copies', async () => {
    const a = param('a', [2]);
    const b = param('b', [2]);
    const w = param('w', [2]);
    const s = add(a, b);
    const g = graph({ s, 'w:out': w });
    const ex = await tfjs().compile(g, {
      params: { w: f32([2], [7, 8]) },
      state: { a: { init: f32([2], [1, 2]), next: 's' }, b: { init: f32([2], [10, 20]), next: 's' } },
    });
    await ex.run({});
    assert.deepEqual([...(await ex.readState('a')).data], [11, 22]);
    assert.deepEqual([...(await ex.readState('b')).data], [11, 22]);
    await ex.writeState('a', f32([2], [0, 0]));
    assert.deepEqual([...(await ex.readState('b')).data], [11, 22], 'writing one entry leaves the other');
    const r = await ex.run({});
    assert.deepEqual([...r['s']!.data], [11, 22]);
    assert.deepEqual([...(await ex.readState('a')).data], [11, 22]);
    await ex.dispose();
    // a state updated from a frozen parameter's value
    const g2 = graph({ 'v:new': w, v: param('v', [2]) });
    const ex2 = await tfjs().compile(g2, { params: { w: f32([2], [3, 4]) }, state: { v: { init: f32([2], [0, 0]), next: 'v:new' } } });
    await ex2.run({});
    await ex2.run({});
    assert.deepEqual([...(await ex2.readState('v')).data], [3, 4]);
    await ex2.dispose();
  });

  it('int64 values outside [-2^31, 2^31) are rejected; int64 and bool outputs keep their storage', async () => {
    const ex = await tfjs().compile(stateful(), { params, state: initState() });
    const feeds = feedsOf(2, 0);
    const out = await ex.run(feeds, ['idsum', 'negflags']);
    assert.ok(out['idsum']!.data instanceof BigInt64Array);
    assert.equal(out['idsum']!.data[0], 1000n);
    assert.ok(out['negflags']!.data instanceof Uint8Array);
    await assert.rejects(ex.run({ ...feeds, ids: hostTensor('int64', [2], BigInt64Array.from([0n, 2n ** 40n])) }), /int64 value 1099511627776 at 1 is outside/);
    await ex.dispose();
  });
});

describe('errors name what is wrong and leave nothing allocated', () => {
  it('feeds: unknown, missing, state, wrong dtype, wrong concrete dim, inconsistent symbolic dims; unknown fetch', async () => {
    const be = tfjs();
    await be.ready();
    const before = tf.memory().numTensors;
    const ex = await be.compile(stateful(), { params, state: initState() });
    const held = tf.memory().numTensors;
    const ok = feedsOf(2, 0);
    const cases: [Record<string, HostTensor>, RegExp, string[]?][] = [
      [{ ...ok, z: f32([1], [0]) }, /'z' is not an input of the graph/],
      [{ x: ok['x']!, ids: ok['ids']! }, /missing feed input 'flags' \(bool\[B\]\)/],
      [{ ...ok, acc: f32([2], [0, 0]) }, /'acc' is not an input of the graph \(it is a state entry\)/],
      [{ ...ok, x: i32([2, 3], [1, 2, 3, 4, 5, 6]) }, /feed 'x': expected float32, got int32/],
      [{ ...ok, x: f32([2, 4], new Array(8).fill(0)) }, /feed 'x': expected shape \[B,3\], got \[2,4\]/],
      [{ ...ok, flags: hostTensor('bool', [3], Uint8Array.from([1, 0, 1])) }, /flags.*axis 0 is 3 but B = 2/],
      [ok, /unknown output 'nope'/, ['nope']],
    ];
    for (const [feeds, re, fetch] of cases) {
      await assert.rejects(ex.run(feeds, fetch), re);
      assert.equal(tf.memory().numTensors, held);
    }
    await ex.dispose();
    assert.equal(tf.memory().numTensors, before);
    await assert.rejects(ex.run(ok), /disposed/);
  });

  it('compile: missing parameter, state naming no leaf, next not an output or of another type', async () => {
    const be = tfjs();
    const g = stateful();
    await assert.rejects(be.compile(g, { state: initState() }), /no value for parameter 'w' \(float32\[3,2\]\)/);
    await assert.rejects(be.compile(g, { params, state: { ...initState(), nope: { init: f32([1], [0]) } } }), /state 'nope' is not a leaf/);
    await assert.rejects(be.compile(g, { params, state: { ...initState(), acc: { init: f32([2], [0, 0]), next: 'zz' } } }), /'zz', which is not an output/);
    await assert.rejects(be.compile(g, { params, state: { ...initState(), acc: { init: f32([2], [0, 0]), next: 'idsum' } } }), /cannot take output 'idsum'/);
    await assert.rejects(be.compile(g, { params: { w: f32([3, 3], new Array(9).fill(0)) }, state: initState() }), /parameter 'w': expected shape \[3,2\], got \[3,3\]/);
  });
});

describe('engines and folding', () => {
  it('executables on the wasm and cpu engines interleave (the global tfjs engine is switched per call)', async () => {
    const g = stateful();
    const copts = () => ({ params, state: initState() });
    const [a, b] = await Promise.all([tfjs().compile(g, copts()), backendOf('cpu').compile(g, copts())]) as [Executable, Executable];
    const runs = await Promise.all(Array.from({ length: 6 }, (_, k) => (k % 2 ? b : a).run(feedsOf(3, k >> 1))));
    for (let k = 0; k < 6; k += 2) for (const key of Object.keys(runs[k]!)) assertClose(key, runs[k + 1]![key]!, runs[k]![key]!);
    await Promise.all([a.dispose(), b.dispose()]);
  });

  it('folding frozen subgraphs (mT(W), W·W) gives the same values as computing them per run, and holds them resident', async () => {
    const x = input('x', ['B', 4]);
    const w = param('w', [3, 4]);
    const g = graph({ y: matmul(matmul(x, transpose(w, [1, 0])), mul(w, 2)) });
    const p = { w: f32([3, 4], Array.from({ length: 12 }, (_, i) => i / 7 - 0.5)) };
    const feeds = { x: f32([2, 4], [1, -2, 3, 0.5, 0, 1, -1, 2]) };
    const folded = await tfjs().compile(g, { params: p });
    const plain = await tfjsBackend({ engine: 'wasm', foldFrozen: false, log: false }).compile(g, { params: p });
    assertClose('y', (await folded.run(feeds))['y']!, (await plain.run(feeds))['y']!, 1e-6, 1e-7);
    assert.equal(plain.residentTensors(), 2, 'unfolded: w and the constant 2');
    assert.equal(folded.residentTensors(), 2, 'folded: the two frozen operands of the products (w and the constant are released)');
    await Promise.all([folded.dispose(), plain.dispose()]);
  });
});
