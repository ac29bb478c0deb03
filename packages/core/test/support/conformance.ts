/**
 * The backend conformance laws, one suite that every backend runs (ONNX Runtime and
 * TensorFlow.js call `executableContract` from their tests): the Executable contract held to the
 * reference backend as the model — random sequences of run / readState / writeState on a
 * stateful graph (float, int32, int64 and bool values, fetches, internal outputs) give the same
 * results; state entries updated from one output, or from a parameter, are independent copies.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Backend, type HostTensor, graph, f32, i32, hostTensor, referenceBackend } from '../../src/index.ts';
import { input, param, add, matmul, reduceSum, cast, less, where, tanh } from '../../src/graph.ts';

const num = (v: number | bigint): number => Number(v);

/** |got - want| <= atol + rtol |want| elementwise (NaN equals NaN; integers and bools exactly; same storage class). */
export const assertClose = (what: string, got: HostTensor, want: HostTensor, rtol = 1e-4, atol = 1e-5): void => {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  assert.equal(got.dtype, want.dtype, `${what}: dtype`);
  assert.equal(got.data.constructor, want.data.constructor, `${what}: storage`);
  const n = got.data.length;
  for (let i = 0; i < n; i++) {
    const a = num(got.data[i]!);
    const b = num(want.data[i]!);
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (got.dtype !== 'float32') assert.equal(a, b, `${what}[${i}]: ${a} vs ${b}`);
    else assert.ok(Math.abs(a - b) <= atol + rtol * Math.abs(b) || a === b, `${what}[${i}]: ${a} vs reference ${b}`);
  }
};

/** A stateful graph: an accumulator `acc` += x·w, a step counter, a mask from a bool input, an int64 sum. */
export const stateful = () => {
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
export const params = { w: f32([3, 2], [0.5, -1, 0.25, 2, -0.75, 1]) };
export const initState = () => ({
  acc: { init: f32([2], [0, 0]), next: 'acc:new' },
  count: { init: i32([], [0]), next: 'count:new' },
});
export const feedsOf = (B: number, k: number): Record<string, HostTensor> => ({
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

/**
 * Registers the conformance laws for a backend. `live`, where the backend can count them, is the
 * number of runtime tensors alive (it must be back where it was after dispose); `setup` runs
 * before the laws (an engine to initialise).
 */
export const executableContract = (name: string, make: () => Backend, live?: () => number, setup?: () => Promise<void>): void => {
  describe(`${name}: the Executable contract (reference backend as the model)`, () => {
    if (setup) before(setup);
    it('random sequences of run, readState and writeState agree with the reference backend', async () => {
          await fc.assert(
        fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 8 }), async (actions) => {
          const g = stateful();
          const copts = { params, state: initState(), internalOutputs: ['acc:new', 'count:new'] };
          const ref = await referenceBackend().compile(g, copts);
          const before = live?.();
          const tj = await make().compile(g, copts);
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
          if (live) assert.equal(live(), before, 'tensors outliving dispose');
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
      const ex = await make().compile(g, {
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
      const ex2 = await make().compile(g2, { params: { w: f32([2], [3, 4]) }, state: { v: { init: f32([2], [0, 0]), next: 'v:new' } } });
      await ex2.run({});
      await ex2.run({});
      assert.deepEqual([...(await ex2.readState('v')).data], [3, 4]);
      await ex2.dispose();
    });
  });
};
