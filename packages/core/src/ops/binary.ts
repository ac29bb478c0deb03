/**
 * Elementwise binary primitives with NumPy broadcasting, and `where`. VJPs return
 * cotangents at the broadcast output shape; autodiff reduces them to each operand's shape.
 */
import { apply, type Node, type TypeInfo } from '../ir/node.ts';
import type { OpDef, Vjp } from './def.ts';
import { broadcastShapes } from '../types/shape.ts';
import { pendingRef } from './pending.ts';
import { coerce2, type Operand, scalarLike } from './common.ts';
import { neg, log } from './unary.ts';

type Arith = 'add' | 'sub' | 'mul' | 'div' | 'maximum' | 'minimum' | 'pow';
type Compare = 'equal' | 'less' | 'lessEqual';
type Logical = 'logicalAnd' | 'logicalOr';

const inferBinary = (kind: 'arith' | 'compare' | 'logical') => ([a, b]: readonly TypeInfo[]): TypeInfo | string => {
  if (a!.dtype !== b!.dtype) return `dtype mismatch: ${a!.dtype} vs ${b!.dtype}`;
  if (kind === 'logical' && a!.dtype !== 'bool') return `expected bool operands, got ${a!.dtype}`;
  if (kind === 'arith' && a!.dtype === 'bool') return 'arithmetic on bool operands';
  const s = broadcastShapes(a!.shape, b!.shape);
  if (typeof s === 'string') return s;
  return { shape: s, dtype: kind === 'arith' ? a!.dtype : 'bool' };
};

const arith = <K extends Arith>(name: K, vjp: Vjp<K>): OpDef<K> => ({
  name, kind: 'primitive', arity: 2, infer: inferBinary('arith'), vjp, ref: pendingRef(name),
});
const noGrad2 = () => [undefined, undefined];

export const addDef: OpDef<'add'> = arith('add', ({ ct }) => [ct, ct]);
export const subDef: OpDef<'sub'> = arith('sub', ({ ct }) => [ct, neg(ct)]);
export const mulDef: OpDef<'mul'> = arith('mul', ({ inputs: [a, b], ct }) => [mul(ct, b!), mul(ct, a!)]);
export const divDef: OpDef<'div'> = arith('div', ({ inputs: [, b], node, ct }) => [div(ct, b!), neg(mul(ct, div(node, b!)))]);
// Ties send the whole cotangent to the first operand (as ONNX/TF do for Max/Min).
export const maximumDef: OpDef<'maximum'> = arith('maximum', ({ inputs: [a, b], ct }) => {
  const first = lessEqual(b!, a!);
  return [where(first, ct, 0), where(first, 0, ct)];
});
export const minimumDef: OpDef<'minimum'> = arith('minimum', ({ inputs: [a, b], ct }) => {
  const first = lessEqual(a!, b!);
  return [where(first, ct, 0), where(first, 0, ct)];
});
// d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log a (defined for a > 0).
export const powDef: OpDef<'pow'> = arith('pow', ({ inputs: [a, b], node, ct }) => [
  mul(ct, mul(b!, pow(a!, sub(b!, 1)))),
  mul(ct, mul(node, log(a!))),
]);

const compare = <K extends Compare>(name: K): OpDef<K> => ({
  name, kind: 'primitive', arity: 2, infer: inferBinary('compare'), vjp: noGrad2, ref: pendingRef(name),
});
export const equalDef: OpDef<'equal'> = compare('equal');
export const lessDef: OpDef<'less'> = compare('less');
export const lessEqualDef: OpDef<'lessEqual'> = compare('lessEqual');

const logical = <K extends Logical>(name: K): OpDef<K> => ({
  name, kind: 'primitive', arity: 2, infer: inferBinary('logical'), vjp: noGrad2, ref: pendingRef(name),
});
export const logicalAndDef: OpDef<'logicalAnd'> = logical('logicalAnd');
export const logicalOrDef: OpDef<'logicalOr'> = logical('logicalOr');

export const whereDef: OpDef<'where'> = {
  name: 'where', kind: 'primitive', arity: 3,
  infer: ([c, a, b]) => {
    if (c!.dtype !== 'bool') return `condition must be bool, got ${c!.dtype}`;
    if (a!.dtype !== b!.dtype) return `branch dtype mismatch: ${a!.dtype} vs ${b!.dtype}`;
    const s1 = broadcastShapes(c!.shape, a!.shape);
    if (typeof s1 === 'string') return s1;
    const s2 = broadcastShapes(s1, b!.shape);
    if (typeof s2 === 'string') return s2;
    return { shape: s2, dtype: a!.dtype };
  },
  vjp: ({ inputs: [c], ct }) => [undefined, where(c!, ct, 0), where(c!, 0, ct)],
  ref: pendingRef('where'),
};

const bin = <K extends Arith | Compare | Logical>(def: OpDef<K>) => (a: Operand, b: Operand): Node => {
  const [x, y] = coerce2(a, b);
  return apply(def, [x, y], {} as never);
};

/** a + b (broadcasting; a number operand takes the other operand's dtype). */
export const add: (a: Operand, b: Operand) => Node = bin(addDef);
export const sub: (a: Operand, b: Operand) => Node = bin(subDef);
export const mul: (a: Operand, b: Operand) => Node = bin(mulDef);
export const div: (a: Operand, b: Operand) => Node = bin(divDef);
export const maximum: (a: Operand, b: Operand) => Node = bin(maximumDef);
export const minimum: (a: Operand, b: Operand) => Node = bin(minimumDef);
export const pow: (a: Operand, b: Operand) => Node = bin(powDef);
/** a == b, as bool */
export const equal: (a: Operand, b: Operand) => Node = bin(equalDef);
/** a < b, as bool */
export const less: (a: Operand, b: Operand) => Node = bin(lessDef);
/** a <= b, as bool */
export const lessEqual: (a: Operand, b: Operand) => Node = bin(lessEqualDef);
export const logicalAnd: (a: Operand, b: Operand) => Node = bin(logicalAndDef);
export const logicalOr: (a: Operand, b: Operand) => Node = bin(logicalOrDef);

/** Elementwise select: `cond ? a : b`, broadcasting all three. */
export const where = (cond: Node, a: Operand, b: Operand): Node => {
  const dt = typeof a !== 'number' ? a.dtype : typeof b !== 'number' ? b.dtype : 'float32';
  const x = typeof a === 'number' ? scalarLike(a, dt) : a;
  const y = typeof b === 'number' ? scalarLike(b, dt) : b;
  return apply(whereDef, [cond, x, y], {});
};

