/**
 * The lowering table: one TensorFlow.js implementation per core primitive (typed so that a
 * missing primitive is a compile error), and fused implementations for the composites that
 * have a tfjs kernel of their own (softmax and log-softmax along the last axis). Other
 * composites are expanded to their decomposition before lowering (see prepare.ts).
 *
 * A lowering receives its operands as tfjs tensors of exactly the operand nodes' shapes and
 * the node's concrete output shape (symbolic dims evaluated once per run by the executor); it
 * returns one tensor of that shape. It runs inside `tf.tidy`, so temporaries are released.
 *
 * dtypes: float32, int32 and bool map to themselves; int64 values are held as int32 (tfjs has
 * no int64), so they must lie in [-2^31, 2^31), as in the reference evaluator.
 *
 * Values are *lazily broadcast*: a tensor may have extent 1 on an axis where its node has a
 * larger extent (from `broadcastTo`, `iota`, or elementwise ops over such values); its rank is
 * always the node's. The ops in `lazyOps` (elementwise ops, reductions, transpose, reshapes
 * that only add or drop unit axes, slices, broadcastTo) take such values as they are (tfjs
 * broadcasts elementwise operands natively); for every other op the executor materialises its
 * operands first (`materialize`: on wasm a strided copy, not tf.broadcastTo, whose Tile kernel
 * costs ~100 ns per element there). So a causal mask or a reduction's
 * gradient never allocates a [B, H, T, T] or [B, T, D] tensor it does not need.
 *
 * Matrix products (`matmul`) are arranged for XNNPACK's fast path in the wasm engine, which
 * runs only for an untransposed 2-D product (tfjs passes 3-D operands of batch 1): a product
 * with a matrix right operand becomes one [rows, K] @ [K, N] product over all batch rows, a
 * matrix left operand one product against the batch laid side by side, and a product batched
 * on both sides (attention) becomes one 2-D product per batch entry on the wasm engine, or one
 * batched product on the native and cpu engines. Transposed operands arrive materialised (a
 * `transpose` node is a copy), and frozen weights' transposes are folded at compile time.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Node, DType, Dim } from '@prefix-tuning/core';
import type { OpName, PrimitiveOp, CompositeOp } from '@prefix-tuning/core/graph';
import { BATCH_MATMUL, BROADCAST, SELECT } from './kernels.ts';

/** The tfjs dtype holding a core dtype. */
export const tfDtype = (d: DType): 'float32' | 'int32' | 'bool' => (d === 'float32' ? 'float32' : d === 'bool' ? 'bool' : 'int32');

/** How batched (both sides) matrix products run. */
export type BatchedMatmul = 'loop' | 'native';

export interface LowerContext {
  /** The tfjs backend that runs the lowering. */
  readonly backend: 'tensorflow' | 'wasm' | 'cpu';
  /** Product strategy for operands batched on both sides. */
  readonly batched: BatchedMatmul;
  /** The value of a (possibly symbolic) dim in this run. */
  readonly dim: (d: Dim) => number;
  /** Materialises a lazily broadcast value to `shape`. */
  readonly full: (t: tf.Tensor, shape: readonly number[]) => tf.Tensor;
}

export interface LowerArgs<K extends OpName> {
  readonly node: Node<K>;
  /** Operand values: lazily broadcast for ops in `lazyOps`, of their nodes' exact shapes otherwise. */
  readonly ins: readonly tf.Tensor[];
  /** The operands' nodes' shapes, concrete. */
  readonly inShapes: readonly (readonly number[])[];
  /** The node's output shape, concrete. */
  readonly shape: readonly number[];
  readonly cx: LowerContext;
}

/** Ops whose lowerings accept (and may return) lazily broadcast values. */
export const lazyOps: ReadonlySet<OpName> = new Set<OpName>([
  'iota', 'neg', 'exp', 'log', 'tanh', 'erf', 'sqrt', 'rsqrt', 'sin', 'cos', 'recip', 'abs', 'logicalNot', 'cast',
  'add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'pow', 'equal', 'less', 'lessEqual', 'logicalAnd', 'logicalOr', 'where',
  'reduceSum', 'reduceMax', 'reduceMean', 'transpose', 'reshape', 'slice', 'broadcastTo',
]);

/**
 * `t` broadcast to `shape` (same rank, or fewer axes aligned right): on wasm this package's
 * strided-copy kernel, elsewhere tf.broadcastTo.
 */
export const materialize = (wasm: boolean) => (t: tf.Tensor, shape: readonly number[]): tf.Tensor => {
  if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
  if (!wasm) return tf.broadcastTo(t, shape as number[]);
  return tf.engine().runKernel(BROADCAST, { x: t }, { shape: [...shape] } as unknown as tf.NamedAttrMap) as tf.Tensor;
};

/** Right-aligned broadcast of actual shapes. */
const bshape = (shapes: readonly (readonly number[])[]): number[] => {
  const r = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: r }, (_, i) => Math.max(...shapes.map((s) => (i - (r - s.length) >= 0 ? s[i - (r - s.length)]! : 1))));
};

export type Lowering<K extends OpName> = (a: LowerArgs<K>) => tf.Tensor;

/** Primitives and composites as core's op table divides them (a new composite needs no change here). */
export type { PrimitiveOp, CompositeOp } from '@prefix-tuning/core/graph';

/** A fused lowering of a composite, used where `when` holds (otherwise the composite is expanded). */
export interface FusedRule<K extends CompositeOp> {
  readonly when: (n: Node<K>) => boolean;
  readonly lower: Lowering<K>;
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** Runs a float/int op on bool operands through int32 (wasm kernels are float/int only). */
const viaInt = (xs: readonly tf.Tensor[], f: (...ys: tf.Tensor[]) => tf.Tensor): tf.Tensor => f(...xs.map((x) => (x.dtype === 'bool' ? tf.cast(x, 'int32') : x)));
const backToBool = (x: tf.Tensor, wasBool: boolean): tf.Tensor => (wasBool ? tf.cast(x, 'bool') : x);

/**
 * On wasm, the binary kernels outside XNNPACK (comparisons, logical ops, pow, floorDiv)
 * broadcast through a per-element index computation (~150 ns per element); operands of equal
 * shapes take their plain loop. Brings both operands to their broadcast shape there.
 */
const sameShapes = (ins: readonly tf.Tensor[], cx: LowerContext): [tf.Tensor, tf.Tensor] => {
  const [a, b] = ins as [tf.Tensor, tf.Tensor];
  if (cx.backend !== 'wasm' || (a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i]))) return [a, b];
  const to = bshape([a.shape, b.shape]);
  return [cx.full(a, to), cx.full(b, to)];
};

/** Whether a transpose swaps exactly the last two axes (a matrix transpose of each batch entry). */
export const swapsLastTwo = (perm: readonly number[]): boolean => {
  const r = perm.length;
  return r >= 2 && perm[r - 2] === r - 1 && perm[r - 1] === r - 2 && perm.slice(0, -2).every((p, i) => p === i);
};

/**
 * `matmul(ta ? mT(a) : a, tb ? mT(b) : b)` from the untransposed operands, through tf.matMul's
 * transpose flags (TensorFlow's BatchMatMulV2 adj_x/adj_y: no transposed copy). The executor
 * uses it on the native and cpu engines for a product whose operand is a `transpose` of the
 * last two axes (q·kᵀ in attention, most products of a gradient).
 */
export const matmulTransposed = (ta: boolean, tb: boolean): Lowering<'matmul'> => ({ ins: [a, b], shape }) => {
  const outBatch = shape.slice(0, -2);
  const n = prod(outBatch);
  const mat = (x: tf.Tensor): number[] => x.shape.slice(-2);
  const nB = prod(b!.shape.slice(0, -2));
  // a matrix right operand: one 2-D product over all rows of the left one
  if (nB === 1 && !ta && prod(a!.shape.slice(0, -2)) === n) {
    const K = a!.shape[a!.rank - 1]!;
    return tf.reshape(tf.matMul(tf.reshape(a!, [-1, K]), tf.reshape(b!, mat(b!)), false, tb), shape as number[]);
  }
  const as3 = (x: tf.Tensor): tf.Tensor => tf.reshape(prod(x.shape.slice(0, -2)) === n ? x : tf.broadcastTo(x, [...outBatch, ...mat(x)]), [n, ...mat(x)]);
  return tf.reshape(tf.matMul(as3(a!), as3(b!), ta, tb), shape as number[]);
};

/** Integer division truncating toward zero (C, ONNX, the reference evaluator); tfjs floors. */
const truncDiv = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => {
  const q = tf.floorDiv(a, b);
  const r = tf.sub(a, tf.mul(q, b)); // floored remainder (sign of b)
  const fix = tf.logicalAnd(tf.notEqual(r, 0), tf.notEqual(tf.less(a, 0), tf.less(b, 0)));
  return tf.where(fix, tf.add(q, tf.scalar(1, 'int32')), q);
};

/** [..., M, K] @ [..., K, N] with broadcast batch dims (see the module comment). */
const matmul = ({ ins: [a, b], shape, cx }: LowerArgs<'matmul'>): tf.Tensor => {
  const [M, K] = a!.shape.slice(-2) as [number, number];
  const N = b!.shape[b!.rank - 1]!;
  const outBatch = shape.slice(0, -2);
  const nOut = prod(outBatch);
  const nA = prod(a!.shape.slice(0, -2));
  const nB = prod(b!.shape.slice(0, -2));
  if (nB === 1) {
    const b2 = b!.rank === 2 ? b! : tf.reshape(b!, [K, N]);
    if (nA === nOut) return tf.reshape(tf.matMul(tf.reshape(a!, [nA * M, K]), b2), shape as number[]);
    if (nA === 1) return tf.broadcastTo(tf.matMul(tf.reshape(a!, [M, K]), b2), shape as number[]);
    const full = tf.broadcastTo(a!, [...outBatch, M, K]);
    return tf.reshape(tf.matMul(tf.reshape(full, [nOut * M, K]), b2), shape as number[]);
  }
  if (nA === 1 && nB === nOut) {
    // a @ b[i] for every i as one product: [M, K] @ [K, nB*N]
    const side = tf.reshape(tf.transpose(tf.reshape(b!, [nB, K, N]), [1, 0, 2]), [K, nB * N]);
    const r = tf.matMul(tf.reshape(a!, [M, K]), side); // [M, nB*N]
    return tf.reshape(tf.transpose(tf.reshape(r, [M, nB, N]), [1, 0, 2]), shape as number[]);
  }
  const a3 = tf.reshape(nA === nOut ? a! : tf.broadcastTo(a!, [...outBatch, M, K]), [nOut, M, K]);
  const b3 = tf.reshape(nB === nOut ? b! : tf.broadcastTo(b!, [...outBatch, K, N]), [nOut, K, N]);
  if (cx.batched === 'native') return tf.reshape(tf.matMul(a3, b3), shape as number[]);
  if (cx.backend === 'wasm') return tf.reshape(tf.engine().runKernel(BATCH_MATMUL, { a: a3, b: b3 }, {}) as tf.Tensor, shape as number[]);
  const as = tf.unstack(a3);
  const bs = tf.unstack(b3);
  return tf.reshape(tf.stack(as.map((ai, i) => tf.matMul(ai, bs[i]!))), shape as number[]);
};

/** scatterAdd: updates [...pre, ...I, ...post], idx [...I] -> [...pre, size, ...post] (duplicates sum). */
const scatterAdd = ({ node, ins: [upd, idx], shape }: LowerArgs<'scatterAdd'>): tf.Tensor => {
  const ax = node.attrs.axis;
  const k = idx!.rank;
  const us = upd!.shape;
  const pre = us.slice(0, ax);
  const post = us.slice(ax + k);
  const nI = prod(idx!.shape);
  const size = shape[ax]!;
  const ids = tf.reshape(idx!, [nI]) as tf.Tensor1D;
  let u = upd!;
  if (ax > 0) {
    const r = us.length;
    const perm = [...Array.from({ length: k }, (_, i) => ax + i), ...Array.from({ length: ax }, (_, i) => i), ...Array.from({ length: r - ax - k }, (_, i) => ax + k + i)];
    u = tf.transpose(u, perm); // [...I, ...pre, ...post]
  }
  const summed = tf.unsortedSegmentSum(tf.reshape(u, [nI, prod(pre) * prod(post)]), ids, size); // [size, pre*post]
  if (ax === 0) return tf.reshape(summed, shape as number[]);
  const back = tf.reshape(summed, [size, ...pre, ...post]);
  const rr = 1 + pre.length + post.length;
  const perm = [...Array.from({ length: ax }, (_, i) => 1 + i), 0, ...Array.from({ length: rr - 1 - ax }, (_, i) => 1 + ax + i)];
  return tf.transpose(back, perm);
};

/**
 * Reductions. Axes along which the value is only lazily broadcast need no data pass: a sum
 * over them is a multiplication by their extent, a mean or a max is the value itself.
 */
const reduce = (kind: 'sum' | 'max' | 'mean'): Lowering<'reduceSum' | 'reduceMax' | 'reduceMean'> =>
  ({ node, ins: [x], inShapes: [xs] }) => {
    const { axes, keepDims } = node.attrs;
    if (axes.length === 0) return x!.clone();
    const real = axes.filter((a) => x!.shape[a] === xs![a]);
    const virt = axes.filter((a) => x!.shape[a] !== xs![a]);
    let y = x!;
    if (real.length > 0) y = kind === 'sum' ? tf.sum(y, real, true) : kind === 'max' ? tf.max(y, real, true) : tf.mean(y, real, true);
    if (kind === 'sum' && virt.length > 0) y = tf.mul(y, tf.scalar(virt.reduce((p, a) => p * xs![a]!, 1), y.dtype));
    const kept = x!.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    return tf.reshape(y, keepDims ? kept : kept.filter((_, i) => !axes.includes(i)));
  };

export type LoweringTable = { readonly [K in PrimitiveOp]: Lowering<K> };

export const loweringTable: LoweringTable = {
  input: () => { throw new Error('internal: input leaves are bound by the executor'); },
  param: () => { throw new Error('internal: param leaves are bound by the executor'); },
  constant: ({ node }) => {
    const { values, shape, dtype } = node.attrs;
    const dt = tfDtype(dtype);
    const data = dt === 'float32' ? Float32Array.from(values) : dt === 'bool' ? Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0)) : Int32Array.from(values);
    return tf.tensor(data, [...shape], dt);
  },
  iota: ({ node, shape }) => {
    // lazily broadcast: [1, .., n, .., 1]
    const { axis } = node.attrs;
    const r = tf.range(0, shape[axis]!, 1, tfDtype(node.dtype) as 'float32' | 'int32');
    return tf.reshape(r, shape.map((d, i) => (i === axis ? d : 1)));
  },

  neg: ({ ins: [x] }) => tf.neg(x!),
  exp: ({ ins: [x] }) => tf.exp(x!),
  log: ({ ins: [x] }) => tf.log(x!),
  tanh: ({ ins: [x] }) => tf.tanh(x!),
  erf: ({ ins: [x] }) => tf.erf(x!),
  sqrt: ({ ins: [x] }) => tf.sqrt(x!),
  rsqrt: ({ ins: [x] }) => tf.rsqrt(x!),
  sin: ({ ins: [x] }) => tf.sin(x!),
  cos: ({ ins: [x] }) => tf.cos(x!),
  recip: ({ ins: [x] }) => tf.reciprocal(x!),
  abs: ({ ins: [x] }) => tf.abs(x!),
  logicalNot: ({ ins: [x] }) => tf.logicalNot(x!),
  cast: ({ node, ins: [x] }) => {
    const to = tfDtype(node.attrs.dtype);
    if (to === x!.dtype) return x!.clone();
    if (to === 'bool') return tf.notEqual(x!, tf.scalar(0, x!.dtype));
    return tf.cast(x!, to);
  },

  add: ({ ins: [a, b] }) => tf.add(a!, b!),
  sub: ({ ins: [a, b] }) => tf.sub(a!, b!),
  mul: ({ ins: [a, b] }) => tf.mul(a!, b!),
  div: ({ node, ins, cx }) => (node.dtype === 'float32' ? tf.div(ins[0]!, ins[1]!) : truncDiv(...sameShapes(ins, cx))),
  maximum: ({ ins: [a, b] }) => tf.maximum(a!, b!),
  minimum: ({ ins: [a, b] }) => tf.minimum(a!, b!),
  pow: ({ ins, cx }) => tf.pow(...sameShapes(ins, cx)),
  equal: ({ ins, cx }) => viaInt(sameShapes(ins, cx), tf.equal),
  less: ({ ins, cx }) => viaInt(sameShapes(ins, cx), tf.less),
  lessEqual: ({ ins, cx }) => viaInt(sameShapes(ins, cx), tf.lessEqual),
  logicalAnd: ({ ins, cx }) => tf.logicalAnd(...sameShapes(ins, cx)),
  logicalOr: ({ ins, cx }) => tf.logicalOr(...sameShapes(ins, cx)),
  where: ({ ins: [c, a, b], cx }) => {
    if (cx.backend === 'wasm') return tf.engine().runKernel(SELECT, { condition: c!, a: a!, b: b! }, {}) as tf.Tensor;
    // tf.where broadcasts through tf.broadcastTo; bring all three to their common actual shape first
    const to = bshape([c!.shape, a!.shape, b!.shape]);
    const wasBool = a!.dtype === 'bool';
    const r = viaInt([a!, b!], (x, y) => tf.where(cx.full(c!, to), cx.full(x!, to), cx.full(y!, to)));
    return backToBool(r, wasBool);
  },

  matmul,

  reduceSum: reduce('sum'),
  reduceMax: reduce('max'),
  reduceMean: reduce('mean'),
  argMax: ({ node, ins: [x], shape }) => tf.reshape(tf.argMax(x!, node.attrs.axis), shape as number[]),

  gather: ({ node, ins: [t, i] }) => {
    const wasBool = t!.dtype === 'bool';
    return backToBool(viaInt([t!], (x) => tf.gather(x!, i!, node.attrs.axis)), wasBool);
  },
  scatterAdd,

  concat: ({ node, ins }) => {
    const wasBool = ins[0]!.dtype === 'bool';
    return backToBool(viaInt(ins, (...xs) => tf.concat(xs, node.attrs.axis)), wasBool);
  },
  slice: ({ node, ins: [x], inShapes: [xs], shape, cx }) => {
    const ax = node.attrs.axis;
    if (x!.shape[ax] !== xs![ax]) return x!.clone(); // a slice of a broadcast axis is the broadcast
    const begin = x!.shape.map(() => 0);
    begin[ax] = cx.dim(node.attrs.start);
    const size = x!.shape.map((d, i) => (i === ax ? shape[ax]! : d));
    const wasBool = x!.dtype === 'bool';
    return backToBool(viaInt([x!], (y) => tf.slice(y!, begin, size)), wasBool);
  },
  pad: ({ node, ins: [x], shape, cx }) => {
    const before = cx.dim(node.attrs.before);
    const paddings = x!.shape.map((d, i) => (i === node.attrs.axis ? [before, shape[i]! - d - before] : [0, 0]) as [number, number]);
    const wasBool = x!.dtype === 'bool';
    return backToBool(viaInt([x!], (y) => tf.pad(y!, paddings, 0)), wasBool);
  },
  reshape: ({ ins: [x], inShapes: [xs], shape, cx }) => {
    if (!x!.shape.every((d, i) => d === xs![i])) {
      // a reshape that only inserts or removes unit axes keeps a lazy value lazy
      const from = xs!.map((d, i) => [d, x!.shape[i]!] as const).filter(([d]) => d !== 1);
      const to = shape.filter((d) => d !== 1);
      if (from.length === to.length && from.every(([d], i) => d === to[i])) {
        let j = 0;
        return tf.reshape(x!, shape.map((d) => (d === 1 ? 1 : from[j++]![1])));
      }
      return tf.reshape(cx.full(x!, xs!), shape as number[]);
    }
    return tf.reshape(x!, shape as number[]);
  },
  transpose: ({ node, ins: [x] }) => {
    const wasBool = x!.dtype === 'bool';
    return backToBool(viaInt([x!], (y) => tf.transpose(y!, [...node.attrs.perm])), wasBool);
  },
  // lazy: only align the rank (leading unit axes); consumers broadcast or materialise
  broadcastTo: ({ ins: [x], shape }) => (x!.rank === shape.length ? x!.clone() : tf.reshape(x!, [...Array.from({ length: shape.length - x!.rank }, () => 1), ...x!.shape])),
};

/** Fused composites. */
export const fusedRules: { readonly [K in CompositeOp]?: FusedRule<K> } = {
  softmax: { when: (n) => n.attrs.axis === n.shape.length - 1, lower: ({ ins: [x] }) => tf.softmax(x!) },
  logSoftmax: { when: (n) => n.attrs.axis === n.shape.length - 1, lower: ({ ins: [x] }) => tf.logSoftmax(x!) },
};

/** Whether composite `n` is lowered by a fused rule (otherwise it is expanded). */
export const isFused = (n: Node): boolean => {
  const rule = fusedRules[n.op as CompositeOp] as FusedRule<CompositeOp> | undefined;
  return rule !== undefined && rule.when(n as Node<CompositeOp>);
};
