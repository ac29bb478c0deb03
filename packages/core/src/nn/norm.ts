/** Layer norm (GPT-2, BART) and RMS norm (Llama) over the last axis. */
import { apply, type Node, type TypeInfo } from '../ir/node.ts';
import type { OpDef } from '../ops/def.ts';
import { dimEq, dimToString } from '../types/dim.ts';
import { add, sub, mul } from '../ops/binary.ts';
import { rsqrt } from '../ops/unary.ts';
import { reduceMean } from '../ops/reduce.ts';

const inferNorm = (xs: readonly TypeInfo[]): TypeInfo | string => {
  const [x, ...ws] = xs;
  if (xs.some((t) => t.dtype !== 'float32')) return 'expected float32 operands';
  if (x!.shape.length < 1) return 'input must have rank >= 1';
  const d = x!.shape[x!.shape.length - 1]!;
  for (const w of ws)
    if (w.shape.length !== 1 || !dimEq(w.shape[0]!, d)) return `weight shape [${w.shape.map(dimToString).join(',')}] must be [${dimToString(d)}]`;
  return x!;
};

export const layerNormDef: OpDef<'layerNorm'> = {
  name: 'layerNorm', kind: 'composite', arity: 3, infer: inferNorm,
  // (x - mean) / sqrt(var + eps) * gamma + beta, biased variance, last axis
  decompose: ([x, g, b], { eps }) => {
    const xc = sub(x!, reduceMean(x!, -1, true));
    const v = reduceMean(mul(xc, xc), -1, true);
    return add(mul(mul(xc, rsqrt(add(v, eps))), g!), b!);
  },
  vjp: 'viaDecomposition',
  ref: 'viaDecomposition',
};

export const rmsNormDef: OpDef<'rmsNorm'> = {
  name: 'rmsNorm', kind: 'composite', arity: 2, infer: inferNorm,
  // x / sqrt(mean(x^2) + eps) * weight
  decompose: ([x, w], { eps }) => mul(mul(x!, rsqrt(add(reduceMean(mul(x!, x!), -1, true), eps))), w!),
  vjp: 'viaDecomposition',
  ref: 'viaDecomposition',
};

/** LayerNorm over the last axis with affine gamma/beta. */
export const layerNorm = (x: Node, gamma: Node, beta: Node, eps = 1e-5): Node => apply(layerNormDef, [x, gamma, beta], { eps });
/** RMSNorm over the last axis (Llama). */
export const rmsNorm = (x: Node, weight: Node, eps = 1e-6): Node => apply(rmsNormDef, [x, weight], { eps });
