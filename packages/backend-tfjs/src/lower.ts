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
 * Matrix products (`matmul`) are arranged for XNNPACK's fast path in the wasm engine, which
 * runs only for an untransposed 2-D product (tfjs passes 3-D operands of batch 1): a product
 * with a matrix right operand becomes one [rows, K] @ [K, N] product over all batch rows, a
 * matrix left operand one product against the batch laid side by side, and a product batched
 * on both sides (attention) becomes one 2-D product per batch entry on the wasm engine, or one
 * batched product on the native and cpu engines. Transposed operands arrive materialised (a
 * `transpose` node is a copy), and frozen weights' transposes are folded at compile time.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Node, OpName, DType, Dim } from '@prefix-tuning/core';

/** The tfjs dtype holding a core dtype. */
export const tfDtype = (d: DType): 'float32' | 'int32' | 'bool' => (d === 'float32' ? 'float32' : d === 'bool' ? 'bool' : 'int32');

/** How batched (both sides) matrix products run. */
export type BatchedMatmul = 'loop' | 'native';

export interface LowerContext {
  /** Product strategy for operands batched on both sides. */
  readonly batched: BatchedMatmul;
  /** The value of a (possibly symbolic) dim in this run. */
  readonly dim: (d: Dim) => number;
}

export interface LowerArgs<K extends OpName> {
  readonly node: Node<K>;
  readonly ins: readonly tf.Tensor[];
  /** The node's output shape, concrete. */
  readonly shape: readonly number[];
  readonly cx: LowerContext;
}

export type Lowering<K extends OpName> = (a: LowerArgs<K>) => tf.Tensor;

export type CompositeOp = 'softmax' | 'logSoftmax' | 'layerNorm' | 'rmsNorm' | 'gelu' | 'silu' | 'attention' | 'crossEntropy';
export type PrimitiveOp = Exclude<OpName, CompositeOp>;

/** A fused lowering of a composite, used where `when` holds (otherwise the composite is expanded). */
export interface FusedRule<K extends CompositeOp> {
  readonly when: (n: Node<K>) => boolean;
  readonly lower: Lowering<K>;
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Runs a float/int op on bool operands through int32 (wasm kernels are float/int only). */
const viaInt = (xs: readonly tf.Tensor[], f: (...ys: tf.Tensor[]) => tf.Tensor): tf.Tensor => f(...xs.map((x) => (x.dtype === 'bool' ? tf.cast(x, 'int32') : x)));
const backToBool = (x: tf.Tensor, wasBool: boolean): tf.Tensor => (wasBool ? tf.cast(x, 'bool') : x);

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

const reduce = (f: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor): Lowering<'reduceSum' | 'reduceMax' | 'reduceMean'> =>
  ({ node, ins: [x] }) => (node.attrs.axes.length === 0 ? x!.clone() : f(x!, [...node.attrs.axes], node.attrs.keepDims));

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
    const { axis } = node.attrs;
    const n = shape[axis]!;
    const r = tf.range(0, n, 1, tfDtype(node.dtype) as 'float32' | 'int32');
    return tf.broadcastTo(tf.reshape(r, shape.map((d, i) => (i === axis ? d : 1))), shape as number[]);
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
  div: ({ node, ins: [a, b] }) => (node.dtype === 'float32' ? tf.div(a!, b!) : truncDiv(a!, b!)),
  maximum: ({ ins: [a, b] }) => tf.maximum(a!, b!),
  minimum: ({ ins: [a, b] }) => tf.minimum(a!, b!),
  pow: ({ ins: [a, b] }) => tf.pow(a!, b!),
  equal: ({ ins }) => viaInt(ins, tf.equal),
  less: ({ ins }) => viaInt(ins, tf.less),
  lessEqual: ({ ins }) => viaInt(ins, tf.lessEqual),
  logicalAnd: ({ ins: [a, b] }) => tf.logicalAnd(a!, b!),
  logicalOr: ({ ins: [a, b] }) => tf.logicalOr(a!, b!),
  where: ({ ins: [c, a, b], shape }) => {
    const wasBool = a!.dtype === 'bool';
    const r = viaInt([a!, b!], (x, y) => tf.where(tf.broadcastTo(c!, shape as number[]), tf.broadcastTo(x!, shape as number[]), tf.broadcastTo(y!, shape as number[])));
    return backToBool(r, wasBool);
  },

  matmul,

  reduceSum: reduce((x, axes, keep) => tf.sum(x, axes, keep)),
  reduceMax: reduce((x, axes, keep) => tf.max(x, axes, keep)),
  reduceMean: reduce((x, axes, keep) => tf.mean(x, axes, keep)),
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
  slice: ({ node, ins: [x], shape, cx }) => {
    const begin = x!.shape.map(() => 0);
    begin[node.attrs.axis] = cx.dim(node.attrs.start);
    const wasBool = x!.dtype === 'bool';
    return backToBool(viaInt([x!], (y) => tf.slice(y!, begin, shape as number[])), wasBool);
  },
  pad: ({ node, ins: [x], shape, cx }) => {
    const before = cx.dim(node.attrs.before);
    const paddings = x!.shape.map((d, i) => (i === node.attrs.axis ? [before, shape[i]! - d - before] : [0, 0]) as [number, number]);
    const wasBool = x!.dtype === 'bool';
    return backToBool(viaInt([x!], (y) => tf.pad(y!, paddings, 0)), wasBool);
  },
  reshape: ({ ins: [x], shape }) => tf.reshape(x!, shape as number[]),
  transpose: ({ node, ins: [x] }) => {
    const wasBool = x!.dtype === 'bool';
    return backToBool(viaInt([x!], (y) => tf.transpose(y!, [...node.attrs.perm])), wasBool);
  },
  broadcastTo: ({ ins: [x], shape }) => (sameShape(x!.shape, shape) ? x!.clone() : tf.broadcastTo(x!, shape as number[])),
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
