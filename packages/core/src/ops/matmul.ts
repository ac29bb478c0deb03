/**
 * Batched matrix product `a @ b`: a [...batchA, M, K], b [...batchB, K, N] -> [...batch, M, N]
 * with the batch dims broadcast (NumPy `matmul` for rank >= 2 operands).
 */
import { apply, type Node } from '../ir/node.ts';
import { type OpDef, wanted } from './def.ts';
import { broadcastShapes, shapeToString } from '../types/shape.ts';
import { dimEq, dimToString } from '../types/dim.ts';
import { transpose } from './layout.ts';
import { alloc, broadcastConcrete, broadcastOffsets, fail, refTensor, shapeStr, sizeOf } from './kernel.ts';

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
  vjp: ({ inputs: [a, b], ct, wants }) => [wanted(wants, 0, () => matmul(ct, mT(b!))), wanted(wants, 1, () => matmul(mT(a!), ct))],
  // i-k-j loop: the inner loop walks a row of b and a row of the output contiguously;
  // each output row accumulates in float64.
  ref: ([a, b], node, ctx) => {
    const ra = a!.shape.length;
    const rb = b!.shape.length;
    if (ra < 2 || rb < 2) return fail(node, `operands must have rank >= 2: ${shapeStr(a!.shape)} @ ${shapeStr(b!.shape)}`);
    const [M, K] = a!.shape.slice(-2) as [number, number];
    const [K2, N] = b!.shape.slice(-2) as [number, number];
    if (K !== K2) return fail(node, `contraction dims differ: ${shapeStr(a!.shape)} @ ${shapeStr(b!.shape)}`);
    const batchA = a!.shape.slice(0, -2);
    const batchB = b!.shape.slice(0, -2);
    const batch = broadcastConcrete(batchA, batchB) ?? fail(node, `batch dims ${shapeStr(batchA)} and ${shapeStr(batchB)} do not broadcast`);
    const nb = sizeOf(batch);
    const offA = broadcastOffsets(batchA, batch);
    const offB = broadcastOffsets(batchB, batch);
    const A = a!.data;
    const B = b!.data;
    const out = alloc('float32', nb * M * N, ctx.precision);
    const row = new Float64Array(N);
    for (let bi = 0; bi < nb; bi++) {
      const ao = (offA === undefined ? bi : offA[bi]!) * M * K;
      const bo = (offB === undefined ? bi : offB[bi]!) * K * N;
      const oo = bi * M * N;
      for (let i = 0; i < M; i++) {
        row.fill(0);
        const arow = ao + i * K;
        for (let k = 0; k < K; k++) {
          const aik = A[arow + k]!;
          const brow = bo + k * N;
          for (let j = 0; j < N; j++) row[j] += aik * B[brow + j]!;
        }
        out.set(row, oo + i * N);
      }
    }
    return refTensor('float32', [...batch, M, N], out);
  },
};

/** a @ b with broadcast batch dims. */
export const matmul = (a: Node, b: Node): Node => apply(matmulDef, [a, b], {});
