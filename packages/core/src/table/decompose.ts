/**
 * The decomposition of a composite node into primitives (and possibly other composites):
 * the composite's specification. Memoised per node, built at the node's own path.
 */
import { atPath, type Node } from '../ir/node.ts';
import { GraphError } from '../errors.ts';
import type { OpDef } from '../ops/def.ts';
import type { OpName } from '../ops/attrs.ts';
import { opDef } from './ops.ts';
import { shapeEq, shapeToString } from '../types/shape.ts';

/** Keyed by the node itself, weakly: a decomposition lives exactly as long as its composite. */
const cache = new WeakMap<Node, Node>();

/** The node computing what composite `n` computes, from `n`'s own inputs. */
export const decomposition = (n: Node): Node => {
  const found = cache.get(n);
  if (found) return found;
  const def = opDef(n.op) as OpDef<OpName>;
  if (def.decompose === undefined) throw new GraphError(n.op, n.path, 'not a composite: it has no decomposition');
  const d = atPath(n.path, () => def.decompose!(n.inputs, n.attrs));
  if (d.dtype !== n.dtype || !shapeEq(d.shape, n.shape))
    throw new Error(`bug: decomposition of ${n.op} at '${n.path}' is ${d.dtype}${shapeToString(d.shape)}, the node is ${n.dtype}${shapeToString(n.shape)}`);
  cache.set(n, d);
  return d;
};

/** Whether the op has a decomposition (a composite). */
export const isComposite = (n: Node): boolean => opDef(n.op).kind === 'composite';
