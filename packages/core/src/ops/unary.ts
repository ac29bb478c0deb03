/** Elementwise unary primitives. Each VJP is written with the public builders. */
import { apply, type Node } from '../ir/node.ts';
import { type OpDef, type Vjp, floatOnly } from './def.ts';
import type { OpName } from './attrs.ts';
import type { DType } from '../types/dtype.ts';
import { sub, mul, div, where, less } from './binary.ts';
import { fail, map1 } from './kernel.ts';

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * The error function in float64, to about 1e-16 relative accuracy: for |x| < 2.5 the series
 * erf(x) = 2/sqrt(pi) e^(-x^2) sum_n (2x^2)^n x / (1*3*...*(2n+1)) (all terms positive, no
 * cancellation); above, 1 - erfc(x) with erfc's continued fraction (modified Lentz).
 */
export const erfScalar = (x: number): number => {
  if (Number.isNaN(x) || x === 0) return x; // erf(±0) = ±0
  const ax = Math.abs(x);
  let r: number;
  if (ax < 2.5) {
    const x2 = 2 * ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 500; n++) {
      term *= x2 / (2 * n + 1);
      sum += term;
      if (term <= sum * 1e-17) break;
    }
    r = TWO_OVER_SQRT_PI * Math.exp(-ax * ax) * sum;
  } else if (ax < 6.5) {
    // erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
    const tiny = 1e-300;
    let f = ax;
    let C = ax;
    let D = 0;
    for (let n = 1; n < 1000; n++) {
      const a = n / 2;
      D = ax + a * D;
      D = D === 0 ? tiny : D;
      C = ax + a / C;
      C = C === 0 ? tiny : C;
      D = 1 / D;
      const delta = C * D;
      f *= delta;
      if (Math.abs(delta - 1) < 1e-16) break;
    }
    r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  } else r = 1;
  return x < 0 ? -r : r;
};

const unaryFns: Readonly<Record<UnaryName, (v: number) => number>> = {
  neg: (v) => -v,
  exp: Math.exp,
  log: Math.log,
  tanh: Math.tanh,
  erf: erfScalar,
  sqrt: Math.sqrt,
  rsqrt: (v) => 1 / Math.sqrt(v),
  sin: Math.sin,
  cos: Math.cos,
  recip: (v) => 1 / v,
  abs: Math.abs,
  logicalNot: (v) => (v === 0 ? 1 : 0),
};

type UnaryName = 'neg' | 'exp' | 'log' | 'tanh' | 'erf' | 'sqrt' | 'rsqrt' | 'sin' | 'cos' | 'recip' | 'abs' | 'logicalNot';

const floatUnary = <K extends UnaryName>(name: K, vjp: Vjp<K>, allowInt = false): OpDef<K> => ({
  name, kind: 'primitive', arity: 1,
  infer: ([x]) =>
    x!.dtype === 'float32' || (allowInt && (x!.dtype === 'int32' || x!.dtype === 'int64'))
      ? { shape: x!.shape, dtype: x!.dtype }
      : `${name} expects ${allowInt ? 'a numeric' : 'a float32'} operand, got ${x!.dtype}`,
  vjp: floatOnly(vjp),
  ref: ([x], node, ctx) => map1(x!, x!.dtype, ctx.precision, node, unaryFns[name]),
});

export const negDef: OpDef<'neg'> = floatUnary('neg', ({ ct }) => [neg(ct)], true);
export const expDef: OpDef<'exp'> = floatUnary('exp', ({ node, ct }) => [mul(ct, node)]);
export const logDef: OpDef<'log'> = floatUnary('log', ({ inputs: [x], ct }) => [div(ct, x!)]);
export const tanhDef: OpDef<'tanh'> = floatUnary('tanh', ({ node, ct }) => [mul(ct, sub(1, mul(node, node)))]);
export const erfDef: OpDef<'erf'> = floatUnary('erf', ({ inputs: [x], ct }) => [mul(ct, mul(2 / Math.sqrt(Math.PI), exp(neg(mul(x!, x!)))))]);
export const sqrtDef: OpDef<'sqrt'> = floatUnary('sqrt', ({ node, ct }) => [div(ct, mul(node, 2))]);
export const rsqrtDef: OpDef<'rsqrt'> = floatUnary('rsqrt', ({ node, ct }) => [mul(ct, mul(mul(node, mul(node, node)), -0.5))]);
export const sinDef: OpDef<'sin'> = floatUnary('sin', ({ inputs: [x], ct }) => [mul(ct, cos(x!))]);
export const cosDef: OpDef<'cos'> = floatUnary('cos', ({ inputs: [x], ct }) => [neg(mul(ct, sin(x!)))]);
export const recipDef: OpDef<'recip'> = floatUnary('recip', ({ node, ct }) => [neg(mul(ct, mul(node, node)))]);
export const absDef: OpDef<'abs'> = floatUnary('abs', ({ inputs: [x], ct }) => [where(less(x!, 0), neg(ct), ct)], true);

export const logicalNotDef: OpDef<'logicalNot'> = {
  name: 'logicalNot', kind: 'primitive', arity: 1,
  infer: ([x]) => (x!.dtype === 'bool' ? { shape: x!.shape, dtype: 'bool' } : `logicalNot expects bool, got ${x!.dtype}`),
  vjp: () => [undefined],
  ref: ([x], node, ctx) => map1(x!, 'bool', ctx.precision, node, unaryFns.logicalNot),
};

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

export const castDef: OpDef<'cast'> = {
  name: 'cast', kind: 'primitive', arity: 1,
  infer: ([x], a) => ({ shape: x!.shape, dtype: a.dtype }),
  // Only float -> float carries a gradient; ids, masks and rounding casts are constant.
  vjp: ({ inputs: [x], node, ct }) => [x!.dtype === 'float32' && node.dtype === 'float32' ? ct : undefined],
  // float -> int truncates toward zero (NaN, infinities and out-of-range values are errors);
  // anything -> bool is `!= 0`; bool -> number is 0/1.
  ref: ([x], node, ctx) => {
    const to = node.attrs.dtype;
    if (to === 'bool') return map1(x!, 'bool', ctx.precision, node, (v) => (v !== 0 ? 1 : 0));
    if (to === 'float32' || x!.dtype !== 'float32') return map1(x!, to, ctx.precision, node, (v) => v);
    return map1(x!, to, ctx.precision, node, (v) => {
      const r = Math.trunc(v);
      if (!(r >= I32_MIN && r <= I32_MAX)) fail(node, `cannot cast ${v} to ${to} (the reference evaluator holds ints in [-2^31, 2^31))`);
      return r;
    });
  },
};

const un = <K extends OpName>(def: OpDef<K>) => (x: Node): Node => apply(def, [x], {} as never);

/** -x */
export const neg: (x: Node) => Node = un(negDef);
/** e^x */
export const exp: (x: Node) => Node = un(expDef);
/** natural log */
export const log: (x: Node) => Node = un(logDef);
export const tanh: (x: Node) => Node = un(tanhDef);
/** the error function */
export const erf: (x: Node) => Node = un(erfDef);
export const sqrt: (x: Node) => Node = un(sqrtDef);
/** 1/sqrt(x) */
export const rsqrt: (x: Node) => Node = un(rsqrtDef);
export const sin: (x: Node) => Node = un(sinDef);
export const cos: (x: Node) => Node = un(cosDef);
/** 1/x */
export const recip: (x: Node) => Node = un(recipDef);
export const abs: (x: Node) => Node = un(absDef);
export const logicalNot: (x: Node) => Node = un(logicalNotDef);
/** Converts to another dtype (float -> int truncates toward zero; bool <-> 0/1). */
export const cast = (x: Node, dtype: DType): Node => (x.dtype === dtype ? x : apply(castDef, [x], { dtype }));

