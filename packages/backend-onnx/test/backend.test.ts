/**
 * The Backend contract on ONNX Runtime: weights bound as inputs, initializers or external
 * data give the same results; state lives on the runtime side and is replaced by its `next`
 * output after each run; runs on one executable are serialised; misuse gives errors that name
 * the offending input.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { graph, f32, i32, hostTensor } from '@prefix-tuning/core';
import { input, param, add, mul, matmul, reduceSum, transpose, gather } from '@prefix-tuning/core/graph';
import { onnxBackend, toOnnx, cudaAvailable, providersOf } from '../src/index.ts';

const w = f32([3, 2], [1, 2, 3, 4, 5, 6]);
const x = f32([2, 3], [1, 0, -1, 2, 1, 0]);
// y = x @ w: [[1-5, 2-6], [2+3, 4+4]] = [[-4, -4], [5, 8]]
const mm = () => graph({ y: matmul(input('x', ['B', 3]), param('w', [3, 2])) });

describe('weights', () => {
  for (const weights of ['inputs', 'initializers', 'external'] as const)
    it(`bound as ${weights}`, async () => {
      const ex = await onnxBackend({ weights }).compile(mm(), { params: { w } });
      const out = await ex.run({ x });
      assert.deepEqual([...out['y']!.data], [-4, -4, 5, 8]);
      await ex.dispose();
    });

  it('bound inputs are not copied per call: the caller\'s buffer is what the runtime reads', async () => {
    const data = Float32Array.from(w.data as Float32Array);
    const ex = await onnxBackend({ weights: 'inputs' }).compile(mm(), { params: { w: hostTensor('float32', [3, 2], data) } });
    assert.deepEqual([...(await ex.run({ x }))['y']!.data], [-4, -4, 5, 8]);
    data[0] = 2; // visible to the next run only if the memory is shared
    assert.deepEqual([...(await ex.run({ x }))['y']!.data], [-3, -4, 7, 8]);
    await ex.dispose();
  });

  it('a missing parameter, or a value of the wrong shape, is an error naming it', async () => {
    await assert.rejects(onnxBackend().compile(mm(), {}), /no value for parameter 'w'/);
    await assert.rejects(onnxBackend().compile(mm(), { params: { w: f32([2, 3], [1, 2, 3, 4, 5, 6]) } }), /parameter 'w': expected shape \[3,2\], got \[2,3\]/);
  });

  it('toOnnx emits a model with the graph\'s dim_params', () => {
    const bytes = toOnnx(mm());
    assert.ok(Buffer.from(bytes).includes(Buffer.from('B')));
    assert.ok(bytes.byteLength < 2000, 'no weights embedded without initializers');
  });
});

describe('execution providers', () => {
  it('CPU by default; \'auto\' uses CUDA only when its provider libraries are installed; asking for CUDA without them is an error', async () => {
    assert.match(onnxBackend().engine, /cpu/);
    assert.equal(onnxBackend({ executionProviders: 'auto' }).engine.includes('cuda'), cudaAvailable());
    if (!cudaAvailable()) assert.throws(() => onnxBackend({ executionProviders: ['cuda', 'cpu'] }), /CUDA execution provider needs onnxruntime-node's CUDA libraries/);
  });
  it('PREFIX_TUNING_ONNX_EP sets the default: cpu, cuda (with the CPU behind it) or auto; anything else is an error', () => {
    assert.equal(providersOf(undefined), undefined);
    assert.equal(providersOf(' '), undefined);
    assert.deepEqual(providersOf('CPU'), ['cpu']);
    assert.deepEqual(providersOf('cuda'), ['cuda', 'cpu']);
    assert.equal(providersOf('auto'), 'auto');
    assert.throws(() => providersOf('gpu'), /PREFIX_TUNING_ONNX_EP='gpu': expected cpu, cuda or auto/);
    const saved = process.env['PREFIX_TUNING_ONNX_EP'];
    try {
      process.env['PREFIX_TUNING_ONNX_EP'] = 'auto';
      assert.equal(onnxBackend().engine.includes('cuda'), cudaAvailable());
      process.env['PREFIX_TUNING_ONNX_EP'] = 'cpu';
      assert.doesNotMatch(onnxBackend().engine, /cuda/);
      assert.match(onnxBackend({ executionProviders: 'auto' }).engine, cudaAvailable() ? /cuda/ : /cpu/, 'an explicit option wins over the variable');
    } finally {
      if (saved === undefined) delete process.env['PREFIX_TUNING_ONNX_EP'];
      else process.env['PREFIX_TUNING_ONNX_EP'] = saved;
    }
  });
});

describe('feeds', () => {
  it('missing, unknown, mistyped and inconsistent feeds are errors naming the input', async () => {
    const g = graph({ y: add(input('a', ['N', 2]), input('b', ['N', 2])) });
    const ex = await onnxBackend().compile(g);
    const a = f32([1, 2], [1, 2]);
    await assert.rejects(ex.run({ a }), /missing feed 'b'/);
    await assert.rejects(ex.run({ a, b: a, c: a }), /'c' is not an input/);
    await assert.rejects(ex.run({ a, b: i32([1, 2], [1, 2]) }), /feed 'b': expected float32, got int32/);
    await assert.rejects(ex.run({ a, b: f32([1, 3], [1, 2, 3]) }), /feed 'b': expected shape \[N,2\]/);
    await assert.rejects(ex.run({ a, b: f32([2, 2], [1, 2, 3, 4]) }), /dim N is 1 in 'a' but 2 in 'b'/);
    await assert.rejects(ex.run({ a, b: a }, ['z']), /unknown output 'z'/);
    assert.deepEqual([...(await ex.run({ a, b: a }))['y']!.data], [2, 4]);
    await ex.dispose();
    await assert.rejects(ex.run({ a, b: a }), /disposed/);
  });

  it('int64 and bool tensors round-trip', async () => {
    const g = graph({ i: gather(input('t', [3], 'int64'), input('k', [2], 'int32')), m: input('m', [2], 'bool') });
    const ex = await onnxBackend().compile(g);
    const out = await ex.run({ t: hostTensor('int64', [3], BigInt64Array.from([5n, -7n, 9n])), k: i32([2], [2, 1]), m: hostTensor('bool', [2], Uint8Array.from([1, 0])) });
    assert.deepEqual([...out['i']!.data], [9n, -7n]);
    assert.equal(out['m']!.dtype, 'bool');
    assert.deepEqual([...out['m']!.data], [1, 0]);
    await ex.dispose();
  });
});

describe('state', () => {
  // a running sum s <- s + x, and a counter of calls
  const acc = () => {
    const s = param('s', [2]);
    const n = param('n', []);
    return graph({ 's:new': add(s, input('x', [2])), 'n:new': add(n, 1), total: reduceSum(mul(s, 1)) });
  };

  it('is carried between runs, read and written back', async () => {
    const ex = await onnxBackend().compile(acc(), {
      state: { s: { init: f32([2], [0, 0]), next: 's:new' }, n: { init: f32([], [0]), next: 'n:new' } },
      internalOutputs: ['s:new', 'n:new'],
    });
    for (let i = 1; i <= 3; i++) {
      const out = await ex.run({ x: f32([2], [i, 10 * i]) });
      assert.deepEqual(Object.keys(out), ['total'], 'internal outputs are not returned');
    }
    assert.deepEqual([...(await ex.readState('s')).data], [6, 60]);
    assert.deepEqual([...(await ex.readState('n')).data], [3]);
    await ex.writeState('s', f32([2], [1, 1]));
    assert.deepEqual([...(await ex.run({ x: f32([2], [0, 0]) }))['total']!.data], [2]);
    await assert.rejects(ex.writeState('s', f32([3], [1, 1, 1])), /writeState 's': expected float32\[2\]/);
    await assert.rejects(ex.readState('q'), /no state entry 'q'/);
    await assert.rejects(ex.run({ x: f32([2], [0, 0]), s: f32([2], [0, 0]) }), /'s' is state; it cannot be fed/);
    await ex.dispose();
  });

  it('is taken from each run\'s output; a fetched state output is a copy later runs leave alone', async () => {
    const ex = await onnxBackend().compile(acc(), {
      state: { s: { init: f32([2], [0, 0]), next: 's:new' }, n: { init: f32([], [0]), next: 'n:new' } },
    });
    const outs: Float32Array[] = [];
    for (let i = 1; i <= 4; i++) outs.push((await ex.run({ x: f32([2], [i, 0]) }, ['s:new']))['s:new']!.data as Float32Array);
    assert.deepEqual(outs.map((o) => o[0]), [1, 3, 6, 10]);
    outs[3]![0] = -1; // the caller's copy, not the state
    assert.deepEqual([...(await ex.readState('s')).data], [10, 0]);
    await ex.dispose();
  });

  it('onnxruntime-node returns an output in a new buffer even when it wrote a pre-allocated one (why state is not double-buffered)', async () => {
    const session = await ort.InferenceSession.create(toOnnx(graph({ y: mul(input('x', [4]), 2) })));
    const y = new ort.Tensor('float32', new Float32Array(4), [4]);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4]), [4]) }, { y });
    assert.deepEqual([...y.data], [2, 4, 6, 8], 'written into the pre-allocated buffer');
    assert.notEqual((out['y']!.data as Float32Array).buffer, y.data.buffer, 'and returned in another');
    await session.release();
  });

  it('concurrent runs are serialised (each sees the state the previous one left)', async () => {
    const ex = await onnxBackend().compile(acc(), {
      state: { s: { init: f32([2], [0, 0]), next: 's:new' }, n: { init: f32([], [0]), next: 'n:new' } },
    });
    const outs = await Promise.all([1, 2, 3, 4].map((i) => ex.run({ x: f32([2], [i, 0]) }, ['n:new'])));
    assert.deepEqual(outs.map((o) => o['n:new']!.data[0]), [1, 2, 3, 4]);
    await ex.dispose();
  });

  it('bad state specs are compile errors', async () => {
    await assert.rejects(onnxBackend().compile(acc(), { state: { q: { init: f32([], [0]) } } }), /state 'q' is not a leaf/);
    await assert.rejects(onnxBackend().compile(acc(), { state: { s: { init: f32([2], [0, 0]), next: 'nope' } } }), /'nope', which is not an output/);
    await assert.rejects(onnxBackend().compile(acc(), { state: { s: { init: f32([2], [0, 0]), next: 'total' }, n: { init: f32([], [0]) } } }), /cannot take output 'total'/);
  });

  it('a transposed frozen weight and trainable state in one graph', async () => {
    const g = graph({ y: matmul(input('x', ['B', 3]), transpose(param('wt', [2, 3]), [1, 0])), 'b:new': mul(param('b', [2]), 2) });
    const ex = await onnxBackend().compile(g, { params: { wt: f32([2, 3], [1, 3, 5, 2, 4, 6]) }, state: { b: { init: f32([2], [1, 1]), next: 'b:new' } } });
    assert.deepEqual([...(await ex.run({ x }))['y']!.data], [-4, -4, 5, 8]);
    assert.deepEqual([...(await ex.readState('b')).data], [2, 2]);
    await ex.dispose();
  });
});
