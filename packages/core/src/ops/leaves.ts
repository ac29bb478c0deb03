/** Leaves: named inputs (data fed per call), parameters (weights), constants and iota. */
import { apply, type Node } from '../ir/node.ts';
import type { OpDef } from './def.ts';
import type { DType } from '../types/dtype.ts';
import { type Dim, sym, isConcrete } from '../types/dim.ts';
import { normAxis, type Shape } from '../types/shape.ts';
import { pendingRef } from './pending.ts';

const noGrad = () => [];

export const inputDef: OpDef<'input'> = {
  name: 'input', kind: 'leaf', arity: 0,
  infer: (_, a) => ({ shape: a.shape, dtype: a.dtype }),
  vjp: noGrad,
  ref: pendingRef('input'),
};

export const paramDef: OpDef<'param'> = {
  name: 'param', kind: 'leaf', arity: 0,
  infer: (_, a) => ({ shape: a.shape, dtype: a.dtype }),
  vjp: noGrad,
  ref: pendingRef('param'),
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
  ref: pendingRef('constant'),
};

export const iotaDef: OpDef<'iota'> = {
  name: 'iota', kind: 'leaf', arity: 0,
  infer: (_, a) =>
    normAxis(a.axis, a.shape.length) === undefined
      ? `axis ${a.axis} out of range for rank ${a.shape.length}`
      : a.dtype === 'bool' ? 'iota cannot be bool' : { shape: a.shape, dtype: a.dtype },
  vjp: noGrad,
  ref: pendingRef('iota'),
};

const toDims = (shape: readonly (Dim | string)[]): Shape => shape.map((d) => (typeof d === 'string' ? sym(d) : d));

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
