/** Layout primitives: concat, slice, pad, reshape, transpose, broadcastTo. */
import { apply, type Node } from '../ir/node.ts';
import type { OpDef } from './def.ts';
import { type Dim, dimEq, dimAdd, dimSub, dimToString, dimProd, dimDiv, isConcrete, sym } from '../types/dim.ts';
import { broadcastShapes, normAxis, shapeEq, shapeToString, type Shape } from '../types/shape.ts';
import { pendingRef } from './pending.ts';

export const concatDef: OpDef<'concat'> = {
  name: 'concat', kind: 'primitive', arity: [1, Infinity],
  infer: (xs, a) => {
    const first = xs[0]!;
    const r = first.shape.length;
    if (normAxis(a.axis, r) !== a.axis) return `axis ${a.axis} out of range for rank ${r}`;
    let total: Dim = 0;
    for (const [i, x] of xs.entries()) {
      if (x.dtype !== first.dtype) return `operand ${i} has dtype ${x.dtype}, expected ${first.dtype}`;
      if (x.shape.length !== r) return `operand ${i} has rank ${x.shape.length}, expected ${r}`;
      for (let d = 0; d < r; d++)
        if (d !== a.axis && !dimEq(x.shape[d]!, first.shape[d]!))
          return `operand ${i} differs on axis ${d}: ${dimToString(x.shape[d]!)} vs ${dimToString(first.shape[d]!)}`;
      total = dimAdd(total, x.shape[a.axis]!);
    }
    return { shape: first.shape.map((d, i) => (i === a.axis ? total : d)), dtype: first.dtype };
  },
  vjp: ({ inputs, node, ct }) => {
    let start: Dim = 0;
    return inputs.map((x) => {
      const end = dimAdd(start, x.shape[node.attrs.axis]!);
      const g = x.dtype === 'float32' ? slice(ct, node.attrs.axis, start, end) : undefined;
      start = end;
      return g;
    });
  },
  ref: pendingRef('concat'),
};

const le = (a: Dim, b: Dim): boolean | undefined => {
  const d = dimSub(b, a);
  return isConcrete(d) ? d >= 0 : undefined;
};

export const sliceDef: OpDef<'slice'> = {
  name: 'slice', kind: 'primitive', arity: 1,
  infer: ([x], a) => {
    const r = x!.shape.length;
    if (normAxis(a.axis, r) !== a.axis) return `axis ${a.axis} out of range for rank ${r}`;
    const n = x!.shape[a.axis]!;
    if (le(0, a.start) === false || le(a.start, a.end) === false || le(a.end, n) === false)
      return `slice [${dimToString(a.start)}:${dimToString(a.end)}] out of bounds for axis ${a.axis} of length ${dimToString(n)}`;
    return { shape: x!.shape.map((d, i) => (i === a.axis ? dimSub(a.end, a.start) : d)), dtype: x!.dtype };
  },
  vjp: ({ inputs: [x], node, ct }) => [
    x!.dtype === 'float32' ? pad(ct, node.attrs.axis, node.attrs.start, dimSub(x!.shape[node.attrs.axis]!, node.attrs.end)) : undefined,
  ],
  ref: pendingRef('slice'),
};

export const padDef: OpDef<'pad'> = {
  name: 'pad', kind: 'primitive', arity: 1,
  infer: ([x], a) => {
    const r = x!.shape.length;
    if (normAxis(a.axis, r) !== a.axis) return `axis ${a.axis} out of range for rank ${r}`;
    if (le(0, a.before) === false || le(0, a.after) === false) return 'negative padding';
    return { shape: x!.shape.map((d, i) => (i === a.axis ? dimAdd(dimAdd(a.before, d), a.after) : d)), dtype: x!.dtype };
  },
  vjp: ({ inputs: [x], node, ct }) => [slice(ct, node.attrs.axis, node.attrs.before, dimAdd(node.attrs.before, x!.shape[node.attrs.axis]!))],
  ref: pendingRef('pad'),
};

export const reshapeDef: OpDef<'reshape'> = {
  name: 'reshape', kind: 'primitive', arity: 1,
  infer: ([x], a) =>
    dimEq(dimProd(x!.shape), dimProd(a.shape))
      ? { shape: a.shape, dtype: x!.dtype }
      : `cannot reshape ${shapeToString(x!.shape)} to ${shapeToString(a.shape)}: element counts ${dimToString(dimProd(x!.shape))} vs ${dimToString(dimProd(a.shape))}`,
  vjp: ({ inputs: [x], ct }) => [x!.dtype === 'float32' ? reshape(ct, x!.shape) : undefined],
  ref: pendingRef('reshape'),
};

export const transposeDef: OpDef<'transpose'> = {
  name: 'transpose', kind: 'primitive', arity: 1,
  infer: ([x], a) => {
    const r = x!.shape.length;
    const ok = a.perm.length === r && [...a.perm].sort((p, q) => p - q).every((p, i) => p === i);
    return ok ? { shape: a.perm.map((p) => x!.shape[p]!), dtype: x!.dtype } : `perm [${a.perm.join(',')}] is not a permutation of rank ${r}`;
  },
  vjp: ({ inputs: [x], node, ct }) => {
    const inv = new Array<number>(node.attrs.perm.length);
    node.attrs.perm.forEach((p, i) => { inv[p] = i; });
    return [x!.dtype === 'float32' ? transpose(ct, inv) : undefined];
  },
  ref: pendingRef('transpose'),
};

export const broadcastToDef: OpDef<'broadcastTo'> = {
  name: 'broadcastTo', kind: 'primitive', arity: 1,
  infer: ([x], a) => {
    const s = broadcastShapes(x!.shape, a.shape);
    if (typeof s === 'string' || !shapeEq(s, a.shape)) return `cannot broadcast ${shapeToString(x!.shape)} to ${shapeToString(a.shape)}`;
    return { shape: a.shape, dtype: x!.dtype };
  },
  // autodiff sums the cotangent back to the operand's shape
  vjp: ({ inputs: [x], ct }) => [x!.dtype === 'float32' ? ct : undefined],
  ref: pendingRef('broadcastTo'),
};

const toDim = (d: Dim | string): Dim => (typeof d === 'string' ? sym(d) : d);

/** Concatenates along `axis` (negative counts from the end). */
export const concat = (xs: readonly Node[], axis: number): Node =>
  xs.length === 1 ? xs[0]! : apply(concatDef, xs, { axis: axis < 0 ? axis + xs[0]!.shape.length : axis });

/** `x[..., start:end, ...]` on one axis (bounds may be symbolic). */
export const slice = (x: Node, axis: number, start: Dim, end: Dim): Node => {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  if (dimEq(start, 0) && dimEq(end, x.shape[ax] ?? -1)) return x;
  return apply(sliceDef, [x], { axis: ax, start, end });
};

/** Zero padding on one axis. */
export const pad = (x: Node, axis: number, before: Dim, after: Dim): Node => {
  const ax = axis < 0 ? axis + x.shape.length : axis;
  if (dimEq(before, 0) && dimEq(after, 0)) return x;
  return apply(padDef, [x], { axis: ax, before, after });
};

/** Reshape; one entry may be -1 (inferred), string entries are symbolic dims. */
export const reshape = (x: Node, shape: readonly (Dim | string)[]): Node => {
  const dims = shape.map(toDim);
  const hole = dims.findIndex((d) => d === -1);
  let target: Shape = dims;
  if (hole >= 0) {
    const known = dimProd(dims.filter((_, i) => i !== hole));
    const inferred = dimDiv(dimProd(x.shape), known);
    target = dims.map((d, i) => (i === hole ? (inferred ?? -1) : d));
  }
  if (shapeEq(target, x.shape)) return x;
  return apply(reshapeDef, [x], { shape: target });
};

/** Permutes axes. */
export const transpose = (x: Node, perm: readonly number[]): Node =>
  perm.every((p, i) => p === i) && perm.length === x.shape.length ? x : apply(transposeDef, [x], { perm: [...perm] });

/** Broadcasts to `shape` (NumPy rules). */
export const broadcastTo = (x: Node, shape: readonly (Dim | string)[]): Node => {
  const s = shape.map(toDim);
  return shapeEq(s, x.shape) ? x : apply(broadcastToDef, [x], { shape: s });
};
