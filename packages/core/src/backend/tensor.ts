import type { DType } from '../types/dtype.ts';

/** Host-side typed storage for each dtype (int64 as BigInt64Array, bool as Uint8Array). */
export type TypedData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** A concrete tensor on the host: what backends take as feeds and give back as results. */
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: TypedData;
}

/** Builds a host tensor, checking that the data length matches the shape. */
export const hostTensor = (dtype: DType, shape: readonly number[], data: TypedData): HostTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`hostTensor: shape [${shape.join(',')}] needs ${n} elements, got ${data.length}`);
  return { dtype, shape: [...shape], data };
};

export const f32 = (shape: readonly number[], values: ArrayLike<number>): HostTensor =>
  hostTensor('float32', shape, Float32Array.from(values));
export const i32 = (shape: readonly number[], values: ArrayLike<number>): HostTensor =>
  hostTensor('int32', shape, Int32Array.from(values));
