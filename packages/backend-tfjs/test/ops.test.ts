/**
 * Every core op lowered to TensorFlow.js agrees with the reference evaluator (the executable
 * spec) on random shapes (concrete and symbolic dims) and values, on the engine under test (wasm
 * here; see support.ts) and the pure-JS
 * cpu engines: |tfjs - reference| <= 1e-5 + 1e-4 |reference|, integers and bools exactly.
 * Composites are checked with their fused tfjs lowerings and as decompositions ('tfjs-spec').
 * Every case also shows that compile + run + dispose leaves no tfjs tensor behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Node, graph } from '@prefix-tuning/core';
import {
  opNames, opTable, neg, exp, log, tanh, erf, sqrt, rsqrt, sin, cos, recip, abs, logicalNot, cast, add, sub, mul, div, maximum, minimum, pow, equal, less, lessEqual, logicalAnd, logicalOr, where, matmul, reduceSum, reduceMax, reduceMean, argMax, gather, scatterAdd, concat, slice, pad, reshape, transpose, broadcastTo, softmax, logSoftmax, layerNorm, rmsNorm, gelu, silu, attention, crossEntropy, iota, constant, scalar, sym
} from '@prefix-tuning/core/graph';
import { Ctx, type Tok, type Which, withCtx, agree } from './support.ts';
import { loweringTable, fusedRules } from '../src/lower.ts';

const RUNS = 10;

type Case = (c: Ctx) => Node | Record<string, Node>;

const check = (build: Case, opts: { runs?: number; on?: readonly Which[]; rtol?: number; atol?: number } = {}) =>
  fc.assert(
    fc.asyncProperty(withCtx(build), async ({ c, out }) => {
      const g = graph(typeof (out as Node).id === 'number' && 'op' in (out as object) ? { y: out as Node } : (out as Record<string, Node>));
      await agree(g, c, { ...(opts.on ? { on: opts.on } : {}), ...(opts.rtol ? { rtol: opts.rtol } : {}), ...(opts.atol ? { atol: opts.atol } : {}) });
    }),
    { numRuns: opts.runs ?? RUNS },
  );

/** A shape broadcastable to `s`: leading axes dropped, some dims replaced by 1. */
const bcastOf = (c: Ctx, s: readonly Tok[]): Tok[] => s.slice(c.int(0, s.length)).map((d) => (c.bool() ? d : 1));
const pos = (c: Ctx) => () => c.uniform(0.1, 3);
const intVals = (c: Ctx, lo = -5, hi = 5) => () => c.int(lo, hi);
const bits = (c: Ctx) => () => (c.bool() ? 1 : 0);

describe('the lowering table', () => {
  it('has a lowering for every primitive and a fused rule or decomposition for every composite', () => {
    for (const n of opNames) {
      const def = opTable[n];
      if (def.kind === 'composite') assert.ok(n in fusedRules || def.decompose !== undefined, `${n}: neither fused nor decomposable`);
      else assert.ok(n in loweringTable, `no lowering for primitive ${n}`);
    }
  });
});

describe('elementwise unary', () => {
  const cases: [string, (x: Node) => Node, (c: Ctx) => () => number][] = [
    ['neg', neg, (c) => () => c.uniform(-3, 3)], ['exp', exp, (c) => () => c.uniform(-3, 3)], ['log', log, pos],
    ['tanh', tanh, (c) => () => c.uniform(-3, 3)], ['erf', erf, (c) => () => c.uniform(-3, 3)], ['sqrt', sqrt, pos], ['rsqrt', rsqrt, pos],
    ['sin', sin, (c) => () => c.uniform(-3, 3)], ['cos', cos, (c) => () => c.uniform(-3, 3)],
    ['recip', recip, (c) => () => (c.bool() ? 1 : -1) * c.uniform(0.2, 3)], ['abs', abs, (c) => () => c.uniform(-3, 3)],
  ];
  for (const [name, f, vals] of cases) it(name, () => check((c) => f(c.input(c.shape(0, 4), 'float32', vals(c)))));
  it('neg, abs on int32 and int64', () => check((c) => {
    const x = c.input(c.shape(0, 3), c.pick(['int32', 'int64'] as const), intVals(c));
    return { n: neg(x), a: abs(x) };
  }));
  it('logicalNot', () => check((c) => logicalNot(c.input(c.shape(0, 3), 'bool', bits(c)))));
  it('cast between every dtype pair (float -> int truncates toward zero)', () => check((c) => {
    const s = c.shape(0, 3);
    const f = c.input(s, 'float32', () => c.uniform(-4, 4));
    const i = c.input(s, 'int32', intVals(c));
    const b = c.input(s, 'bool', bits(c));
    return {
      fi: cast(f, 'int32'), fl: cast(f, 'int64'), fb: cast(f, 'bool'), if: cast(i, 'float32'), il: cast(i, 'int64'),
      ib: cast(i, 'bool'), bf: cast(b, 'float32'), bi: cast(b, 'int32'), bl: cast(b, 'int64'), li: cast(cast(i, 'int64'), 'int32'),
      lb: cast(cast(i, 'int64'), 'bool'), lf: cast(cast(i, 'int64'), 'float32'),
    };
  }));
});

describe('elementwise binary with broadcasting', () => {
  const cases: [string, (a: Node, b: Node) => Node, 'float' | 'both'][] = [
    ['add', add, 'both'], ['sub', sub, 'both'], ['mul', mul, 'both'], ['div', div, 'both'],
    ['maximum', maximum, 'both'], ['minimum', minimum, 'both'], ['pow', pow, 'float'],
    ['equal', equal, 'both'], ['less', less, 'both'], ['lessEqual', lessEqual, 'both'],
  ];
  for (const [name, f, kind] of cases) {
    it(`${name} (float32)`, () => check((c) => {
      const s = c.shape(0, 4);
      const t = bcastOf(c, s);
      const [x, y] = c.bool() ? [s, t] : [t, s];
      // small multiples of 1/2 give ties for comparisons and max/min; keep div and pow away from 0
      const ties = ['equal', 'less', 'lessEqual', 'maximum', 'minimum'].includes(name);
      const v = name === 'div' ? () => (c.bool() ? 1 : -1) * c.uniform(0.25, 2) : name === 'pow' ? pos(c) : ties ? () => c.int(-2, 2) / 2 : () => c.uniform(-2, 2);
      return f(c.input(x, 'float32', name === 'pow' ? pos(c) : ties ? () => c.int(-2, 2) / 2 : () => c.uniform(-2, 2)), c.input(y, 'float32', v));
    }));
    if (kind === 'both')
      it(`${name} (int32, int64; division truncates toward zero)`, () => check((c) => {
        const s = c.shape(0, 3);
        const dt = c.pick(['int32', 'int64'] as const);
        return f(c.input(s, dt, intVals(c, -9, 9)), c.input(bcastOf(c, s), dt, name === 'div' ? () => (c.bool() ? 1 : -1) * c.int(1, 4) : intVals(c, -3, 3)));
      }));
  }
  it('equal on bools', () => check((c) => {
    const s = c.shape(0, 3);
    return equal(c.input(s, 'bool', bits(c)), c.input(bcastOf(c, s), 'bool', bits(c)));
  }));
  it('logicalAnd, logicalOr', () => check((c) => {
    const s = c.shape(0, 3);
    const a = c.input(s, 'bool', bits(c));
    const b = c.input(bcastOf(c, s), 'bool', bits(c));
    return { and: logicalAnd(a, b), or: logicalOr(b, a) };
  }));
  it('where: all three operands broadcast, in every dtype', () => check((c) => {
    const s = c.shape(0, 4);
    const dt = c.pick(['float32', 'int32', 'int64', 'bool'] as const);
    const v = dt === 'bool' ? bits(c) : dt === 'float32' ? () => c.uniform(-1, 1) : intVals(c);
    return where(c.input(bcastOf(c, s), 'bool', bits(c)), c.input(bcastOf(c, s), dt, v), c.input(s, dt, v));
  }));
  it('number operands (scalar constants)', () => check((c) => {
    const x = c.input(c.shape(0, 3));
    return { a: add(x, 2.5), b: mul(-1.5, x), d: div(1, add(abs(x), 1)) };
  }));
});

describe('matmul', () => {
  it('batched with broadcast batch dims on either side', () => check((c) => {
    const [m, k, n] = [c.tok(), c.tok(), c.tok()];
    const batch = c.shape(0, 3);
    const b2 = bcastOf(c, batch);
    return c.bool() ? matmul(c.input([...batch, m, k]), c.input([...b2, k, n])) : matmul(c.input([...b2, m, k]), c.input([...batch, k, n]));
  }));
  it('a matrix on the left of a batch, and a batch on the left of a matrix', () => check((c) => {
    const [m, k, n] = [c.tok(), c.tok(), c.tok()];
    const batch = c.shape(1, 3);
    return { l: matmul(c.input([m, k]), c.input([...batch, k, n])), r: matmul(c.input([...batch, m, k]), c.input([k, n])), one: matmul(c.input([1, 1, m, k]), c.input([k, n])) };
  }));
  it('with a bound parameter and transposed operands (folded at compile time)', () => check((c) => {
    const [k, n] = [c.int(1, 5), c.int(1, 5)];
    const w = c.param([n, k]);
    const x = c.input(['B', 'A', k]);
    return { y: matmul(x, transpose(w, [1, 0])), back: matmul(matmul(x, transpose(w, [1, 0])), transpose(transpose(w, [1, 0]), [1, 0])) };
  }));
  it('the batched-product strategies agree: one product per batch entry on wasm, one batched product on cpu', () => check((c) => {
    const [m, k, n] = [c.tok(), c.tok(), c.tok()];
    const batch = c.shape(1, 2);
    return matmul(c.input([...batch, m, k]), c.input([...batch, k, n]));
  }, { on: ['tfjs', 'cpu'] }));
});

describe('reductions', () => {
  const axesOf = (c: Ctx, r: number): number[] => Array.from({ length: r }, (_, i) => i).filter(() => c.bool());
  for (const [name, f] of [['reduceSum', reduceSum], ['reduceMax', reduceMax], ['reduceMean', reduceMean]] as const)
    it(name, () => check((c) => {
      const s = c.shape(1, 4);
      const n = s.map((t) => c.conc(t)).reduce((a, b) => a * b, 1);
      return f(c.input(s, 'float32', c.distinct(n)), axesOf(c, s.length), c.bool());
    }));
  it('reduceSum and reduceMax on int32 and int64', () => check((c) => {
    const s = c.shape(1, 3);
    const x = c.input(s, c.pick(['int32', 'int64'] as const), intVals(c));
    const axes = axesOf(c, s.length);
    return { s: reduceSum(x, axes, c.bool()), m: reduceMax(x, axes.length === 0 ? [0] : axes) };
  }));
  it('argMax (first index on ties)', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const n = s.map((t) => c.conc(t)).reduce((a, b) => a * b, 1);
    return { d: argMax(c.input(s, 'float32', c.distinct(n)), ax, c.bool()), t: argMax(c.input(s, 'float32', () => c.int(0, 1)), ax) };
  }));
});

describe('indexing', () => {
  it('gather on any axis with int32/int64 indices of any rank, from float, int and bool tables', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const n = c.conc(s[ax]!);
    const dt = c.pick(['int32', 'int64'] as const);
    const tdt = c.pick(['float32', 'int32', 'bool'] as const);
    const table = c.input(s, tdt, tdt === 'bool' ? bits(c) : tdt === 'int32' ? intVals(c) : () => c.uniform(-1, 1));
    return gather(table, c.input(c.shape(0, 2), dt, () => c.int(0, n - 1)), ax);
  }));
  it('gather of consecutive indices (iota or a slice of one: lowered as a slice of the table)', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const x = c.input(s.map((d, i) => (i === ax ? 6 : d)));
    const a = c.int(0, 5);
    return { all: gather(x, iota([6], 0, c.pick(['int32', 'int64'] as const)), ax), part: gather(x, slice(iota([6], 0), 0, a, c.int(a + 1, 6)), ax), sym: gather(x, iota(['A'], 0), ax), dims: c.input(['A']) };
  }));
  it('scatterAdd (duplicate indices sum; concrete or symbolic size; any axis)', () => check((c) => {
    const pre = c.shape(0, 2);
    const idxShape = c.shape(1, 2);
    const post = c.shape(0, 2);
    const symbolic = c.bool();
    const size = symbolic ? c.env['C']! : c.int(1, 4);
    const upd = c.input([...pre, ...idxShape, ...post]);
    const idx = c.input(idxShape, c.pick(['int32', 'int64'] as const), () => c.int(0, size - 1));
    const y = scatterAdd(upd, idx, pre.length, symbolic ? sym('C') : size);
    return symbolic ? { y, size: c.input(['C']) } : y;
  }));
});

describe('layout', () => {
  it('concat (float, int, bool)', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const dt = c.pick(['float32', 'int32', 'bool'] as const);
    const v = dt === 'bool' ? bits(c) : dt === 'int32' ? intVals(c) : () => c.uniform(-1, 1);
    const parts = Array.from({ length: c.int(2, 3) }, () => c.input(s.map((d, i) => (i === ax ? c.tok() : d)), dt, v));
    return concat(parts, ax);
  }));
  it('slice with concrete bounds, and symbolic bounds recovering concatenated parts', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const n = c.int(1, 5);
    const x = c.input(s.map((d, i) => (i === ax ? n : d)), c.pick(['float32', 'int32', 'bool'] as const), bits(c));
    const a = c.int(0, n - 1);
    const b = c.int(a + 1, n);
    const p = c.input(['A', 2]);
    const q = c.input(['B', 2]);
    const pq = concat([p, q], 0);
    return { lit: slice(x, ax, a, b), first: slice(pq, 0, 0, sym('A')), second: slice(pq, 0, sym('A'), pq.shape[0]!) };
  }));
  it('pad (concrete and symbolic amounts; float, int, bool)', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const dt = c.pick(['float32', 'int32', 'bool'] as const);
    return { y: pad(c.input(s, dt, bits(c)), ax, c.bool() ? c.int(0, 2) : sym('B'), c.int(0, 2)), b: c.input(['B']) };
  }));
  it('reshape: merging and splitting symbolic axes', () => check((c) => {
    const x = c.input(['A', 'B', 3]);
    return { m: reshape(x, [-1, 3]), s: reshape(reshape(x, ['A', -1]), ['A', 'B', 3]), f: reshape(x, [-1]), u: reshape(x, [1, 'A', 1, 'B', 3]) };
  }));
  it('transpose (float, int, bool), and a transpose of a transpose', () => check((c) => {
    const s = c.shape(0, 4);
    const shuffle = (): number[] => {
      const perm = s.map((_, i) => i);
      for (let i = perm.length - 1; i > 0; i--) {
        const j = c.int(0, i);
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      return perm;
    };
    const dt = c.pick(['float32', 'int32', 'bool'] as const);
    const x = c.input(s, dt, bits(c));
    return { t: transpose(x, shuffle()), tt: transpose(transpose(x, shuffle()), shuffle()) };
  }));
  it('broadcastTo', () => check((c) => {
    const s = c.shape(0, 4);
    return { y: broadcastTo(c.input(bcastOf(c, s)), s), dims: c.input(s) };
  }));
});

describe('leaves', () => {
  it('iota on any axis in every numeric dtype (concrete: folded; symbolic: per run); constants', () => check((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const x = c.input(s);
    return {
      i: add(cast(iota(s, ax, 'int32'), 'float32'), x), l: iota(s, ax, 'int64'), f: iota(s, ax, 'float32'),
      k: mul(x, constant([1.5], [1])), b: constant([1, 0, 1], [3], 'bool'), z: scalar(7, 'int32'),
    };
  }));
});

for (const on of [['tfjs', 'cpu'], ['tfjs-spec']] as Which[][]) {
  describe(`composites (${on.includes('tfjs-spec') ? 'as decompositions' : 'fused where tfjs has a kernel'})`, () => {
    it('softmax, logSoftmax on every axis', () => check((c) => {
      const s = c.shape(1, 4);
      const ax = c.int(0, s.length - 1);
      const x = c.input(s, 'float32', () => c.uniform(-5, 5));
      return { s: softmax(x, ax), l: logSoftmax(x, ax), last: softmax(x, -1) };
    }, { on }));
    it('softmax of rows masked with float32\'s lowest value (fully masked rows are uniform)', () => check((c) => {
      const s = c.shape(1, 3);
      const x = c.input(s, 'float32', () => (c.rand() < 0.5 ? -3.4028234663852886e38 : c.uniform(-3, 3)));
      return softmax(x, -1);
    }, { on }));
    it('layerNorm, rmsNorm', () => check((c) => {
      const s = c.shape(1, 3);
      const d = c.int(1, 6);
      const x = c.input([...s, d], 'float32', () => c.uniform(-3, 3));
      return { ln: layerNorm(x, c.param([d]), c.param([d]), 1e-5), rms: rmsNorm(x, c.param([d]), 1e-6) };
    }, { on }));
    it('gelu (erf and tanh), silu', () => check((c) => {
      const x = c.input(c.shape(0, 3), 'float32', () => c.uniform(-5, 5));
      return { e: gelu(x, 'none'), t: gelu(x, 'tanh'), s: silu(x) };
    }, { on }));
    it('attention: causal or not, key mask, grouped-query heads, past keys', () => check((c) => {
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
    }, { on }));
    it('crossEntropy: mean, sum, none; ignored labels (all ignored: mean is 0)', () => check((c) => {
      const v = c.int(2, 6);
      const logits = c.input(['A', v], 'float32', () => c.uniform(-4, 4));
      const labels = c.input(['A'], c.pick(['int32', 'int64'] as const), () => (c.rand() < 0.3 ? -100 : c.int(0, v - 1)));
      return { m: crossEntropy(logits, labels), s: crossEntropy(logits, labels, { reduction: 'sum' }), n: crossEntropy(logits, labels, { reduction: 'none' }) };
    }, { on }));
  });
}
