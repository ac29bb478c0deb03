/**
 * GELU (exact erf form and GPT-2's tanh approximation) and SiLU, with hand-written VJPs:
 * dx = ct * f'(x), with f'(x) built from x alone. Differentiating the decomposition instead
 * keeps every intermediate of the forward formula (x², x³, tanh(...), 1 + tanh(...), x/2: five
 * activations of the MLP's width per layer) alive until the backward pass reaches the layer;
 * this keeps one (x, or f'(x) where the runtime computes it early).
 */
import { apply, type Node } from '../ir/node.ts';
import type { OpDef } from '../ops/def.ts';
import { add, sub, mul, div } from '../ops/binary.ts';
import { erf, tanh, exp, neg, recip } from '../ops/unary.ts';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_A = 0.044715;

/** GELU's derivative at x. */
const geluDerivative = (x: Node, approximate: 'none' | 'tanh'): Node => {
  if (approximate === 'none') {
    // Φ(x) + x φ(x) = (1 + erf(x/√2))/2 + x e^(-x²/2)/√(2π)
    const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
    return add(cdf, mul(x, mul(exp(mul(mul(x, x), -0.5)), INV_SQRT_2PI)));
  }
  // with u = √(2/π)(x + a x³), t = tanh(u):  (1 + t)/2 + x/2 (1 - t²) √(2/π)(1 + 3a x²)
  const x2 = mul(x, x);
  const t = tanh(mul(add(x, mul(mul(x2, x), GELU_A)), SQRT_2_OVER_PI));
  const du = mul(add(mul(x2, 3 * GELU_A), 1), SQRT_2_OVER_PI);
  return mul(add(add(t, 1), mul(mul(x, sub(1, mul(t, t))), du)), 0.5);
};

export const geluDef: OpDef<'gelu'> = {
  name: 'gelu', kind: 'composite', arity: 1,
  infer: ([x]) => (x!.dtype === 'float32' ? x! : `expected float32, got ${x!.dtype}`),
  // none: x/2 (1 + erf(x/sqrt 2)); tanh: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  decompose: ([x], { approximate }) =>
    approximate === 'none'
      ? mul(mul(x!, 0.5), add(erf(mul(x!, Math.SQRT1_2)), 1))
      : mul(mul(x!, 0.5), add(tanh(mul(add(x!, mul(mul(mul(x!, x!), x!), GELU_A)), SQRT_2_OVER_PI)), 1)),
  vjp: ({ inputs: [x], node, ct }) => [mul(ct, geluDerivative(x!, node.attrs.approximate))],
  ref: 'viaDecomposition',
};

export const siluDef: OpDef<'silu'> = {
  name: 'silu', kind: 'composite', arity: 1,
  infer: ([x]) => (x!.dtype === 'float32' ? x! : `expected float32, got ${x!.dtype}`),
  // x * sigmoid(x) = x / (1 + e^-x)
  decompose: ([x]) => div(x!, add(exp(neg(x!)), 1)),
  // s (1 + x (1 - s)), s = sigmoid(x)
  vjp: ({ inputs: [x], ct }) => {
    const s = recip(add(exp(neg(x!)), 1));
    return [mul(ct, mul(s, add(mul(x!, sub(1, s)), 1)))];
  },
  ref: 'viaDecomposition',
};

/** GELU; `approximate: 'tanh'` is GPT-2's `gelu_new`. */
export const gelu = (x: Node, approximate: 'none' | 'tanh' = 'none'): Node => apply(geluDef, [x], { approximate });
/** SiLU (swish), Llama's MLP activation. */
export const silu = (x: Node): Node => apply(siluDef, [x], {});
