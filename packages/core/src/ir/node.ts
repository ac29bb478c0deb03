/**
 * Graph nodes: immutable and hash-consed. Two constructions of the same op with the same
 * attributes over the same inputs return the same object, so common subexpressions are
 * shared by construction and `parse(print(g))` gives back `g` itself. Shape and dtype are
 * decided once, at construction, by the op's rule; backends never recompute them.
 */
import type { OpName, AttrsOf } from '../ops/attrs.ts';
import { attrCodecs } from '../ops/attrs.ts';
import type { DType } from '../types/dtype.ts';
import { dtypeShort } from '../types/dtype.ts';
import type { Shape } from '../types/shape.ts';
import { shapeToString } from '../types/shape.ts';
import { GraphError } from '../errors.ts';

export interface Node<K extends OpName = OpName> {
  /** Unique per distinct node, increasing in creation order (inputs before users). */
  readonly id: number;
  readonly op: K;
  readonly inputs: readonly Node[];
  readonly attrs: AttrsOf<K>;
  readonly shape: Shape;
  readonly dtype: DType;
  /** Where in the model the node was first built, e.g. `layers[3].attn.q` (not part of identity). */
  readonly path: string;
  /** Hash-consing key: op, encoded attributes and input ids. */
  readonly key: string;
}

/** Shape and dtype of a value, as op rules see their operands. */
export interface TypeInfo {
  readonly shape: Shape;
  readonly dtype: DType;
}

/** Just what `apply` needs from an op definition (the full record is `OpDef` in ops/def.ts). */
export interface OpSignature<K extends OpName> {
  readonly name: K;
  /** Exact input count, or [min, max] (max may be Infinity for variadic ops). */
  readonly arity: number | readonly [number, number];
  /** Shape/dtype rule: the output type, or an error message. */
  readonly infer: (inputs: readonly TypeInfo[], attrs: AttrsOf<K>) => TypeInfo | string;
}

/**
 * The hash-consing table holds its nodes weakly: a node no graph, builder or cache refers to any
 * more is collected, and its entry with it, so a long-running process that builds graphs for
 * many requests does not grow without bound. Identity is unaffected: a live node is always found
 * (its users hold it strongly, and every node holds its inputs), and a collected one had no user
 * left that could compare against its rebuilt twin.
 */
const intern = new Map<string, WeakRef<Node>>();
const released = new FinalizationRegistry<string>((key) => {
  if (intern.get(key)?.deref() === undefined) intern.delete(key);
});
let nextId = 0;
const pathStack: string[] = [];

/** The current builder path (`layers[3].attn`), as set by `withPath`. */
export const currentPath = (): string => pathStack.join('.');

/**
 * Runs `f` with the builder path set to exactly `path` (not appended), e.g. to build a
 * node's decomposition or gradient at the node's own location, or to replay a printed graph.
 */
export const atPath = <A>(path: string, f: () => A): A => {
  const saved = pathStack.splice(0, pathStack.length);
  if (path !== '') pathStack.push(path);
  try {
    return f();
  } finally {
    pathStack.splice(0, pathStack.length, ...saved);
  }
};

/**
 * How many distinct nodes have been built so far in this process. Node ids are below it,
 * so comparing ids against a count taken earlier tells which nodes a computation created
 * (tests use this to show that a gradient never constructed weight-gradient nodes).
 */
export const nodeCount = (): number => nextId;

/** Runs `f` with `segment` appended to the builder path; nodes built inside record it. */
export const withPath = <A>(segment: string, f: () => A): A => {
  pathStack.push(segment);
  try {
    return f();
  } finally {
    pathStack.pop();
  }
};

const describe = (inputs: readonly Node[]): string =>
  inputs.map((n) => `${dtypeShort[n.dtype]}${shapeToString(n.shape)}`).join(', ');

/** Encodes attributes canonically (sorted keys) for keys and printing. */
export const encodeAttrs = <K extends OpName>(op: K, attrs: AttrsOf<K>): string => {
  const enc = (attrCodecs[op] as unknown as { encode: (a: unknown) => unknown }).encode(attrs);
  return JSON.stringify(enc, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
};

/**
 * Builds (or finds) the node `op(inputs; attrs)`. Throws `GraphError` naming the op, the
 * operand shapes and the current path when the op's rule rejects its operands; use
 * `build` (ir/build.ts) to turn that into a `Left`.
 */
export const apply = <K extends OpName>(def: OpSignature<K>, inputs: readonly Node[], attrs: AttrsOf<K>): Node<K> => {
  const [lo, hi] = typeof def.arity === 'number' ? [def.arity, def.arity] : def.arity;
  if (inputs.length < lo || inputs.length > hi)
    throw new GraphError(def.name, currentPath(), `expected ${lo === hi ? lo : `${lo}..${hi}`} inputs, got ${inputs.length}`);
  const attrKey = encodeAttrs(def.name, attrs);
  const key = `${def.name}${attrKey}(${inputs.map((n) => n.id).join(',')})`;
  const found = intern.get(key)?.deref();
  if (found) return found as Node<K>;
  const ty = def.infer(inputs, attrs);
  if (typeof ty === 'string') throw new GraphError(def.name, currentPath(), `${ty} (operands: ${describe(inputs)})`);
  const node: Node<K> = Object.freeze({
    id: nextId++,
    op: def.name,
    inputs: Object.freeze([...inputs]),
    attrs: Object.freeze(attrs) as AttrsOf<K>,
    shape: Object.freeze([...ty.shape]),
    dtype: ty.dtype,
    path: currentPath(),
    key,
  });
  intern.set(key, new WeakRef(node));
  released.register(node, key);
  return node;
};

/**
 * Entries of the hash-consing table: `live` nodes still reachable, `entries` including those
 * collected but not yet swept by the finalizer (for tests and diagnostics of memory growth).
 */
export const internStats = (): { readonly live: number; readonly entries: number } => {
  let live = 0;
  for (const r of intern.values()) if (r.deref() !== undefined) live += 1;
  return { live, entries: intern.size };
};

/** Narrowing helper for exhaustive matches over ops. */
export const isOp = <K extends OpName>(n: Node, op: K): n is Node<K> => n.op === op;
