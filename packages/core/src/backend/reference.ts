/**
 * The reference evaluator: the executable specification both real backends are tested
 * against. Plain TypeScript over typed arrays, one kernel per primitive (beside its op record),
 * composites evaluated through their decomposition. Correct and clear rather than fast.
 *
 * Symbolic dims are bound by unifying each `input`/`param` leaf's declared shape with the
 * shape of the tensor fed for it: a dim that is a lone symbol (`B`) binds it; a dim linear in
 * one still-unbound symbol (`P+T` once `P` is known, `B*T` once `B` is) is solved for it;
 * every other dim is checked. Conflicts and symbols nothing determines are `EvalError`s naming
 * the input (sizes no leaf determines can be given with `dims`).
 *
 * Precision: `f32` (default) holds float32 values in Float32Array, rounding every op's result
 * as float32 hardware would; `f64` computes float32 graphs in float64 (for finite-difference
 * gradient checks) and returns float32 outputs as Float64Array. int32/int64 are held in
 * Int32Array, so int64 values must lie in [-2^31, 2^31) (BigInt64Array feeds outside that
 * range are rejected); bool is a Uint8Array of 0/1.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Node } from '../ir/node.ts';
import type { Graph } from '../ir/graph.ts';
import { topoOrder, topoOrderUntil } from '../ir/graph.ts';
import type { RefContext, RefTensor, OpDef } from '../ops/def.ts';
import type { OpName } from '../ops/attrs.ts';
import { opDef } from '../table/ops.ts';
import { decomposition } from '../table/decompose.ts';
import { EvalError, type Precision, shapeStr, sizeOf } from '../ops/kernel.ts';
import { type Dim, dimEval, dimSymbols, dimToString } from '../types/dim.ts';
import { shapeToString } from '../types/shape.ts';
import { dtypeShort } from '../types/dtype.ts';
import type { Backend, CompileOptions, Executable } from './backend.ts';
import { type HostTensor, hostTensor } from './tensor.ts';

export { EvalError } from '../ops/kernel.ts';
export type { Precision } from '../ops/kernel.ts';

export interface ReferenceOptions {
  /** `f32` (default) or `f64` (float32 graphs computed and returned in float64). */
  readonly precision?: Precision;
  /** Sizes of symbolic dims that no input or parameter shape determines. */
  readonly dims?: Readonly<Record<string, number>>;
}

type Leaf = Node<'input'> | Node<'param'>;

const leafDesc = (n: Leaf): string => `${n.op} '${n.attrs.name}' (declared ${dtypeShort[n.dtype]}${shapeToString(n.shape)})`;
const leafErr = (n: Leaf, detail: string): EvalError =>
  new EvalError(n.op, n.path, `'${n.attrs.name}' (declared ${dtypeShort[n.dtype]}${shapeToString(n.shape)}): ${detail}`);

// ---------------------------------------------------------------------------------------------
// Binding symbolic dims

/**
 * Binds the symbols of the leaves' declared shapes from the concrete shapes given for them
 * (see the module comment). `given` pre-binds sizes. Left when a size conflicts, is not a
 * non-negative integer, or some symbol cannot be determined.
 */
export const bindDims = (
  leaves: readonly { readonly node: Leaf; readonly shape: readonly number[] }[],
  given: Readonly<Record<string, number>> = {},
): E.Either<EvalError, Record<string, number>> => {
  const env: Record<string, number> = { ...given };
  const boundBy: Record<string, string> = Object.fromEntries(Object.keys(given).map((k) => [k, 'the `dims` option']));
  let pending: { node: Leaf; axis: number; dim: Dim; value: number; fed: readonly number[] }[] = [];
  for (const { node, shape } of leaves) {
    if (shape.length !== node.shape.length) return E.left(leafErr(node, `fed rank ${shape.length} ${shapeStr(shape)}`));
    node.shape.forEach((dim, axis) => pending.push({ node, axis, dim, value: shape[axis]!, fed: shape }));
  }
  let progress = true;
  while (pending.length > 0 && progress) {
    progress = false;
    const rest: typeof pending = [];
    for (const p of pending) {
      const unbound = dimSymbols(p.dim).filter((s) => env[s] === undefined);
      if (unbound.length === 0) {
        const want = dimEval(p.dim, env);
        if (want !== p.value) {
          const why = dimSymbols(p.dim).map((s) => `${s}=${env[s]} (from ${boundBy[s]})`).join(', ');
          return E.left(leafErr(p.node, `fed ${shapeStr(p.fed)}: axis ${p.axis} is ${p.value} but ${dimToString(p.dim)} = ${want}${why === '' ? '' : ` with ${why}`}`));
        }
        progress = true;
        continue;
      }
      const solved = unbound.length === 1 ? solveLinear(p.dim, unbound[0]!, p.value, env) : undefined;
      if (solved === undefined) {
        rest.push(p);
        continue;
      }
      if (!(Number.isInteger(solved) && solved >= 0))
        return E.left(leafErr(p.node, `fed ${shapeStr(p.fed)}: axis ${p.axis} = ${p.value} gives ${unbound[0]} = ${solved}, not a size`));
      env[unbound[0]!] = solved;
      boundBy[unbound[0]!] = `${p.node.op} '${p.node.attrs.name}'`;
      progress = true;
    }
    pending = rest;
  }
  if (pending.length > 0) {
    const p = pending[0]!;
    const syms = dimSymbols(p.dim).filter((s) => env[s] === undefined);
    return E.left(leafErr(p.node, `fed ${shapeStr(p.fed)}: cannot determine ${syms.join(', ')} from axis ${p.axis} (${dimToString(p.dim)}); pass its size in \`dims\``));
  }
  return E.right(env);
};

/** Solves `dim = value` for symbol `x` when `dim` is linear in `x`; undefined otherwise. */
const solveLinear = (dim: Dim, x: string, value: number, env: Readonly<Record<string, number>>): number | undefined => {
  if (typeof dim === 'number') return undefined;
  let coef = 0;
  let rest = 0;
  for (const [mono, c] of dim.terms) {
    const vars = mono === '' ? [] : mono.split('*');
    const k = vars.filter((v) => v === x).length;
    if (k > 1) return undefined;
    const p = vars.filter((v) => v !== x).reduce((acc, v) => acc * env[v]!, c);
    if (k === 1) coef += p;
    else rest += p;
  }
  return coef === 0 ? undefined : (value - rest) / coef;
};

// ---------------------------------------------------------------------------------------------
// Host <-> reference tensors

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

/** Converts a host tensor fed for `leaf` into evaluator storage, checking dtype and size. */
const toRef = (leaf: Leaf, t: HostTensor, precision: Precision): RefTensor => {
  if (t.dtype !== leaf.dtype) throw leafErr(leaf, `fed dtype ${t.dtype}`);
  if (t.shape.length !== leaf.shape.length) throw leafErr(leaf, `fed rank ${t.shape.length} ${shapeStr(t.shape)}`);
  if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw leafErr(leaf, `fed an invalid shape ${shapeStr(t.shape)}`);
  if (t.data.length !== sizeOf(t.shape)) throw leafErr(leaf, `fed ${t.data.length} elements for shape ${shapeStr(t.shape)}`);
  leaf.shape.forEach((d, i) => {
    if (typeof d === 'number' && d !== t.shape[i]) throw leafErr(leaf, `fed ${shapeStr(t.shape)}: axis ${i} is ${t.shape[i]}, declared ${d}`);
  });
  const d = t.data;
  const shape = [...t.shape];
  switch (t.dtype) {
    case 'float32':
      if (!(d instanceof Float32Array || d instanceof Float64Array)) throw leafErr(leaf, `float32 data must be a Float32Array or Float64Array, got ${d.constructor.name}`);
      return { dtype: 'float32', shape, data: precision === 'f64' ? Float64Array.from(d) : Float32Array.from(d) };
    case 'int32':
      if (!(d instanceof Int32Array)) throw leafErr(leaf, `int32 data must be an Int32Array, got ${d.constructor.name}`);
      return { dtype: 'int32', shape, data: Int32Array.from(d) };
    case 'int64': {
      if (d instanceof Int32Array) return { dtype: 'int64', shape, data: Int32Array.from(d) };
      if (!(d instanceof BigInt64Array)) throw leafErr(leaf, `int64 data must be a BigInt64Array or Int32Array, got ${d.constructor.name}`);
      const out = new Int32Array(d.length);
      for (let i = 0; i < d.length; i++) {
        const v = d[i]!;
        if (v < BigInt(I32_MIN) || v > BigInt(I32_MAX)) throw leafErr(leaf, `int64 value ${v} at ${i} outside the reference evaluator's range [-2^31, 2^31)`);
        out[i] = Number(v);
      }
      return { dtype: 'int64', shape, data: out };
    }
    case 'bool':
      if (!(d instanceof Uint8Array)) throw leafErr(leaf, `bool data must be a Uint8Array, got ${d.constructor.name}`);
      return { dtype: 'bool', shape, data: Uint8Array.from(d, (v) => (v !== 0 ? 1 : 0)) };
  }
};

/** A host copy of an evaluator value (float32 as Float64Array at f64 precision). */
const toHost = (t: RefTensor): HostTensor => {
  const d = t.data;
  if (t.dtype === 'int64') return hostTensor('int64', t.shape, BigInt64Array.from(d as Int32Array, (v) => BigInt(v)));
  return hostTensor(t.dtype, t.shape, d.slice());
};

// ---------------------------------------------------------------------------------------------
// Evaluation

interface Ctx {
  readonly env: Readonly<Record<string, number>>;
  readonly precision: Precision;
  readonly leaves: RefContext['leaves'];
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Evaluates one node from its operands' values. */
const evalNode = (n: Node, args: readonly RefTensor[], ctx: Ctx): RefTensor => {
  const def = opDef(n.op) as OpDef<OpName>;
  const outShape = n.shape.map((d) => {
    try {
      return dimEval(d, ctx.env);
    } catch (e) {
      throw new EvalError(n.op, n.path, `${(e as Error).message}; pass its size in \`dims\``);
    }
  });
  const out = def.ref === 'viaDecomposition' ? evalComposite(n, args, ctx) : def.ref(args, n, { ...ctx, outShape });
  if (out.dtype !== n.dtype || !sameShape(out.shape, outShape))
    throw new Error(
      `bug: ${n.op} at '${n.path}': the shape rule gives ${dtypeShort[n.dtype]}${shapeStr(outShape)} but the reference kernel produced ${dtypeShort[out.dtype]}${shapeStr(out.shape)} from ${args.map((a) => shapeStr(a.shape)).join(', ')}`,
    );
  return out;
};

/** A composite: its decomposition evaluated over the composite's operand values. */
const evalComposite = (n: Node, args: readonly RefTensor[], ctx: Ctx): RefTensor => {
  const root = decomposition(n);
  const memo = new Map<number, RefTensor>();
  n.inputs.forEach((x, i) => memo.set(x.id, args[i]!));
  for (const m of topoOrderUntil([root], (x) => memo.has(x.id)))
    memo.set(m.id, evalNode(m, m.inputs.map((x) => memo.get(x.id)!), ctx));
  return memo.get(root.id)!;
};

/** Distinct `input` and `param` leaves among `nodes`; the same name declared twice differently is an error. */
const leavesOf = (nodes: readonly Node[]): Leaf[] => {
  const seen = new Map<string, Leaf>();
  for (const n of nodes) {
    if (n.op !== 'input' && n.op !== 'param') continue;
    const leaf = n as Leaf;
    const key = `${leaf.op}:${leaf.attrs.name}`;
    const prev = seen.get(key);
    if (prev && prev !== leaf) throw new EvalError(leaf.op, leaf.path, `'${leaf.attrs.name}' is declared twice: ${leafDesc(prev)} and ${leafDesc(leaf)}`);
    seen.set(key, leaf);
  }
  return [...seen.values()];
};

/**
 * Runs `outputs` given evaluator values for the leaves. Intermediate values are dropped
 * after their last use.
 */
const run = (
  outputs: Readonly<Record<string, Node>>,
  leafValue: (leaf: Leaf) => RefTensor,
  precision: Precision,
  dims: Readonly<Record<string, number>>,
): Record<string, RefTensor> => {
  const nodes = topoOrder(Object.values(outputs));
  const leaves = leavesOf(nodes);
  const values = new Map(leaves.map((l) => [`${l.op}:${l.attrs.name}`, leafValue(l)]));
  const env = E.getOrElseW((e: EvalError): never => { throw e; })(
    bindDims(leaves.map((l) => ({ node: l, shape: values.get(`${l.op}:${l.attrs.name}`)!.shape })), dims),
  );
  const ctx: Ctx = {
    env,
    precision,
    leaves: (kind, name) => values.get(`${kind}:${name}`)!,
  };
  const uses = new Map<number, number>();
  for (const n of nodes) for (const i of n.inputs) uses.set(i.id, (uses.get(i.id) ?? 0) + 1);
  const keep = new Set(Object.values(outputs).map((n) => n.id));
  const memo = new Map<number, RefTensor>();
  for (const n of nodes) {
    memo.set(n.id, evalNode(n, n.inputs.map((x) => memo.get(x.id)!), ctx));
    for (const i of n.inputs) {
      const u = uses.get(i.id)! - 1;
      uses.set(i.id, u);
      if (u === 0 && !keep.has(i.id)) memo.delete(i.id);
    }
  }
  return Object.fromEntries(Object.entries(outputs).map(([k, n]) => [k, memo.get(n.id)!]));
};

const pick = (g: Graph, names: readonly string[] | undefined): Record<string, Node> => {
  if (names === undefined) return { ...g.outputs };
  const out: Record<string, Node> = {};
  for (const k of names) {
    const n = g.outputs[k];
    if (n === undefined) throw new EvalError('fetch', '', `unknown output '${k}' (outputs: ${Object.keys(g.outputs).join(', ')})`);
    out[k] = n;
  }
  return out;
};

/**
 * Evaluates a graph's outputs (or those named in `outputs`), throwing `EvalError` on a bad
 * feed or a failing kernel. Feeds bind `input` leaves, `params` bind `param` leaves (unknown
 * feed names are errors; unused params are ignored).
 */
export const evaluate = (
  g: Graph,
  feeds: Readonly<Record<string, HostTensor>>,
  params: Readonly<Record<string, HostTensor>> = {},
  opts: ReferenceOptions & { readonly outputs?: readonly string[] } = {},
): Record<string, HostTensor> => {
  const precision = opts.precision ?? 'f32';
  const outs = pick(g, opts.outputs);
  const values = run(
    outs,
    (leaf) => {
      const t = leaf.op === 'input' ? feeds[leaf.attrs.name] : params[leaf.attrs.name];
      if (t === undefined) throw leafErr(leaf, `no value given (${leaf.op === 'input' ? 'feeds' : 'params'})`);
      return toRef(leaf, t, precision);
    },
    precision,
    opts.dims ?? {},
  );
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, toHost(v)]));
};

/** `evaluate` with errors as values. Only `EvalError`s become Lefts; anything else is a bug and throws. */
export const evaluateE = (
  g: Graph,
  feeds: Readonly<Record<string, HostTensor>>,
  params: Readonly<Record<string, HostTensor>> = {},
  opts: ReferenceOptions & { readonly outputs?: readonly string[] } = {},
): E.Either<EvalError, Record<string, HostTensor>> => {
  try {
    return E.right(evaluate(g, feeds, params, opts));
  } catch (e) {
    if (e instanceof EvalError) return E.left(e);
    throw e;
  }
};

// ---------------------------------------------------------------------------------------------
// The Backend contract

/** The reference evaluator as a `Backend` (compile once, run many times, state carried between runs). */
export const referenceBackend = (opts: ReferenceOptions = {}): Backend => {
  const precision = opts.precision ?? 'f32';
  return {
    name: 'reference',
    engine: `core reference evaluator (TypeScript, ${precision === 'f64' ? 'float64' : 'float32'})`,
    compile: async (g: Graph, copts: CompileOptions = {}): Promise<Executable> => compileReference(g, copts, precision, opts.dims ?? {}),
  };
};

const compileReference = (g: Graph, copts: CompileOptions, precision: Precision, dims: Readonly<Record<string, number>>): Executable => {
  const leaves = leavesOf(topoOrder(Object.values(g.outputs)));
  const byName = (name: string): Leaf | undefined =>
    leaves.find((l) => l.op === 'param' && l.attrs.name === name) ?? leaves.find((l) => l.op === 'input' && l.attrs.name === name);
  const state = new Map<string, { leaf: Leaf; value: RefTensor; next?: string }>();
  for (const [name, spec] of Object.entries(copts.state ?? {})) {
    const leaf = byName(name);
    if (leaf === undefined) throw new EvalError('state', '', `state '${name}' names no param or input of the graph`);
    if (spec.next !== undefined && g.outputs[spec.next] === undefined) throw new EvalError('state', '', `state '${name}': next '${spec.next}' is not an output`);
    if (spec.next !== undefined && g.outputs[spec.next]!.dtype !== leaf.dtype)
      throw new EvalError('state', '', `state '${name}': next '${spec.next}' is ${g.outputs[spec.next]!.dtype}, the state is ${leaf.dtype}`);
    state.set(name, { leaf, value: toRef(leaf, spec.init, precision), ...(spec.next === undefined ? {} : { next: spec.next }) });
  }
  const params = new Map<string, RefTensor>();
  for (const leaf of leaves) {
    if (leaf.op !== 'param' || state.has(leaf.attrs.name)) continue;
    const t = copts.params?.[leaf.attrs.name];
    if (t === undefined) throw leafErr(leaf, 'no value given (params or state)');
    params.set(leaf.attrs.name, toRef(leaf, t, precision));
  }
  const internal = new Set(copts.internalOutputs ?? []);
  for (const k of internal) if (g.outputs[k] === undefined) throw new EvalError('compile', '', `internal output '${k}' is not an output`);
  let disposed = false;
  const alive = (): void => {
    if (disposed) throw new EvalError('run', '', 'executable was disposed');
  };
  const exec: Executable = {
    graph: g,
    run: async (feeds, fetch) => {
      alive();
      for (const k of Object.keys(feeds))
        if (state.get(k)?.leaf.op === 'input') throw new EvalError('input', '', `'${k}' is held in state; it cannot also be fed`);
      const wanted = fetch ?? Object.keys(g.outputs).filter((k) => !internal.has(k));
      const names = [...new Set([...wanted, ...[...state.values()].flatMap((s) => (s.next === undefined ? [] : [s.next]))])];
      const values = run(
        pick(g, names),
        (leaf) => {
          const s = state.get(leaf.attrs.name);
          if (s && s.leaf === leaf) return s.value;
          if (leaf.op === 'param') return params.get(leaf.attrs.name)!;
          const t = feeds[leaf.attrs.name];
          if (t === undefined) throw leafErr(leaf, 'no value fed');
          return toRef(leaf, t, precision);
        },
        precision,
        dims,
      );
      for (const [name, s] of state)
        if (s.next !== undefined) {
          const v = values[s.next]!;
          if (!sameShape(v.shape, s.value.shape))
            throw new EvalError('state', '', `state '${name}' is ${shapeStr(s.value.shape)} but its next value '${s.next}' is ${shapeStr(v.shape)}`);
          s.value = v;
        }
      return Object.fromEntries(wanted.map((k) => [k, toHost(values[k]!)]));
    },
    readState: async (name) => {
      alive();
      const s = state.get(name);
      if (s === undefined) throw new EvalError('state', '', `no state '${name}' (states: ${[...state.keys()].join(', ') || 'none'})`);
      return toHost(s.value);
    },
    writeState: async (name, value) => {
      alive();
      const s = state.get(name);
      if (s === undefined) throw new EvalError('state', '', `no state '${name}' (states: ${[...state.keys()].join(', ') || 'none'})`);
      s.value = toRef(s.leaf, value, precision);
    },
    dispose: async () => {
      disposed = true;
      state.clear();
      params.clear();
    },
  };
  return exec;
};
