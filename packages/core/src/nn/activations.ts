/** GELU (exact erf form and GPT-2's tanh approximation) and SiLU. */
import { apply, type Node } from '../ir/node.ts';
import type { OpDef } from '../ops/def.ts';
import { add, mul, div } from '../ops/binary.ts';
import { erf, tanh, exp, neg } from '../ops/unary.ts';

export const geluDef: OpDef<'gelu'> = {
  name: 'gelu', kind: 'composite', arity: 1,
  infer: ([x]) => (x!.dtype === 'float32' ? x! : `expected float32, got ${x!.dtype}`),
  // none: x/2 (1 + erf(x/sqrt 2)); tanh: x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  decompose: ([x], { approximate }) =>
    approximate === 'none'
      ? mul(mul(x!, 0.5), add(erf(mul(x!, Math.SQRT1_2)), 1))
      : mul(mul(x!, 0.5), add(tanh(mul(add(x!, mul(mul(mul(x!, x!), x!), 0.044715)), Math.sqrt(2 / Math.PI))), 1)),
  vjp: 'viaDecomposition',
  ref: 'viaDecomposition',
};

export const siluDef: OpDef<'silu'> = {
  name: 'silu', kind: 'composite', arity: 1,
  infer: ([x]) => (x!.dtype === 'float32' ? x! : `expected float32, got ${x!.dtype}`),
  // x * sigmoid(x) = x / (1 + e^-x)
  decompose: ([x]) => div(x!, add(exp(neg(x!)), 1)),
  vjp: 'viaDecomposition',
  ref: 'viaDecomposition',
};

/** GELU; `approximate: 'tanh'` is GPT-2's `gelu_new`. */
export const gelu = (x: Node, approximate: 'none' | 'tanh' = 'none'): Node => apply(geluDef, [x], { approximate });
/** SiLU (swish), Llama's MLP activation. */
export const silu = (x: Node): Node => apply(siluDef, [x], {});
