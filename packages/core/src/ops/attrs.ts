/**
 * Attribute codecs of every op: the single source of the op names and attribute types.
 * Attributes are JSON-like values; dims inside them are `Dim`s (printed as strings such as
 * `"B*T"`). The printer writes `codec.encode(attrs)`; the parser decodes it back.
 */
import * as t from 'io-ts';
import { type Dim, parseDim, dimToString } from '../types/dim.ts';
import { DTypeC } from '../types/dtype.ts';

/** A dim inside attributes: a number, or a symbolic dim encoded as its printed form. */
export const DimC = new t.Type<Dim, number | string, unknown>(
  'Dim',
  (u): u is Dim => typeof u === 'number' || (typeof u === 'object' && u !== null && (u as { kind?: unknown }).kind === 'sym'),
  (u, c) => {
    if (typeof u === 'number') return Number.isInteger(u) ? t.success(u) : t.failure(u, c, 'dim must be an integer');
    if (typeof u === 'string') {
      const d = parseDim(u);
      return d === undefined ? t.failure(u, c, `malformed dim '${u}'`) : t.success(d);
    }
    if (typeof u === 'object' && u !== null && (u as { kind?: unknown }).kind === 'sym') return t.success(u as Dim);
    return t.failure(u, c, 'expected a dim');
  },
  (d) => (typeof d === 'number' ? d : dimToString(d)),
);
export const ShapeC = t.readonlyArray(DimC, 'Shape');

/**
 * A number inside attributes. JSON has no NaN, ±Infinity or -0, so those are encoded as the
 * strings `"NaN"`, `"Infinity"`, `"-Infinity"`, `"-0"`: hash-consing keys and printed graphs
 * then tell `scalar(Infinity)` from `scalar(-Infinity)`, and `parse(print(g))` restores them.
 */
export const NumC = new t.Type<number, number | string, unknown>(
  'Num',
  (u): u is number => typeof u === 'number',
  (u, c) => {
    if (typeof u === 'number') return t.success(u);
    if (u === 'NaN') return t.success(NaN);
    if (u === 'Infinity') return t.success(Infinity);
    if (u === '-Infinity') return t.success(-Infinity);
    if (u === '-0') return t.success(-0);
    return t.failure(u, c, 'expected a number');
  },
  (n) => (Number.isNaN(n) ? 'NaN' : n === Infinity ? 'Infinity' : n === -Infinity ? '-Infinity' : Object.is(n, -0) ? '-0' : n),
);
/** An integer attribute (axis, index). */
const Int = new t.Type<number, number, unknown>(
  'Int',
  (u): u is number => typeof u === 'number' && Number.isInteger(u),
  (u, c) => (typeof u === 'number' && Number.isInteger(u) ? t.success(u) : t.failure(u, c, 'expected an integer')),
  (n) => n,
);
const Empty = t.type({});

export const attrCodecs = {
  // leaves
  input: t.type({ name: t.string, shape: ShapeC, dtype: DTypeC }),
  param: t.type({ name: t.string, shape: ShapeC, dtype: DTypeC }),
  constant: t.type({ shape: t.readonlyArray(Int), dtype: DTypeC, values: t.readonlyArray(NumC) }),
  iota: t.type({ shape: ShapeC, axis: Int, dtype: DTypeC }),
  // elementwise unary
  neg: Empty, exp: Empty, log: Empty, tanh: Empty, erf: Empty, sqrt: Empty, rsqrt: Empty,
  sin: Empty, cos: Empty, recip: Empty, abs: Empty, logicalNot: Empty,
  cast: t.type({ dtype: DTypeC }),
  // elementwise binary (broadcasting)
  add: Empty, sub: Empty, mul: Empty, div: Empty, maximum: Empty, minimum: Empty, pow: Empty,
  equal: Empty, less: Empty, lessEqual: Empty, logicalAnd: Empty, logicalOr: Empty,
  where: Empty,
  // linear algebra, reductions
  matmul: Empty,
  reduceSum: t.type({ axes: t.readonlyArray(Int), keepDims: t.boolean }),
  reduceMax: t.type({ axes: t.readonlyArray(Int), keepDims: t.boolean }),
  reduceMean: t.type({ axes: t.readonlyArray(Int), keepDims: t.boolean }),
  argMax: t.type({ axis: Int, keepDims: t.boolean }),
  // indexing and layout
  gather: t.type({ axis: Int }),
  scatterAdd: t.type({ axis: Int, size: DimC }),
  concat: t.type({ axis: Int }),
  slice: t.type({ axis: Int, start: DimC, end: DimC }),
  pad: t.type({ axis: Int, before: DimC, after: DimC }),
  reshape: t.type({ shape: ShapeC }),
  transpose: t.type({ perm: t.readonlyArray(Int) }),
  broadcastTo: t.type({ shape: ShapeC }),
  // composites (defined by their decomposition; backends may fuse)
  softmax: t.type({ axis: Int }),
  logSoftmax: t.type({ axis: Int }),
  layerNorm: t.type({ eps: NumC }),
  rmsNorm: t.type({ eps: NumC }),
  gelu: t.type({ approximate: t.keyof({ none: null, tanh: null }) }),
  silu: Empty,
  attention: t.type({ scale: NumC, causal: t.boolean, masked: t.boolean }),
  crossEntropy: t.type({ ignoreIndex: Int, reduction: t.keyof({ mean: null, sum: null, none: null }) }),
} as const;

export type OpName = keyof typeof attrCodecs;
export type AttrsOf<K extends OpName> = t.TypeOf<(typeof attrCodecs)[K]>;
export const opNames = Object.keys(attrCodecs) as OpName[];
