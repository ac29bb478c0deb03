/**
 * Helpers shared by the reference kernels (each kernel lives beside its op record).
 *
 * Storage: float32 values are held in a Float64Array when the evaluation runs at `f64`
 * precision (gradient checks) and in a Float32Array at `f32` (each op's result rounded to
 * float32, i.e. `Math.fround` semantics; accumulations inside one op run in float64).
 * int32 and int64 are both held in an Int32Array: int64 values must lie in
 * [-2^31, 2^31), and a kernel whose int64 result leaves that range fails with an `EvalError`
 * (int32 arithmetic wraps, as two's complement hardware does). bool is a Uint8Array of 0/1.
 *
 * Kernels compute their output shape from their operands' concrete shapes and the node's
 * attributes, independently of the op's symbolic shape rule; the evaluator and the property
 * tests check that the two agree.
 */
import type { Node } from '../ir/node.ts';
import type { DType } from '../types/dtype.ts';
import type { RefTensor } from './def.ts';
import { type Dim, dimEval } from '../types/dim.ts';

export type RefData = RefTensor['data'];
export type Precision = 'f32' | 'f64';

/** A runtime failure of evaluation (bad feed, index out of range, ...), naming the op and path. */
export class EvalError extends Error {
  constructor(
    readonly op: string,
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path === '' ? '' : `${path}: `}${op}: ${detail}`);
    this.name = 'EvalError';
  }
}

/** Throws an `EvalError` for `node`. */
export const fail = (node: Node, detail: string): never => {
  throw new EvalError(node.op, node.path, detail);
};

export const sizeOf = (shape: readonly number[]): number => {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
};

/** Row-major strides. */
export const stridesOf = (shape: readonly number[]): number[] => {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
};

export const shapeStr = (s: readonly number[]): string => `[${s.join(',')}]`;

/** Fresh zeroed storage for `n` elements of `dtype`. */
export const alloc = (dtype: DType, n: number, precision: Precision): RefData =>
  dtype === 'float32'
    ? precision === 'f64' ? new Float64Array(n) : new Float32Array(n)
    : dtype === 'bool' ? new Uint8Array(n) : new Int32Array(n);

/** Storage of the same class as `like`, for `n` elements. */
export const allocLike = (like: RefData, n: number): RefData =>
  new (like.constructor as new (n: number) => RefData)(n);

export const refTensor = (dtype: DType, shape: readonly number[], data: RefData): RefTensor => ({ dtype, shape, data });

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

/**
 * Converts float64 results to the storage of an integer dtype: int32 wraps (two's
 * complement), int64 must fit the evaluator's int32 storage. Non-integers truncate toward 0.
 */
export const narrowInt = (dtype: 'int32' | 'int64', values: Float64Array, node: Node): Int32Array => {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (dtype === 'int64' && !(v >= I32_MIN && v <= I32_MAX))
      fail(node, `int64 value ${v} outside the reference evaluator's range [-2^31, 2^31)`);
    out[i] = v; // ToInt32: truncation and wrap-around
  }
  return out;
};

/** Values of `dtype` from plain numbers (constants); ints must be exact and in range. */
export const fromNumbers = (dtype: DType, values: ArrayLike<number>, precision: Precision, node: Node): RefData => {
  if (dtype === 'int32' || dtype === 'int64') {
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!Number.isInteger(v) || v < I32_MIN || v > I32_MAX) fail(node, `${dtype} value ${v} is not an integer in [-2^31, 2^31)`);
    }
    return Int32Array.from(values);
  }
  if (dtype === 'bool') return Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0));
  return precision === 'f64' ? Float64Array.from(values) : Float32Array.from(values);
};

/** NumPy broadcasting of concrete shapes; undefined when incompatible. */
export const broadcastConcrete = (a: readonly number[], b: readonly number[]): number[] | undefined => {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)]!;
    const db = i < n - b.length ? 1 : b[i - (n - b.length)]!;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else return undefined;
  }
  return out;
};

/**
 * For each element of `outShape` (row-major), the offset of the element of an operand of
 * `inShape` that broadcasts to it. `undefined` when the shapes are equal (identity map).
 */
export const broadcastOffsets = (inShape: readonly number[], outShape: readonly number[]): Int32Array | undefined => {
  const r = outShape.length;
  const lead = r - inShape.length;
  if (lead === 0 && inShape.every((d, i) => d === outShape[i])) return undefined;
  const inStr = stridesOf(inShape);
  const st = new Array<number>(r);
  for (let d = 0; d < r; d++) st[d] = d < lead || inShape[d - lead] === 1 ? 0 : inStr[d - lead]!;
  const n = sizeOf(outShape);
  const offs = new Int32Array(n);
  if (n === 0) return offs;
  const idx = new Array<number>(r).fill(0);
  let o = 0;
  for (let i = 0; i < n; i++) {
    offs[i] = o;
    for (let d = r - 1; d >= 0; d--) {
      idx[d]++;
      o += st[d]!;
      if (idx[d]! < outShape[d]!) break;
      o -= st[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return offs;
};

/** Elementwise map of one operand into a new tensor of `dtype` (ints computed in float64 then narrowed). */
export const map1 = (x: RefTensor, dtype: DType, precision: Precision, node: Node, f: (v: number) => number): RefTensor => {
  const n = x.data.length;
  const src = x.data;
  if (dtype === 'int32' || dtype === 'int64') {
    const tmp = new Float64Array(n);
    for (let i = 0; i < n; i++) tmp[i] = f(src[i]!);
    return refTensor(dtype, x.shape, narrowInt(dtype, tmp, node));
  }
  const out = alloc(dtype, n, precision);
  for (let i = 0; i < n; i++) out[i] = f(src[i]!);
  return refTensor(dtype, x.shape, out);
};

/** Elementwise map of two broadcasting operands. */
export const map2 = (
  a: RefTensor, b: RefTensor, dtype: DType, precision: Precision, node: Node, f: (x: number, y: number) => number,
): RefTensor => {
  const shape = broadcastConcrete(a.shape, b.shape) ?? fail(node, `cannot broadcast ${shapeStr(a.shape)} with ${shapeStr(b.shape)}`);
  const n = sizeOf(shape);
  const isI = dtype === 'int32' || dtype === 'int64';
  const out = isI ? new Float64Array(n) : alloc(dtype, n, precision);
  const A = a.data;
  const B = b.data;
  const oa = broadcastOffsets(a.shape, shape);
  const ob = broadcastOffsets(b.shape, shape);
  if (oa === undefined && ob === undefined) for (let i = 0; i < n; i++) out[i] = f(A[i]!, B[i]!);
  else if (oa === undefined && B.length === 1) {
    const y = B[0]!;
    for (let i = 0; i < n; i++) out[i] = f(A[i]!, y);
  } else if (ob === undefined && A.length === 1) {
    const x = A[0]!;
    for (let i = 0; i < n; i++) out[i] = f(x, B[i]!);
  } else
    for (let i = 0; i < n; i++) out[i] = f(A[oa === undefined ? i : oa[i]!]!, B[ob === undefined ? i : ob[i]!]!);
  return refTensor(dtype, shape, isI ? narrowInt(dtype as 'int32' | 'int64', out as Float64Array, node) : out);
};

/** Concrete value of a (possibly symbolic) dim inside a kernel, failing clearly when unbound. */
export const evalDim = (d: Dim, env: Readonly<Record<string, number>>, node: Node): number => {
  try {
    return dimEval(d, env);
  } catch (e) {
    return fail(node, (e as Error).message);
  }
};
