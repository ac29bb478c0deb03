/**
 * Cross-entropy of logits [N, V] against integer labels [N], ignoring positions whose label
 * equals `ignoreIndex` (-100, as PyTorch and Hugging Face). Reductions: `mean` over the
 * non-ignored positions (Hugging Face's default), `sum` (the official prefix-tuning code's
 * per-sentence sum), or `none` ([N], zero at ignored positions).
 */
import { apply, type Node } from '../ir/node.ts';
import type { OpDef } from '../ops/def.ts';
import { dimEq, dimToString } from '../types/dim.ts';
import { isInt } from '../types/dtype.ts';
import { sub, mul, div, equal, maximum } from '../ops/binary.ts';
import { neg, cast, logicalNot } from '../ops/unary.ts';
import { iota } from '../ops/leaves.ts';
import { reshape, broadcastTo } from '../ops/layout.ts';
import { reduceSum } from '../ops/reduce.ts';
import { logSoftmax, softmax } from './softmax.ts';

const parts = (logits: Node, labels: Node, ignoreIndex: number) => {
  const [N, V] = logits.shape;
  const valid = cast(logicalNot(equal(labels, ignoreIndex)), 'float32'); // [N]
  const onehot = cast(equal(iota([N!, V!], 1, labels.dtype), reshape(labels, [N!, 1])), 'float32'); // [N,V]
  return { valid, onehot };
};

export const crossEntropyDef: OpDef<'crossEntropy'> = {
  name: 'crossEntropy', kind: 'composite', arity: 2,
  infer: ([lg, lb], a) => {
    if (lg!.dtype !== 'float32') return `logits must be float32, got ${lg!.dtype}`;
    if (!isInt(lb!.dtype)) return `labels must be int32/int64, got ${lb!.dtype}`;
    if (lg!.shape.length !== 2 || lb!.shape.length !== 1 || !dimEq(lg!.shape[0]!, lb!.shape[0]!))
      return `expected logits [N,V] and labels [N], got [${lg!.shape.map(dimToString).join(',')}] and [${lb!.shape.map(dimToString).join(',')}]`;
    return { shape: a.reduction === 'none' ? [lg!.shape[0]!] : [], dtype: 'float32' };
  },
  decompose: ([logits, labels], { ignoreIndex, reduction }) => {
    const { valid, onehot } = parts(logits!, labels!, ignoreIndex);
    const nll = mul(neg(reduceSum(mul(logSoftmax(logits!, -1), onehot), -1)), valid); // [N]
    if (reduction === 'none') return nll;
    const total = reduceSum(nll);
    return reduction === 'sum' ? total : div(total, maximum(reduceSum(valid), 1));
  },
  // d logits = (softmax - onehot) * valid * ct (/ count for mean)
  vjp: ({ inputs: [logits, labels], node, ct }) => {
    const { ignoreIndex, reduction } = node.attrs;
    const { valid, onehot } = parts(logits!, labels!, ignoreIndex);
    const N = logits!.shape[0]!;
    const perRow = reduction === 'none' ? mul(ct, valid) : reduction === 'sum' ? mul(broadcastTo(ct, [N]), valid)
      : div(mul(broadcastTo(ct, [N]), valid), maximum(reduceSum(valid), 1));
    const g = mul(sub(softmax(logits!, -1), onehot), reshape(perRow, [N, 1]));
    return [g, undefined];
  },
  ref: 'viaDecomposition',
};

/** Cross-entropy with an ignore index (default -100) and reduction (default 'mean'). */
export const crossEntropy = (logits: Node, labels: Node, opts: { ignoreIndex?: number; reduction?: 'mean' | 'sum' | 'none' } = {}): Node =>
  apply(crossEntropyDef, [logits, labels], { ignoreIndex: opts.ignoreIndex ?? -100, reduction: opts.reduction ?? 'mean' });
