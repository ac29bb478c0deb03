/**
 * Batched matrix product `a @ b`: a [...batchA, M, K], b [...batchB, K, N] -> [...batch, M, N]
 * with the batch dims broadcast (NumPy `matmul` for rank >= 2 operands).
 */
import { apply, type Node } from '../ir/node.ts';
import type { OpDef } from './def.ts';
import { broadcastShapes, shapeToString } from '../types/shape.ts';
import { dimEq, dimToString } from '../types/dim.ts';
import { pendingRef } from './pending.ts';
import { transpose } from './layout.ts';

/** Swaps the last two axes. */
export const mT = (x: Node): Node => {
  const r = x.shape.length;
  return transpose(x, [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2]);
};

export const matmulDef: OpDef<'matmul'> = {
  name: 'matmul', kind: 'primitive', arity: 2,
  infer: ([a, b]) => {
    if (a!.dtype !== 'float32' || b!.dtype !== 'float32') return `expected float32 operands, got ${a!.dtype}, ${b!.dtype}`;
    if (a!.shape.length < 2 || b!.shape.length < 2) return 'operands must have rank >= 2';
    const [m, k1] = a!.shape.slice(-2);
    const [k2, n] = b!.shape.slice(-2);
    if (!dimEq(k1!, k2!)) return `contraction dims differ: ${dimToString(k1!)} vs ${dimToString(k2!)} in ${shapeToString(a!.shape)} @ ${shapeToString(b!.shape)}`;
    const batch = broadcastShapes(a!.shape.slice(0, -2), b!.shape.slice(0, -2));
    if (typeof batch === 'string') return `batch dims: ${batch}`;
    return { shape: [...batch, m!, n!], dtype: 'float32' };
  },
  vjp: ({ inputs: [a, b], ct }) => [matmul(ct, mT(b!)), matmul(mT(a!), ct)],
  ref: pendingRef('matmul'),
};

/** a @ b with broadcast batch dims. */
export const matmul = (a: Node, b: Node): Node => apply(matmulDef, [a, b], {});
