/** Reductions over axes (sum, max, mean) and argMax. */
import { apply, type Node, type TypeInfo } from '../ir/node.ts';
import type { OpDef, RefKernel, RefTensor } from './def.ts';
import type { Dim } from '../types/dim.ts';
import { dimProd } from '../types/dim.ts';
import { normAxis, type Shape } from '../types/shape.ts';
import { alloc, fail, narrowInt, refTensor, sizeOf, stridesOf } from './kernel.ts';
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

/**
 * Reference reduction: each input element is folded into the output slot its non-reduced
 * indices select. `sum` and `mean` accumulate in float64; `max` propagates NaN; an empty
 * reduction gives 0 (sum), -Infinity (max) or NaN (mean).
 */
const reduceKernel = (name: R): RefKernel<R> => ([x], node, ctx) => {
  const { axes, keepDims } = node.attrs;
  const shape = x!.shape;
  const r = shape.length;
  for (const ax of axes) if (!(ax >= 0 && ax < r)) fail(node, `axis ${ax} out of range for rank ${r}`);
  const outShape = shape.flatMap((d, i) => (axes.includes(i) ? (keepDims ? [1] : []) : [d]));
  const nOut = sizeOf(outShape);
  // stride of each input axis in the output (0 for reduced axes)
  const full = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const fs = stridesOf(full);
  const st = shape.map((_, i) => (axes.includes(i) ? 0 : fs[i]!));
  const acc = new Float64Array(nOut).fill(name === 'reduceMax' ? -Infinity : 0);
  const src = x!.data;
  const n = src.length;
  const idx = new Array<number>(r).fill(0);
  let o = 0;
  for (let i = 0; i < n; i++) {
    const v = src[i]!;
    if (name === 'reduceMax') {
      if (v > acc[o]! || v !== v) acc[o] = v;
    } else acc[o] += v;
    for (let d = r - 1; d >= 0; d--) {
      idx[d]++;
      o += st[d]!;
      if (idx[d]! < shape[d]!) break;
      o -= st[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  if (name === 'reduceMean') {
    const count = axes.reduce((p, a) => p * shape[a]!, 1);
    for (let i = 0; i < nOut; i++) acc[i] = acc[i]! / count;
  }
  if (x!.dtype === 'int32' || x!.dtype === 'int64') return refTensor(x!.dtype, outShape, narrowInt(x!.dtype, acc, node));
  const out = alloc('float32', nOut, ctx.precision);
  out.set(acc);
  return refTensor('float32', outShape, out);
};

/** The cotangent of a reduction, brought back to the input's shape (keepDims, then broadcast). */
const expandBack = (ct: Node, x: Node, axes: readonly number[], keepDims: boolean): Node =>
  broadcastTo(keepDims ? ct : reshape(ct, reducedShape(x.shape, axes, true)), x.shape);

export const reduceSumDef: OpDef<'reduceSum'> = {
  name: 'reduceSum', kind: 'primitive', arity: 1, infer: inferReduce('reduceSum'),
  vjp: ({ inputs: [x], node, ct }) => [x!.dtype === 'float32' ? expandBack(ct, x!, node.attrs.axes, node.attrs.keepDims) : undefined],
  ref: reduceKernel('reduceSum'),
};
export const reduceMeanDef: OpDef<'reduceMean'> = {
  name: 'reduceMean', kind: 'primitive', arity: 1, infer: inferReduce('reduceMean'),
  vjp: ({ inputs: [x], node, ct }) => {
    const n: Dim = dimProd(node.attrs.axes.map((a) => x!.shape[a]!));
    return [div(expandBack(ct, x!, node.attrs.axes, node.attrs.keepDims), dimScalar(n))];
  },
  ref: reduceKernel('reduceMean'),
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
  ref: reduceKernel('reduceMax'),
};

export const argMaxDef: OpDef<'argMax'> = {
  name: 'argMax', kind: 'primitive', arity: 1,
  infer: ([x], a) => {
    const ax = normAxis(a.axis, x!.shape.length);
    if (ax === undefined || ax !== a.axis) return `axis ${a.axis} out of range for rank ${x!.shape.length}`;
    return { shape: reducedShape(x!.shape, [ax], a.keepDims), dtype: 'int32' };
  },
  vjp: () => [undefined],
  // first maximum on ties; a NaN counts as the maximum (NumPy); an empty axis is an error
  ref: ([x], node) => {
    const { axis, keepDims } = node.attrs;
    const shape = x!.shape;
    if (!(axis >= 0 && axis < shape.length)) return fail(node, `axis ${axis} out of range for rank ${shape.length}`);
    const len = shape[axis]!;
    const outShape = shape.flatMap((d, i) => (i === axis ? (keepDims ? [1] : []) : [d]));
    const outer = sizeOf(shape.slice(0, axis));
    const inner = sizeOf(shape.slice(axis + 1));
    if (len === 0 && outer * inner > 0) return fail(node, `argMax over an empty axis ${axis} of ${JSON.stringify(shape)}`);
    const src = x!.data;
    const out = new Int32Array(outer * inner);
    for (let p = 0; p < outer; p++)
      for (let q = 0; q < inner; q++) {
        const base = p * len * inner + q;
        let best = 0;
        let bv = src[base]!;
        for (let i = 1; i < len && bv === bv; i++) {
          const v = src[base + i * inner]!;
          if (v > bv || v !== v) {
            best = i;
            bv = v;
          }
        }
        out[p * inner + q] = best;
      }
    return refTensor('int32', outShape, out) as RefTensor;
  },
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
