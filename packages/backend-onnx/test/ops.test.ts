/**
 * Every core op lowered to ONNX agrees with the reference evaluator (the executable spec) on
 * random shapes (concrete and symbolic dims, so dim_params and runtime shape arithmetic are
 * exercised) and random values: |onnx - reference| <= 1e-5 + 1e-4 |reference|. Composites are
 * checked both with their fused ONNX kernels and through their decomposition.
 */
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Node, graph } from '@prefix-tuning/core';
import {
  opNames, opTable, input, param, neg, exp, log, tanh, erf, sqrt, rsqrt, sin, cos, recip, abs, logicalNot, cast, add, sub, mul, div, maximum, minimum, pow, equal, less, lessEqual, logicalAnd, logicalOr, where, matmul, reduceSum, reduceMax, reduceMean, argMax, gather, scatterAdd, concat, slice, pad, reshape, transpose, broadcastTo, softmax, logSoftmax, layerNorm, rmsNorm, gelu, silu, attention, crossEntropy, iota, constant, scalar, sym, grad, dimSub, dimMul
} from '@prefix-tuning/core/graph';
import { Ctx, type Tok, withCtx, agree } from './support.ts';
import { compositeOps, loweringTable, type FusionOptions } from '../src/lower/table.ts';
import { lowerGraph } from '../src/lower/graph.ts';
import assert from 'node:assert/strict';

const RUNS = 12;

type Case = (c: Ctx) => Node | Record<string, Node>;

const check = (build: Case, opts: { runs?: number; fusions?: Partial<FusionOptions>; rtol?: number; atol?: number } = {}) =>
  fc.assert(
    fc.asyncProperty(withCtx(build), async ({ c, out }) => {
      const g = graph('id' in (out as object) && typeof (out as Node).id === 'number' ? { y: out as Node } : (out as Record<string, Node>));
      await agree(g, c, { ...(opts.fusions ? { fusions: opts.fusions } : {}), ...(opts.rtol ? { rtol: opts.rtol } : {}), ...(opts.atol ? { atol: opts.atol } : {}) });
    }),
    { numRuns: opts.runs ?? RUNS },
  );

/** A shape broadcastable to `s`: leading axes dropped, some dims replaced by 1. */
const bcastOf = (c: Ctx, s: readonly Tok[]): Tok[] => s.slice(c.int(0, s.length)).map((d) => (c.bool() ? d : 1));

const pos = (c: Ctx) => () => c.uniform(0.1, 3);
const intVals = (c: Ctx, lo = -5, hi = 5) => () => c.int(lo, hi);

const unaryCases: [string, (x: Node) => Node, (c: Ctx) => () => number][] = [
  ['neg', neg, (c) => () => c.uniform(-3, 3)], ['exp', exp, (c) => () => c.uniform(-3, 3)], ['log', log, pos],
  ['tanh', tanh, (c) => () => c.uniform(-3, 3)], ['erf', erf, (c) => () => c.uniform(-3, 3)], ['sqrt', sqrt, pos], ['rsqrt', rsqrt, pos],
  ['sin', sin, (c) => () => c.uniform(-3, 3)], ['cos', cos, (c) => () => c.uniform(-3, 3)],
  ['recip', recip, (c) => () => (c.bool() ? 1 : -1) * c.uniform(0.2, 3)], ['abs', abs, (c) => () => c.uniform(-3, 3)],
];

const binaryCases: [string, (a: Node, b: Node) => Node, 'float' | 'int' | 'both'][] = [
  ['add', add, 'both'], ['sub', sub, 'both'], ['mul', mul, 'both'], ['div', div, 'both'],
  ['maximum', maximum, 'both'], ['minimum', minimum, 'both'], ['pow', pow, 'float'],
  ['equal', equal, 'both'], ['less', less, 'both'], ['lessEqual', lessEqual, 'both'],
];

describe('peepholes', () => {
  it('cross-entropy gathers from one log-softmax, which its gradient\'s softmax reads; the one-hot is a scatter', () => {
    const logits = input('logits', ['N', 7]);
    const loss = crossEntropy(logits, input('labels', ['N'], 'int32'));
    const nodes = lowerGraph(graph({ loss, g: grad(loss, [logits])[0]! })).model.graph.nodes;
    const ops = nodes.map((n) => n.opType);
    assert.ok(ops.includes('ScatterElements') && ops.includes('GatherElements') && !ops.includes('SoftmaxCrossEntropyLoss'), ops.join(' '));
    const lsm = nodes.filter((n) => n.opType === 'LogSoftmax');
    const sm = nodes.filter((n) => n.opType === 'Softmax');
    assert.equal(lsm.length, 1, 'one log-softmax');
    assert.equal(sm.length, 1, 'one softmax');
    assert.deepEqual(sm[0]!.inputs, lsm[0]!.outputs, 'softmax(logits) is computed from the log-softmax');
    assert.deepEqual(nodes.filter((n) => n.inputs.includes('logits')).map((n) => n.opType), ['LogSoftmax'], 'the logits have one reader');
  });
  it('softmax(x) from logSoftmax(x) along the same axis equals softmax(x)', () => check((c) => {
    const s = c.shape(1, 3);
    const x = c.input(s, 'float32', () => c.uniform(-30, 30));
    const axis = c.int(0, s.length - 1);
    return { p: softmax(x, axis), l: logSoftmax(x, axis) };
  }));
  it('a per-row scale of a product\'s left operand scales the product instead (the loss gradient through the LM head)', () => {
    const h = input('h', ['B', 'T', 4]);
    const w = param('w', [9, 4]);
    const logits = matmul(h, transpose(w, [1, 0])); // [B,T,9]
    const flat = reshape(logits, [dimMul(h.shape[0]!, h.shape[1]!), 9]);
    const labels = reshape(input('labels', ['B', 'T'], 'int32'), [dimMul(h.shape[0]!, h.shape[1]!)]);
    const loss = crossEntropy(flat, labels);
    const nodes = lowerGraph(graph({ loss, dh: grad(loss, [h])[0]! })).model.graph.nodes;
    const producer = (v: string) => nodes.find((n) => n.outputs.includes(v));
    const scatter = nodes.find((n) => n.opType === 'ScatterElements')!;
    const readers = (v: string): string[] => nodes.filter((n) => n.inputs.includes(v)).flatMap((n) => (n.opType === 'Reshape' ? readers(n.outputs[0]!) : [n.opType]));
    assert.deepEqual(readers(scatter.outputs[0]!), ['MatMul'], 'the [N, V] gradient goes straight into the product');
    assert.ok(nodes.some((n) => n.opType === 'Mul' && producer(n.inputs[0]!)?.opType === 'MatMul'), 'the product is scaled');
  });
  it('row-scaled products: (X * s) @ B, through a reshape keeping the last axis, s on either side', () => check((c) => {
    const [k, n] = [c.int(2, 5), c.int(1, 4)];
    const x = c.input(['A', 'B', k]);
    const s = c.input(c.pick([['A', 'B', 1], ['B', 1], [1]] as const) as Tok[]);
    const b = c.input([k, n]);
    const xs = c.bool() ? mul(x, s) : mul(s, x);
    const flat = reshape(xs, [dimMul(x.shape[0]!, x.shape[1]!), k]);
    return c.bool() ? matmul(xs, b) : matmul(flat, b);
  }));
  it('a one-hot subtracted from a larger (broadcasting) operand is not a scatter', () => check((c) => {
    const labels = c.input(['A'], 'int32', () => c.int(-1, 5));
    const onehot = cast(equal(iota(['A', 5], 1, 'int32'), reshape(labels, ['A', 1])), 'float32');
    return { big: sub(c.input([2, 'A', 5]), onehot), same: sub(c.input(['A', 5]), onehot) };
  }));
  it('slicing rows of a product nobody else reads multiplies only those rows', () => {
    const x = input('x', ['B', 'T', 4]);
    const w = param('w', [4, 9]);
    const T = x.shape[1]!;
    const last = slice(matmul(x, w), 1, dimSub(T, 1), T);
    const nodes = lowerGraph(graph({ last })).model.graph.nodes;
    const mm = nodes.find((n) => n.opType === 'MatMul')!;
    assert.ok(nodes.find((n) => n.outputs.includes(mm.inputs[0]!))?.opType === 'Slice', 'the MatMul reads the sliced rows');
    const both = lowerGraph(graph({ last, all: matmul(x, w) })).model.graph.nodes;
    assert.equal(both.filter((n) => n.opType === 'MatMul').length, 1, 'a product read elsewhere is computed once and sliced');
  });
  it('composites with hand-written VJPs keep their fused forward kernels when differentiated', () => {
    const x = input('x', ['N', 4]);
    const gm = param('g', [4]);
    const y = gelu(layerNorm(x, gm, param('b', [4])), 'tanh');
    const loss = reduceSum(mul(y, y));
    const bwd = lowerGraph(graph({ loss, dx: grad(loss, [x])[0]! })).model.graph.nodes.map((n) => n.opType);
    assert.ok(bwd.includes('Gelu') && bwd.includes('LayerNormalization'), bwd.join(' '));
  });
  it('a scalar gelu takes the decomposition (onnxruntime\'s CUDA Gelu kernels reject rank-0 inputs), a vector the fused kernel', () => {
    for (const fusion of ['onnx', 'contrib'] as const) {
      const ops = (shape: readonly number[]) =>
        lowerGraph(graph({ y: gelu(input('x', shape), 'none'), t: gelu(input('x', shape), 'tanh') }), { fusions: { gelu: fusion } }).model.graph.nodes.map((n) => n.opType);
      assert.ok(!ops([]).some((o) => o === 'Gelu' || o === 'FastGelu'), ops([]).join(' '));
      assert.ok(ops([1]).includes('Gelu'), ops([1]).join(' '));
    }
  });
  it('composites differentiated through their decomposition are not also computed by a fused kernel', () => {
    const q = input('q', ['B', 2, 'T', 4]);
    const k = input('k', ['B', 2, 'T', 4]);
    const v = input('v', ['B', 2, 'T', 4]);
    const loss = reduceSum(attention(q, k, v));
    const fwd = lowerGraph(graph({ loss })).model.graph.nodes.map((n) => n.opType);
    assert.ok(fwd.includes('FusedMatMul'), fwd.join(' '));
    const bwd = lowerGraph(graph({ loss, dq: grad(loss, [q])[0]! })).model.graph.nodes.map((n) => n.opType);
    assert.ok(!bwd.includes('FusedMatMul'), bwd.join(' '));
  });
});

describe('every op has a lowering or a decomposition', () => {
  it('primitives are in the table; the composites list is exactly the composite ops', () => {
    const composites = opNames.filter((n) => opTable[n].kind === 'composite').sort();
    assert.deepEqual([...compositeOps].sort(), composites);
    for (const n of opNames) if (!compositeOps.includes(n as never)) assert.ok(n in loweringTable, `no lowering for ${n}`);
  });
});

describe('elementwise unary', () => {
  for (const [name, f, vals] of unaryCases) it(name, () => check((c) => f(c.input(c.shape(0, 4), 'float32', vals(c)))));
  it('neg, abs on int32', () => check((c) => {
    const x = c.input(c.shape(0, 3), 'int32', intVals(c));
    return { n: neg(x), a: abs(x) };
  }));
  it('logicalNot', () => check((c) => logicalNot(c.input(c.shape(0, 3), 'bool', () => (c.bool() ? 1 : 0)))));
  it('cast between every dtype pair (float -> int truncates toward zero)', () => check((c) => {
    const s = c.shape(0, 3);
    const f = c.input(s, 'float32', () => c.uniform(-4, 4));
    const i = c.input(s, 'int32', intVals(c));
    const b = c.input(s, 'bool', () => (c.bool() ? 1 : 0));
    return {
      fi: cast(f, 'int32'), fl: cast(f, 'int64'), fb: cast(f, 'bool'), if: cast(i, 'float32'), il: cast(i, 'int64'),
      ib: cast(i, 'bool'), bf: cast(b, 'float32'), bi: cast(b, 'int32'), li: cast(cast(i, 'int64'), 'int32'),
    };
  }));
});

describe('elementwise binary with broadcasting', () => {
  for (const [name, f, kind] of binaryCases) {
    if (kind !== 'int')
      it(`${name} (float32)`, () => check((c) => {
        const s = c.shape(0, 4);
        const t = bcastOf(c, s);
        const [x, y] = c.bool() ? [s, t] : [t, s];
        // small integers give ties for comparisons and max/min; keep div/pow away from 0
        const v = name === 'div' ? () => (c.bool() ? 1 : -1) * c.uniform(0.25, 2) : name === 'pow' ? pos(c) : ['equal', 'less', 'lessEqual', 'maximum', 'minimum'].includes(name) ? () => c.int(-2, 2) / 2 : () => c.uniform(-2, 2);
        return f(c.input(x, 'float32', name === 'pow' ? pos(c) : () => c.uniform(-2, 2)), c.input(y, 'float32', v));
      }));
    if (kind !== 'float')
      it(`${name} (int32)`, () => check((c) => {
        const s = c.shape(0, 3);
        const t = bcastOf(c, s);
        return f(c.input(s, 'int32', intVals(c)), c.input(t, 'int32', name === 'div' ? () => (c.bool() ? 1 : -1) * c.int(1, 4) : intVals(c, -3, 3)));
      }));
  }
  it('logicalAnd, logicalOr', () => check((c) => {
    const s = c.shape(0, 3);
    const a = c.input(s, 'bool', () => (c.bool() ? 1 : 0));
    const b = c.input(bcastOf(c, s), 'bool', () => (c.bool() ? 1 : 0));
    return { and: logicalAnd(a, b), or: logicalOr(b, a) };
  }));
  it('where (all three operands broadcast)', () => check((c) => {
    const s = c.shape(0, 4);
    return where(c.input(bcastOf(c, s), 'bool', () => (c.bool() ? 1 : 0)), c.input(bcastOf(c, s)), c.input(s));
  }));
  it('number operands (scalar constants)', () => check((c) => {
    const x = c.input(c.shape(0, 3));
    return { a: add(x, 2.5), b: mul(-1.5, x), d: div(1, add(abs(x), 1)) };
  }));
});

describe('matmul', () => {
  it('batched with broadcast batch dims', () => check((c) => {
    const [m, k, n] = [c.tok(), c.tok(), c.tok()];
    const batch = c.shape(0, 2);
    const b2 = bcastOf(c, batch);
    return c.bool() ? matmul(c.input([...batch, m, k]), c.input([...b2, k, n])) : matmul(c.input([...b2, m, k]), c.input([...batch, k, n]));
  }));
  it('with a bound parameter and a transposed operand', () => check((c) => {
    const [k, n] = [c.int(1, 5), c.int(1, 5)];
    const w = c.param([n, k]);
    return matmul(c.input(['B', 'A', k]), transpose(w, [1, 0]));
  }));
});

describe('reductions', () => {
  const axesOf = (c: Ctx, r: number): number[] => Array.from({ length: r }, (_, i) => i).filter(() => c.bool());
  for (const [name, f] of [['reduceSum', reduceSum], ['reduceMax', reduceMax], ['reduceMean', reduceMean]] as const)
    it(name, () => check((c) => {
      const s = c.shape(1, 4);
      const n = s.map((t) => c.conc(t)).reduce((a, b) => a * b, 1);
      return f(c.input(s, 'float32', c.distinct(n)), axesOf(c, s.length), c.bool());
    }));
  it('reduceSum and reduceMax on int32', () => check((c) => {
    const s = c.shape(1, 3);
    const x = c.input(s, 'int32', intVals(c));
    const axes = axesOf(c, s.length);
    return { s: reduceSum(x, axes, c.bool()), m: reduceMax(x, axes.length === 0 ? [0] : axes) };
  }));
  it('argMax (first index on ties)', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    return { d: argMax(c.input(s, 'float32', c.distinct(s.map((t) => c.conc(t)).reduce((a, b) => a * b, 1))), ax, c.bool()), t: argMax(c.input(s, 'float32', () => c.int(0, 1)), ax) };
  }));
});

describe('indexing', () => {
  it('gather on any axis with int32/int64 indices of any rank', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const n = c.conc(s[ax]!);
    const dt = c.pick(['int32', 'int64'] as const);
    return gather(c.input(s), c.input(c.shape(0, 2), dt, () => c.int(0, n - 1)), ax);
  }));
  it('scatterAdd (duplicate indices sum; concrete or symbolic size)', () => check((c) => {
    const pre = c.shape(0, 1);
    const idxShape = c.shape(1, 2);
    const post = c.shape(0, 2);
    const symbolic = c.bool();
    const size = symbolic ? c.env['C']! : c.int(1, 4);
    const upd = c.input([...pre, ...idxShape, ...post]);
    const idx = c.input(idxShape, c.pick(['int32', 'int64'] as const), () => c.int(0, size - 1));
    const y = scatterAdd(upd, idx, pre.length, symbolic ? sym('C') : size);
    return symbolic ? { y, size: c.input(['C']) } : y; // C is bound by the shape of `size`
  }));
});

describe('layout', () => {
  it('concat', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const parts = Array.from({ length: c.int(2, 3) }, () => c.input(s.map((d, i) => (i === ax ? c.tok() : d))));
    return concat(parts, ax);
  }));
  it('slice with concrete bounds, and symbolic bounds recovering concatenated parts', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const n = c.int(1, 5);
    const x = c.input(s.map((d, i) => (i === ax ? n : d)));
    const a = c.int(0, n);
    const b = c.int(a, n);
    const p = c.input(['A', 2]);
    const q = c.input(['B', 2]);
    const pq = concat([p, q], 0);
    return { lit: slice(x, ax, a, b), first: slice(pq, 0, 0, sym('A')), second: slice(pq, 0, sym('A'), pq.shape[0]!), drop1: slice(p, 0, 1, sym('A')) };
  }));
  it('pad (concrete and symbolic amounts)', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    return { y: pad(c.input(s), ax, c.bool() ? c.int(0, 2) : sym('B'), c.int(0, 2)), b: c.input(['B']) };
  }));
  it('reshape: merging and splitting symbolic axes', () => check((c) => {
    const x = c.input(['A', 'B', 3]);
    return { m: reshape(x, [-1, 3]), s: reshape(reshape(x, ['A', -1]), ['A', 'B', 3]), f: reshape(x, [-1]), u: reshape(x, [1, 'A', 1, 'B', 3]) };
  }));
  it('transpose', () => check((c) => {
    const s = c.shape(0, 4);
    const perm = s.map((_, i) => i);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = c.int(0, i);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    return transpose(c.input(s), perm);
  }));
  it('broadcastTo', () => check((c) => {
    const s = c.shape(0, 4);
    return { y: broadcastTo(c.input(bcastOf(c, s)), s), dims: c.input(s) };
  }));
});

describe('leaves', () => {
  it('iota on any axis in every numeric dtype; constants', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const x = c.input(s);
    return {
      i: add(cast(iota(s, ax, 'int32'), 'float32'), x), l: iota(s, ax, 'int64'), f: iota(s, ax, 'float32'),
      k: mul(x, constant([1.5], [1])), b: constant([1, 0, 1], [3], 'bool'), z: scalar(7, 'int32'),
    };
  }));
});

const fusionsOff: Partial<FusionOptions> = { gelu: 'decompose', layerNorm: false, softmax: false, crossEntropy: false, attention: 'decompose' };

for (const [label, fusions] of [['fused kernels', {}], ['decompositions', fusionsOff]] as const) {
  describe(`composites (${label})`, () => {
    it('softmax, logSoftmax', () => check((c) => {
      const s = c.shape(1, 4);
      const ax = c.int(0, s.length - 1);
      const x = c.input(s, 'float32', () => c.uniform(-5, 5));
      return { s: softmax(x, ax), l: logSoftmax(x, ax) };
    }, { fusions }));
    it('layerNorm, rmsNorm', () => check((c) => {
      const s = c.shape(1, 3);
      const d = c.int(1, 6);
      const x = c.input([...s, d], 'float32', () => c.uniform(-3, 3));
      return { ln: layerNorm(x, c.param([d]), c.param([d]), 1e-5), rms: rmsNorm(x, c.param([d]), 1e-6) };
    }, { fusions }));
    it('gelu (erf and tanh), silu', () => check((c) => {
      const x = c.input(c.shape(0, 3), 'float32', () => c.uniform(-5, 5));
      return { e: gelu(x, 'none'), t: gelu(x, 'tanh'), s: silu(x) };
    }, { fusions }));
    it('attention: causal or not, key mask, grouped-query heads, past keys (Tq <= Tk)', () => check((c) => {
      const hk = c.int(1, 2);
      const h = hk * c.int(1, 2);
      const d = c.int(1, 4);
      const withPast = c.bool();
      const q = c.input(['C', h, 'A', d]);
      const kOwn = c.input(['C', hk, 'A', d]);
      const vOwn = c.input(['C', hk, 'A', d + 1]);
      const k = withPast ? concat([c.input(['C', hk, 'B', d]), kOwn], 2) : kOwn;
      const v = withPast ? concat([c.input(['C', hk, 'B', d + 1]), vOwn], 2) : vOwn;
      const km = c.bool() ? c.input(['C', withPast ? 'A+B' : 'A'], 'bool', () => (c.rand() < 0.7 ? 1 : 0)) : undefined;
      return attention(q, k, v, { scale: c.uniform(0.2, 1), causal: c.bool(), ...(km ? { keyMask: km } : {}) });
    }, { fusions }));
    it('crossEntropy: mean, sum, none; ignored labels (all ignored: mean is 0)', () => check((c) => {
      const v = c.int(2, 6);
      const logits = c.input(['A', v], 'float32', () => c.uniform(-4, 4));
      const labels = c.input(['A'], c.pick(['int32', 'int64'] as const), () => (c.rand() < 0.3 ? -100 : c.int(0, v - 1)));
      return { m: crossEntropy(logits, labels), s: crossEntropy(logits, labels, { reduction: 'sum' }), n: crossEntropy(logits, labels, { reduction: 'none' }) };
    }, { fusions }));
    it('crossEntropy and its gradient with labels outside [0, V) (they contribute 0)', () => check((c) => {
      const v = c.int(2, 5);
      const logits = c.input(['A', v], 'float32', () => c.uniform(-4, 4));
      const labels = c.input(['A'], 'int32', () => c.pick([-100, -1, v, v + 3, c.int(0, v - 1)]));
      const loss = crossEntropy(logits, labels, { reduction: c.pick(['mean', 'sum'] as const) });
      return { loss, grad: grad(loss, [logits])[0]! };
    }, { fusions }));
  });
}
