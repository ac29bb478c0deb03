import * as t from 'io-ts';

/**
 * Element types of graph values. `float32` for activations and parameters, `int32`/`int64`
 * for token ids and indices, `bool` for masks. (The reference evaluator may compute float32
 * values in float64 for gradient checks; that is a property of the evaluator, not the graph.)
 */
export const DTypeC = t.keyof({ float32: null, int32: null, int64: null, bool: null }, 'DType');
export type DType = t.TypeOf<typeof DTypeC>;

export const isFloat = (d: DType): boolean => d === 'float32';
export const isInt = (d: DType): boolean => d === 'int32' || d === 'int64';

/** Short names used by the printer: f32, i32, i64, bool. */
export const dtypeShort: Readonly<Record<DType, string>> = { float32: 'f32', int32: 'i32', int64: 'i64', bool: 'bool' };
export const dtypeFromShort = (s: string): DType | undefined =>
  (Object.keys(dtypeShort) as DType[]).find((d) => dtypeShort[d] === s);
