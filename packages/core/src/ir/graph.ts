/**
 * A graph is a set of named outputs; its inputs and parameters are the `input`/`param`
 * leaves reachable from them. Utilities: topological order, leaves, dead-node elimination
 * (implicit: only reachable nodes are ever visited), and substitution.
 */
import type { Node } from './node.ts';

export interface Graph {
  readonly outputs: Readonly<Record<string, Node>>;
}

export const graph = (outputs: Readonly<Record<string, Node>>): Graph => ({ outputs: Object.freeze({ ...outputs }) });

/** Every node reachable from `roots`, inputs before users (deterministic: by node id). */
export const topoOrder = (roots: readonly Node[]): Node[] => {
  const seen = new Set<number>();
  const out: Node[] = [];
  const stack: Node[] = [...roots];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n.id)) continue;
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
