/** Elementwise unary primitives. Each VJP is written with the public builders. */
import { apply, type Node } from '../ir/node.ts';
import type { OpDef, Vjp } from './def.ts';
import type { OpName } from './attrs.ts';
import type { DType } from '../types/dtype.ts';
import { pendingRef } from './pending.ts';
import { sub, mul, div, where, less } from './binary.ts';

type UnaryName = 'neg' | 'exp' | 'log' | 'tanh' | 'erf' | 'sqrt' | 'rsqrt' | 'sin' | 'cos' | 'recip' | 'abs' | 'logicalNot';

const floatUnary = <K extends UnaryName>(name: K, vjp: Vjp<K>, allowInt = false): OpDef<K> => ({
  name, kind: 'primitive', arity: 1,
  infer: ([x]) =>
    x!.dtype === 'float32' || (allowInt && (x!.dtype === 'int32' || x!.dtype === 'int64'))
      ? { shape: x!.shape, dtype: x!.dtype }
      : `${name} expects ${allowInt ? 'a numeric' : 'a float32'} operand, got ${x!.dtype}`,
  vjp,
  ref: pendingRef(name),
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
  ref: pendingRef('logicalNot'),
};

export const castDef: OpDef<'cast'> = {
  name: 'cast', kind: 'primitive', arity: 1,
  infer: ([x], a) => ({ shape: x!.shape, dtype: a.dtype }),
  // Only float -> float carries a gradient; ids, masks and rounding casts are constant.
  vjp: ({ inputs: [x], node, ct }) => [x!.dtype === 'float32' && node.dtype === 'float32' ? ct : undefined],
  ref: pendingRef('cast'),
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

