/**
 * Lowers a core graph to an ONNX model: leaves become graph inputs (or initializers for
 * parameters bound at compile time), every node goes through the lowering table, outputs
 * keep the core graph's output names, and symbolic dims become dim_params named by their
 * printed key (`B`, `T`, `P+T`), so one model serves every batch size and length.
 */
import type { Graph, HostTensor, Node, Shape } from '@prefix-tuning/core';
import type { OpName } from '@prefix-tuning/core/graph';
import { dimToString, graphNodes, isConcrete, shapeToString, dimEq, opDef, decomposition } from '@prefix-tuning/core/graph';
import { type OnnxModel, type OnnxValueInfo, type OnnxDim, type OnnxData } from '../onnx/model.ts';
import { Emitter, type DimSource } from './emitter.ts';
import { loweringTable, defaultFusions, viaDecomposition, type FusionOptions, type LValue, type LowerContext, type Lowering, type LowerArgs, type CompositeOp } from './table.ts';

/** ONNX opset of the default domain (Gelu needs 20; onnxruntime-node 1.30 runs up to 23). */
export const OPSET = 21;
export const IR_VERSION = 10;

export interface LowerOptions {
  /** Parameter values embedded as initializers; other params become graph inputs. */
  readonly initializers?: Readonly<Record<string, HostTensor>>;
  readonly fusions?: Partial<FusionOptions>;
}

/** A graph input of the lowered model, and what it is in the core graph. */
export interface LoweredInput {
  readonly name: string;
  readonly kind: 'input' | 'param';
  readonly dtype: Node['dtype'];
  readonly shape: Shape;
}

export interface LoweredModel {
  readonly model: OnnxModel;
  readonly inputs: readonly LoweredInput[];
  /** `name`: the graph's output name; `onnxName`: the ONNX value it is read from (differs when the name is a leaf's, which ONNX cannot give two values). */
  readonly outputs: readonly { readonly name: string; readonly onnxName: string; readonly dtype: Node['dtype']; readonly shape: Shape }[];
}

const onnxShape = (s: Shape): OnnxDim[] => s.map((d) => (isConcrete(d) ? d : dimToString(d)));

const dataOf = (t: HostTensor, name: string): OnnxData => {
  switch (t.dtype) {
    case 'float32': return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>);
    case 'int32': return t.data instanceof Int32Array ? t.data : Int32Array.from(t.data as ArrayLike<number>);
    case 'int64': if (t.data instanceof BigInt64Array) return t.data; break;
    case 'bool': if (t.data instanceof Uint8Array) return t.data; break;
  }
  throw new Error(`parameter '${name}': ${t.dtype} data given as ${t.data.constructor.name}`);
};

/** Checks a host tensor against a leaf's declared dtype and shape (symbolic dims accept any size). */
export const checkLeafValue = (leaf: Node<'input'> | Node<'param'>, t: HostTensor, what: string): string | undefined => {
  const name = leaf.attrs.name;
  if (t.dtype !== leaf.dtype) return `${what} '${name}': expected ${leaf.dtype}, got ${t.dtype}`;
  if (t.shape.length !== leaf.shape.length || leaf.shape.some((d, i) => isConcrete(d) && d !== t.shape[i]))
    return `${what} '${name}': expected shape ${shapeToString(leaf.shape)}, got [${t.shape.join(',')}]`;
  return undefined;
};

/** Lowers `g`; throws on graphs the model cannot represent (a bug or a misuse, not bad data). */
export const lowerGraph = (g: Graph, opts: LowerOptions = {}): LoweredModel => {
  const fusions: FusionOptions = { ...defaultFusions, ...opts.fusions };
  const nodes = graphNodes(g);
  const leaves = new Map<string, Node<'input'> | Node<'param'>>();
  for (const n of nodes) {
    if (n.op !== 'input' && n.op !== 'param') continue;
    const leaf = n as Node<'input'> | Node<'param'>;
    const prev = leaves.get(leaf.attrs.name);
    if (prev !== undefined && prev.id !== leaf.id)
      throw new Error(`two leaves are named '${leaf.attrs.name}': ${prev.op} ${prev.dtype}${shapeToString(prev.shape)} and ${leaf.op} ${leaf.dtype}${shapeToString(leaf.shape)}`);
    leaves.set(leaf.attrs.name, leaf);
  }
  const inits = opts.initializers ?? {};
  const inputs: LoweredInput[] = [];
  const dimSources = new Map<string, DimSource>();
  for (const [name, leaf] of [...leaves].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (leaf.op === 'param' && name in inits) continue;
    inputs.push({ name, kind: leaf.op, dtype: leaf.dtype, shape: leaf.shape });
    leaf.shape.forEach((d, axis) => {
      if (!isConcrete(d) && d.terms.size === 1 && d.terms.get(d.key) === 1 && !dimSources.has(d.key)) dimSources.set(d.key, { input: name, axis });
    });
  }
  const e = new Emitter(dimSources);
  for (const [name, t] of Object.entries(inits)) {
    const leaf = leaves.get(name);
    if (leaf === undefined) continue; // a value for a param this graph does not use
    if (leaf.op !== 'param') throw new Error(`'${name}' is an input of the graph, not a parameter`);
    if (!leaf.shape.every(isConcrete)) throw new Error(`parameter '${name}' has a symbolic shape ${shapeToString(leaf.shape)}; bind it as an input`);
    const bad = checkLeafValue(leaf, t, 'parameter');
    if (bad !== undefined) throw new Error(bad);
    e.initializer({ name, dtype: leaf.dtype, dims: [...t.shape], data: dataOf(t, name) });
  }

  // A composite differentiated through its decomposition (vjp 'viaDecomposition') has its
  // decomposition's intermediates in the graph already (the gradient reads them): its forward
  // value then comes from that decomposition too, instead of a fused kernel computing it twice.
  const inGraph = new Set(nodes.map((n) => n.id));
  const decomposedInGraph = (n: Node): boolean => {
    const def = opDef(n.op);
    if (def.kind !== 'composite' || def.vjp !== 'viaDecomposition') return false;
    const stop = new Set(n.inputs.map((x) => x.id));
    const stack = [decomposition(n)];
    const seen = new Set<number>();
    while (stack.length > 0) {
      const x = stack.pop()!;
      if (stop.has(x.id) || seen.has(x.id)) continue;
      seen.add(x.id);
      if (inGraph.has(x.id)) return true;
      stack.push(...x.inputs);
    }
    return false;
  };

  const useCount = new Map<number, number>();
  const consumers = new Map<number, Node[]>();
  for (const n of nodes)
    for (const x of n.inputs) {
      useCount.set(x.id, (useCount.get(x.id) ?? 0) + 1);
      const c = consumers.get(x.id);
      if (c === undefined) consumers.set(x.id, [n]);
      else if (!c.includes(n)) c.push(n);
    }
  for (const o of Object.values(g.outputs)) useCount.set(o.id, (useCount.get(o.id) ?? 0) + 1);

  const memo = new Map<number, LValue>();
  for (const leaf of leaves.values()) memo.set(leaf.id, { name: leaf.attrs.name, shape: leaf.shape });
  // the type and actual (lazily broadcast) shape of each lowered value, for value_info;
  // a name given two shapes (a rule's bug) gets none
  const typed = new Map<string, { dtype: Node['dtype']; shape: Shape } | undefined>();
  const record = (n: Node, v: LValue): void => {
    const prev = typed.get(v.name);
    if (!typed.has(v.name)) typed.set(v.name, { dtype: n.dtype, shape: v.shape });
    else if (prev !== undefined && (prev.dtype !== n.dtype || prev.shape.length !== v.shape.length || prev.shape.some((d, i) => !dimEq(d, v.shape[i]!))))
      typed.set(v.name, undefined);
  };
  const cx: LowerContext = {
    e,
    fusions,
    full: (v, to) => (v.shape.every((d, i) => dimEq(d, to[i]!)) && v.shape.length === to.length ? v.name : e.emit('Expand', [v.name, e.shape(to)])),
    lower: (n) => lowerNode(n),
    uses: (n) => useCount.get(n.id) ?? 0,
    consumers: (n) => consumers.get(n.id) ?? [],
  };
  const lowerNode = (root: Node): LValue => {
    // iterative post-order (graphs are deep: a 48-layer model's gradient has ~10^4 nodes)
    const stack: [Node, boolean][] = [[root, false]];
    while (stack.length > 0) {
      const [n, expanded] = stack.pop()!;
      if (memo.has(n.id)) continue;
      if (!expanded) {
        stack.push([n, true]);
        for (const i of n.inputs) if (!memo.has(i.id)) stack.push([i, false]);
        continue;
      }
      const rule = loweringTable[n.op] as unknown as Lowering<OpName> | undefined;
      const args: LowerArgs<OpName> = { node: n, ins: n.inputs.map((i) => memo.get(i.id)!), cx };
      const outer = e.path;
      e.path = n.path;
      const v = rule && !decomposedInGraph(n) ? rule(args) : viaDecomposition(args as unknown as LowerArgs<CompositeOp>);
      e.path = outer;
      memo.set(n.id, v);
      record(n, v);
    }
    return memo.get(root.id)!;
  };
  // Outputs are lowered last to first: onnxruntime's default execution order is a reverse
  // depth-first walk from the graph's leaves, the last-emitted leaf first, so the first-listed
  // output (a train step's loss) is computed first, with what only it reads (the loss's
  // log-sum-exp and gather over the logits) done before the gradient takes over the logits'
  // buffer; listed the other way, the logits stayed alive through the whole backward pass.
  for (const node of Object.values(g.outputs).reverse()) lowerNode(node);
  // outputs: the producing node's value is renamed to the output name when it is private
  const rename = new Map<string, string>();
  const outputs: { name: string; onnxName: string; dtype: Node['dtype']; shape: Shape }[] = [];
  const claimed = new Set<string>();
  // an output named like a leaf (a state `acc` updated and returned as `acc`) gets a private ONNX name
  const taken = new Set([...leaves.keys(), ...Object.keys(g.outputs)]);
  const privateName = (key: string): string => {
    let n = `${key}:output`;
    while (taken.has(n)) n = `${n}'`;
    taken.add(n);
    return n;
  };
  for (const [graphKey, node] of Object.entries(g.outputs)) {
    const key = leaves.has(graphKey) && leaves.get(graphKey)!.id !== node.id ? privateName(graphKey) : graphKey;
    const v = lowerNode(node);
    const name = cx.full(v, node.shape);
    const isProduced = e.nodes.some((n) => n.outputs.includes(name));
    if (name === key) {
      // an input returned under its own name: a graph output may be a graph input
    } else if (isProduced && !claimed.has(name) && !rename.has(name)) rename.set(name, key);
    else e.emit('Identity', [name], {}, { names: [key] });
    claimed.add(name);
    outputs.push({ name: graphKey, onnxName: key, dtype: node.dtype, shape: node.shape });
  }
  const rn = (s: string): string => rename.get(s) ?? s;
  // dead-code elimination: rules that pattern-match (a fused kernel replacing a subgraph)
  // leave the replaced subgraph's nodes behind; only nodes that feed an output are kept
  const renamed = e.nodes.map((n) => ({ ...n, inputs: n.inputs.map(rn), outputs: n.outputs.map(rn) }));
  const live = new Set(outputs.map((o) => o.onnxName));
  const keep = new Array<boolean>(renamed.length).fill(false);
  for (let i = renamed.length - 1; i >= 0; i--) {
    const n = renamed[i]!;
    if (!n.outputs.some((o) => live.has(o))) continue;
    keep[i] = true;
    for (const x of n.inputs) live.add(x);
  }
  const onnxNodes = renamed.filter((_, i) => keep[i]);
  const initializers = e.initializers.filter((t) => live.has(t.name));

  const vi = (name: string, dtype: Node['dtype'], shape: Shape): OnnxValueInfo => ({ name, dtype, shape: onnxShape(shape) });
  // Shapes of intermediate values with their symbolic dims named (`B*T`, `P+T`): onnxruntime's
  // own inference loses symbolic dims at a Reshape to a computed shape, and its allocation
  // planner then neither runs kernels in place nor reuses freed buffers of unknown size (the
  // train step's [B*T, V] softmax over the logits, the one-hot scatter into it).
  const produced = new Set(onnxNodes.flatMap((n) => n.outputs));
  const outputNames = new Set(outputs.map((o) => o.onnxName));
  const valueInfo = [...typed]
    .filter(([name, t]) => t !== undefined && produced.has(name) && !outputNames.has(name) && !rename.has(name))
    .map(([name, t]) => vi(name, t!.dtype, t!.shape));
  const domains = [...e.domains].sort();
  return {
    model: {
      irVersion: IR_VERSION,
      opsets: [{ domain: '', version: OPSET }, ...domains.map((d) => ({ domain: d, version: 1 }))],
      producerName: '@prefix-tuning/backend-onnx',
      producerVersion: '0.1.0',
      graph: {
        name: 'graph',
        nodes: onnxNodes,
        inputs: inputs.map((i) => vi(i.name, i.dtype, i.shape)),
        outputs: outputs.map((o) => vi(o.onnxName, o.dtype, o.shape)),
        initializers,
        valueInfo,
      },
    },
    inputs,
    outputs,
  };
};
