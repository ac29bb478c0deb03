/** Leaves: named inputs (data fed per call), parameters (weights), constants and iota. */
import { apply, currentPath, type Node } from '../ir/node.ts';
import type { OpDef } from './def.ts';
import type { DType } from '../types/dtype.ts';
import { type Dim, isConcrete, parseDim } from '../types/dim.ts';
import { normAxis, shapeToString, type Shape } from '../types/shape.ts';
import { GraphError } from '../errors.ts';
import { evalDim, fail, fromNumbers, refTensor, sizeOf, stridesOf, shapeStr } from './kernel.ts';

const noGrad = () => [];

/** Concrete dims of a declared shape must be non-negative integers. */
const checkDims = (shape: Shape): string | undefined =>
  shape.every((d) => !isConcrete(d) || (Number.isInteger(d) && d >= 0)) ? undefined : `invalid shape ${shapeToString(shape)}`;

export const inputDef: OpDef<'input'> = {
  name: 'input', kind: 'leaf', arity: 0,
  infer: (_, a) => checkDims(a.shape) ?? { shape: a.shape, dtype: a.dtype },
  vjp: noGrad,
  // the evaluator has checked the fed tensor against the declared dtype and shape
  ref: (_, node, ctx) => ctx.leaves('input', node.attrs.name),
};

export const paramDef: OpDef<'param'> = {
  name: 'param', kind: 'leaf', arity: 0,
  infer: (_, a) => checkDims(a.shape) ?? { shape: a.shape, dtype: a.dtype },
  vjp: noGrad,
  ref: (_, node, ctx) => ctx.leaves('param', node.attrs.name),
};

export const constantDef: OpDef<'constant'> = {
  name: 'constant', kind: 'leaf', arity: 0,
  infer: (_, a) => {
    const n = a.shape.reduce((p, d) => p * d, 1);
    if (a.shape.some((d) => !Number.isInteger(d) || d < 0)) return `constant shape must be non-negative integers`;
    if (a.values.length !== n) return `constant of shape [${a.shape.join(',')}] needs ${n} values, got ${a.values.length}`;
    if (a.dtype !== 'float32' && a.values.some((v) => !Number.isInteger(v))) return `non-integer value in ${a.dtype} constant`;
    return { shape: a.shape, dtype: a.dtype };
  },
  vjp: noGrad,
  ref: (_, node, ctx) => refTensor(node.dtype, [...node.attrs.shape], fromNumbers(node.dtype, node.attrs.values, ctx.precision, node)),
};

export const iotaDef: OpDef<'iota'> = {
  name: 'iota', kind: 'leaf', arity: 0,
  infer: (_, a) =>
    normAxis(a.axis, a.shape.length) !== a.axis
      ? `axis ${a.axis} out of range for rank ${a.shape.length}`
      : a.dtype === 'bool' ? 'iota cannot be bool' : checkDims(a.shape) ?? { shape: a.shape, dtype: a.dtype },
  vjp: noGrad,
  ref: (_, node, ctx) => {
    const shape = node.attrs.shape.map((d) => evalDim(d, ctx.env, node));
    if (shape.some((d) => d < 0)) fail(node, `negative dim in ${shapeStr(shape)}`);
    const n = sizeOf(shape);
    const len = shape[node.attrs.axis]!;
    const stride = stridesOf(shape)[node.attrs.axis]!;
    if (node.dtype === 'int64' && len > 2147483648) fail(node, `int64 iota of length ${len} outside the reference evaluator's range`);
    const vals = new Array<number>(n);
    for (let i = 0; i < n; i++) vals[i] = Math.floor(i / stride) % len;
    return refTensor(node.dtype, shape, fromNumbers(node.dtype, vals, ctx.precision, node));
  },
};

/** Dims given as numbers or printed dims (`'B'`, `'P+T'`); a malformed one is a GraphError. */
const toDims = (shape: readonly (Dim | string)[]): Shape =>
  shape.map((d) => {
    if (typeof d !== 'string') return d;
    const p = parseDim(d);
    if (p === undefined) throw new GraphError('dim', currentPath(), `malformed dim '${d}'`);
    return p;
  });

/** A named graph input fed at each call; string dims are symbolic (`input('ids', ['B','T'], 'int32')`). */
export const input = (name: string, shape: readonly (Dim | string)[], dtype: DType = 'float32'): Node<'input'> =>
  apply(inputDef, [], { name, shape: toDims(shape), dtype });

/** A named parameter (a weight), bound once by a backend. */
export const param = (name: string, shape: readonly (Dim | string)[], dtype: DType = 'float32'): Node<'param'> =>
  apply(paramDef, [], { name, shape: toDims(shape), dtype });

/** A constant tensor (row-major values). */
export const constant = (values: readonly number[], shape: readonly number[] = [values.length], dtype: DType = 'float32'): Node<'constant'> =>
  apply(constantDef, [], { shape, values: [...values], dtype });

/** A scalar constant. */
export const scalar = (value: number, dtype: DType = 'float32'): Node<'constant'> => constant([value], [], dtype);

/** Index values along `axis`, broadcast over the other axes: iota([2,3],1) = [[0,1,2],[0,1,2]]. */
export const iota = (shape: readonly (Dim | string)[], axis: number, dtype: DType = 'int32'): Node<'iota'> =>
  apply(iotaDef, [], { shape: toDims(shape), axis: axis < 0 ? axis + shape.length : axis, dtype });

export const isConcreteConst = (n: Node): n is Node<'constant'> => n.op === 'constant' && n.shape.every(isConcrete);
