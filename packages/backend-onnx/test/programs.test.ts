/**
 * Random programs: chains of broadcasts, elementwise ops, reductions, layout ops and matmuls
 * (the patterns autodiff produces), lowered with lazily broadcast values, agree with the
 * reference evaluator; and gradients built by core's `grad` through composites agree too.
 */
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Node, type Dim, graph } from '@prefix-tuning/core';
import {
  dimToString, isConcrete, grad, tanh, exp, neg, abs, add, mul, sub, div, maximum, where, less, cast, matmul, reduceSum, reduceMax, reduceMean, reshape, transpose, slice, broadcastTo, concat, gather, softmax, layerNorm, gelu, attention, crossEntropy, iota
} from '@prefix-tuning/core/graph';
import { Ctx, type Tok, withCtx, agree } from './support.ts';

const tokOf = (d: Dim): Tok => (isConcrete(d) ? d : dimToString(d));

/** One random step applied to a value from the pool. */
const step = (c: Ctx, pool: Node[]): Node => {
  const x = c.pick(pool);
  const s = x.shape;
  const r = s.length;
  switch (c.int(0, 9)) {
    case 0: { // broadcast: grow 1-dims and maybe add a leading axis
      const to = s.map((d) => (d === 1 && c.bool() ? c.tok() : d));
      return broadcastTo(x, c.bool() ? [c.tok(), ...to].map((t) => t) : to);
    }
    case 1: return c.bool() ? tanh(x) : exp(neg(abs(x)));
    case 2: { // binary with a fresh operand of a broadcast-compatible shape
      const y = c.input(s.slice(c.int(0, r)).map((d) => (c.bool() ? tokOf(d) : 1)));
      return c.pick([add, mul, sub, maximum])(c.bool() ? x : y, c.bool() ? y : x);
    }
    case 3: { // reduction
      if (r === 0) return x;
      const axes = s.map((_, i) => i).filter(() => c.bool());
      return c.pick([reduceSum, reduceMean, reduceMax])(x, axes.length === 0 ? [0] : axes, c.bool());
    }
    case 4: { // transpose
      const perm = s.map((_, i) => i);
      for (let i = r - 1; i > 0; i--) {
        const j = c.int(0, i);
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      return transpose(x, perm);
    }
    case 5: { // slice a concrete axis
      const ax = s.findIndex((d) => isConcrete(d) && d > 1);
      if (ax < 0) return x;
      const n = s[ax] as number;
      const a = c.int(0, n - 1);
      return slice(x, ax, a, c.int(a + 1, n));
    }
    case 6: { // reshape: drop a unit axis, or insert one
      const u = s.indexOf(1);
      if (u >= 0 && c.bool()) return reshape(x, [...s.slice(0, u), ...s.slice(u + 1)]);
      const i = c.int(0, r);
      return reshape(x, [...s.slice(0, i), 1, ...s.slice(i)]);
    }
    case 7: { // matmul with a fresh matrix (rank >= 2)
      if (r < 2) return x;
      return matmul(x, c.input([tokOf(s[r - 1]!), c.tok()]));
    }
    case 8: // where with a comparison mask
      return where(less(x, 0), x, mul(x, 0.5));
    default: // concat with itself along an axis
      return r === 0 ? x : concat([x, x], c.int(0, r - 1));
  }
};

describe('random programs (lazy broadcasting)', () => {
  it('agree with the reference evaluator', () =>
    fc.assert(
      fc.asyncProperty(withCtx((c) => {
        const s = c.shape(1, 3);
        const pool: Node[] = [broadcastTo(c.input(s.map((t) => (c.bool() ? 1 : t))), [c.tok(), ...s]), c.input(c.shape(1, 3))];
        const n = c.int(2, 8);
        for (let i = 0; i < n; i++) pool.push(step(c, pool));
        // `dims` binds A, B and C however the program used them
        return { y: pool[pool.length - 1]!, z: pool[pool.length - 2]!, dims: c.input(['A', 'B', 'C']) };
      }), async ({ c, out }) => {
        await agree(graph(out), c);
      }),
      { numRuns: 100 },
    ));

  it('lazily broadcast values reach every kind of consumer', () =>
    fc.assert(
      fc.asyncProperty(withCtx((c) => {
        const x = c.input(['A', 1, 3]);
        const b = broadcastTo(x, ['A', 'B', 3]); // lazy over B
        const m = add(b, c.input([1, 'B', 1])); // materialised by the add
        const i = cast(iota(['A', 'B'], 1, 'int32'), 'float32'); // lazy over A
        return {
          sum: reduceSum(b, [1]), sumAll: reduceSum(b), mean: reduceMean(b, [0, 1], true), max: reduceMax(b, [1, 2]),
          mm: matmul(b, c.input([3, 2])), tr: transpose(b, [2, 0, 1]), sl: slice(b, 2, 1, 3), rs: reshape(b, ['A', -1]),
          sm: softmax(b, 1), cat: concat([b, m], 1), gat: gather(b, c.input([2], 'int32', () => c.int(0, c.env['A']! - 1)), 0),
          iota: mul(i, 2), isum: reduceSum(i, [0]), out: b, div: div(m, add(abs(b), 1)),
        };
      }), async ({ c, out }) => {
        await agree(graph(out), c);
      }),
      { numRuns: 15 },
    ));
});

describe('gradients (core grad) lowered to ONNX', () => {
  it('a tiny transformer block with a cross-entropy loss: d loss / d every parameter', () =>
    fc.assert(
      fc.asyncProperty(withCtx((c) => {
        const [D, V, H] = [4, 5, 2];
        const wq = c.param([D, D]);
        const wk = c.param([D, D]);
        const wv = c.param([D, D]);
        const g = c.param([D], () => 1 + c.uniform(-0.2, 0.2));
        const bta = c.param([D]);
        const emb = c.param([V, D]);
        const ids = c.input(['B', 'A'], 'int32', () => c.int(0, V - 1));
        const labels = c.input(['B', 'A'], 'int32', () => (c.rand() < 0.2 ? -100 : c.int(0, V - 1)));
        const x = layerNorm(gather(emb, ids), g, bta); // [B, A, D]
        const heads = (w: Node) => transpose(reshape(matmul(x, w), ['B', 'A', H, D / H]), [0, 2, 1, 3]);
        const y = attention(heads(wq), heads(wk), heads(wv), { causal: true }); // [B, H, A, D/H]
        const h = add(x, gelu(reshape(transpose(y, [0, 2, 1, 3]), ['B', 'A', D]), 'tanh'));
        const logits = matmul(h, transpose(emb, [1, 0])); // [B, A, V]
        const loss = crossEntropy(reshape(logits, [-1, V]), reshape(labels, [-1]), { reduction: c.pick(['mean', 'sum'] as const) });
        const params = [wq, wk, wv, g, bta, emb];
        const gs = grad(loss, params);
        return { loss, ...Object.fromEntries(gs.map((gr, i) => [`g${i}`, gr])) };
      }, false), async ({ c, out }) => {
        await agree(graph(out), c, { rtol: 1e-4, atol: 1e-5 });
      }),
      { numRuns: 10 },
    ));
});
