/**
 * Graph preparation before lowering: a pure rewrite of the core graph into the primitives and
 * fused composites the TensorFlow.js lowering table executes. Every rewrite computes exactly
 * what the node computes (the property tests hold the backend to the reference evaluator):
 *
 * - composites without a fused tfjs lowering are replaced by their decomposition (their
 *   specification), recursively; `attention` is always expanded so that a training graph's
 *   forward pass and its gradient share the same score and probability nodes (hash-consing
 *   makes the decomposition's nodes the very nodes the gradient graph refers to);
 * - `crossEntropy` is rewritten to pick each row's log-probability with `gather` instead of
 *   the decomposition's one-hot [N, V] product (N·V work and memory saved per step); it uses
 *   the same `logSoftmax(logits)` node as the cross-entropy VJP, so that it is computed once;
 * - transpose of a transpose becomes one transpose (mT(mT(W)) becomes W), reshape of a
 *   reshape one reshape;
 * - a slice of a concatenation that lies within one of its parts becomes a slice of that part;
 *   a product with a concatenation along its contraction axis, or with the transpose of one
 *   along the axis that becomes its columns, is distributed over the parts (sum of products
 *   of slices; concatenation of products) when it has few rows (at most a quarter of its
 *   concrete column count): so a cached decoding step (one query row over the cache and its
 *   own key and value) attends over the cache without copying it into `present`, and its new
 *   key and value are read where they are;
 * - a gather of consecutive indices (`iota`, or a slice of one: the position ids of a model
 *   with a past or a prefix) becomes a slice of the table (a copy of contiguous rows instead of
 *   an indexed one).
 *
 * The result is a new graph over core nodes (built at the rewritten nodes' own paths).
 */
import { type Graph, type Node, type Dim, graph } from '@prefix-tuning/core';
import {
  type OpName, type OpDef, topoOrder, topoOrderUntil, apply, atPath, opDef, decomposition, dimMul, reshape, transpose, slice, concat, matmul, dimAdd, dimSub, isConcrete, logSoftmax, logicalNot, equal, where, add, mul, neg, cast, gather, iota, reduceSum, div, maximum
} from '@prefix-tuning/core/graph';

export interface PrepareOptions {
  /** Which composites keep their node (a fused lowering exists for them); others are expanded. */
  readonly fused: (n: Node) => boolean;
  /** Rewrite crossEntropy with gather (otherwise: its decomposition). */
  readonly gatherCrossEntropy: boolean;
}

const reapply = (n: Node, ins: readonly Node[]): Node =>
  ins.every((x, i) => x === n.inputs[i]) ? n : atPath(n.path, () => apply(opDef(n.op) as OpDef<OpName>, ins, n.attrs as never));

/** cross-entropy through gather (see the module comment); the same value as the decomposition. */
const crossEntropyByGather = (n: Node<'crossEntropy'>): Node => {
  const [logits, labels] = n.inputs as [Node, Node];
  const [N, V] = logits.shape as [Dim, Dim];
  const { ignoreIndex, reduction } = n.attrs;
  return atPath(n.path, () => {
    const valid = logicalNot(equal(labels, ignoreIndex)); // bool [N]
    const safe = where(valid, labels, 0); // [N]
    const flat = add(mul(iota([N], 0, labels.dtype), V as number), safe); // row * V + label
    const lp = logSoftmax(logits, -1); // [N, V], shared with the VJP
    const picked = gather(reshape(lp, [dimMul(N, V)]), flat); // [N]
    const validF = cast(valid, 'float32');
    const nll = mul(neg(picked), validF);
    if (reduction === 'none') return nll;
    const total = reduceSum(nll);
    return reduction === 'sum' ? total : div(total, maximum(reduceSum(validF), 1));
  });
};

/** [start, end) when `idx` holds start, start+1, ..., end-1 (a 1-D iota or a slice of one). */
const consecutive = (idx: Node): [Dim, Dim] | undefined => {
  if (idx.shape.length !== 1) return undefined;
  if (idx.op === 'iota') return [0, idx.shape[0]!];
  if (idx.op === 'slice' && idx.inputs[0]!.op === 'iota' && idx.inputs[0]!.shape.length === 1) {
    const a = (idx as Node<'slice'>).attrs;
    return [a.start, a.end];
  }
  return undefined;
};

const le = (a: Dim, b: Dim): boolean => {
  const d = dimSub(b, a);
  return isConcrete(d) && d >= 0;
};

/** The parts of a concatenation with their offsets on its axis. */
const partsOf = (c: Node<'concat'>): { part: Node; start: Dim; end: Dim }[] => {
  let off: Dim = 0;
  return c.inputs.map((part) => {
    const start = off;
    off = dimAdd(off, part.shape[c.attrs.axis]!);
    return { part, start, end: off };
  });
};

/** Whether a product with rows M and columns (or contraction) extent K has few enough rows to distribute. */
const fewRows = (M: Dim, K: Dim): boolean => isConcrete(M) && isConcrete(K) && 4 * M <= K;

const isSwapLastTwo = (x: Node): x is Node<'transpose'> => {
  if (x.op !== 'transpose') return false;
  const p = (x as Node<'transpose'>).attrs.perm;
  const r = p.length;
  return r >= 2 && p[r - 2] === r - 1 && p[r - 1] === r - 2 && p.slice(0, -2).every((q, i) => q === i);
};

/** The distributed forms of a product (see the module comment), or undefined. */
const distributeMatmul = (n: Node, a: Node, b: Node): Node | undefined => {
  const rb = b.shape.length;
  const M = a.shape[a.shape.length - 2]!;
  // a @ concat(parts, K axis) = sum of a[..., part's columns] @ part
  if (b.op === 'concat' && (b as Node<'concat'>).attrs.axis === rb - 2 && fewRows(M, b.shape[rb - 1]!)) {
    return atPath(n.path, () => partsOf(b as Node<'concat'>)
      .map(({ part, start, end }) => matmul(slice(a, a.shape.length - 1, start, end), part))
      .reduce((x, y) => add(x, y)));
  }
  // a @ mT(concat(parts, N axis)) = concat(a @ mT(part)) on the columns
  if (isSwapLastTwo(b) && b.inputs[0]!.op === 'concat') {
    const c = b.inputs[0] as Node<'concat'>;
    if (c.attrs.axis === rb - 2 && fewRows(M, c.shape[rb - 1]!))
      return atPath(n.path, () => concat(c.inputs.map((part) => matmul(a, transpose(part, b.attrs.perm))), n.shape.length - 1));
  }
  return undefined;
};

/** Rewrites `g` (see the module comment and `PrepareOptions`). */
export const prepare = (g: Graph, opts: PrepareOptions): Graph => {
  const memo = new Map<number, Node>();
  const rewrite = (roots: readonly Node[], stops?: ReadonlySet<number>): void => {
    const order = stops ? topoOrderUntil(roots, (x) => stops.has(x.id)) : topoOrder(roots);
    for (const n of order) {
      if (memo.has(n.id)) continue;
      const ins = n.inputs.map((x) => memo.get(x.id)!);
      memo.set(n.id, rewriteOne(n, ins));
    }
  };
  const rewriteOne = (n: Node, ins: readonly Node[]): Node => {
    if (n.op === 'transpose' && ins[0]!.op === 'transpose') {
      const inner = ins[0] as Node<'transpose'>;
      const p1 = inner.attrs.perm;
      const p2 = (n as Node<'transpose'>).attrs.perm;
      return atPath(n.path, () => transpose(inner.inputs[0]!, p2.map((p) => p1[p]!)));
    }
    if (n.op === 'slice' && ins[0]!.op === 'concat' && (ins[0] as Node<'concat'>).attrs.axis === (n as Node<'slice'>).attrs.axis) {
      const { axis, start, end } = (n as Node<'slice'>).attrs;
      const inside = partsOf(ins[0] as Node<'concat'>).find((p) => le(p.start, start) && le(end, p.end));
      if (inside !== undefined) return atPath(n.path, () => slice(inside.part, axis, dimSub(start, inside.start), dimSub(end, inside.start)));
    }
    if (n.op === 'matmul') {
      const d = distributeMatmul(n, ins[0]!, ins[1]!);
      if (d !== undefined) return d;
    }
    if (n.op === 'reshape' && ins[0]!.op === 'reshape') return atPath(n.path, () => reshape(ins[0]!.inputs[0]!, n.shape));
    if (n.op === 'gather') {
      const range = consecutive(ins[1]!);
      if (range !== undefined) return atPath(n.path, () => slice(ins[0]!, (n as Node<'gather'>).attrs.axis, range[0], range[1]));
    }
    if (opDef(n.op).kind !== 'composite') return reapply(n, ins);
    const m = reapply(n, ins);
    if (m.op === 'crossEntropy' && opts.gatherCrossEntropy && typeof m.inputs[0]!.shape[1] === 'number')
      return expand(crossEntropyByGather(m as Node<'crossEntropy'>), m);
    if (m.op !== 'attention' && opts.fused(m)) return m;
    return expand(decomposition(m), m);
  };
  /** Rewrites the nodes of `root` above `m`'s operands (a decomposition). */
  const expand = (root: Node, m: Node): Node => {
    // the operands of `m` are already rewritten (they are themselves): map them to themselves
    for (const x of m.inputs) if (!memo.has(x.id)) memo.set(x.id, x);
    rewrite([root], new Set(m.inputs.map((x) => x.id)));
    return memo.get(root.id)!;
  };
  const names = Object.keys(g.outputs);
  rewrite(names.map((k) => g.outputs[k]!));
  return graph(Object.fromEntries(names.map((k) => [k, memo.get(g.outputs[k]!.id)!])));
};
