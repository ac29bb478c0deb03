/**
 * The lowering table: one entry per core op, typed so that a primitive without a lowering is
 * a compile error; composites may carry a fused lowering (ONNX LayerNormalization,
 * Softmax/LogSoftmax, Gelu, a gather-based cross-entropy, a fused attention) and otherwise
 * fall back to their decomposition, which is their specification. A few primitive rules
 * recognise what autodiff and the model builders produce (see `sub`, `where`, `slice`).
 *
 * Values are *lazily broadcast*: a lowered value may have extent 1 on an axis where the core
 * node has a larger extent (from `broadcastTo`, `iota`, or elementwise ops over such values).
 * Elementwise ops, transposes, slices and reductions work on the small value directly (ONNX
 * broadcasts like NumPy); every other op materialises it with `Expand` first. So a causal
 * mask or a gradient's broadcast never allocates a [B,H,T,T] tensor it does not need.
 */
import type { Node, Shape, Dim } from '@prefix-tuning/core';
import type { OpName, PrimitiveOp, CompositeOp } from '@prefix-tuning/core/graph';
import {
  broadcastShapes, broadcastTo, dimAdd, dimEq, dimMul, dimSub, isConcrete, decomposition, logSoftmax, matmul, mul, reshape, slice
} from '@prefix-tuning/core/graph';
import { attr, onnxDTypeCode } from '../onnx/model.ts';
import type { Emitter } from './emitter.ts';

/** A lowered value: its ONNX name and actual shape (each dim equal to the node's or 1). */
export interface LValue {
  readonly name: string;
  readonly shape: Shape;
}

/** What a lowering rule sees. */
export interface LowerArgs<K extends OpName> {
  readonly node: Node<K>;
  readonly ins: readonly LValue[];
  readonly cx: LowerContext;
}

export type Lowering<K extends OpName> = (args: LowerArgs<K>) => LValue;

/** Which fused kernels to use (all on by default; switches exist to measure them). */
export interface FusionOptions {
  /** gelu: ONNX Gelu (opset 20), com.microsoft Gelu/FastGelu, or the decomposition. */
  readonly gelu: 'onnx' | 'contrib' | 'decompose';
  readonly layerNorm: boolean;
  readonly softmax: boolean;
  readonly crossEntropy: boolean;
  /** attention: MatMul + Softmax with scale folded into a com.microsoft FusedMatMul, or the decomposition. */
  readonly attention: 'fused' | 'decompose';
}

export const defaultFusions: FusionOptions = { gelu: 'onnx', layerNorm: true, softmax: true, crossEntropy: true, attention: 'fused' };

export interface LowerContext {
  readonly e: Emitter;
  readonly fusions: FusionOptions;
  /** Materialises a lazily broadcast value to the full shape `to`. */
  full(v: LValue, to: Shape): string;
  /** Lowers a core node built during lowering (decompositions), reusing lowered inputs. */
  lower(n: Node): LValue;
  /** How many nodes of the graph (and graph outputs) consume `n`. */
  uses(n: Node): number;
  /** The distinct nodes of the graph that consume `n` (graph outputs not included). */
  consumers(n: Node): readonly Node[];
}

/** Primitives and composites as core's op table divides them (a new composite needs no change here). */
export type { PrimitiveOp, CompositeOp } from '@prefix-tuning/core/graph';
export { compositeOps } from '@prefix-tuning/core/graph';

export type LoweringTable = { readonly [K in PrimitiveOp]: Lowering<K> } & { readonly [K in CompositeOp]?: Lowering<K> };

// ---------------------------------------------------------------------------------------------
// helpers

const same = (node: Node, name: string): LValue => ({ name, shape: node.shape });
const full = (a: LowerArgs<OpName>, i: number): string => a.cx.full(a.ins[i]!, a.node.inputs[i]!.shape);
const isLazy = (v: LValue, declared: Shape): boolean => v.shape.some((d, i) => !dimEq(d, declared[i]!));

/** Right-aligned broadcast of actual shapes, padded to `rank`. */
const bshape = (shapes: readonly Shape[], rank: number): Shape => {
  let out: Shape = Array.from({ length: rank }, () => 1);
  for (const s of shapes) {
    const r = broadcastShapes(out, s);
    if (typeof r === 'string') throw new Error(`internal: ${r}`);
    out = r;
  }
  return out;
};

/** An elementwise ONNX op over (possibly lazily broadcast) operands; the result stays lazy. */
const elementwise = (op: string) =>
  ({ node, ins, cx }: LowerArgs<OpName>): LValue =>
    ({ name: cx.e.emit(op, ins.map((v) => v.name)), shape: bshape(ins.map((v) => v.shape), node.shape.length) });

const unary = (op: string) => elementwise(op);

/** A scalar of `dtype` holding a dim's runtime value (sums over broadcast axes, Range limits). */
const dimScalarOf = (cx: LowerContext, d: Dim, dtype: 'float32' | 'int32' | 'int64'): string =>
  isConcrete(d) ? cx.e.scalar(dtype, d) : cx.e.emit('Cast', [cx.e.emit('Squeeze', [cx.e.dim(d), cx.e.ints([0])])], { to: attr.int(onnxDTypeCode[dtype]) });

type ReduceName = 'reduceSum' | 'reduceMax' | 'reduceMean';

/** Reductions; axes along which the value is only lazily broadcast need no data pass. */
const reduce = (onnxOp: string, kind: ReduceName): Lowering<ReduceName> => ({ node, ins, cx }) => {
  const x = ins[0]!;
  const decl = node.inputs[0]!.shape;
  const { axes, keepDims } = node.attrs;
  if (axes.length === 0) return x;
  const real = axes.filter((a) => dimEq(x.shape[a]!, decl[a]!));
  const virt = axes.filter((a) => !real.includes(a));
  let name = x.name;
  if (real.length > 0) name = cx.e.emit(onnxOp, [name, cx.e.ints(real)], { keepdims: attr.int(1) });
  if (kind === 'reduceSum' && virt.length > 0) {
    const dt = node.dtype as 'float32' | 'int32' | 'int64';
    const factor = virt.reduce<Dim>((f, a) => dimMul(f, decl[a]!), 1);
    name = cx.e.emit('Mul', [name, dimScalarOf(cx, factor, dt)]);
  }
  // keepDims shape: reduced axes become 1
  const kept: Shape = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  if (keepDims) return { name, shape: kept };
  name = cx.e.emit('Squeeze', [name, cx.e.ints([...axes])]);
  return { name, shape: kept.filter((_, i) => !axes.includes(i)) };
};

const castTo = (cx: LowerContext, name: string, dtype: keyof typeof onnxDTypeCode): string =>
  cx.e.emit('Cast', [name], { to: attr.int(onnxDTypeCode[dtype]) });

const idx64 = (cx: LowerContext, v: string, dtype: string): string => (dtype === 'int64' ? v : castTo(cx, v, 'int64'));

/**
 * Indices for gathers/scatters from integer labels that may lie outside [0, n): those map to
 * index 0 and are flagged false in `inRange` (bool, same shape), so callers can cancel them.
 */
const safeIndex = (cx: LowerContext, labels: string, dtype: string, n: Dim): { index: string; inRange: string } => {
  const l = idx64(cx, labels, dtype);
  const inRange = cx.e.emit('And', [
    cx.e.emit('GreaterOrEqual', [l, cx.e.scalar('int64', 0)]),
    cx.e.emit('Less', [l, isConcrete(n) ? cx.e.scalar('int64', n) : cx.e.emit('Squeeze', [cx.e.dim(n), cx.e.ints([0])])]),
  ]);
  return { index: cx.e.emit('Where', [inRange, l, cx.e.scalar('int64', 0)]), inRange };
};

/**
 * Recognises `cast(equal(iota(S, axis), y), float32)` (either operand order): a one-hot
 * encoding of the integer `y` along `axis` (y has extent 1 there).
 */
const oneHotOf = (n: Node): { y: Node; axis: number; depth: Dim; shape: Shape } | undefined => {
  if (n.op !== 'cast' || n.dtype !== 'float32') return undefined;
  const eq = n.inputs[0]!;
  if (eq.op !== 'equal') return undefined;
  const [p, q] = eq.inputs as [Node, Node];
  const io = p.op === 'iota' ? p : q.op === 'iota' ? q : undefined;
  const y = io === p ? q : p;
  if (io === undefined || y.op === 'iota') return undefined;
  const axis = (io as Node<'iota'>).attrs.axis;
  if (io.dtype === 'float32' || io.shape.length !== eq.shape.length || y.shape.length !== eq.shape.length || y.shape[axis] !== 1) return undefined;
  if (!io.shape.every((d, i) => dimEq(d, eq.shape[i]!))) return undefined;
  return { y, axis, depth: io.shape[axis]!, shape: eq.shape };
};

/** Fallback for composites: lower the defining decomposition. */
export const viaDecomposition = <K extends CompositeOp>({ node, cx }: LowerArgs<K>): LValue => cx.lower(decomposition(node));

// ---------------------------------------------------------------------------------------------
// the table

export const loweringTable: LoweringTable = {
  // leaves other than input/param (bound by the compiler) -----------------------------------
  input: () => { throw new Error('internal: input leaves are bound by the compiler'); },
  param: () => { throw new Error('internal: param leaves are bound by the compiler'); },
  constant: ({ node, cx }) => same(node, cx.e.constant(node.dtype, node.attrs.shape, node.attrs.values)),
  iota: ({ node, cx }) => {
    // Range along the axis, shaped [1,..,n,..,1]: lazily broadcast over the other axes.
    const { axis, shape } = node.attrs;
    const n = shape[axis]!;
    const dt = node.dtype as 'float32' | 'int32' | 'int64';
    const limit = isConcrete(n) ? cx.e.scalar(dt, n) : dimScalarOf(cx, n, dt);
    const r = cx.e.emit('Range', [cx.e.scalar(dt, 0), limit, cx.e.scalar(dt, 1)]);
    const lazy: Shape = shape.map((d, i) => (i === axis ? d : 1));
    const name = shape.length === 1 ? r : cx.e.emit('Reshape', [r, cx.e.ints(lazy.map((d) => (isConcrete(d) ? d : -1)))]);
    return { name, shape: lazy };
  },

  // elementwise unary ------------------------------------------------------------------------
  neg: unary('Neg'), exp: unary('Exp'), log: unary('Log'), tanh: unary('Tanh'), erf: unary('Erf'), sqrt: unary('Sqrt'),
  rsqrt: ({ ins, cx }) => ({ name: cx.e.emit('Reciprocal', [cx.e.emit('Sqrt', [ins[0]!.name])]), shape: ins[0]!.shape }),
  sin: unary('Sin'), cos: unary('Cos'), recip: unary('Reciprocal'), abs: unary('Abs'), logicalNot: unary('Not'),
  cast: ({ node, ins, cx }) => ({ name: castTo(cx, ins[0]!.name, node.attrs.dtype), shape: ins[0]!.shape }),

  // elementwise binary -----------------------------------------------------------------------
  add: elementwise('Add'),
  sub: (a) => {
    // a - onehot(y): subtract 1 at y's positions with one ScatterElements(add) pass instead of
    // materialising the one-hot tensor (the cross-entropy gradient softmax - onehot).
    const oh = oneHotOf(a.node.inputs[1]!);
    const { node, cx } = a;
    const sameShape = (s: Shape) => s.length === node.shape.length && s.every((d, i) => dimEq(d, node.shape[i]!));
    if (oh === undefined || a.node.inputs[0]!.dtype !== 'float32' || !sameShape(a.node.inputs[0]!.shape) || !sameShape(oh.shape))
      return elementwise('Sub')(a);
    const data = full(a, 0);
    const yShape = oh.shape.map((d, i) => (i === oh.axis ? 1 : d));
    const y = cx.full(cx.lower(oh.y), yShape);
    const { index, inRange } = safeIndex(cx, y, oh.y.dtype, oh.depth);
    const upd = cx.e.emit('Neg', [castTo(cx, inRange, 'float32')]);
    return same(node, cx.e.emit('ScatterElements', [data, index, upd], { axis: attr.int(oh.axis), reduction: attr.string('add') }));
  },
  mul: elementwise('Mul'), div: elementwise('Div'),
  maximum: elementwise('Max'), minimum: elementwise('Min'), pow: elementwise('Pow'),
  equal: elementwise('Equal'), less: elementwise('Less'), lessEqual: elementwise('LessOrEqual'),
  logicalAnd: elementwise('And'), logicalOr: elementwise('Or'),
  where: (a) => {
    // where(c1, where(c2, x, f), f) = where(c1 and c2, x, f) for the same fill f (the causal and
    // padding masks of attention, and their gradients): one pass over the scores instead of two
    const { node, cx } = a;
    const [c1, inner, f] = node.inputs as [Node, Node, Node];
    if (inner.op !== 'where' || inner.inputs[2] !== f) return elementwise('Where')(a);
    const [c2, x] = inner.inputs as [Node, Node];
    const r = node.shape.length;
    const [v1, v2, vx] = [cx.lower(c1), cx.lower(c2), cx.lower(x)];
    const both = { name: cx.e.emit('And', [v1.name, v2.name]), shape: bshape([v1.shape, v2.shape], r) };
    return { name: cx.e.emit('Where', [both.name, vx.name, a.ins[2]!.name]), shape: bshape([both.shape, vx.shape, a.ins[2]!.shape], r) };
  },

  // linear algebra (batch dims may stay lazily broadcast: MatMul broadcasts them) ----------
  matmul: (args) => {
    const scaled = rowScaledProduct(args);
    if (scaled !== undefined) return scaled;
    const { node, ins, cx } = args;
    const side = (i: number): LValue => {
      const v = ins[i]!;
      const decl = node.inputs[i]!.shape;
      const r = decl.length;
      if (dimEq(v.shape[r - 1]!, decl[r - 1]!) && dimEq(v.shape[r - 2]!, decl[r - 2]!)) return v;
      const to = [...v.shape.slice(0, r - 2), decl[r - 2]!, decl[r - 1]!];
      return { name: cx.e.emit('Expand', [v.name, cx.e.shape(to)]), shape: to };
    };
    const a = side(0);
    const b = side(1);
    const r = node.shape.length;
    const batch = bshape([a.shape.slice(0, -2), b.shape.slice(0, -2)], r - 2);
    return { name: cx.e.emit('MatMul', [a.name, b.name]), shape: [...batch, node.shape[r - 2]!, node.shape[r - 1]!] };
  },

  // reductions -------------------------------------------------------------------------------
  reduceSum: reduce('ReduceSum', 'reduceSum'),
  reduceMax: reduce('ReduceMax', 'reduceMax'),
  reduceMean: reduce('ReduceMean', 'reduceMean'),
  argMax: (a) => {
    const { node, cx } = a;
    const am = cx.e.emit('ArgMax', [full(a, 0)], { axis: attr.int(node.attrs.axis), keepdims: attr.int(node.attrs.keepDims ? 1 : 0) });
    return same(node, castTo(cx, am, 'int32'));
  },

  // indexing ---------------------------------------------------------------------------------
  gather: (a) => same(a.node, a.cx.e.emit('Gather', [full(a, 0), full(a, 1)], { axis: attr.int(a.node.attrs.axis) })),
  scatterAdd: (a) => {
    // out[..pre, idx[i], ..post] += upd[..pre, i, ..post]: move the index axes first and use
    // ScatterND(reduction=add) on zeros [S, ..pre, ..post].
    const { node, cx } = a;
    const upd = node.inputs[0]!;
    const idx = node.inputs[1]!;
    const ax = node.attrs.axis;
    const k = idx.shape.length;
    const r = upd.shape.length;
    const pre = upd.shape.slice(0, ax);
    const post = upd.shape.slice(ax + k);
    let u = full(a, 0);
    if (ax > 0) {
      const perm = [...Array.from({ length: k }, (_, i) => ax + i), ...Array.from({ length: ax }, (_, i) => i), ...Array.from({ length: r - ax - k }, (_, i) => ax + k + i)];
      u = cx.e.emit('Transpose', [u], { perm: attr.ints(perm) });
    }
    const ind = cx.e.emit('Unsqueeze', [idx64(cx, full(a, 1), idx.dtype), cx.e.ints([k])]);
    const zeros = cx.e.emit('ConstantOfShape', [cx.e.shape([node.attrs.size, ...pre, ...post])], {
      value: attr.tensor({ name: '', dtype: 'float32', dims: [1], data: new Float32Array(1) }),
    });
    let out = cx.e.emit('ScatterND', [zeros, ind, u], { reduction: attr.string('add') });
    if (ax > 0) {
      const rr = 1 + pre.length + post.length;
      const perm = [...Array.from({ length: ax }, (_, i) => 1 + i), 0, ...Array.from({ length: rr - 1 - ax }, (_, i) => 1 + ax + i)];
      out = cx.e.emit('Transpose', [out], { perm: attr.ints(perm) });
    }
    return same(node, out);
  },

  // layout -----------------------------------------------------------------------------------
  concat: (a) => same(a.node, a.cx.e.emit('Concat', a.ins.map((_, i) => full(a, i)), { axis: attr.int(a.node.attrs.axis) })),
  slice: ({ node, ins, cx }) => {
    // one whole operand of a concat along the same axis (the new entries of a KV cache,
    // `present[..., Tpast:Tpast+T]`): that operand, so the concatenation need not exist
    const whole = concatOperand(node);
    if (whole !== undefined) return cx.lower(whole);
    // slicing rows (or batch entries) of a product nobody else reads: multiply only those rows
    // (prefill keeps the last position's logits: [B,T,D] @ [D,V] for one row, not T)
    const src = node.inputs[0]!;
    if (src.op === 'matmul' && cx.uses(src) === 1 && node.attrs.axis < src.shape.length - 1) {
      const [a, b] = src.inputs as [Node, Node];
      const ax = node.attrs.axis;
      const r = src.shape.length;
      const cut = (m: Node): Node | undefined => {
        const k = ax - (r - m.shape.length); // the operand's axis, right-aligned
        if (k < 0) return m; // the operand lacks the axis: broadcast
        if (dimEq(m.shape[k]!, 1) && !dimEq(src.shape[ax]!, 1)) return m; // broadcast along it
        return slice(m, k, node.attrs.start, node.attrs.end);
      };
      if (ax === r - 2) return cx.lower(matmul(slice(a, a.shape.length - 2, node.attrs.start, node.attrs.end), b));
      const [sa, sb] = [cut(a), cut(b)];
      if (sa && sb) return cx.lower(matmul(sa, sb));
    }
    const x = ins[0]!;
    const { axis, start, end } = node.attrs;
    const shape = x.shape.map((d, i) => (i === axis ? node.shape[i]! : d));
    if (x.shape[axis] === 1 && !dimEq(node.inputs[0]!.shape[axis]!, 1)) return { name: x.name, shape: x.shape }; // lazily broadcast axis
    const name = cx.e.emit('Slice', [x.name, cx.e.dim(start), cx.e.dim(end), cx.e.ints([axis])]);
    return { name, shape };
  },
  pad: (a) => {
    // Pads for every axis (all begins, then all ends), not the opset-18 `axes` input with two
    // entries: onnxruntime's transpose optimizer, pushing a Transpose through a Pad, permutes
    // `pads` as if it held 2 * rank entries and leaves `axes` as it was, which turns a Pad with
    // `axes` into an out-of-bounds Gather at run time (a prefix gradient's pad(sum_B(slice(
    // transpose(dK))))). A constant (all amounts concrete) is permuted at load time instead.
    const { node, cx } = a;
    const { axis, before, after } = node.attrs;
    const r = node.shape.length;
    const pads: Dim[] = Array.from({ length: 2 * r }, (_, i) => (i === axis ? before : i === r + axis ? after : 0));
    const zero = cx.e.scalar(node.dtype, 0);
    return same(node, cx.e.emit('Pad', [full(a, 0), cx.e.shape(pads), zero], { mode: attr.string('constant') }));
  },
  reshape: (a) => {
    const { node, cx } = a;
    const from = node.inputs[0]!.shape;
    const to = node.shape;
    // regrouping the rows of a product by a matrix nobody else reads: regroup the rows of its
    // left operand instead (small), not the product (the logits of a step: [B,1,V] -> [B,V])
    const src = node.inputs[0]!;
    if (src.op === 'matmul' && cx.uses(src) === 1 && src.inputs[1]!.shape.length === 2 && to.length >= 2 && dimEq(to[to.length - 1]!, from[from.length - 1]!)) {
      const [m, w] = src.inputs as [Node, Node];
      return cx.lower(matmul(reshape(m, [...to.slice(0, -1), m.shape[m.shape.length - 1]!]), w));
    }
    if (to.some((d) => d === 0)) return same(node, cx.e.emit('Reshape', [full(a, 0), cx.e.shape(to)], { allowzero: attr.int(1) }));
    // A reshape that only inserts or removes axes of extent 1 keeps a lazy value lazy.
    const x = a.ins[0]!;
    if (isLazy(x, from)) {
      const squeezedFrom = from.map((d, i) => [d, x.shape[i]!] as const).filter(([d]) => d !== 1);
      const squeezedTo = to.filter((d) => d !== 1);
      if (squeezedFrom.length === squeezedTo.length && squeezedFrom.every(([d], i) => dimEq(d, squeezedTo[i]!))) {
        let j = 0;
        const lazy: Shape = to.map((d) => (d === 1 ? 1 : squeezedFrom[j++]![1]));
        return { name: cx.e.emit('Reshape', [x.name, cx.e.shape(lazy.map((d, i) => (dimEq(d, to[i]!) ? d : 1)))]), shape: lazy };
      }
    }
    return same(node, cx.e.emit('Reshape', [full(a, 0), cx.e.reshapeTarget(from, to)]));
  },
  transpose: ({ node, ins, cx }) => {
    // moving only axes of extent 1 keeps the data order: a Reshape, which copies nothing
    // (splitting and merging the heads of one decoding step's token, [B,1,H,D] <-> [B,H,1,D])
    const from = node.inputs[0]!.shape;
    const kept = node.attrs.perm.filter((p) => from[p] !== 1);
    if (!isLazy(ins[0]!, from) && kept.every((p, i) => i === 0 || p > kept[i - 1]!)) return cx.lower(reshape(node.inputs[0]!, node.shape));
    return {
      name: cx.e.emit('Transpose', [ins[0]!.name], { perm: attr.ints(node.attrs.perm) }),
      shape: node.attrs.perm.map((p) => ins[0]!.shape[p]!),
    };
  },
  broadcastTo: ({ node, ins, cx }) => {
    // Lazy: only align ranks (leading 1s); materialised by the first consumer that needs it.
    const x = ins[0]!;
    const extra = node.shape.length - x.shape.length;
    if (extra === 0) return x;
    const shape: Shape = [...Array.from({ length: extra }, () => 1), ...x.shape];
    return { name: cx.e.emit('Unsqueeze', [x.name, cx.e.ints(Array.from({ length: extra }, (_, i) => i))]), shape };
  },

  // composites with fused lowerings ----------------------------------------------------------
  softmax: (a) => {
    if (!a.cx.fusions.softmax) return viaDecomposition(a);
    // softmax(x) = softmax(logSoftmax(x)): when the graph also takes x's log-softmax (a loss over
    // logits: the cross-entropy and its gradient), read that, so the logits have one reader and
    // both kernels can run in place (onnxruntime's Softmax and LogSoftmax may; Exp may not)
    const { node, cx } = a;
    const x = node.inputs[0]!;
    const { axis } = node.attrs;
    const logged = cx.consumers(x).some((c) =>
      (c.op === 'logSoftmax' && (c as Node<'logSoftmax'>).attrs.axis === axis) ||
      (c.op === 'crossEntropy' && cx.fusions.crossEntropy && c.inputs[0] === x && axis === 1));
    const from = logged ? cx.full(cx.lower(logSoftmax(x, axis)), x.shape) : full(a, 0);
    return same(node, cx.e.emit('Softmax', [from], { axis: attr.int(axis) }));
  },
  logSoftmax: (a) => (a.cx.fusions.softmax ? same(a.node, a.cx.e.emit('LogSoftmax', [full(a, 0)], { axis: attr.int(a.node.attrs.axis) })) : viaDecomposition(a)),
  layerNorm: (a) =>
    a.cx.fusions.layerNorm
      ? same(a.node, a.cx.e.emit('LayerNormalization', [full(a, 0), full(a, 1), full(a, 2)], { axis: attr.int(-1), epsilon: attr.float(a.node.attrs.eps) }))
      : viaDecomposition(a),
  gelu: (a) => {
    const { node, cx } = a;
    const tanh = node.attrs.approximate === 'tanh';
    // onnxruntime's CUDA Gelu/FastGelu kernels reject a rank-0 input ("expected to have 1 or
    // more dimensions"; the CPU ones accept it): a scalar takes the decomposition everywhere
    if (node.shape.length === 0) return viaDecomposition(a);
    switch (cx.fusions.gelu) {
      case 'onnx': return same(node, cx.e.emit('Gelu', [full(a, 0)], { approximate: attr.string(tanh ? 'tanh' : 'none') }));
      case 'contrib': return same(node, cx.e.emit(tanh ? 'FastGelu' : 'Gelu', [full(a, 0)], {}, { domain: 'com.microsoft' }));
      case 'decompose': return viaDecomposition(a);
    }
  },
  silu: ({ node, ins, cx }) => ({ name: cx.e.emit('Mul', [ins[0]!.name, cx.e.emit('Sigmoid', [ins[0]!.name])]), shape: ins[0]!.shape }),
  attention: (a) => (a.cx.fusions.attention === 'fused' ? lowerAttention(a) : viaDecomposition(a)),
  crossEntropy: (a) => {
    // nll = -logSoftmax(logits)[n, label_n]: a gather in place of the one-hot product, from the
    // log-softmax node that the gradient's softmax also reads (see `softmax`; a ReduceLogSumExp
    // over the logits instead ran ~2.5x slower than LogSoftmax). Labels outside [0, V)
    // contribute 0, as in the decomposition.
    const { node, cx } = a;
    if (!cx.fusions.crossEntropy) return viaDecomposition(a);
    const { ignoreIndex, reduction } = node.attrs;
    const [logits, labels] = node.inputs as [Node, Node];
    const V = logits.shape[1]!;
    const lsm = cx.full(cx.lower(logSoftmax(logits, 1)), logits.shape);
    const { index, inRange } = safeIndex(cx, full(a, 1), labels.dtype, V);
    const picked = cx.e.emit('Squeeze', [cx.e.emit('GatherElements', [lsm, cx.e.emit('Unsqueeze', [index, cx.e.ints([1])])], { axis: attr.int(1) }), cx.e.ints([1])]);
    const valid = castTo(cx, cx.e.emit('Not', [cx.e.emit('Equal', [full(a, 1), cx.e.scalar(labels.dtype, ignoreIndex)])]), 'float32');
    const nll = cx.e.emit('Neg', [cx.e.emit('Mul', [cx.e.emit('Mul', [picked, castTo(cx, inRange, 'float32')]), valid])]); // [N]
    if (reduction === 'none') return same(node, nll);
    const total = cx.e.emit('ReduceSum', [nll], { keepdims: attr.int(0) });
    if (reduction === 'sum') return same(node, total);
    const count = cx.e.emit('Max', [cx.e.emit('ReduceSum', [valid], { keepdims: attr.int(0) }), cx.e.scalar('float32', 1)]);
    return same(node, cx.e.emit('Div', [total, count]));
  },
};

/**
 * (X * s) @ B = (X @ B) * s for a scale s constant along the contraction axis (extent 1 there),
 * possibly seen through a reshape that keeps that axis, when nothing else reads X * s: the
 * loss gradient's per-row factor (1/count, 0 at ignored labels) then scales the [.., M, N]
 * product instead of the [.., M, V] cotangent of the logits (a pass and a buffer fewer).
 */
const rowScaledProduct = ({ node, cx }: LowerArgs<'matmul'>): LValue | undefined => {
  const [a, b] = node.inputs as [Node, Node];
  const last = (s: Shape): Dim => s[s.length - 1]!;
  const m = a.op === 'reshape' && cx.uses(a) === 1 && dimEq(last(a.shape), last(a.inputs[0]!.shape)) ? a.inputs[0]! : a;
  if (m.op !== 'mul' || cx.uses(m) !== 1 || dimEq(last(m.shape), 1)) return undefined;
  const isScale = (s: Node): boolean => s.shape.length > 0 && dimEq(last(s.shape), 1);
  const isFull = (x: Node): boolean => x.shape.length === m.shape.length && x.shape.every((d, i) => dimEq(d, m.shape[i]!));
  const [p, q] = m.inputs as [Node, Node];
  const [x, s] = isFull(p) && isScale(q) ? [p, q] : isFull(q) && isScale(p) ? [q, p] : [undefined, undefined];
  if (x === undefined || s === undefined) return undefined;
  const rows = (sh: Shape): Shape => [...sh.slice(0, -1), 1];
  let scale = broadcastTo(s, rows(m.shape));
  if (m !== a) scale = reshape(scale, rows(a.shape));
  return cx.lower(mul(matmul(m === a ? x : reshape(x, a.shape), b), scale));
};

/** The operand of a concat that `s` takes whole (same axis, same bounds), if any. */
const concatOperand = (s: Node<'slice'>): Node | undefined => {
  const src = s.inputs[0]!;
  if (src.op !== 'concat' || (src as Node<'concat'>).attrs.axis !== s.attrs.axis) return undefined;
  let off: Dim = 0;
  for (const x of src.inputs) {
    const end = dimAdd(off, x.shape[s.attrs.axis]!);
    if (dimEq(off, s.attrs.start) && dimEq(end, s.attrs.end)) return x;
    off = end;
  }
  return undefined;
};

/**
 * The blocks of a key (or value) tensor that is a concatenation along the time axis which
 * nothing else needs whole: its other consumers only slice out whole operands (see `slice`)
 * and it is no graph output. Attention then reads the blocks where they are (a decoding
 * step's past and new keys) instead of a concatenated copy of the whole cache.
 */
const timeBlocks = (cx: LowerContext, attn: Node, x: Node): readonly Node[] | undefined => {
  if (x.op !== 'concat' || (x as Node<'concat'>).attrs.axis !== 2) return undefined;
  const users = cx.consumers(x);
  const edges = users.reduce((n, c) => n + c.inputs.filter((i) => i === x).length, 0);
  if (cx.uses(x) !== edges) return undefined; // a graph output
  return users.every((c) => c === attn || (c.op === 'slice' && concatOperand(c as Node<'slice'>) !== undefined)) ? x.inputs : undefined;
};

/**
 * Attention as MatMul + Softmax: scores = FusedMatMul(q, k, transB, alpha=scale) (no
 * transposed copy of k, no separate scaling), masks as one boolean [B|1, 1, Tq, Tk] selecting
 * scores or float32's lowest value (the decomposition's exact semantics), and grouped-query
 * heads by folding the group into the query axis instead of repeating k and v.
 *
 * Keys and values concatenated along time (a past and the new tokens' own) that nothing else
 * needs whole are read block by block (see `timeBlocks`): the scores of each block are
 * concatenated (small: [B,H,Tq,Tk]), and the output is the sum of each block's probabilities
 * times its values, so a decoding step does not copy its cache.
 */
const lowerAttention = (a: LowerArgs<'attention'>): LValue => {
  const { node, cx } = a;
  const { scale, causal } = node.attrs;
  const [q, k, v] = node.inputs;
  const [, H, Tq, D] = q!.shape;
  const Hk = k!.shape[1]!;
  const Tk = k!.shape[2]!;
  const groups = isConcrete(H!) && isConcrete(Hk) ? H! / Hk : 1;
  let qn = full(a, 0);
  const kb = timeBlocks(cx, node, k!);
  const vb = timeBlocks(cx, node, v!);
  const split = kb !== undefined && vb !== undefined && kb.length === vb.length && kb.every((x, i) => dimEq(x.shape[2]!, vb[i]!.shape[2]!));
  const block = (x: Node): string => cx.full(cx.lower(x), x.shape);
  const ks = split ? kb.map(block) : [full(a, 1)];
  const vs = split ? vb.map(block) : [full(a, 2)];
  if (groups > 1) qn = cx.e.emit('Reshape', [qn, cx.e.ints([0, Hk as number, -1, D as number])]); // [B,Hk,g*Tq,D]
  let s: string;
  if (dimEq(Tq!, 1)) {
    // one query per row (a decoding step): scoresᵀ = K · (scale·q)ᵀ, [B,Hk,Tk,D] @ [B,Hk,D,g],
    // which reads K as it lies; q·Kᵀ (FusedMatMul transB) repacks K per batch entry, ~3x slower
    const qs = scale === 1 ? qn : cx.e.emit('Mul', [qn, cx.e.scalar('float32', scale)]);
    const qT = groups === 1 // [B,Hk,D,g]
      ? cx.e.emit('Reshape', [qs, cx.e.ints([0, 0, isConcrete(D!) ? D! : -1, 1])])
      : cx.e.emit('Transpose', [qs], { perm: attr.ints([0, 1, 3, 2]) });
    const sT = ks.map((kn) => cx.e.emit('MatMul', [kn, qT])); // [B,Hk,Tk_i,g]
    const all = sT.length === 1 ? sT[0]! : cx.e.emit('Concat', sT, { axis: attr.int(2) });
    s = groups === 1 ? cx.e.emit('Reshape', [all, cx.e.ints([0, 0, 1, -1])]) : cx.e.emit('Transpose', [all], { perm: attr.ints([0, 1, 3, 2]) }); // [B,Hk,g,Tk]
  } else {
    const scores = ks.map((kn) => cx.e.emit('FusedMatMul', [qn, kn], { alpha: attr.float(scale), transA: attr.int(0), transB: attr.int(1) }, { domain: 'com.microsoft' }));
    s = scores.length === 1 ? scores[0]! : cx.e.emit('Concat', scores, { axis: attr.int(-1) });
  }
  if (groups > 1) s = cx.e.emit('Reshape', [s, cx.e.ints([0, isConcrete(H!) ? H! : -1, -1, 0])]);
  let mask: string | undefined;
  // one query aligned to the end of the keys sees them all: no causal mask to build
  if (causal && !dimEq(Tq!, 1)) {
    const rows = cx.e.emit('Range', [cx.e.scalar('int64', 0), cx.e.emit('Squeeze', [cx.e.dim(Tq!), cx.e.ints([0])]), cx.e.scalar('int64', 1)]);
    const cols = cx.e.emit('Range', [cx.e.scalar('int64', 0), cx.e.emit('Squeeze', [cx.e.dim(Tk), cx.e.ints([0])]), cx.e.scalar('int64', 1)]);
    const off = dimSub(Tk, Tq!);
    const shifted = cx.e.emit('Add', [cx.e.emit('Unsqueeze', [rows, cx.e.ints([1])]), cx.e.dim(off)]);
    mask = cx.e.emit('LessOrEqual', [cols, shifted]); // [Tq, Tk]
  }
  if (node.attrs.masked) {
    const km = cx.e.emit('Unsqueeze', [full(a, 3), cx.e.ints([1, 2])]); // [B,1,1,Tk]
    mask = mask === undefined ? km : cx.e.emit('And', [km, mask]);
  }
  if (mask !== undefined) s = cx.e.emit('Where', [mask, s, cx.e.scalar('float32', -3.4028234663852886e38)]);
  let p = cx.e.emit('Softmax', [s], { axis: attr.int(-1) });
  if (groups > 1) p = cx.e.emit('Reshape', [p, cx.e.ints([0, isConcrete(Hk) ? Hk : -1, -1, 0])]);
  const ps = vs.length === 1 ? [p] : cx.e.emitN('Split', [p, cx.e.shape(kb!.map((x) => x.shape[2]!))], { axis: attr.int(-1) }, { outputs: vs.length });
  let o = ps.map((pi, i) => cx.e.emit('MatMul', [pi, vs[i]!])).reduce((acc, x) => cx.e.emit('Add', [acc, x]));
  if (groups > 1) o = cx.e.emit('Reshape', [o, cx.e.ints([0, isConcrete(H!) ? H! : -1, -1, 0])]);
  return same(node, o);
};
