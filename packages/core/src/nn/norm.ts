/**
 * Layer norm (GPT-2, BART) and RMS norm (Llama) over the last axis, with hand-written VJPs
 * (x̂ the normalised input, r = 1/sqrt(var + eps), g the gain, ct the cotangent, means over the
 * last axis):
 *   layerNorm  dx = r (ct·g - mean(ct·g) - x̂ mean(ct·g·x̂)),  dg = ct·x̂,  db = ct
 *   rmsNorm    dx = r (ct·w - x̂ mean(ct·w·x̂)),                dw = ct·x̂
 * one expression per operand instead of the decomposition's chain rule through each of its
 * steps (whose intermediates would all stay alive until the backward pass).
 */
import { apply, type Node, type TypeInfo } from '../ir/node.ts';
import { type OpDef, wanted } from '../ops/def.ts';
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
  vjp: ({ inputs: [x, g], node, ct, wants }) => {
    const xc = sub(x!, reduceMean(x!, -1, true));
    const r = rsqrt(add(reduceMean(mul(xc, xc), -1, true), node.attrs.eps));
    const xhat = mul(xc, r);
    return [
      wanted(wants, 0, () => {
        const dxhat = mul(ct, g!);
        return mul(sub(sub(dxhat, reduceMean(dxhat, -1, true)), mul(xhat, reduceMean(mul(dxhat, xhat), -1, true))), r);
      }),
      wanted(wants, 1, () => mul(ct, xhat)),
      wanted(wants, 2, () => ct),
    ];
  },
  ref: 'viaDecomposition',
};

export const rmsNormDef: OpDef<'rmsNorm'> = {
  name: 'rmsNorm', kind: 'composite', arity: 2, infer: inferNorm,
  // x / sqrt(mean(x^2) + eps) * weight
  decompose: ([x, w], { eps }) => mul(mul(x!, rsqrt(add(reduceMean(mul(x!, x!), -1, true), eps))), w!),
  vjp: ({ inputs: [x, w], node, ct, wants }) => {
    const r = rsqrt(add(reduceMean(mul(x!, x!), -1, true), node.attrs.eps));
    const xhat = mul(x!, r);
    return [
      wanted(wants, 0, () => {
        const dxhat = mul(ct, w!);
        return mul(sub(dxhat, mul(xhat, reduceMean(mul(dxhat, xhat), -1, true))), r);
      }),
      wanted(wants, 1, () => mul(ct, xhat)),
    ];
  },
  ref: 'viaDecomposition',
};

/** LayerNorm over the last axis with affine gamma/beta. */
export const layerNorm = (x: Node, gamma: Node, beta: Node, eps = 1e-5): Node => apply(layerNormDef, [x, gamma, beta], { eps });
/** RMSNorm over the last axis (Llama). */
export const rmsNorm = (x: Node, weight: Node, eps = 1e-6): Node => apply(rmsNormDef, [x, weight], { eps });
