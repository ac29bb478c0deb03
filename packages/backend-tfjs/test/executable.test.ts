/**
 * The Executable contract on TensorFlow.js: the shared conformance laws (core's
 * test/support/conformance.ts, which ONNX Runtime runs too), with no tensor outliving dispose;
 * int64 range and storage; errors name what is wrong and leave nothing allocated;
 * executables on different engines interleave; frozen folding changes nothing but the work.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import { type Executable, type HostTensor, graph, f32, i32, hostTensor, referenceBackend } from '@prefix-tuning/core';
import { input, param, add, mul, matmul, transpose, reduceSum, cast, less, where, tanh } from '@prefix-tuning/core/graph';
import { backendOf, assertClose, tfjs } from './support.ts';
import { executableContract, feedsOf, initState, params, stateful } from '../../core/test/support/conformance.ts';
import { tfjsBackend } from '../src/index.ts';

executableContract('tfjs', tfjs, () => tf.memory().numTensors, async () => { await tfjs().ready(); });

describe('the Executable contract: tfjs specifics', () => {
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
