/**
 * Graph builders for injected parts: an activation group's activations and per-layer keys and
 * values for a batch (direct, MLP-reparametrised, from a prefix bank, with dropout masks), and a
 * user-defined kind's parameter nodes and edits.
 */
import type { Node } from '../ir/node.ts';
import { withPath } from '../ir/node.ts';
import { type Dim, sym } from '../types/dim.ts';
import { input, param } from '../ops/leaves.ts';
import { broadcastTo, reshape } from '../ops/layout.ts';
import { gather } from '../ops/gather.ts';
import { add, mul } from '../ops/binary.ts';
import { tanh } from '../ops/unary.ts';
import { matmul, mT } from '../ops/matmul.ts';
import type { KeyValue } from '../models/common.ts';
import { promptToPast } from './params.ts';
import { type RealisedKind, type SiteEdits, kindContext } from './kind.ts';
import type { ActivationGroup, CustomPart, Injection } from './part.ts';

/** The batch-size symbol used by injected graphs. */
export const BATCH: Dim = sym('B');

/** The `user_ids` [B] input of a prefix bank. */
export const userIdsInput = (B: Dim = BATCH): Node => input('user_ids', [B], 'int32');

/**
 * A group's activations for a batch: [B, P, W] (bank, or with a dropout mask) or [P, W]
 * shared by all rows.
 */
export const groupActivations = (inj: Pick<Injection, 'users' | 'dropoutInputs'>, g: ActivationGroup, B: Dim): Node =>
  withPath(g.scope, () => {
    const bank = inj.users > 0;
    const ids = bank ? userIdsInput(B) : undefined;
    const emb = (shape: readonly number[]) => {
      const e = param(`${g.scope}.embedding.weight`, bank ? [inj.users, ...shape] : shape);
      return ids ? gather(e, ids) : e; // [B, P, *] or [P, *]
    };
    let a: Node;
    if (g.reparam.kind === 'direct') a = emb([g.length, g.width]);
    else {
      const h = g.reparam.hidden;
      const w0 = param(`${g.scope}.transform.0.weight`, [h, g.inDim]);
      const b0 = param(`${g.scope}.transform.0.bias`, [h]);
      const w2 = param(`${g.scope}.transform.2.weight`, [g.width, h]);
      const b2 = param(`${g.scope}.transform.2.bias`, [g.width]);
      a = add(matmul(tanh(add(matmul(emb([g.length, g.inDim]), mT(w0)), b0)), mT(w2)), b2); // [(B,) P, W]
    }
    if (inj.dropoutInputs && g.dropout > 0) {
      const mask = input(`${g.scope}.dropout_mask`, [B, g.length, g.width]);
      a = mul(a.shape.length === 3 ? a : broadcastTo(reshape(a, [1, g.length, g.width]), [B, g.length, g.width]), mask);
    }
    return a;
  });

/** A group's activations as [B, P, W] for every row. */
export const groupRows = (inj: Injection, g: ActivationGroup, B: Dim): Node => {
  const a = groupActivations(inj, g, B);
  return a.shape.length === 3 ? a : broadcastTo(reshape(a, [1, g.length, g.width]), [B, g.length, g.width]);
};

/** Per-layer key/value activations of a group for a batch ([B, Hkv, P, Dh] each), by layer index. */
export const groupPast = (inj: Injection, g: ActivationGroup, B: Dim): Map<number, KeyValue> => {
  const a = groupActivations(inj, g, B);
  const geo = g.geometry!;
  const n = g.shared ? 1 : g.layers!.length;
  const kvs = promptToPast(a, geo, B, n, g.rows);
  return new Map(g.layers!.map((l, j) => [l, kvs[g.shared ? 0 : j]!]));
};

/**
 * The nodes a kind's transform receives: each parameter with a leading batch axis, `[B, ...shape]`
 * (broadcast, or in a bank gathered by `user_ids` from the stored `[U, ...shape]`).
 */
const kindNodes = (scope: string, kind: RealisedKind, users: number, B: Dim): Record<string, Node> =>
  withPath(scope, () => Object.fromEntries(Object.entries(kind.params).map(([n, p]) => {
    if (users > 0) return [n, gather(param(`${scope}.${n}`, [users, ...p.shape]), userIdsInput(B))];
    return [n, broadcastTo(reshape(param(`${scope}.${n}`, p.shape), [1, ...p.shape]), [B, ...p.shape])];
  })));

/** The edits of a custom part for a batch of `B`. */
export const customEdits = (inj: Pick<Injection, 'users' | 'model'>, c: CustomPart, B: Dim): SiteEdits =>
  withPath(c.scope, () => c.kind.transform(kindNodes(c.scope, c.kind, inj.users, B), kindContext(inj.model, B)));
