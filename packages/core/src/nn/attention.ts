/**
 * Scaled dot-product attention with grouped-query heads, an optional causal mask and an
 * optional key padding mask:
 *
 *   q [B, H, Tq, D], k [B, Hk, Tk, D], v [B, Hk, Tk, Dv], keyMask [B, Tk] (bool, true = attend)
 *   -> [B, H, Tq, Dv]
 *
 * `causal` aligns queries to the END of the keys: query i (of Tq) sees keys j <= i + (Tk - Tq).
 * That is exactly what a past key/value (a KV cache, or a prefix of P virtual positions)
 * needs: the first Tk - Tq keys are visible to every query. Masked scores take float32's
 * lowest value, as Hugging Face does, so a fully masked row is uniform rather than NaN.
 */
import { apply, currentPath, type Node, type TypeInfo } from '../ir/node.ts';
import { GraphError } from '../errors.ts';
import type { OpDef } from '../ops/def.ts';
import { dimEq, dimDiv, dimMul, dimToString, dimSub, isConcrete } from '../types/dim.ts';
import { shapeToString } from '../types/shape.ts';
import { add, mul, lessEqual, where, sub } from '../ops/binary.ts';
import { cast } from '../ops/unary.ts';
import { matmul, mT } from '../ops/matmul.ts';
import { iota, scalar } from '../ops/leaves.ts';
import { reshape, broadcastTo } from '../ops/layout.ts';
import { dimScalar } from '../ops/reduce.ts';
import { softmax } from './softmax.ts';

/** float32's lowest finite value (torch.finfo(torch.float32).min). */
export const MASK_VALUE = -3.4028234663852886e38;

const inferAttention = (xs: readonly TypeInfo[], a: { masked: boolean }): TypeInfo | string => {
  const [q, k, v, m] = xs;
  if (xs.length !== (a.masked ? 4 : 3)) return `expected ${a.masked ? 4 : 3} operands (masked=${a.masked})`;
  if ([q, k, v].some((x) => x!.dtype !== 'float32')) return 'q, k, v must be float32';
  if ([q, k, v].some((x) => x!.shape.length !== 4)) return `q, k, v must be rank 4 [B,H,T,D]: ${[q, k, v].map((x) => shapeToString(x!.shape)).join(', ')}`;
  const [B, H, Tq, D] = q!.shape;
  const [Bk, Hk, Tk, Dk] = k!.shape;
  const [Bv, Hv, Tv, Dv] = v!.shape;
  if (!dimEq(B!, Bk!) || !dimEq(B!, Bv!)) return `batch dims differ: ${dimToString(B!)}, ${dimToString(Bk!)}, ${dimToString(Bv!)}`;
  if (!dimEq(D!, Dk!)) return `q and k head dims differ: ${dimToString(D!)} vs ${dimToString(Dk!)}`;
  if (!dimEq(Hk!, Hv!) || !dimEq(Tk!, Tv!)) return `k ${shapeToString(k!.shape)} and v ${shapeToString(v!.shape)} disagree`;
  const g = dimDiv(H!, Hk!);
  if (g === undefined || !isConcrete(g)) return `query heads ${dimToString(H!)} not a multiple of key/value heads ${dimToString(Hk!)}`;
  if (m) {
    if (m.dtype !== 'bool') return `key mask must be bool, got ${m.dtype}`;
    if (m.shape.length !== 2 || !dimEq(m.shape[0]!, B!) || !dimEq(m.shape[1]!, Tk!))
      return `key mask ${shapeToString(m.shape)} must be [${dimToString(B!)},${dimToString(Tk!)}]`;
  }
  return { shape: [B!, H!, Tq!, Dv!], dtype: 'float32' };
};

/** Repeats each of Hk key/value heads H/Hk times: [B,Hk,T,D] -> [B,H,T,D]. */
export const repeatKv = (x: Node, groups: number): Node => {
  if (groups === 1) return x;
  const [B, Hk, T, D] = x.shape;
  const e = broadcastTo(reshape(x, [B!, Hk!, 1, T!, D!]), [B!, Hk!, groups, T!, D!]);
  return reshape(e, [B!, dimMul(Hk!, groups), T!, D!]);
};

export const attentionDef: OpDef<'attention'> = {
  name: 'attention', kind: 'composite', arity: [3, 4], infer: inferAttention,
  decompose: ([q, k, v, keyMask], { scale, causal }) => {
    const groups = dimDiv(q!.shape[1]!, k!.shape[1]!) as number;
    const kk = repeatKv(k!, groups);
    const vv = repeatKv(v!, groups);
    let s = mul(matmul(q!, mT(kk)), scale); // [B,H,Tq,Tk]
    const Tq = q!.shape[2]!;
    const Tk = k!.shape[2]!;
    if (causal) {
      const rows = cast(iota([Tq, Tk], 0), 'float32');
      const cols = cast(iota([Tq, Tk], 1), 'float32');
      const off = dimSub(Tk, Tq);
      const allowed = lessEqual(cols, add(rows, isConcrete(off) ? scalar(off) : sub(dimScalar(Tk), dimScalar(Tq))));
      s = where(allowed, s, MASK_VALUE);
    }
    if (keyMask) s = where(reshape(keyMask, [keyMask.shape[0]!, 1, 1, Tk]), s, MASK_VALUE);
    return matmul(softmax(s, -1), vv); // [B,H,Tq,Dv]
  },
  vjp: 'viaDecomposition',
  ref: 'viaDecomposition',
};

export interface AttentionOptions {
  /** Multiplier of q·k (default 1/sqrt(D)). */
  readonly scale?: number;
  /** Causal mask aligned to the end of the keys (default true). */
  readonly causal?: boolean;
  /** Key padding mask [B, Tk], bool, true = attend. */
  readonly keyMask?: Node;
}

/** Scaled dot-product attention (see the module comment for shapes and masking). */
export const attention = (q: Node, k: Node, v: Node, opts: AttentionOptions = {}): Node => {
  const D = q.shape[3];
  if (opts.scale === undefined && q.shape.length === 4 && typeof D !== 'number')
    throw new GraphError('attention', currentPath(), `head dim ${dimToString(D!)} is not concrete; pass an explicit scale (operands: q ${shapeToString(q.shape)})`);
  // a q of the wrong rank gets a placeholder scale: the shape rule then names the problem
  const scale = opts.scale ?? (typeof D === 'number' ? 1 / Math.sqrt(D) : 1);
  const inputs = opts.keyMask ? [q, k, v, opts.keyMask] : [q, k, v];
  return apply(attentionDef, inputs, { scale, causal: opts.causal ?? true, masked: opts.keyMask !== undefined });
};
