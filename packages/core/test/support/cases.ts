/**
 * One random-case generator per op: THE coverage list of the property tests. The table is
 * typed over every `OpName` (a new op without a case is a compile error), the shape-rule and
 * VJP property tests iterate over exactly this table, and `op-table.test.ts` checks that each
 * entry really builds its op at the root. So no op can exist without property tests.
 *
 * Each case applies the op (at the root of `out`) to fresh input/param leaves with small
 * random shapes, often symbolic (dims A, B, C), fed with values inside the op's
 * differentiable domain (positive for log, no ties for max, ...). `diff` names the operands
 * the VJP test differentiates by finite differences; for ops without gradients it is empty
 * and the test checks that the VJP returns only symbolic zeros.
 */
import fc from 'fast-check';
import { type Node, type Dim } from '../../src/index.ts';
import {
  type OpName, apply, opDef, constant, iota, neg, exp, log, tanh, erf, sqrt, rsqrt, sin, cos, recip, abs, logicalNot, add, sub, mul, div, maximum, minimum, pow, equal, less, lessEqual, logicalAnd, logicalOr, where, matmul, reduceSum, reduceMax, reduceMean, argMax, gather, scatterAdd, concat, slice, pad, reshape, transpose, broadcastTo, softmax, logSoftmax, layerNorm, rmsNorm, gelu, silu, attention, crossEntropy, parseDim, dimMul
} from '../../src/graph.ts';
import type { DType } from '../../src/types/dtype.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { Ctx, type Tok, withCtx } from './gen.ts';

export interface Case {
  readonly out: Node;
  readonly feeds: Record<string, HostTensor>;
  readonly params: Record<string, HostTensor>;
  readonly inputs: Record<string, Node>;
  readonly env: Record<string, number>;
  /** Names of the leaves to differentiate by finite differences. */
  readonly diff: readonly string[];
}

export interface OpCase {
  readonly gen: fc.Arbitrary<Case>;
  /** Whether some operand has a gradient (then some cases must have a non-empty `diff`). */
  readonly differentiable: boolean;
}

const nameOf = (c: Ctx, n: Node): string => Object.entries(c.inputs).find(([, v]) => v === n)![0];
const mk = (c: Ctx, out: Node, diff: readonly Node[]): Case => ({
  out, feeds: c.feeds, params: c.params, inputs: c.inputs, env: c.env, diff: diff.map((d) => nameOf(c, d)),
});
const cas = (f: (c: Ctx) => Case, differentiable = true): OpCase => ({ gen: withCtx(f), differentiable });

/** Operand shape broadcasting to `out`: some leading dims dropped, some dims set to 1. */
const bcastOperand = (c: Ctx, out: readonly Tok[]): Tok[] => out.slice(c.int(0, out.length)).map((t) => (c.int(0, 3) === 0 ? 1 : t));

type Dom = 'any' | 'pos' | 'nonzero' | 'wide';
const fillOf = (c: Ctx, d: Dom) => (): number =>
  d === 'pos' ? c.uniform(0.5, 2.5) : d === 'nonzero' ? (c.bool() ? 1 : -1) * c.uniform(0.5, 2) : d === 'wide' ? c.uniform(-3, 3) : c.uniform(-1.5, 1.5);

const unaryCase = (f: (x: Node) => Node, dom: Dom, allowInt = false): OpCase =>
  cas((c) => {
    if (allowInt && c.int(0, 3) === 0) {
      const x = c.input(c.shape(0, 3), c.pick(['int32', 'int64'] as DType[]), () => c.int(-5, 5));
      return mk(c, f(x), []);
    }
    // abs: keep away from the kink at 0
    const x = c.input(c.shape(0, 3), 'float32', dom === 'nonzero' ? fillOf(c, 'nonzero') : fillOf(c, dom));
    return mk(c, f(x), [x]);
  });

const binaryCase = (f: (a: Node, b: Node) => Node, domA: Dom, domB: Dom, ints: boolean): OpCase =>
  cas((c) => {
    const out = c.shape(0, 3);
    const sa = bcastOperand(c, out);
    const sb = bcastOperand(c, out);
    if (ints && c.int(0, 3) === 0) {
      const dt = c.pick(['int32', 'int64'] as DType[]);
      const a = c.input(sa, dt, () => c.int(-6, 6));
      const b = c.input(sb, dt, () => (domB === 'nonzero' ? c.pick([-3, -2, -1, 1, 2, 3]) : c.int(-6, 6)));
      return mk(c, f(a, b), []);
    }
    const a = c.input(sa, 'float32', fillOf(c, domA));
    const b = c.input(sb, 'float32', fillOf(c, domB));
    return mk(c, f(a, b), [a, b]);
  });

/** maximum/minimum: operands from two interleaved grids, so they never tie. */
const extremumCase = (f: (a: Node, b: Node) => Node): OpCase =>
  cas((c) => {
    const out = c.shape(0, 3);
    const a = c.input(bcastOperand(c, out), 'float32', () => c.int(-10, 10) / 10 + 0.03);
    const b = c.input(bcastOperand(c, out), 'float32', () => c.int(-10, 10) / 10 + 0.07);
    return mk(c, f(a, b), [a, b]);
  });

const compareCase = (f: (a: Node, b: Node) => Node): OpCase =>
  cas((c) => {
    const out = c.shape(0, 3);
    const dt = c.pick(['float32', 'int32', 'int64'] as DType[]);
    const a = c.input(bcastOperand(c, out), dt, () => c.int(-2, 2));
    const b = c.input(bcastOperand(c, out), dt, () => c.int(-2, 2));
    return mk(c, f(a, b), []);
  }, false);

const logicalCase = (f: (a: Node, b: Node) => Node): OpCase =>
  cas((c) => {
    const out = c.shape(0, 3);
    const a = c.input(bcastOperand(c, out), 'bool', () => c.int(0, 1));
    const b = c.input(bcastOperand(c, out), 'bool', () => c.int(0, 1));
    return mk(c, f(a, b), []);
  }, false);

const reduceCase = (f: (x: Node, axes: number[], keep: boolean) => Node, opts: { ints: boolean; distinct: boolean }): OpCase =>
  cas((c) => {
    const s = c.shape(0, 4);
    const axes = s.map((_, i) => i).filter(() => c.bool());
    const keep = c.bool();
    if (opts.ints && c.int(0, 3) === 0) {
      const x = c.input(s, c.pick(['int32', 'int64'] as DType[]), () => c.int(-9, 9));
      return mk(c, f(x, axes, keep), []);
    }
    const n = c.concShape(s).reduce((a, b) => a * b, 1);
    const x = c.input(s, 'float32', opts.distinct ? c.distinct(n) : fillOf(c, 'any'));
    return mk(c, f(x, axes, keep), [x]);
  });

/** A slice of a (possibly symbolic) axis that is not the whole axis. */
const sliceBounds = (c: Ctx, t: Tok): [Dim, Dim] => {
  if (typeof t === 'number') {
    const opts: [number, number][] = [];
    for (let s = 0; s <= t; s++) for (let e = s; e <= t; e++) if (s !== 0 || e !== t) opts.push([s, e]);
    return c.pick(opts);
  }
  const S = parseDim(t)!;
  return c.pick<[Dim, Dim]>([[1, S], [0, 1], [parseDim(`${t}-1`)!, S], [0, 0]]);
};

/** A different shape with the same element count: adjacent dims merged, 1s inserted. */
const reshapeTarget = (c: Ctx, s: readonly Tok[]): Dim[] => {
  const dims: Dim[] = s.map((t) => (typeof t === 'number' ? t : parseDim(t)!));
  const out: Dim[] = [];
  for (let i = 0; i < dims.length; i++) {
    if (i + 1 < dims.length && c.bool()) {
      out.push(dimMul(dims[i]!, dims[i + 1]!));
      i++;
    } else out.push(dims[i]!);
    if (c.int(0, 3) === 0) out.push(1);
  }
  if (out.length === dims.length && out.every((d, i) => JSON.stringify(d) === JSON.stringify(dims[i]))) out.push(1);
  return out;
};

export const cases: { readonly [K in OpName]: OpCase } = {
  // leaves: the gradient of a leaf w.r.t. itself is the seed
  input: cas((c) => {
    const x = c.input(c.shape(0, 3));
    return mk(c, x, [x]);
  }),
  param: cas((c) => {
    const p = c.param(c.shape(0, 3));
    return mk(c, p, [p]);
  }),
  constant: cas((c) => {
    const s = Array.from({ length: c.int(0, 3) }, () => c.int(0, 3));
    const dt = c.pick(['float32', 'int32', 'int64', 'bool'] as DType[]);
    const n = s.reduce((a, b) => a * b, 1);
    const vals = Array.from({ length: n }, () => (dt === 'float32' ? c.uniform(-2, 2) : dt === 'bool' ? c.int(0, 1) : c.int(-50, 50)));
    return mk(c, constant(vals, s, dt), []);
  }, false),
  iota: cas((c) => {
    const s = c.shape(1, 3);
    return mk(c, iota(s, c.int(0, s.length - 1), c.pick(['int32', 'int64', 'float32'] as DType[])), []);
  }, false),
  // elementwise unary
  neg: unaryCase(neg, 'any', true),
  exp: unaryCase(exp, 'any'),
  log: unaryCase(log, 'pos'),
  tanh: unaryCase(tanh, 'wide'),
  erf: unaryCase(erf, 'wide'),
  sqrt: unaryCase(sqrt, 'pos'),
  rsqrt: unaryCase(rsqrt, 'pos'),
  sin: unaryCase(sin, 'wide'),
  cos: unaryCase(cos, 'wide'),
  recip: unaryCase(recip, 'nonzero'),
  abs: unaryCase(abs, 'nonzero', true),
  logicalNot: cas((c) => mk(c, logicalNot(c.input(c.shape(0, 3), 'bool', () => c.int(0, 1))), []), false),
  cast: cas((c) => {
    const from = c.pick(['float32', 'int32', 'int64', 'bool'] as DType[]);
    const to = c.pick(['float32', 'int32', 'int64', 'bool'] as DType[]);
    const x = c.input(c.shape(0, 3), from, () => (from === 'float32' ? c.uniform(-40, 40) : from === 'bool' ? c.int(0, 1) : c.int(-40, 40)));
    // float -> float is a real (identity) cast node, differentiable
    return mk(c, apply(opDef('cast'), [x], { dtype: to }), from === 'float32' && to === 'float32' ? [x] : []);
  }),
  // elementwise binary
  add: binaryCase(add, 'any', 'any', true),
  sub: binaryCase(sub, 'any', 'any', true),
  mul: binaryCase(mul, 'any', 'any', true),
  div: binaryCase(div, 'any', 'nonzero', true),
  maximum: extremumCase(maximum),
  minimum: extremumCase(minimum),
  pow: binaryCase(pow, 'pos', 'any', false),
  equal: compareCase(equal),
  less: compareCase(less),
  lessEqual: compareCase(lessEqual),
  logicalAnd: logicalCase(logicalAnd),
  logicalOr: logicalCase(logicalOr),
  where: cas((c) => {
    const out = c.shape(0, 3);
    const cond = c.input(bcastOperand(c, out), 'bool', () => c.int(0, 1));
    if (c.int(0, 4) === 0) {
      const a = c.input(bcastOperand(c, out), 'int32', () => c.int(-5, 5));
      const b = c.input(bcastOperand(c, out), 'int32', () => c.int(-5, 5));
      return mk(c, where(cond, a, b), []);
    }
    const a = c.input(bcastOperand(c, out), 'float32');
    const b = c.input(bcastOperand(c, out), 'float32');
    return mk(c, where(cond, a, b), [a, b]);
  }),
  matmul: cas((c) => {
    const batch = c.shape(0, 2);
    const [M, K, N] = [c.tok(), c.tok(), c.tok()];
    const a = c.input([...bcastOperand(c, batch), M, K]);
    const b = c.input([...bcastOperand(c, batch), K, N]);
    return mk(c, matmul(a, b), [a, b]);
  }),
  reduceSum: reduceCase(reduceSum, { ints: true, distinct: false }),
  reduceMax: reduceCase(reduceMax, { ints: false, distinct: true }),
  reduceMean: reduceCase(reduceMean, { ints: false, distinct: false }),
  argMax: cas((c) => {
    const s = c.shape(1, 3);
    const n = c.concShape(s).reduce((a, b) => a * b, 1);
    // ties on purpose half the time (first max wins)
    const x = c.input(s, 'float32', c.bool() ? c.distinct(n) : () => c.int(0, 2));
    return mk(c, argMax(x, c.int(0, s.length - 1), c.bool()), []);
  }, false),
  gather: cas((c) => {
    const pre = c.shape(0, 2);
    const N = c.tok();
    const post = c.shape(0, 2);
    const n = c.conc(N);
    const table = c.input([...pre, N, ...post]);
    const idx = c.input(c.shape(0, 2), c.pick(['int32', 'int64'] as DType[]), () => c.int(0, n - 1));
    return mk(c, gather(table, idx, pre.length), [table]);
  }),
  scatterAdd: cas((c) => {
    const pre = c.shape(0, 2);
    const I = c.shape(0, 2);
    const post = c.shape(0, 2);
    const size = c.tok();
    const n = c.conc(size);
    const upd = c.input([...pre, ...I, ...post]);
    const idx = c.input(I, c.pick(['int32', 'int64'] as DType[]), () => c.int(0, n - 1));
    return mk(c, scatterAdd(upd, idx, pre.length, typeof size === 'number' ? size : parseDim(size)!), [upd]);
  }),
  concat: cas((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const xs = Array.from({ length: c.int(2, 3) }, () => c.input(s.map((t, i) => (i === ax ? (c.bool() ? c.tok() : 0) : t))));
    return mk(c, concat(xs, ax), xs);
  }),
  slice: cas((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const [start, end] = sliceBounds(c, s[ax]!);
    const x = c.input(s);
    return mk(c, slice(x, ax, start, end), [x]);
  }),
  pad: cas((c) => {
    const s = c.shape(1, 3);
    const ax = c.int(0, s.length - 1);
    const amount = (): Dim => (c.bool() ? c.int(0, 2) : parseDim(c.pick(['A', 'B']))!);
    let [before, after] = [amount(), amount()];
    if (before === 0 && after === 0) after = 1;
    const x = c.input(s);
    return mk(c, pad(x, ax, before, after), [x]);
  }),
  reshape: cas((c) => {
    const s = c.shape(0, 4);
    const x = c.input(s);
    return mk(c, reshape(x, reshapeTarget(c, s)), [x]);
  }),
  transpose: cas((c) => {
    const s = c.shape(2, 4);
    const perm = s.map((_, i) => i);
    do for (let i = perm.length - 1; i > 0; i--) {
      const j = c.int(0, i);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    while (perm.every((p, i) => p === i));
    const x = c.input(s);
    return mk(c, transpose(x, perm), [x]);
  }),
  broadcastTo: cas((c) => {
    const out = c.shape(1, 3);
    let s = bcastOperand(c, out);
    if (s.length === out.length && s.every((t, i) => t === out[i])) s = s.slice(1);
    const x = c.input(s);
    return mk(c, broadcastTo(x, out), [x]);
  }),
  // composites
  softmax: cas((c) => {
    const s = c.shape(1, 3);
    const x = c.input(s, 'float32', fillOf(c, 'wide'));
    return mk(c, softmax(x, c.int(0, s.length - 1)), [x]);
  }),
  logSoftmax: cas((c) => {
    const s = c.shape(1, 3);
    const x = c.input(s, 'float32', fillOf(c, 'wide'));
    return mk(c, logSoftmax(x, c.int(0, s.length - 1)), [x]);
  }),
  layerNorm: cas((c) => {
    const D = c.pick<Tok>([2, 3, 4, 'C']);
    const x = c.input([...c.shape(0, 2), D], 'float32', fillOf(c, 'wide'));
    const g = c.param([D]);
    const b = c.param([D]);
    return mk(c, layerNorm(x, g, b, c.pick([1e-5, 0.1])), [x, g, b]);
  }),
  rmsNorm: cas((c) => {
    const D = c.pick<Tok>([1, 2, 3, 'C']);
    const x = c.input([...c.shape(0, 2), D], 'float32', fillOf(c, 'wide'));
    const w = c.param([D]);
    return mk(c, rmsNorm(x, w, c.pick([1e-6, 0.1])), [x, w]);
  }),
  gelu: cas((c) => {
    const x = c.input(c.shape(0, 3), 'float32', fillOf(c, 'wide'));
    return mk(c, gelu(x, c.pick(['none', 'tanh'] as const)), [x]);
  }),
  silu: cas((c) => {
    const x = c.input(c.shape(0, 3), 'float32', fillOf(c, 'wide'));
    return mk(c, silu(x), [x]);
  }),
  attention: cas((c) => {
    const B = c.tok();
    const Hk = c.int(1, 2);
    const H = Hk * c.int(1, 2);
    const Tq = c.pick<Tok>([1, 2, 3, 'A']);
    const Tk = typeof Tq === 'string' ? c.pick<Tok>([Tq, `${Tq}+2`, `${Tq}+1`]) : c.pick<Tok>([Tq, Tq + 1, Tq + 2, 1]);
    const D = c.int(1, 3);
    const q = c.input([B, H, Tq, D]);
    const k = c.input([B, Hk, Tk, D]);
    const v = c.input([B, Hk, Tk, c.int(1, 3)]);
    const keyMask = c.bool() ? c.input([B, Tk], 'bool', () => (c.int(0, 3) === 0 ? 0 : 1)) : undefined;
    const out = attention(q, k, v, { causal: c.bool(), ...(keyMask ? { keyMask } : {}), ...(c.bool() ? { scale: c.uniform(0.2, 1.5) } : {}) });
    return mk(c, out, [q, k, v]);
  }),
  crossEntropy: cas((c) => {
    const N = c.tok();
    const V = c.pick<Tok>([1, 2, 3, 4, 'C']);
    const ignoreIndex = c.pick([-100, 0]);
    const v = c.conc(V);
    const logits = c.input([N, V], 'float32', fillOf(c, 'wide'));
    const labels = c.input([N], c.pick(['int32', 'int64'] as DType[]), () => (c.int(0, 4) === 0 ? ignoreIndex : c.int(0, v - 1)));
    return mk(c, crossEntropy(logits, labels, { ignoreIndex, reduction: c.pick(['mean', 'sum', 'none'] as const) }), [logits]);
  }),
};
