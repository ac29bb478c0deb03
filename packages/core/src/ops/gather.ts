/**
 * Indexing: `gather` (embedding lookup, beam reordering) and its transpose `scatterAdd`
 * (the embedding gradient: rows summed into a zero table).
 */
import { apply, type Node } from '../ir/node.ts';
import type { OpDef } from './def.ts';
import type { Dim } from '../types/dim.ts';
import { normAxis } from '../types/shape.ts';
import { isInt } from '../types/dtype.ts';
import { pendingRef } from './pending.ts';

export const gatherDef: OpDef<'gather'> = {
  name: 'gather', kind: 'primitive', arity: 2,
  // table [...pre, N, ...post], idx [...I] -> [...pre, ...I, ...post]
  infer: ([table, idx], a) => {
    if (!isInt(idx!.dtype)) return `indices must be int32/int64, got ${idx!.dtype}`;
    const ax = normAxis(a.axis, table!.shape.length);
    if (ax === undefined || ax !== a.axis) return `axis ${a.axis} out of range for rank ${table!.shape.length}`;
    return { shape: [...table!.shape.slice(0, ax), ...idx!.shape, ...table!.shape.slice(ax + 1)], dtype: table!.dtype };
  },
  vjp: ({ inputs: [table, idx], node, ct }) => [
    table!.dtype === 'float32' ? scatterAdd(ct, idx!, node.attrs.axis, table!.shape[node.attrs.axis]!) : undefined,
    undefined,
  ],
  ref: pendingRef('gather'),
};

export const scatterAddDef: OpDef<'scatterAdd'> = {
  name: 'scatterAdd', kind: 'primitive', arity: 2,
  // updates [...pre, ...I, ...post], idx [...I] -> [...pre, size, ...post]; out[..., idx[i], ...] += updates[..., i, ...]
  infer: ([upd, idx], a) => {
    if (!isInt(idx!.dtype)) return `indices must be int32/int64, got ${idx!.dtype}`;
    if (upd!.dtype !== 'float32') return `updates must be float32, got ${upd!.dtype}`;
    const k = idx!.shape.length;
    if (a.axis < 0 || a.axis + k > upd!.shape.length) return `axis ${a.axis} with ${k}-d indices out of range for rank ${upd!.shape.length}`;
    return { shape: [...upd!.shape.slice(0, a.axis), a.size, ...upd!.shape.slice(a.axis + k)], dtype: 'float32' };
  },
  vjp: ({ inputs: [, idx], node, ct }) => [gather(ct, idx!, node.attrs.axis), undefined],
  ref: pendingRef('scatterAdd'),
};

/** table.take(idx, axis): `gather(wte, ids)` is an embedding lookup. */
export const gather = (table: Node, idx: Node, axis = 0): Node =>
  apply(gatherDef, [table, idx], { axis: axis < 0 ? axis + table.shape.length : axis });

/** Zeros of size `size` on `axis`, with `updates` slices added at `idx` (duplicates sum). */
export const scatterAdd = (updates: Node, idx: Node, axis: number, size: Dim): Node =>
  apply(scatterAddDef, [updates, idx], { axis, size });
