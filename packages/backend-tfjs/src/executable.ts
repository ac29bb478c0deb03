/**
 * Compiling a core graph for TensorFlow.js, and running it.
 *
 * compile: the graph is prepared (prepare.ts), frozen parameters are uploaded once, and every
 * node computable from frozen parameters and constants alone (a transposed weight `mT(W)`, a
 * weight reshaped to heads, a constant mask) is evaluated once and kept on the device ("frozen
 * folding"), so no step re-uploads or re-transposes a weight. A run plan (the nodes the wanted
 * outputs need, in topological order, and for each value the step after which it is released)
 * is built per set of wanted outputs and cached.
 *
 * run: feeds are checked against the declared inputs, symbolic dims are bound from the fed
 * shapes (core's `bindDims`), and the whole step runs in one `tf.tidy` scope: the feeds are
 * uploaded, each node runs through its lowering (itself in a `tf.tidy`), an intermediate value
 * is disposed right after its last consumer (so peak memory is the live set, not the whole
 * graph), and the scope returns only the fetched outputs and the state entries' next values;
 * nothing is read back to the host inside the step. Outputs are then downloaded, and each
 * state entry, a `tf.Variable` that lives on the device from compile to dispose, takes the
 * buffer of the output it names (no copy; on tfjs-node-gpu the state never leaves the GPU).
 * Everything else is released on success and on error alike: the number of live tensors is
 * the same before and after every run.
 *
 * TensorFlow.js has one global engine, so operations of all executables are serialised.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as E from 'fp-ts/lib/Either.js';
import { type CompileOptions, type Executable, type Graph, type HostTensor, type Node, type DType, type Shape } from '@prefix-tuning/core';
import { type OpName, graphNodes, topoOrderUntil, dimEval, isConcrete, shapeToString, dimToString } from '@prefix-tuning/core/graph';
import { bindDims } from '@prefix-tuning/core/backend';
import { prepare } from './prepare.ts';
import { loweringTable, fusedRules, isFused, tfDtype, lazyOps, materialize, swapsLastTwo, matmulTransposed, type LowerContext, type Lowering, type CompositeOp, type FusedRule, type BatchedMatmul } from './lower.ts';
import { activate, type EngineInfo } from './engine.ts';

type Leaf = Node<'input'> | Node<'param'>;

/** Options of compilation that a `tfjsBackend` passes on. */
export interface CompileSettings {
  readonly batched: BatchedMatmul;
  /** Fold subgraphs of frozen parameters and constants at compile time. */
  readonly foldFrozen: boolean;
  /** Accumulate per-op CPU time (see `TfjsExecutable.profile`). */
  readonly profile: boolean;
  /** Use fused composite lowerings (false: every composite runs as its decomposition). */
  readonly fuse: boolean;
}

/** An executable with TensorFlow.js-specific inspection. */
export interface TfjsExecutable extends Executable {
  /** The engine that runs it. */
  readonly engineInfo: EngineInfo;
  /**
   * Process CPU milliseconds (all threads), wall milliseconds and calls per op kind and operand
   * shapes since compile (only with `profile: true`; the native engine computes synchronously,
   * so its wall time is the op's; on wasm, XNNPACK's worker threads are outside `ms`).
   */
  profile(): Record<string, { ms: number; wallMs: number; calls: number }>;
  /** Number of device tensors the executable holds between runs (weights, folded values, state). */
  residentTensors(): number;
}

// ---------------------------------------------------------------------------------------------
// serialisation of everything that touches the global tfjs engine

let chain: Promise<unknown> = Promise.resolve();
const serial = <A>(f: () => Promise<A>): Promise<A> => {
  const job = chain.then(f);
  chain = job.catch(() => undefined);
  return job;
};

// ---------------------------------------------------------------------------------------------
// host <-> device

const I32_MIN = -2147483648;
const I32_MAX = 2147483647;

const leafDesc = (n: Leaf): string => `${n.op === 'input' ? 'input' : 'parameter'} '${n.attrs.name}' (${n.dtype}${shapeToString(n.shape)})`;

/** Checks a host tensor against a leaf's declared dtype and shape (symbolic dims accept any size). */
const checkLeaf = (leaf: Leaf, t: HostTensor, what: string): string | undefined => {
  if (t.dtype !== leaf.dtype) return `${what} '${leaf.attrs.name}': expected ${leaf.dtype}, got ${t.dtype}`;
  if (t.shape.length !== leaf.shape.length || leaf.shape.some((d, i) => isConcrete(d) && d !== t.shape[i]))
    return `${what} '${leaf.attrs.name}': expected shape ${shapeToString(leaf.shape)}, got [${t.shape.join(',')}]`;
  if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) return `${what} '${leaf.attrs.name}': invalid shape [${t.shape.join(',')}]`;
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (t.data.length !== n) return `${what} '${leaf.attrs.name}': ${t.data.length} values for shape [${t.shape.join(',')}]`;
  return undefined;
};

/** Uploads a host tensor as the device dtype of `dtype`. */
const upload = (t: HostTensor, dtype: DType, what: string): tf.Tensor => {
  const shape = [...t.shape];
  const d = t.data;
  switch (dtype) {
    case 'float32':
      if (!(d instanceof Float32Array || d instanceof Float64Array)) throw new Error(`${what}: float32 data must be a Float32Array or Float64Array, got ${d.constructor.name}`);
      return tf.tensor(d instanceof Float32Array ? d : Float32Array.from(d), shape, 'float32');
    case 'int32':
      if (!(d instanceof Int32Array)) throw new Error(`${what}: int32 data must be an Int32Array, got ${d.constructor.name}`);
      return tf.tensor(d, shape, 'int32');
    case 'int64': {
      if (d instanceof Int32Array) return tf.tensor(d, shape, 'int32');
      if (!(d instanceof BigInt64Array)) throw new Error(`${what}: int64 data must be a BigInt64Array or Int32Array, got ${d.constructor.name}`);
      const out = new Int32Array(d.length);
      for (let i = 0; i < d.length; i++) {
        const v = d[i]!;
        if (v < BigInt(I32_MIN) || v > BigInt(I32_MAX)) throw new Error(`${what}: int64 value ${v} at ${i} is outside [-2^31, 2^31) (tfjs holds int64 as int32)`);
        out[i] = Number(v);
      }
      return tf.tensor(out, shape, 'int32');
    }
    case 'bool':
      if (!(d instanceof Uint8Array)) throw new Error(`${what}: bool data must be a Uint8Array, got ${d.constructor.name}`);
      return tf.tensor(Uint8Array.from(d, (v) => (v !== 0 ? 1 : 0)), shape, 'bool');
  }
};

/** A (non-trainable) variable holding `t`'s buffer; `t` itself is released. */
const toVariable = (t: tf.Tensor): tf.Variable => {
  const v = tf.variable(t, false);
  t.dispose();
  return v;
};

/** Downloads a device tensor as a host tensor of core dtype `dtype` (always a fresh copy). */
const download = async (t: tf.Tensor, dtype: DType): Promise<HostTensor> => {
  const data = await t.data();
  const shape = [...t.shape];
  switch (dtype) {
    case 'float32': return { dtype, shape, data: Float32Array.from(data as Float32Array) };
    case 'int32': return { dtype, shape, data: Int32Array.from(data as Int32Array) };
    case 'int64': return { dtype, shape, data: BigInt64Array.from(data as Int32Array, (v) => BigInt(v)) };
    case 'bool': return { dtype, shape, data: Uint8Array.from(data as Uint8Array) };
  }
};

// ---------------------------------------------------------------------------------------------
// lowering dispatch

const lowerOf = (n: Node): Lowering<OpName> => {
  const prim = (loweringTable as unknown as Record<string, Lowering<OpName> | undefined>)[n.op];
  if (prim) return prim;
  const rule = fusedRules[n.op as CompositeOp] as FusedRule<CompositeOp> | undefined;
  if (rule && rule.when(n as Node<CompositeOp>)) return rule.lower as unknown as Lowering<OpName>;
  throw new Error(`internal: composite '${n.op}' at '${n.path}' reached the executor unexpanded`);
};

const evalShape = (s: Shape, env: Readonly<Record<string, number>>): number[] => s.map((d) => dimEval(d, env));

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);
/** A lazily broadcast value of a node of shape `full`: the same rank, each extent equal or 1. */
const broadcastsTo = (a: readonly number[], full: readonly number[]): boolean => a.length === full.length && a.every((d, i) => d === full[i] || d === 1);

/** Size threshold above which a folded value must not be much larger than its operands. */
const FOLD_EXPANSION_LIMIT = 1 << 22;

interface Plan {
  /** Nodes to run, in order. */
  readonly steps: readonly Node[];
  /** For each step, the nodes whose values its lowering reads (its inputs, or what they fuse away). */
  readonly args: readonly (readonly Node[])[];
  readonly lowerings: readonly Lowering<OpName>[];
  /** For each step, the ids of the values whose last use it is. */
  readonly release: readonly (readonly number[])[];
  /** `input` leaves the plan reads. */
  readonly inputs: readonly Node<'input'>[];
}

interface StateEntry {
  readonly leaf: Leaf;
  /** The state's value between runs: a variable that takes each run's next value. */
  readonly tensor: tf.Variable;
  readonly next?: string;
}

class TfjsProgram implements TfjsExecutable {
  private disposed = false;
  private readonly plans = new Map<string, Plan>();
  private readonly stats = new Map<string, { ms: number; wallMs: number; calls: number }>();
  /** Device values that live across runs, by node id: frozen params, folded values. */
  private readonly resident = new Map<number, tf.Tensor>();
  private readonly state = new Map<string, StateEntry>();
  private readonly stateById = new Map<number, StateEntry>();
  private readonly internal: ReadonlySet<string>;
  /** Materialises lazily broadcast values. */
  private readonly full: (t: tf.Tensor, shape: readonly number[]) => tf.Tensor;

  constructor(
    readonly graph: Graph,
    /** The prepared graph: what actually runs. */
    private readonly prepared: Graph,
    readonly engineInfo: EngineInfo,
    private readonly settings: CompileSettings,
    private readonly leaves: ReadonlyMap<string, Leaf>,
    copts: CompileOptions,
  ) {
    this.internal = new Set(copts.internalOutputs ?? []);
    this.full = materialize(engineInfo.tfjsBackend === 'wasm');
  }

  /** Uploads weights and state, and folds frozen subgraphs. Called once, on the active engine. */
  init(copts: CompileOptions): void {
    const params = copts.params ?? {};
    try {
      for (const [name, spec] of Object.entries(copts.state ?? {})) {
        const leaf = this.leaves.get(name)!;
        const entry: StateEntry = { leaf, tensor: toVariable(upload(spec.init, leaf.dtype, `state '${name}'`)), ...(spec.next === undefined ? {} : { next: spec.next }) };
        this.state.set(name, entry);
        this.stateById.set(leaf.id, entry);
      }
      for (const [name, leaf] of this.leaves)
        if (leaf.op === 'param' && !this.state.has(name)) this.resident.set(leaf.id, upload(params[name]!, leaf.dtype, `parameter '${name}'`));
      this.fold();
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /** Evaluates, once, every node that depends only on frozen values (see the module comment). */
  private fold(): void {
    const nodes = graphNodes(this.prepared);
    const frozen = new Set<number>();
    const numel = (n: Node): number => (n.shape.every(isConcrete) ? (n.shape as number[]).reduce((a, b) => a * b, 1) : Infinity);
    for (const n of nodes) {
      if (n.op === 'param') { if (this.resident.has(n.id)) frozen.add(n.id); continue; }
      if (n.op === 'input') continue;
      if (!n.shape.every(isConcrete)) continue;
      if (n.op === 'constant' || n.op === 'iota') { frozen.add(n.id); continue; }
      if (!this.settings.foldFrozen || n.inputs.length === 0 || !n.inputs.every((x) => frozen.has(x.id))) continue;
      const size = numel(n);
      if (size > FOLD_EXPANSION_LIMIT && size > 4 * Math.max(...n.inputs.map(numel))) continue; // an expansion: cheaper per run
      frozen.add(n.id);
    }
    // the frontier: frozen values used by a non-frozen node or returned as an output
    const frontier = new Set<number>();
    for (const n of nodes) if (!frozen.has(n.id)) for (const x of n.inputs) if (frozen.has(x.id)) frontier.add(x.id);
    for (const o of Object.values(this.prepared.outputs)) if (frozen.has(o.id)) frontier.add(o.id);
    const roots = nodes.filter((n) => frontier.has(n.id) && !this.resident.has(n.id));
    // uploaded parameters that only frozen nodes read are not needed once those are folded
    const dropUnneeded = (): void => {
      for (const [id, t] of [...this.resident]) if (!frontier.has(id)) { t.dispose(); this.resident.delete(id); }
    };
    if (roots.length === 0) return dropUnneeded();
    const order = topoOrderUntil(roots, (n) => this.resident.has(n.id));
    const uses = new Map<number, number>();
    for (const n of order) for (const x of n.inputs) uses.set(x.id, (uses.get(x.id) ?? 0) + 1);
    const temp = new Map<number, tf.Tensor>();
    const cx = this.context({});
    try {
      for (const n of order) {
        const t = this.exec(n, lowerOf(n), n.inputs.map((x) => this.resident.get(x.id) ?? temp.get(x.id)!), n.inputs.map((x) => x.shape as number[]), n.shape as number[], cx);
        if (frontier.has(n.id)) this.resident.set(n.id, t);
        else temp.set(n.id, t);
        for (const x of n.inputs) {
          const u = uses.get(x.id)! - 1;
          uses.set(x.id, u);
          if (u === 0 && temp.has(x.id)) {
            temp.get(x.id)!.dispose();
            temp.delete(x.id);
          }
        }
      }
    } finally {
      for (const t of temp.values()) t.dispose();
    }
    dropUnneeded();
  }

  private context(env: Readonly<Record<string, number>>): LowerContext {
    return { backend: this.engineInfo.tfjsBackend, batched: this.settings.batched, dim: (d) => dimEval(d, env), full: this.full };
  }

  /** Runs one node's lowering; the result is always a tensor the caller owns. */
  private exec(n: Node, lower: Lowering<OpName>, ins: readonly tf.Tensor[], inShapes: readonly (readonly number[])[], shape: readonly number[], cx: LowerContext): tf.Tensor {
    const t0 = this.settings.profile ? process.cpuUsage() : undefined;
    const w0 = this.settings.profile ? performance.now() : 0;
    const lazy = lazyOps.has(n.op);
    let out: tf.Tensor;
    try {
      out = tf.tidy(() => lower({ node: n, ins: lazy ? ins : ins.map((t, i) => this.full(t, inShapes[i]!)), inShapes, shape, cx }));
    } catch (e) {
      throw new Error(`${n.path === '' ? '' : `${n.path}: `}${n.op} ${n.dtype}${shapeToString(n.shape)} failed on tfjs '${this.engineInfo.tfjsBackend}' (operands ${ins.map((x) => `${x.dtype}[${x.shape.join(',')}]`).join(', ')}): ${(e as Error).message}`);
    }
    // a lowering sees only its operands, so the only tensors it can hand back unchanged are those
    if (ins.includes(out)) out = out.clone();
    if (!(lazy ? broadcastsTo(out.shape, shape) : sameShape(out.shape, shape)) || out.dtype !== tfDtype(n.dtype)) {
      out.dispose();
      throw new Error(`bug: the tfjs lowering of ${n.op} at '${n.path}' gave ${out.dtype}[${out.shape.join(',')}], the node is ${n.dtype}[${shape.join(',')}]`);
    }
    if (this.settings.profile) {
      const key = `${n.op} ${inShapes.map((x) => `[${x.join(',')}]`).join('@')}`;
      const s = this.stats.get(key) ?? { ms: 0, wallMs: 0, calls: 0 };
      const c = process.cpuUsage(t0);
      s.ms += (c.user + c.system) / 1000;
      s.wallMs += performance.now() - w0;
      s.calls++;
      this.stats.set(key, s);
    }
    return out;
  }

  /** The run plan for a set of outputs (cached). */
  private planFor(names: readonly string[]): Plan {
    const key = [...names].sort().join('\u0000');
    const found = this.plans.get(key);
    if (found) return found;
    const roots = names.map((k) => this.prepared.outputs[k]!);
    const held = (n: Node): boolean => this.resident.has(n.id) || this.stateById.has(n.id);
    const order = topoOrderUntil(roots, held);
    let steps = order.filter((n) => n.op !== 'input');
    const inputs = order.filter((n): n is Node<'input'> => n.op === 'input');
    let args: (readonly Node[])[] = steps.map((n) => n.inputs);
    let lowerings = steps.map(lowerOf);
    if (this.engineInfo.tfjsBackend !== 'wasm') {
      // a product of a transposed operand reads it untransposed (tf.matMul's flags; on wasm only
      // untransposed products reach XNNPACK): the transpose is not computed unless something
      // else reads it
      const isT = (x: Node): boolean => x.op === 'transpose' && !held(x) && swapsLastTwo((x as Node<'transpose'>).attrs.perm);
      steps.forEach((n, i) => {
        if (n.op !== 'matmul' || !n.inputs.some(isT)) return;
        args[i] = n.inputs.map((x) => (isT(x) ? x.inputs[0]! : x));
        lowerings[i] = matmulTransposed(isT(n.inputs[0]!), isT(n.inputs[1]!)) as unknown as Lowering<OpName>;
      });
      const read = new Set([...roots.map((r) => r.id), ...args.flatMap((a) => a.map((x) => x.id))]);
      const keep = steps.map((n) => read.has(n.id));
      [steps, args, lowerings] = [steps.filter((_, i) => keep[i]), args.filter((_, i) => keep[i]), lowerings.filter((_, i) => keep[i])];
    }
    const last = new Map<number, number>();
    args.forEach((a, i) => { for (const x of a) last.set(x.id, i); });
    const pinned = new Set(roots.map((r) => r.id));
    const release: number[][] = steps.map(() => []);
    for (const [id, i] of last) if (!pinned.has(id)) release[i]!.push(id);
    const plan: Plan = { steps, args, lowerings, release, inputs };
    this.plans.set(key, plan);
    return plan;
  }

  run(feeds: Readonly<Record<string, HostTensor>>, fetch?: readonly string[]): Promise<Record<string, HostTensor>> {
    return serial(() => this.runNow(feeds, fetch));
  }

  private async runNow(feeds: Readonly<Record<string, HostTensor>>, fetch?: readonly string[]): Promise<Record<string, HostTensor>> {
    if (this.disposed) throw new Error('run: executable was disposed');
    const outputs = this.prepared.outputs;
    const wanted = fetch ?? Object.keys(outputs).filter((k) => !this.internal.has(k));
    for (const k of wanted) if (outputs[k] === undefined) throw new Error(`run: unknown output '${k}' (outputs: ${Object.keys(outputs).join(', ')})`);
    for (const k of Object.keys(feeds)) {
      const leaf = this.leaves.get(k);
      if (leaf === undefined || leaf.op !== 'input') throw new Error(`run: '${k}' is not an input of the graph${leaf ? ` (it is a ${this.state.has(k) ? 'state entry' : 'parameter'})` : ''}`);
      if (this.state.has(k)) throw new Error(`run: '${k}' is held in state; it cannot also be fed`);
    }
    const nextNames = [...this.state.values()].flatMap((s) => (s.next === undefined ? [] : [s.next]));
    const plan = this.planFor([...new Set([...wanted, ...nextNames])]);
    for (const inp of plan.inputs) {
      const t = feeds[inp.attrs.name];
      if (t === undefined) throw new Error(`run: missing feed ${leafDesc(inp)}`);
      const bad = checkLeaf(inp, t, 'feed');
      if (bad !== undefined) throw new Error(`run: ${bad}`);
    }
    // bind symbolic dims from every leaf value this run sees
    const bound: { node: Leaf; shape: readonly number[] }[] = plan.inputs.map((n) => ({ node: n, shape: feeds[n.attrs.name]!.shape }));
    for (const s of this.state.values()) bound.push({ node: s.leaf, shape: s.tensor.shape });
    const envE = bindDims(bound);
    if (E.isLeft(envE)) throw new Error(`run: ${envE.left.message}`);
    const env = envE.right;

    await activate(this.engineInfo);
    const states = [...this.state.values()].filter((s): s is StateEntry & { next: string } => s.next !== undefined);
    // the whole step in one tf.tidy scope: the feeds' uploads, every node's value and the
    // materialised outputs are released when it ends, on success and on error alike, except
    // the fetched outputs and the states' next values, which it returns (device tensors: no
    // host round-trip happens inside the step)
    const held = new Set<tf.Tensor>([...this.resident.values(), ...this.state.values()].map((x) => (x instanceof tf.Tensor ? x : x.tensor)));
    const { fetched, nexts } = tf.tidy(() => {
      const values = new Map<number, tf.Tensor>();
      for (const inp of plan.inputs) values.set(inp.id, upload(feeds[inp.attrs.name]!, inp.dtype, `feed '${inp.attrs.name}'`));
      const valueOf = (n: Node): tf.Tensor => values.get(n.id) ?? this.resident.get(n.id) ?? this.stateById.get(n.id)?.tensor ?? (() => { throw new Error(`internal: no value for ${n.op} at '${n.path}'`); })();
      const cx = this.context(env);
      plan.steps.forEach((n, i) => {
        const a = plan.args[i]!;
        values.set(n.id, this.exec(n, plan.lowerings[i]!, a.map(valueOf), a.map((x) => evalShape(x.shape, env)), evalShape(n.shape, env), cx));
        // released at its last use: peak memory is the live set
        for (const id of plan.release[i]!) {
          values.get(id)?.dispose();
          values.delete(id);
        }
      });
      const fullOf = (k: string): tf.Tensor => this.full(valueOf(outputs[k]!), evalShape(outputs[k]!.shape, env));
      return {
        fetched: wanted.map(fullOf),
        // a next value held across runs (a parameter, a state entry) is taken as a copy, so that
        // state entries that exchange values read the old ones
        nexts: states.map((s) => { const t = fullOf(s.next); return held.has(t) ? t.clone() : t; }),
      };
    });
    const mine = [...new Set([...fetched, ...nexts])].filter((t) => !held.has(t));
    try {
      const got = await Promise.all(fetched.map((t, i) => download(t, this.graph.outputs[wanted[i]!]!.dtype)));
      states.forEach((s, i) => {
        const want = s.tensor.shape;
        if (!sameShape(nexts[i]!.shape, want)) throw new Error(`run: state '${s.leaf.attrs.name}' is [${want.join(',')}] but its next value '${s.next}' is [${nexts[i]!.shape.join(',')}]`);
      });
      // each state variable takes its next value's buffer (no copy)
      states.forEach((s, i) => s.tensor.assign(nexts[i]!));
      return Object.fromEntries(wanted.map((k, i) => [k, got[i]!]));
    } finally {
      for (const t of mine) t.dispose();
    }
  }

  readState(name: string): Promise<HostTensor> {
    return serial(async () => {
      if (this.disposed) throw new Error('readState: executable was disposed');
      const s = this.state.get(name);
      if (s === undefined) throw new Error(`readState: no state entry '${name}' (state: ${[...this.state.keys()].join(', ') || 'none'})`);
      return download(s.tensor, s.leaf.dtype);
    });
  }

  writeState(name: string, value: HostTensor): Promise<void> {
    return serial(async () => {
      if (this.disposed) throw new Error('writeState: executable was disposed');
      const s = this.state.get(name);
      if (s === undefined) throw new Error(`writeState: no state entry '${name}' (state: ${[...this.state.keys()].join(', ') || 'none'})`);
      const bad = checkLeaf(s.leaf, value, 'writeState');
      if (bad !== undefined) throw new Error(bad);
      if (!sameShape(value.shape, s.tensor.shape)) throw new Error(`writeState '${name}': expected shape [${s.tensor.shape.join(',')}], got [${value.shape.join(',')}]`);
      await activate(this.engineInfo);
      const t = upload(value, s.leaf.dtype, `writeState '${name}'`);
      s.tensor.assign(t);
      t.dispose();
    });
  }

  profile(): Record<string, { ms: number; wallMs: number; calls: number }> {
    return Object.fromEntries([...this.stats].sort(([, a], [, b]) => b.wallMs - a.wallMs).map(([k, v]) => [k, { ...v }]));
  }

  residentTensors(): number {
    return this.resident.size + this.state.size;
  }

  private release(): void {
    for (const t of this.resident.values()) t.dispose();
    for (const s of this.state.values()) s.tensor.dispose();
    this.resident.clear();
    this.state.clear();
    this.stateById.clear();
  }

  dispose(): Promise<void> {
    return serial(async () => {
      if (this.disposed) return;
      this.disposed = true;
      this.release();
    });
  }
}

/**
 * Compiles `g` on the (already selected) engine: validates parameters and state against the
 * graph's leaves, prepares the graph, uploads and folds (see the module comment).
 */
export const compileTfjs = (g: Graph, copts: CompileOptions, engine: EngineInfo, settings: CompileSettings): Promise<TfjsExecutable> =>
  serial(async () => {
    const leaves = new Map<string, Leaf>();
    for (const n of graphNodes(g)) {
      if (n.op !== 'input' && n.op !== 'param') continue;
      const leaf = n as Leaf;
      const prev = leaves.get(leaf.attrs.name);
      if (prev !== undefined && prev.id !== leaf.id) throw new Error(`compile: two leaves are named '${leaf.attrs.name}': ${leafDesc(prev)} and ${leafDesc(leaf)}`);
      leaves.set(leaf.attrs.name, leaf);
    }
    const params = copts.params ?? {};
    const stateSpecs = copts.state ?? {};
    for (const [name, spec] of Object.entries(stateSpecs)) {
      const leaf = leaves.get(name);
      if (leaf === undefined) throw new Error(`compile: state '${name}' is not a leaf of the graph`);
      if (name in params) throw new Error(`compile: '${name}' is given both as a parameter and as state`);
      const bad = checkLeaf(leaf, spec.init, 'state');
      if (bad !== undefined) throw new Error(`compile: ${bad}`);
      if (spec.next !== undefined) {
        const o = g.outputs[spec.next];
        if (o === undefined) throw new Error(`compile: state '${name}' is updated from '${spec.next}', which is not an output`);
        if (o.dtype !== leaf.dtype || o.shape.length !== leaf.shape.length || o.shape.some((d, i) => dimToString(d) !== dimToString(leaf.shape[i]!)))
          throw new Error(`compile: state '${name}' (${leaf.dtype}${shapeToString(leaf.shape)}) cannot take output '${spec.next}' (${o.dtype}${shapeToString(o.shape)})`);
      }
    }
    for (const [name, leaf] of leaves) {
      if (leaf.op !== 'param' || name in stateSpecs) continue;
      const t = params[name];
      if (t === undefined) throw new Error(`compile: no value for ${leafDesc(leaf)}`);
      if (!leaf.shape.every(isConcrete)) throw new Error(`compile: ${leafDesc(leaf)} has a symbolic shape; give it as state or an input`);
      const bad = checkLeaf(leaf, t, 'parameter');
      if (bad !== undefined) throw new Error(`compile: ${bad}`);
    }
    for (const o of copts.internalOutputs ?? []) if (g.outputs[o] === undefined) throw new Error(`compile: internal output '${o}' is not an output`);
    const prepared = prepare(g, { fused: settings.fuse ? isFused : () => false, gatherCrossEntropy: settings.fuse });
    await activate(engine);
    const program = new TfjsProgram(g, prepared, engine, settings, leaves, copts);
    program.init(copts);
    return program;
  });
