import { type Dim, dimEq, dimToString, dimProd, isConcrete, parseDim } from './dim.ts';

/** A shape: one dim per axis, outermost first. */
export type Shape = readonly Dim[];

export const shapeToString = (s: Shape): string => `[${s.map(dimToString).join(',')}]`;

export const shapeEq = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => dimEq(d, b[i]!));

export const isConcreteShape = (s: Shape): s is readonly number[] => s.every(isConcrete);

/** Number of elements (a dim, symbolic if the shape is). */
export const numel = (s: Shape): Dim => dimProd(s);

/**
 * NumPy broadcasting of two shapes (right-aligned; a dim of 1 stretches). Symbolic dims
 * broadcast only against an equal dim or 1. Returns an error string when incompatible.
 */
export const broadcastShapes = (a: Shape, b: Shape): Shape | string => {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)]!;
    const db = i < n - b.length ? 1 : b[i - (n - b.length)]!;
    if (dimEq(da, db) || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else return `cannot broadcast ${shapeToString(a)} with ${shapeToString(b)} (axis ${i}: ${dimToString(da)} vs ${dimToString(db)})`;
  }
  return out;
};

/** Normalises a possibly negative axis for a rank; undefined when out of range. */
export const normAxis = (axis: number, rank: number): number | undefined => {
  const a = axis < 0 ? axis + rank : axis;
  return Number.isInteger(a) && a >= 0 && a < rank ? a : undefined;
};

/** Parses `[B,T,768]`. */
export const parseShape = (s: string): Shape | undefined => {
  const m = /^\[(.*)\]$/.exec(s.trim());
  if (!m) return undefined;
  if (m[1]!.trim() === '') return [];
  const dims = m[1]!.split(',').map(parseDim);
  return dims.every((d) => d !== undefined) ? (dims as Dim[]) : undefined;
};
