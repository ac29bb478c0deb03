/**
 * A graph is a set of named outputs; its inputs and parameters are the `input`/`param`
 * leaves reachable from them. Utilities: topological order, leaves, dead-node elimination,
 * common-subexpression sharing, and substitution.
 *
 * Common subexpressions are shared by construction: nodes are hash-consed (`apply` returns
 * the existing node for the same op, attributes and inputs), so a graph never holds two
 * structurally equal nodes and no separate CSE pass is needed; `substitute` re-applies nodes
 * through `apply`, so rebuilt graphs are shared the same way. Dead nodes are never part of a
 * graph: everything walks from the outputs (`graphNodes`), and `dce` drops outputs you no
 * longer need.
 */
import { apply, atPath, type Node, type OpSignature } from './node.ts';
import type { OpName } from '../ops/attrs.ts';
import { opDef } from '../table/ops.ts';
import { type Dim, dimRename } from '../types/dim.ts';

export interface Graph {
  readonly outputs: Readonly<Record<string, Node>>;
}

export const graph = (outputs: Readonly<Record<string, Node>>): Graph => ({ outputs: Object.freeze({ ...outputs }) });

/** Every node reachable from `roots`, inputs before users (deterministic: by node id). */
export const topoOrder = (roots: readonly Node[]): Node[] => topoOrderUntil(roots, () => false);

/**
 * Like `topoOrder`, but does not include or walk past nodes for which `stop` holds (the
 * nodes between `roots` and a cut, e.g. a composite's decomposition above its operands).
 */
export const topoOrderUntil = (roots: readonly Node[], stop: (n: Node) => boolean): Node[] => {
  const seen = new Set<number>();
  const out: Node[] = [];
  const stack: Node[] = [...roots];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n.id) || stop(n)) continue;
    seen.add(n.id);
    out.push(n);
    for (const i of n.inputs) if (!seen.has(i.id)) stack.push(i);
  }
  // ids increase in creation order and a node is created after its inputs
  return out.sort((a, b) => a.id - b.id);
};

export const graphNodes = (g: Graph): Node[] => topoOrder(Object.values(g.outputs));

/** The `input` leaves of a graph, by name (a name used twice with different types is a bug). */
export const graphInputs = (g: Graph): Node<'input'>[] =>
  graphNodes(g).filter((n): n is Node<'input'> => n.op === 'input');

/** The `param` leaves of a graph. */
export const graphParams = (g: Graph): Node<'param'>[] =>
  graphNodes(g).filter((n): n is Node<'param'> => n.op === 'param');

/** Dead-node elimination by outputs: the graph of just the named outputs (and what they need). */
export const dce = (g: Graph, keep: readonly string[]): Graph =>
  graph(Object.fromEntries(keep.map((k) => {
    const n = g.outputs[k];
    if (n === undefined) throw new Error(`dce: unknown output '${k}' (outputs: ${Object.keys(g.outputs).join(', ')})`);
    return [k, n];
  })));

/**
 * Rebuilds the nodes reachable from `roots` with some nodes replaced: `replace(n)` returns a
 * substitute for `n` (or undefined to keep it, rebuilt over substituted inputs and with the
 * attributes `attrs(n)` gives, when given). Each rebuilt node is re-applied through its op's
 * shape rule at its own path, so a substitution that breaks shapes throws a `GraphError` there
 * (use `build` for a `Left`). Unchanged subgraphs come back as the very same nodes.
 */
export const rebuild = (roots: readonly Node[], replace: (n: Node) => Node | undefined, attrs?: (n: Node) => Node['attrs']): Node[] => {
  const memo = new Map<number, Node>();
  for (const n of topoOrder(roots)) {
    const r = replace(n);
    if (r !== undefined) {
      memo.set(n.id, r);
      continue;
    }
    const ins = n.inputs.map((i) => memo.get(i.id)!);
    const a = attrs?.(n) ?? n.attrs;
    memo.set(n.id, a === n.attrs && ins.every((x, k) => x === n.inputs[k]) ? n : atPath(n.path, () => apply(opDef(n.op) as OpSignature<OpName>, ins, a as never)));
  }
  return roots.map((r) => memo.get(r.id)!);
};

/** `rebuild` over a graph's outputs, replacing nodes by the map (keys: the nodes to replace). */
export const substitute = (g: Graph, replacements: ReadonlyMap<Node, Node>): Graph => {
  const names = Object.keys(g.outputs);
  const outs = rebuild(names.map((k) => g.outputs[k]!), (n) => replacements.get(n));
  return graph(Object.fromEntries(names.map((k, i) => [k, outs[i]!])));
};

/** Attribute values with every symbolic dim renamed by `f` (arrays and records walked). */
const renameAttrDims = (v: unknown, f: (symbol: string) => string): unknown => {
  if (Array.isArray(v)) return v.map((x) => renameAttrDims(x, f));
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return v;
  if ((v as { kind?: unknown }).kind === 'sym') return dimRename(v as Dim, f);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, renameAttrDims(x, f)]));
};

export interface Renaming {
  /** New name of a symbolic dim (applied to every dim in every node's attributes, shapes included). */
  readonly dim: (symbol: string) => string;
  /** New name of an `input` leaf. */
  readonly input: (name: string) => string;
  /** Nodes replaced outright (checked first; a replacement is used as it is, not renamed). */
  readonly replace?: (n: Node) => Node | undefined;
}

/**
 * A copy of a graph whose symbolic dims and inputs are renamed (and some nodes replaced): every
 * node is re-applied through its op at its own path with its attributes' dims renamed, so the
 * copy is checked by the shape rules like any graph. Parameters are not renamed: the copy
 * shares the original's parameter nodes (a backend binds a parameter once, by name). Unrolling a step several times in one graph gives each
 * copy its own inputs and sizes (`T_1`, `T_2`, ...), which need not agree.
 */
export const renameGraph = (g: Graph, r: Renaming): Graph => {
  const names = Object.keys(g.outputs);
  const outs = rebuild(
    names.map((k) => g.outputs[k]!),
    (n) => r.replace?.(n) ?? (n.op === 'param' ? n : undefined), // a parameter is bound once, by name: shared as it is
    (n) => {
      const a = renameAttrDims(n.attrs, r.dim) as Record<string, unknown>;
      return (n.op === 'input' ? { ...a, name: r.input((n as Node<'input'>).attrs.name) } : a) as Node['attrs'];
    },
  );
  return graph(Object.fromEntries(names.map((k, i) => [k, outs[i]!])));
};
