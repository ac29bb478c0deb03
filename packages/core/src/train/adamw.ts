/**
 * AdamW and global gradient-norm clipping as graph nodes (pure builders: nothing runs).
 *
 * torch.optim.AdamW (step t >= 1, per parameter):
 *   p <- p - lr·wd·p                                   (decay: true only)
 *   m <- β1·m + (1-β1)·g ;  v <- β2·v + (1-β2)·g²
 *   p <- p - lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps)
 * transformers' legacy AdamW (`flavor: 'hf'`):
 *   m, v as above ;  p <- p - lr·sqrt(1-β2^t)/(1-β1^t) · m / (sqrt(v) + eps) ;  p <- p - lr·wd·p
 */
import type { Node } from '../ir/node.ts';
import { add, sub, mul, div, pow, minimum } from '../ops/binary.ts';
import { sqrt } from '../ops/unary.ts';
import { reduceSum } from '../ops/reduce.ts';
import { scalar } from '../ops/leaves.ts';
import type { AdamWConfig } from './config.ts';

export interface AdamWArgs {
  readonly params: readonly Node[];
  readonly grads: readonly Node[];
  readonly m: readonly Node[];
  readonly v: readonly Node[];
  /** The 1-based step count, a float32 scalar (bias corrections use β^step). */
  readonly step: Node;
  /** The learning rate, a float32 scalar. */
  readonly lr: Node;
  readonly config: AdamWConfig;
  /** Whether weight decay applies to each parameter (default: all). */
  readonly decayMask?: readonly boolean[];
}

export interface AdamWResult {
  readonly params: Node[];
  readonly m: Node[];
  readonly v: Node[];
}

/** One AdamW update of every parameter (see the module comment for the two flavors). */
export const adamwUpdate = (a: AdamWArgs): AdamWResult => {
  const { beta1, beta2, eps, weightDecay } = a.config;
  const n = a.params.length;
  if (a.grads.length !== n || a.m.length !== n || a.v.length !== n || (a.decayMask && a.decayMask.length !== n))
    throw new Error(`adamwUpdate: ${n} params but ${a.grads.length} grads, ${a.m.length} m, ${a.v.length} v`);
  const bc1 = sub(1, pow(scalar(beta1), a.step));
  const bc2 = sub(1, pow(scalar(beta2), a.step));
  const hf = a.config.flavor === 'hf';
  const out: AdamWResult = { params: [], m: [], v: [] };
  a.params.forEach((p, i) => {
    const g = a.grads[i]!;
    const m = add(mul(a.m[i]!, beta1), mul(g, 1 - beta1));
    const v = add(mul(a.v[i]!, beta2), mul(mul(g, g), 1 - beta2));
    const decays = weightDecay > 0 && (a.decayMask?.[i] ?? true);
    let q: Node;
    if (hf) {
      const stepSize = div(mul(a.lr, sqrt(bc2)), bc1);
      q = sub(p, mul(stepSize, div(m, add(sqrt(v), eps))));
      if (decays) q = sub(q, mul(mul(a.lr, weightDecay), q));
    } else {
      const decayed = decays ? sub(p, mul(mul(a.lr, weightDecay), p)) : p;
      q = sub(decayed, mul(div(a.lr, bc1), div(m, add(div(sqrt(v), sqrt(bc2)), eps))));
    }
    out.params.push(q);
    out.m.push(m);
    out.v.push(v);
  });
  return out;
};

/** The global L2 norm of a list of gradients (a float32 scalar). */
export const globalNorm = (grads: readonly Node[]): Node =>
  sqrt(grads.map((g) => reduceSum(mul(g, g))).reduce((s, x) => add(s, x), scalar(0)));

/**
 * PyTorch's clip_grad_norm_: scales every gradient by min(1, maxNorm / (norm + 1e-6)).
 * Returns the clipped gradients and the norm before clipping.
 */
export const clipByGlobalNorm = (grads: readonly Node[], maxNorm: number): { grads: Node[]; norm: Node } => {
  const norm = globalNorm(grads);
  const coef = minimum(div(maxNorm, add(norm, 1e-6)), 1);
  return { grads: grads.map((g) => mul(g, coef)), norm };
};
