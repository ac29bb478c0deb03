/** softmax and log-softmax along an axis: composites with hand-written VJPs. */
import { apply, type Node, type TypeInfo } from '../ir/node.ts';
import type { OpDef } from '../ops/def.ts';
import { normAxis } from '../types/shape.ts';
import { sub, mul, div } from '../ops/binary.ts';
import { exp, log } from '../ops/unary.ts';
import { reduceMax, reduceSum } from '../ops/reduce.ts';

const inferAxisFloat = ([x]: readonly TypeInfo[], a: { axis: number }): TypeInfo | string =>
  x!.dtype !== 'float32' ? `expected float32, got ${x!.dtype}` :
  normAxis(a.axis, x!.shape.length) !== a.axis ? `axis ${a.axis} out of range for rank ${x!.shape.length}` : x!;

export const softmaxDef: OpDef<'softmax'> = {
  name: 'softmax', kind: 'composite', arity: 1, infer: inferAxisFloat,
  // y = e^(x - max x) / sum e^(x - max x)
  decompose: ([x], { axis }) => {
    const e = exp(sub(x!, reduceMax(x!, axis, true)));
    return div(e, reduceSum(e, axis, true));
  },
  // dx = y * (ct - sum(ct * y))
  vjp: ({ node: y, ct }) => [mul(y, sub(ct, reduceSum(mul(ct, y), y.attrs.axis, true)))],
  ref: 'viaDecomposition',
};

export const logSoftmaxDef: OpDef<'logSoftmax'> = {
  name: 'logSoftmax', kind: 'composite', arity: 1, infer: inferAxisFloat,
  // x - max x - log sum e^(x - max x)
  decompose: ([x], { axis }) => {
    const z = sub(x!, reduceMax(x!, axis, true));
    return sub(z, log(reduceSum(exp(z), axis, true)));
  },
  // dx = ct - softmax(x) * sum(ct)
  vjp: ({ node: y, ct }) => [sub(ct, mul(exp(y), reduceSum(ct, y.attrs.axis, true)))],
  ref: 'viaDecomposition',
};

/** softmax along `axis` (default last). */
export const softmax = (x: Node, axis = -1): Node => apply(softmaxDef, [x], { axis: axis < 0 ? axis + x.shape.length : axis });
/** log-softmax along `axis` (default last). */
export const logSoftmax = (x: Node, axis = -1): Node => apply(logSoftmaxDef, [x], { axis: axis < 0 ? axis + x.shape.length : axis });
