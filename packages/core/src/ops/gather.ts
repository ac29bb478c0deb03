/**
 * Indexing: `gather` (embedding lookup, beam reordering) and its transpose `scatterAdd`
 * (the embedding gradient: rows summed into a zero table).
 */
import { apply, type Node } from '../ir/node.ts';
import { type OpDef, wanted } from './def.ts';
import { type Dim, dimEq } from '../types/dim.ts';
import { normAxis, shapeToString } from '../types/shape.ts';
import { isInt } from '../types/dtype.ts';
import { allocLike, evalDim, fail, refTensor, shapeStr, sizeOf } from './kernel.ts';

export const gatherDef: OpDef<'gather'> = {
  name: 'gather', kind: 'primitive', arity: 2,
  // table [...pre, N, ...post], idx [...I] -> [...pre, ...I, ...post]
  infer: ([table, idx], a) => {
    if (!isInt(idx!.dtype)) return `indices must be int32/int64, got ${idx!.dtype}`;
    const ax = normAxis(a.axis, table!.shape.length);
    if (ax === undefined || ax !== a.axis) return `axis ${a.axis} out of range for rank ${table!.shape.length}`;
    return { shape: [...table!.shape.slice(0, ax), ...idx!.shape, ...table!.shape.slice(ax + 1)], dtype: table!.dtype };
  },
  vjp: ({ inputs: [table, idx], node, ct, wants }) => [
    table!.dtype === 'float32' ? wanted(wants, 0, () => scatterAdd(ct, idx!, node.attrs.axis, table!.shape[node.attrs.axis]!)) : undefined,
    undefined,
  ],
  // an index outside [0, N) (negative ones included) is an error
  ref: ([table, idx], node) => {
    const ax = node.attrs.axis;
    const ts = table!.shape;
    if (!(ax >= 0 && ax < ts.length)) return fail(node, `axis ${ax} out of range for rank ${ts.length}`);
    const N = ts[ax]!;
    const pre = sizeOf(ts.slice(0, ax));
    const post = sizeOf(ts.slice(ax + 1));
    const I = idx!.data;
    const nI = I.length;
    const T = table!.data;
    const out = allocLike(T, pre * nI * post);
    for (let i = 0; i < nI; i++) {
      const k = I[i]!;
      if (!(k >= 0 && k < N)) fail(node, `index ${k} at position ${i} out of range [0, ${N}) for table ${shapeStr(ts)} on axis ${ax}`);
    }
    for (let p = 0; p < pre; p++)
      for (let i = 0; i < nI; i++) {
        const from = (p * N + I[i]!) * post;
        out.set(T.subarray(from, from + post), (p * nI + i) * post);
      }
    return refTensor(table!.dtype, [...ts.slice(0, ax), ...idx!.shape, ...ts.slice(ax + 1)], out);
  },
};

export const scatterAddDef: OpDef<'scatterAdd'> = {
  name: 'scatterAdd', kind: 'primitive', arity: 2,
  // updates [...pre, ...I, ...post], idx [...I] -> [...pre, size, ...post]; out[..., idx[i], ...] += updates[..., i, ...]
  infer: ([upd, idx], a) => {
    if (!isInt(idx!.dtype)) return `indices must be int32/int64, got ${idx!.dtype}`;
    if (upd!.dtype !== 'float32') return `updates must be float32, got ${upd!.dtype}`;
    const k = idx!.shape.length;
    if (!Number.isInteger(a.axis) || a.axis < 0 || a.axis + k > upd!.shape.length) return `axis ${a.axis} with ${k}-d indices out of range for rank ${upd!.shape.length}`;
    if (!idx!.shape.every((d, i) => dimEq(d, upd!.shape[a.axis + i]!)))
      return `updates ${shapeToString(upd!.shape)} on axes ${a.axis}..${a.axis + k - 1} must match indices ${shapeToString(idx!.shape)}`;
    if (typeof a.size === 'number' && !(Number.isInteger(a.size) && a.size >= 0)) return `invalid size ${a.size}`;
    return { shape: [...upd!.shape.slice(0, a.axis), a.size, ...upd!.shape.slice(a.axis + k)], dtype: 'float32' };
  },
  vjp: ({ inputs: [, idx], node, ct, wants }) => [wanted(wants, 0, () => gather(ct, idx!, node.attrs.axis)), undefined],
  ref: ([upd, idx], node, ctx) => {
    const ax = node.attrs.axis;
    const us = upd!.shape;
    const is = idx!.shape;
    const k = is.length;
    if (!(ax >= 0 && ax + k <= us.length) || !is.every((d, i) => d === us[ax + i]))
      return fail(node, `updates ${shapeStr(us)} do not match indices ${shapeStr(is)} on axis ${ax}`);
    const size = evalDim(node.attrs.size, ctx.env, node);
    const pre = sizeOf(us.slice(0, ax));
    const post = sizeOf(us.slice(ax + k));
    const I = idx!.data;
    const nI = I.length;
    const U = upd!.data;
    const acc = new Float64Array(pre * size * post);
    for (let i = 0; i < nI; i++) {
      const j = I[i]!;
      if (!(j >= 0 && j < size)) fail(node, `index ${j} at position ${i} out of range [0, ${size})`);
    }
    for (let p = 0; p < pre; p++)
      for (let i = 0; i < nI; i++) {
        const to = (p * size + I[i]!) * post;
        const from = (p * nI + i) * post;
        for (let q = 0; q < post; q++) acc[to + q] += U[from + q]!;
      }
    const out = allocLike(U, acc.length);
    out.set(acc);
    return refTensor('float32', [...us.slice(0, ax), size, ...us.slice(ax + k)], out);
  },
};

/** table.take(idx, axis): `gather(wte, ids)` is an embedding lookup. */
export const gather = (table: Node, idx: Node, axis = 0): Node =>
  apply(gatherDef, [table, idx], { axis: axis < 0 ? axis + table.shape.length : axis });

/** Zeros of size `size` on `axis`, with `updates` slices added at `idx` (duplicates sum). */
export const scatterAdd = (updates: Node, idx: Node, axis: number, size: Dim): Node =>
  apply(scatterAddDef, [updates, idx], { axis, size });
