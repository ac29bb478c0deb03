/** Reductions over axes (sum, max, mean) and argMax. */
import { apply, type Node, type TypeInfo } from '../ir/node.ts';
import type { OpDef } from './def.ts';
import type { Dim } from '../types/dim.ts';
import { dimProd } from '../types/dim.ts';
import { normAxis, type Shape } from '../types/shape.ts';
import { pendingRef } from './pending.ts';
import { broadcastTo, reshape } from './layout.ts';
import { mul, div, equal } from './binary.ts';
import { cast } from './unary.ts';
import { scalar } from './leaves.ts';

type R = 'reduceSum' | 'reduceMax' | 'reduceMean';

export const reducedShape = (shape: Shape, axes: readonly number[], keepDims: boolean): Shape =>
  shape.flatMap((d, i) => (axes.includes(i) ? (keepDims ? [1] : []) : [d]));

const inferReduce = (name: R) => ([x]: readonly TypeInfo[], a: { axes: readonly number[]; keepDims: boolean }): TypeInfo | string => {
  if (x!.dtype === 'bool') return `${name} of bool`;
  if (name !== 'reduceSum' && name !== 'reduceMax' && x!.dtype !== 'float32') return `${name} expects float32`;
  const r = x!.shape.length;
  for (const ax of a.axes) if (!Number.isInteger(ax) || ax < 0 || ax >= r) return `axis ${ax} out of range for rank ${r} (axes must be normalised)`;
  if (new Set(a.axes).size !== a.axes.length) return `repeated axis in [${a.axes.join(',')}]`;
  return { shape: reducedShape(x!.shape, a.axes, a.keepDims), dtype: x!.dtype };
};

/** The cotangent of a reduction, brought back to the input's shape (keepDims, then broadcast). */
const expandBack = (ct: Node, x: Node, axes: readonly number[], keepDims: boolean): Node =>
  broadcastTo(keepDims ? ct : reshape(ct, reducedShape(x.shape, axes, true)), x.shape);

export const reduceSumDef: OpDef<'reduceSum'> = {
  name: 'reduceSum', kind: 'primitive', arity: 1, infer: inferReduce('reduceSum'),
  vjp: ({ inputs: [x], node, ct }) => [x!.dtype === 'float32' ? expandBack(ct, x!, node.attrs.axes, node.attrs.keepDims) : undefined],
  ref: pendingRef('reduceSum'),
};
export const reduceMeanDef: OpDef<'reduceMean'> = {
  name: 'reduceMean', kind: 'primitive', arity: 1, infer: inferReduce('reduceMean'),
  vjp: ({ inputs: [x], node, ct }) => {
    const n: Dim = dimProd(node.attrs.axes.map((a) => x!.shape[a]!));
    return [div(expandBack(ct, x!, node.attrs.axes, node.attrs.keepDims), dimScalar(n))];
  },
  ref: pendingRef('reduceMean'),
};
// Ties share the cotangent evenly (as PyTorch's amax does).
export const reduceMaxDef: OpDef<'reduceMax'> = {
  name: 'reduceMax', kind: 'primitive', arity: 1, infer: inferReduce('reduceMax'),
  vjp: ({ inputs: [x], node, ct }) => {
    if (x!.dtype !== 'float32') return [undefined];
    const { axes } = node.attrs;
    const m = cast(equal(x!, expandBack(node, x!, axes, node.attrs.keepDims)), 'float32');
    const count = reduceSum(m, axes, true);
    return [mul(expandBack(ct, x!, axes, node.attrs.keepDims), div(m, count))];
  },
  ref: pendingRef('reduceMax'),
};

export const argMaxDef: OpDef<'argMax'> = {
  name: 'argMax', kind: 'primitive', arity: 1,
  infer: ([x], a) => {
    const ax = normAxis(a.axis, x!.shape.length);
    if (ax === undefined || ax !== a.axis) return `axis ${a.axis} out of range for rank ${x!.shape.length}`;
    return { shape: reducedShape(x!.shape, [ax], a.keepDims), dtype: 'int32' };
  },
  vjp: () => [undefined],
  ref: pendingRef('argMax'),
};

const normAxes = (x: Node, axes: number | readonly number[] | undefined): number[] => {
  const list = axes === undefined ? x.shape.map((_, i) => i) : typeof axes === 'number' ? [axes] : axes;
  return [...new Set(list.map((a) => (a < 0 ? a + x.shape.length : a)))].sort((p, q) => p - q);
};

/** Sum over `axes` (all when omitted; negative axes count from the end). */
export const reduceSum = (x: Node, axes?: number | readonly number[], keepDims = false): Node =>
  apply(reduceSumDef, [x], { axes: normAxes(x, axes), keepDims });
export const reduceMax = (x: Node, axes?: number | readonly number[], keepDims = false): Node =>
  apply(reduceMaxDef, [x], { axes: normAxes(x, axes), keepDims });
export const reduceMean = (x: Node, axes?: number | readonly number[], keepDims = false): Node =>
  apply(reduceMeanDef, [x], { axes: normAxes(x, axes), keepDims });
/** Index of the maximum along `axis` (first on ties), int32. */
export const argMax = (x: Node, axis = -1, keepDims = false): Node =>
  apply(argMaxDef, [x], { axis: axis < 0 ? axis + x.shape.length : axis, keepDims });

/**
 * A float32 scalar holding a dim's value: a constant when concrete, otherwise the sum of
 * ones over an axis of that length (so symbolic sizes stay symbolic).
 */
export const dimScalar = (d: Dim): Node =>
  typeof d === 'number' ? scalar(d) : reduceSum(broadcastTo(scalar(1), [d]), [0]);
