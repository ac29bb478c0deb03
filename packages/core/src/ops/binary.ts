/**
 * Elementwise binary primitives with NumPy broadcasting, and `where`. VJPs return
 * cotangents at the broadcast output shape; autodiff reduces them to each operand's shape.
 */
import { apply, type Node, type TypeInfo } from '../ir/node.ts';
import { type OpDef, type Vjp, type RefKernel, wanted, floatOnly } from './def.ts';
import type { OpName } from './attrs.ts';
import { broadcastShapes } from '../types/shape.ts';
import { broadcastConcrete, broadcastOffsets, fail, map2, refTensor, shapeStr, sizeOf } from './kernel.ts';
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

/** Elementwise kernel: float math in float64 (rounded on store at f32), ints narrowed. */
const kernel2 = <K extends OpName>(out: 'same' | 'bool', f: (x: number, y: number) => number): RefKernel<K> =>
  ([a, b], node, ctx) => map2(a!, b!, out === 'same' ? a!.dtype : 'bool', ctx.precision, node, f);

const arith = <K extends Arith>(name: K, vjp: Vjp<K>, f: (x: number, y: number) => number): OpDef<K> => ({
  name, kind: 'primitive', arity: 2, infer: inferBinary('arith'), vjp: floatOnly(vjp), ref: kernel2('same', f),
});
const noGrad2 = () => [undefined, undefined];

export const addDef: OpDef<'add'> = arith('add', ({ ct }) => [ct, ct], (x, y) => x + y);
export const subDef: OpDef<'sub'> = arith('sub', ({ ct, wants }) => [ct, wanted(wants, 1, () => neg(ct))], (x, y) => x - y);
export const mulDef: OpDef<'mul'> = arith(
  'mul',
  ({ inputs: [a, b], ct, wants }) => [wanted(wants, 0, () => mul(ct, b!)), wanted(wants, 1, () => mul(ct, a!))],
  (x, y) => x * y,
);
// Integer division truncates toward zero (C, ONNX); an integer division by zero is an error.
export const divDef: OpDef<'div'> = {
  name: 'div', kind: 'primitive', arity: 2, infer: inferBinary('arith'),
  vjp: floatOnly(({ inputs: [, b], node, ct, wants }) => [
    wanted(wants, 0, () => div(ct, b!)),
    wanted(wants, 1, () => neg(mul(ct, div(node, b!)))),
  ]),
  ref: ([a, b], node, ctx) =>
    a!.dtype === 'float32'
      ? map2(a!, b!, 'float32', ctx.precision, node, (x, y) => x / y)
      : map2(a!, b!, a!.dtype, ctx.precision, node, (x, y) => (y === 0 ? fail(node, 'integer division by zero') : Math.trunc(x / y))),
};
// Ties send the whole cotangent to the first operand (as ONNX/TF do for Max/Min).
export const maximumDef: OpDef<'maximum'> = arith('maximum', ({ inputs: [a, b], ct, wants }) => {
  const first = lessEqual(b!, a!);
  return [wanted(wants, 0, () => where(first, ct, 0)), wanted(wants, 1, () => where(first, 0, ct))];
}, Math.max);
export const minimumDef: OpDef<'minimum'> = arith('minimum', ({ inputs: [a, b], ct, wants }) => {
  const first = lessEqual(a!, b!);
  return [wanted(wants, 0, () => where(first, ct, 0)), wanted(wants, 1, () => where(first, 0, ct))];
}, Math.min);
// d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log a (defined for a > 0).
export const powDef: OpDef<'pow'> = arith('pow', ({ inputs: [a, b], node, ct, wants }) => [
  wanted(wants, 0, () => mul(ct, mul(b!, pow(a!, sub(b!, 1))))),
  wanted(wants, 1, () => mul(ct, mul(node, log(a!)))),
], Math.pow);

const compare = <K extends Compare>(name: K, f: (x: number, y: number) => number): OpDef<K> => ({
  name, kind: 'primitive', arity: 2, infer: inferBinary('compare'), vjp: noGrad2, ref: kernel2('bool', f),
});
export const equalDef: OpDef<'equal'> = compare('equal', (x, y) => (x === y ? 1 : 0));
export const lessDef: OpDef<'less'> = compare('less', (x, y) => (x < y ? 1 : 0));
export const lessEqualDef: OpDef<'lessEqual'> = compare('lessEqual', (x, y) => (x <= y ? 1 : 0));

const logical = <K extends Logical>(name: K, f: (x: number, y: number) => number): OpDef<K> => ({
  name, kind: 'primitive', arity: 2, infer: inferBinary('logical'), vjp: noGrad2, ref: kernel2('bool', f),
});
export const logicalAndDef: OpDef<'logicalAnd'> = logical('logicalAnd', (x, y) => (x !== 0 && y !== 0 ? 1 : 0));
export const logicalOrDef: OpDef<'logicalOr'> = logical('logicalOr', (x, y) => (x !== 0 || y !== 0 ? 1 : 0));

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
  vjp: floatOnly(({ inputs: [c], ct, wants }) => [undefined, wanted(wants, 1, () => where(c!, ct, 0)), wanted(wants, 2, () => where(c!, 0, ct))]),
  ref: ([c, a, b], node) => {
    const s1 = broadcastConcrete(c!.shape, a!.shape);
    const shape = s1 && broadcastConcrete(s1, b!.shape);
    if (!shape) return fail(node, `cannot broadcast ${shapeStr(c!.shape)}, ${shapeStr(a!.shape)}, ${shapeStr(b!.shape)}`);
    const n = sizeOf(shape);
    const out = new (a!.data.constructor as new (n: number) => typeof a.data)(n);
    const oc = broadcastOffsets(c!.shape, shape);
    const oa = broadcastOffsets(a!.shape, shape);
    const ob = broadcastOffsets(b!.shape, shape);
    const C = c!.data;
    const A = a!.data;
    const B = b!.data;
    for (let i = 0; i < n; i++) {
      const ci = oc === undefined ? i : oc[i]!;
      out[i] = C[ci] !== 0 ? A[oa === undefined ? i : oa[i]!]! : B[ob === undefined ? i : ob[i]!]!;
    }
    return refTensor(a!.dtype, shape, out);
  },
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

