/** Layout primitives: concat, slice, pad, reshape, transpose, broadcastTo. */
import { apply, currentPath, type Node } from '../ir/node.ts';
import { type OpDef, wanted } from './def.ts';
import { type Dim, dimEq, dimAdd, dimSub, dimToString, dimProd, dimDiv, isConcrete, parseDim } from '../types/dim.ts';
import { broadcastShapes, normAxis, shapeEq, shapeToString, type Shape } from '../types/shape.ts';
import { GraphError } from '../errors.ts';
import { allocLike, broadcastConcrete, broadcastOffsets, evalDim, fail, refTensor, shapeStr, sizeOf, stridesOf } from './kernel.ts';

/** A concrete dim must be a non-negative integer (symbolic dims are sizes by construction). */
const validDim = (d: Dim): boolean => !isConcrete(d) || (Number.isInteger(d) && d >= 0);

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
  vjp: ({ inputs, node, ct, wants }) => {
    let start: Dim = 0;
    return inputs.map((x, i) => {
      const end = dimAdd(start, x.shape[node.attrs.axis]!);
      const from = start;
      const g = x.dtype === 'float32' ? wanted(wants, i, () => slice(ct, node.attrs.axis, from, end)) : undefined;
      start = end;
      return g;
    });
  },
  ref: (xs, node) => {
    const ax = node.attrs.axis;
    const first = xs[0]!.shape;
    const r = first.length;
    if (!(ax >= 0 && ax < r)) return fail(node, `axis ${ax} out of range for rank ${r}`);
    for (const x of xs)
      if (x.shape.length !== r || x.shape.some((d, i) => i !== ax && d !== first[i]))
        fail(node, `operands ${xs.map((y) => shapeStr(y.shape)).join(', ')} differ off axis ${ax}`);
    const total = xs.reduce((t, x) => t + x.shape[ax]!, 0);
    const outShape = first.map((d, i) => (i === ax ? total : d));
    const outer = sizeOf(first.slice(0, ax));
    const inner = sizeOf(first.slice(ax + 1));
    const out = allocLike(xs[0]!.data, sizeOf(outShape));
    const rowLen = total * inner;
    let col = 0;
    for (const x of xs) {
      const blk = x.shape[ax]! * inner;
      for (let p = 0; p < outer; p++) out.set(x.data.subarray(p * blk, (p + 1) * blk), p * rowLen + col);
      col += blk;
    }
    return refTensor(xs[0]!.dtype, outShape, out);
  },
};

/** Copies `x[..., start:end, ...]` on `axis` (concrete bounds, already checked). */
const sliceData = (x: { shape: readonly number[]; data: ReturnType<typeof allocLike> }, ax: number, start: number, end: number) => {
  const outer = sizeOf(x.shape.slice(0, ax));
  const inner = sizeOf(x.shape.slice(ax + 1));
  const n = x.shape[ax]!;
  const blk = (end - start) * inner;
  const out = allocLike(x.data, outer * blk);
  for (let p = 0; p < outer; p++) out.set(x.data.subarray((p * n + start) * inner, (p * n + end) * inner), p * blk);
  return out;
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
  ref: ([x], node, ctx) => {
    const ax = node.attrs.axis;
    if (!(ax >= 0 && ax < x!.shape.length)) return fail(node, `axis ${ax} out of range for rank ${x!.shape.length}`);
    const start = evalDim(node.attrs.start, ctx.env, node);
    const end = evalDim(node.attrs.end, ctx.env, node);
    const n = x!.shape[ax]!;
    if (!(start >= 0 && start <= end && end <= n)) return fail(node, `slice [${start}:${end}] out of bounds for axis ${ax} of ${shapeStr(x!.shape)}`);
    return refTensor(x!.dtype, x!.shape.map((d, i) => (i === ax ? end - start : d)), sliceData(x!, ax, start, end));
  },
};

export const padDef: OpDef<'pad'> = {
  name: 'pad', kind: 'primitive', arity: 1,
  infer: ([x], a) => {
    const r = x!.shape.length;
    if (normAxis(a.axis, r) !== a.axis) return `axis ${a.axis} out of range for rank ${r}`;
    if (le(0, a.before) === false || le(0, a.after) === false) return 'negative padding';
    return { shape: x!.shape.map((d, i) => (i === a.axis ? dimAdd(dimAdd(a.before, d), a.after) : d)), dtype: x!.dtype };
  },
  vjp: ({ inputs: [x], node, ct }) => [
    x!.dtype === 'float32' ? slice(ct, node.attrs.axis, node.attrs.before, dimAdd(node.attrs.before, x!.shape[node.attrs.axis]!)) : undefined,
  ],
  ref: ([x], node, ctx) => {
    const ax = node.attrs.axis;
    if (!(ax >= 0 && ax < x!.shape.length)) return fail(node, `axis ${ax} out of range for rank ${x!.shape.length}`);
    const before = evalDim(node.attrs.before, ctx.env, node);
    const after = evalDim(node.attrs.after, ctx.env, node);
    if (before < 0 || after < 0) return fail(node, `negative padding ${before}, ${after}`);
    const n = x!.shape[ax]!;
    const m = before + n + after;
    const outShape = x!.shape.map((d, i) => (i === ax ? m : d));
    const outer = sizeOf(x!.shape.slice(0, ax));
    const inner = sizeOf(x!.shape.slice(ax + 1));
    const out = allocLike(x!.data, sizeOf(outShape));
    for (let p = 0; p < outer; p++) out.set(x!.data.subarray(p * n * inner, (p + 1) * n * inner), (p * m + before) * inner);
    return refTensor(x!.dtype, outShape, out);
  },
};

export const reshapeDef: OpDef<'reshape'> = {
  name: 'reshape', kind: 'primitive', arity: 1,
  infer: ([x], a) =>
    !a.shape.every(validDim)
      ? `cannot reshape ${shapeToString(x!.shape)} to ${shapeToString(a.shape)}: invalid target dim`
      : dimEq(dimProd(x!.shape), dimProd(a.shape))
        ? { shape: a.shape, dtype: x!.dtype }
        : `cannot reshape ${shapeToString(x!.shape)} to ${shapeToString(a.shape)}: element counts ${dimToString(dimProd(x!.shape))} vs ${dimToString(dimProd(a.shape))}`,
  vjp: ({ inputs: [x], ct }) => [x!.dtype === 'float32' ? reshape(ct, x!.shape) : undefined],
  // values are immutable, so the data is shared, not copied
  ref: ([x], node, ctx) => {
    const shape = node.attrs.shape.map((d) => evalDim(d, ctx.env, node));
    if (shape.some((d) => !(d >= 0)) || sizeOf(shape) !== x!.data.length)
      return fail(node, `cannot reshape ${shapeStr(x!.shape)} to ${shapeStr(shape)}`);
    return refTensor(x!.dtype, shape, x!.data);
  },
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
  ref: ([x], node) => {
    const { perm } = node.attrs;
    const s = x!.shape;
    const r = s.length;
    if (perm.length !== r || [...perm].sort((p, q) => p - q).some((p, i) => p !== i))
      return fail(node, `perm [${perm.join(',')}] is not a permutation of rank ${r}`);
    const outShape = perm.map((p) => s[p]!);
    const inStr = stridesOf(s);
    const st = perm.map((p) => inStr[p]!); // input stride of each output axis
    const n = x!.data.length;
    const src = x!.data;
    const out = allocLike(src, n);
    if (n > 0) {
      const idx = new Array<number>(r).fill(0);
      let o = 0;
      for (let i = 0; i < n; i++) {
        out[i] = src[o]!;
        for (let d = r - 1; d >= 0; d--) {
          idx[d]++;
          o += st[d]!;
          if (idx[d]! < outShape[d]!) break;
          o -= st[d]! * outShape[d]!;
          idx[d] = 0;
        }
      }
    }
    return refTensor(x!.dtype, outShape, out);
  },
};

export const broadcastToDef: OpDef<'broadcastTo'> = {
  name: 'broadcastTo', kind: 'primitive', arity: 1,
  infer: ([x], a) => {
    if (!a.shape.every(validDim)) return `cannot broadcast ${shapeToString(x!.shape)} to ${shapeToString(a.shape)}: invalid target dim`;
    const s = broadcastShapes(x!.shape, a.shape);
    if (typeof s === 'string' || !shapeEq(s, a.shape)) return `cannot broadcast ${shapeToString(x!.shape)} to ${shapeToString(a.shape)}`;
    return { shape: a.shape, dtype: x!.dtype };
  },
  // autodiff sums the cotangent back to the operand's shape
  vjp: ({ inputs: [x], ct }) => [x!.dtype === 'float32' ? ct : undefined],
  ref: ([x], node, ctx) => {
    const shape = node.attrs.shape.map((d) => evalDim(d, ctx.env, node));
    const b = broadcastConcrete(x!.shape, shape);
    if (!b || b.length !== shape.length || b.some((d, i) => d !== shape[i]))
      return fail(node, `cannot broadcast ${shapeStr(x!.shape)} to ${shapeStr(shape)}`);
    const offs = broadcastOffsets(x!.shape, shape);
    if (offs === undefined) return refTensor(x!.dtype, shape, x!.data);
    const src = x!.data;
    const out = allocLike(src, offs.length);
    for (let i = 0; i < offs.length; i++) out[i] = src[offs[i]!]!;
    return refTensor(x!.dtype, shape, out);
  },
};

/** A dim given as a number or printed form (`'B'`, `'P+T'`); a malformed one is a GraphError. */
const toDim = (d: Dim | string): Dim => {
  if (typeof d !== 'string') return d;
  const p = parseDim(d);
  if (p === undefined) throw new GraphError('dim', currentPath(), `malformed dim '${d}'`);
  return p;
};

/** Concatenates along `axis` (negative counts from the end). */
export const concat = (xs: readonly Node[], axis: number): Node => {
  if (xs.length === 0) throw new GraphError('concat', currentPath(), 'expected at least one operand');
  return xs.length === 1 ? xs[0]! : apply(concatDef, xs, { axis: axis < 0 ? axis + xs[0]!.shape.length : axis });
};

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
    if (inferred === undefined)
      throw new GraphError('reshape', currentPath(), `cannot infer -1 in ${shapeToString(dims)}: ${dimToString(dimProd(x.shape))} elements of ${shapeToString(x.shape)} are not a multiple of ${dimToString(known)}`);
    target = dims.map((d, i) => (i === hole ? inferred : d));
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
