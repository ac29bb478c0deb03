/**
 * Ops between transposes. onnxruntime's transpose optimizer (graph optimization level 'basic'
 * and up) pushes a Transpose through the ops below it, rewriting their axis and index
 * arguments (Slice axes, ReduceSum axes, Pad pads, ...), so that transposes cancel. A lowering
 * that passes an argument in a form the optimizer does not rewrite correctly runs into a
 * failure that no single-op test shows: Pad with the opset-18 `axes` input had its two-entry
 * `pads` permuted as if it held 2 * rank entries, an inserted Gather out of bounds at run time
 * (the prefix gradient of a transformer block: pad(sum_B(slice(transpose(dK))))).
 * So each law here puts the op between random transposes and holds ONNX to the reference
 * evaluator over the op's axis and index arguments.
 */
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Node, graph, evaluate, f32 } from '@prefix-tuning/core';
import {
  input, transpose, pad, slice, concat, reduceSum, reduceMax, reduceMean, argMax, softmax, logSoftmax, gather, scatterAdd, reshape, sym
} from '@prefix-tuning/core/graph';
import { type Ctx, type Tok, withCtx, agree } from './support.ts';
import { onnxBackend } from '../src/index.ts';
import assert from 'node:assert/strict';

/** `x` transposed by a random permutation (rank >= 2 so that there is one to push). */
const shuffled = (c: Ctx, x: Node): Node => transpose(x, c.perm(x.shape.length));

/** A pad amount: concrete 0..2 or a symbol (a runtime value computed in the graph). */
const amount = (c: Ctx): Tok => (c.bool() ? c.int(0, 2) : c.pick(['A', 'B']));
const dimOf = (t: Tok) => (typeof t === 'number' ? t : sym(t));

describe('pad between transposes (the transpose optimizer rewrites its pads)', () => {
  it('the smallest case: transpose(pad(transpose(x))) on a matrix', async () => {
    const x = input('x', [2, 3]);
    const y = transpose(pad(transpose(x, [1, 0]), 0, 1, 2), [1, 0]); // [2, 6]
    const g = graph({ y });
    const feeds = { x: f32([2, 3], [1, 2, 3, 4, 5, 6]) };
    // written out: each row of x with one zero before and two after
    assert.deepEqual([...evaluate(g, feeds, {}).y!.data], [0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0]);
    const ex = await onnxBackend({ intraOpNumThreads: 1 }).compile(g, { params: {} });
    try {
      const got = await ex.run(feeds);
      assert.deepEqual(got.y!.shape, [2, 6]);
      assert.deepEqual([...got.y!.data], [0, 1, 2, 3, 0, 0, 0, 4, 5, 6, 0, 0]);
    } finally {
      await ex.dispose();
    }
  });

  it('any rank, axis, permutations and amounts (concrete or symbolic), with and without a reduction between', () =>
    fc.assert(
      fc.asyncProperty(withCtx((c) => {
        const s = c.shape(2, 4);
        const x = shuffled(c, c.input(s));
        const ax = c.int(0, s.length - 1);
        const [before, after] = [amount(c), amount(c)];
        // the gradient's form: a sum over a broadcast axis (keepDims) then the pad
        const src = c.bool() ? reduceSum(x, [c.int(0, s.length - 1)], true) : x;
        const y = shuffled(c, pad(src, ax, dimOf(before), dimOf(after)));
        return { y, dims: c.input(['A', 'B']) };
      }), async ({ c, out }) => {
        await agree(graph(out), c);
      }),
      { numRuns: 40 },
    ));
});

describe('axis and index arguments of other ops between transposes', () => {
  it('slice, concat, reductions, argMax, softmax, logSoftmax, gather, scatterAdd, reshape', () =>
    fc.assert(
      fc.asyncProperty(withCtx((c) => {
        const s0 = c.shape(2, 4);
        const r = s0.length;
        const p = c.perm(r);
        const s = p.map((i) => s0[i]!); // the transposed shape
        const x = transpose(c.input(s0, 'float32', c.distinct(s0.map((t) => c.conc(t)).reduce((a, b) => a * b, 1))), p);
        const x2 = transpose(c.input(s0), p);
        const ax = c.int(0, r - 1);
        const n = c.conc(s[ax]!);
        const start = c.int(0, n);
        const end = c.int(start, n);
        const idx = c.input([c.int(1, 3)], c.pick(['int32', 'int64'] as const), () => c.int(0, n - 1));
        const size = c.int(1, 4);
        const sidx = c.input([s[ax]!], 'int32', () => c.int(0, size - 1));
        const axes = [...new Set([c.int(0, r - 1), c.int(0, r - 1)])];
        const keep = c.bool();
        const out: Record<string, Node> = {
          sl: shuffled(c, slice(x, ax, start, end)),
          cat: shuffled(c, concat([x, x2], ax)),
          sum: reduceSum(x, axes, keep), max: reduceMax(x, axes, keep), mean: reduceMean(x, axes, keep),
          am: argMax(x, ax, keep),
          sm: shuffled(c, softmax(x, ax)), lsm: shuffled(c, logSoftmax(x, ax)),
          ga: shuffled(c, gather(x, idx, ax)),
          sc: shuffled(c, scatterAdd(x, sidx, ax, size)),
          rs: shuffled(c, reshape(x, [...x.shape.slice(0, ax), 1, ...x.shape.slice(ax)])),
        };
        return { ...out, dims: c.input(['A', 'B', 'C']) };
      }), async ({ c, out }) => {
        await agree(graph(out), c);
      }),
      { numRuns: 30 },
    ));
});
