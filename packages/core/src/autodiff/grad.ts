/**
 * Reverse-mode autodiff as a pure graph -> graph transform (tinygrad's `compute_gradient`,
 * autodidax): `grad(loss, wrt)` builds new nodes computing d loss / d wrt and returns them;
 * nothing is evaluated.
 *
 * - Only nodes that are reachable from the loss AND lie on a path to some `wrt` are visited,
 *   and each VJP is told which of its inputs need a cotangent (`wants`), so a gradient w.r.t.
 *   a prefix never constructs a frozen weight's gradient.
 * - Cotangents are symbolic zeros (`undefined`) until something flows: no zero tensors are
 *   built. Integer and bool nodes never carry gradients.
 * - Fan-in is summed, and broadcasting is undone in ONE place (`unbroadcast`): VJPs return
 *   cotangents at the broadcast output shape.
 * - Composites with a hand-written VJP use it; the others (`vjp: 'viaDecomposition'`) are
 *   differentiated through their decomposition, cut at the composite's operands.
 * - Gradient nodes are built at the path of the forward node they differentiate, so errors and
 *   printed gradient graphs point into the model (`layers[3].attn`).
 */
import { atPath, currentPath, type Node } from '../ir/node.ts';
import { graph, topoOrderUntil, type Graph, graphInputs, graphParams } from '../ir/graph.ts';
import { GraphError } from '../errors.ts';
import { dimEq } from '../types/dim.ts';
import { shapeEq, shapeToString, type Shape } from '../types/shape.ts';
import { dtypeShort } from '../types/dtype.ts';
import type { OpDef } from '../ops/def.ts';
import type { OpName } from '../ops/attrs.ts';
import { opDef } from '../table/ops.ts';
import { decomposition } from '../table/decompose.ts';
import { add } from '../ops/binary.ts';
import { reduceSum } from '../ops/reduce.ts';
import { reshape, broadcastTo } from '../ops/layout.ts';
import { scalar } from '../ops/leaves.ts';

const desc = (n: Node): string => `${n.op} ${dtypeShort[n.dtype]}${shapeToString(n.shape)}${n.path === '' ? '' : ` @${n.path}`}`;

/**
 * Sums a cotangent back to an operand's shape: over the leading axes the operand lacks and
 * over the axes where the operand has size 1 and the cotangent does not (NumPy broadcasting
 * undone). Works with symbolic dims. The one place where broadcasts are reduced.
 */
export const unbroadcast = (ct: Node, shape: Shape): Node => {
  if (shapeEq(ct.shape, shape)) return ct;
  const lead = ct.shape.length - shape.length;
  if (lead < 0) throw new Error(`bug: unbroadcast of ${shapeToString(ct.shape)} to the larger ${shapeToString(shape)}`);
  const axes: number[] = [];
  ct.shape.forEach((d, i) => {
    if (i < lead) axes.push(i);
    else if (dimEq(shape[i - lead]!, 1) && !dimEq(d, 1)) axes.push(i);
    else if (!dimEq(shape[i - lead]!, d)) throw new Error(`bug: unbroadcast of ${shapeToString(ct.shape)} to ${shapeToString(shape)}: axis ${i} differs`);
  });
  return reshape(axes.length > 0 ? reduceSum(ct, axes, true) : ct, shape);
};

/**
 * Reverse accumulation from `seeds` (node, cotangent) toward `wrt`. With `stops`, the walk
 * does not go past those nodes (a composite's operands when differentiating through its
 * decomposition). Returns the accumulated cotangent of every visited node that got one.
 */
const backprop = (seeds: readonly (readonly [Node, Node])[], wrt: readonly Node[], stops?: ReadonlySet<number>): Map<number, Node> => {
  const wrtIds = new Set(wrt.map((w) => w.id));
  const stopped = (n: Node): boolean => stops !== undefined && stops.has(n.id);
  const order = topoOrderUntil(seeds.map(([n]) => n), stopped);
  // dep: float nodes on a path to some wrt (inputs before users, so one forward pass)
  const dep = new Set<number>();
  const isDep = (n: Node): boolean => wrtIds.has(n.id) || dep.has(n.id);
  for (const n of order) if (n.dtype === 'float32' && !wrtIds.has(n.id) && n.inputs.some(isDep)) dep.add(n.id);

  const ct = new Map<number, Node>();
  const accumulate = (n: Node, g: Node): void => {
    const prev = ct.get(n.id);
    ct.set(n.id, prev === undefined ? g : atPath(n.path, () => add(prev, g)));
  };
  for (const [n, s] of seeds) if (isDep(n)) accumulate(n, s);

  for (let k = order.length - 1; k >= 0; k--) {
    const n = order[k]!;
    const g = ct.get(n.id);
    if (g === undefined || n.inputs.length === 0) continue;
    const wants = n.inputs.map((x, i) => isDep(x) && n.inputs.indexOf(x) === i);
    // duplicate operands (mul(x, x)) each get their own share from a primitive VJP
    const wantsAll = n.inputs.map((x) => isDep(x));
    if (!wantsAll.some(Boolean)) continue;
    const def = opDef(n.op) as OpDef<OpName>;
    let ins: ReadonlyArray<Node | undefined>;
    if (def.vjp === 'viaDecomposition') {
      // the decomposition's gradient w.r.t. the operands gives each distinct operand its total
      const inner = backprop([[decomposition(n), g]], n.inputs.filter((_, i) => wants[i]), new Set(n.inputs.map((x) => x.id)));
      ins = n.inputs.map((x, i) => (wants[i] ? inner.get(x.id) : undefined));
    } else {
      const vjp = def.vjp;
      ins = atPath(n.path, () => vjp({ node: n, inputs: n.inputs, ct: g, wants: wantsAll }));
    }
    n.inputs.forEach((x, i) => {
      const gi = ins[i];
      if (gi === undefined || !(def.vjp === 'viaDecomposition' ? wants[i] : wantsAll[i])) return;
      const r = atPath(n.path, () => unbroadcast(gi, x.shape));
      if (r.dtype !== 'float32' || !shapeEq(r.shape, x.shape))
        throw new Error(`bug: the VJP of ${desc(n)} gave operand ${i} (${desc(x)}) a cotangent ${desc(r)}`);
      accumulate(x, r);
    });
  }
  return ct;
};

/**
 * The gradients of `loss` w.r.t. each node of `wrt` (float32 nodes of the same graph), as new
 * nodes. `loss` must be a float32 scalar unless a `seed` (the cotangent of `loss`, same shape)
 * is given. A `wrt` the loss does not depend on gets zeros. Throws `GraphError` on misuse
 * (wrap in `build` for a `Left`).
 */
export const grad = (loss: Node, wrt: readonly Node[], seed?: Node): Node[] => {
  const path = currentPath();
  if (loss.dtype !== 'float32') throw new GraphError('grad', path, `loss must be float32, got ${desc(loss)}`);
  for (const w of wrt) if (w.dtype !== 'float32') throw new GraphError('grad', path, `cannot differentiate w.r.t. ${desc(w)}: only float32 nodes have gradients`);
  let s = seed;
  if (s === undefined) {
    if (loss.shape.length !== 0) throw new GraphError('grad', path, `loss must be a scalar without a seed, got ${desc(loss)}`);
    s = scalar(1);
  } else if (s.dtype !== 'float32' || !shapeEq(s.shape, loss.shape))
    throw new GraphError('grad', path, `seed ${desc(s)} must be float32 of the loss's shape ${shapeToString(loss.shape)}`);
  const cts = backprop([[loss, s]], wrt);
  return wrt.map((w) => cts.get(w.id) ?? atPath(w.path, () => broadcastTo(scalar(0), w.shape)));
};

/**
 * A graph with the outputs of `g` plus `grad:<name>` for each requested `param`/`input` leaf
 * (given as nodes or names; a name is looked up among params first), differentiating the
 * scalar output `outputName`.
 */
export const gradGraph = (g: Graph, outputName: string, wrt: readonly (Node | string)[]): Graph => {
  const loss = g.outputs[outputName];
  if (loss === undefined) throw new GraphError('grad', currentPath(), `unknown output '${outputName}' (outputs: ${Object.keys(g.outputs).join(', ')})`);
  const params = graphParams(g);
  const inputs = graphInputs(g);
  const leaves = wrt.map((w) => {
    if (typeof w !== 'string') {
      if (w.op !== 'param' && w.op !== 'input') throw new GraphError('grad', currentPath(), `gradGraph differentiates w.r.t. params and inputs, got ${desc(w)}`);
      return w as Node<'param'> | Node<'input'>;
    }
    const found = params.find((p) => p.attrs.name === w) ?? inputs.find((p) => p.attrs.name === w);
    if (found === undefined) throw new GraphError('grad', currentPath(), `no param or input named '${w}' in the graph`);
    return found;
  });
  const gs = grad(loss, leaves);
  const extra: Record<string, Node> = {};
  leaves.forEach((l, i) => {
    const name = `grad:${l.attrs.name}`;
    if (g.outputs[name] !== undefined) throw new GraphError('grad', currentPath(), `output '${name}' already exists`);
    extra[name] = gs[i]!;
  });
  return graph({ ...g.outputs, ...extra });
};
