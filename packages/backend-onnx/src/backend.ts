/**
 * `onnxBackend(opts)`: the core `Backend` contract on onnxruntime-node. A graph is lowered to
 * ONNX once, loaded into an `InferenceSession`, and run many times.
 *
 * Where values live:
 * - frozen parameters (`weights`): graph inputs fed with `ort.Tensor`s created once over the
 *   caller's buffers (`inputs`: onnxruntime-node wraps a CPU tensor's memory without copying,
 *   so weights exist once, and the model is a few hundred kilobytes whatever the model size),
 *   or initializers (`initializers`: ORT owns a copy it may constant-fold and prepack; a
 *   second copy of the weights in memory). Initializers above protobuf's 2 GiB limit (GPT-2
 *   large: 3.1 GB of float32 weights) go to an external data file (`external`, chosen
 *   automatically for `initializers` above 1.5 GiB).
 * - state (trainable parameters, optimizer moments): graph inputs whose `ort.Tensor`s are
 *   replaced after each run by the output tensors they name. onnxruntime-node returns every
 *   fetched output in a new buffer, even one it wrote into a pre-allocated output (1.30), so
 *   the returned tensor simply becomes the state: a second, pre-allocated buffer per entry
 *   only added memory (GPT-2 small's prefix MLP with its AdamW moments: 117 MB).
 */
import { availableParallelism, tmpdir } from 'node:os';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import type { Backend, CompileOptions, Executable, Graph, HostTensor, Node, Shape, DType } from '@prefix-tuning/core';
import { graphNodes, isConcrete, dimToString, shapeToString } from '@prefix-tuning/core/graph';
import { lowerGraph, checkLeafValue, type LoweredModel } from './lower/graph.ts';
import type { FusionOptions } from './lower/table.ts';
import { encodeModel } from './onnx/model.ts';
import { externalizeInitializers } from './onnx/external.ts';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface OnnxBackendOptions {
  /**
   * Execution providers in order of preference (default ['cpu'], or what the environment
   * variable PREFIX_TUNING_ONNX_EP says: `cpu`, `cuda` (= ['cuda', 'cpu']) or `auto`); 'auto'
   * adds 'cuda' first when onnxruntime-node's CUDA provider libraries are installed (see the
   * README). Asking for 'cuda' without them is an error.
   */
  readonly executionProviders?: readonly ExecutionProvider[] | 'auto';
  /** Threads for one op (default: the machine's available parallelism). */
  readonly intraOpNumThreads?: number;
  /** ORT graph optimizations (default 'all'). */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * How frozen parameters are bound (see the module comment; default 'inputs' on CPU, except
   * for graphs compiled `repeated` (decoding steps) whose weights fit in the model (<= 1.5
   * GiB), and 'initializers' with CUDA).
   */
  readonly weights?: 'inputs' | 'initializers' | 'external';
  /** Fused kernels to use (default: all fusions on). */
  readonly fusions?: Partial<FusionOptions>;
  /**
   * ORT's CPU memory arena (default true). Off, tensors are malloc'ed and freed per run:
   * lower peak RSS for large training graphs, slightly more allocation work.
   */
  readonly memArena?: boolean;
  /**
   * ORT's memory-pattern planning (default false): one pre-planned block per input shape. Off,
   * training graphs peak lower and decoding (a new cache length every step) plans nothing.
   */
  readonly memPattern?: boolean;
  /**
   * Whether ORT's intra-op threads spin while waiting for work (default true: lowest latency
   * on an idle machine; false yields the CPU, better when other processes compete for it).
   */
  readonly spinning?: boolean;
  /** Debugging: ORT writes its optimized model here. */
  readonly optimizedModelPath?: string;
  /** Debugging: ORT writes a JSON profile with this prefix (per-node timings) when the executable is disposed. */
  readonly profilePrefix?: string;
  /** ORT log severity (0 verbose .. 4 fatal; default 3, errors only). */
  readonly logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

const EMBED_LIMIT = 1.5 * 2 ** 30;

/** The onnxruntime-node version in use. */
export const onnxRuntimeVersion: string = ort.env.versions.common;

/** Where onnxruntime-node looks for its CUDA execution-provider libraries. */
export const cudaProviderPath = (): string => {
  const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
};

/** Whether onnxruntime-node's CUDA provider libraries are installed (the GPU itself is not probed). */
export const cudaAvailable = (): boolean => process.platform === 'linux' && process.arch === 'x64' && existsSync(cudaProviderPath());

/** The providers a device name stands for, as PREFIX_TUNING_ONNX_EP and the CLI's --device give it: cpu, cuda (then the CPU) or auto; unset or empty: undefined, i.e. the CPU. */
export const providersOf = (v: string | undefined): OnnxBackendOptions['executionProviders'] => {
  const s = (v ?? '').trim().toLowerCase();
  if (s === '') return undefined;
  if (s === 'auto') return 'auto';
  if (s === 'cpu') return ['cpu'];
  if (s === 'cuda') return ['cuda', 'cpu'];
  throw new Error(`PREFIX_TUNING_ONNX_EP='${v}': expected cpu, cuda or auto`);
};

const resolveProviders = (p: OnnxBackendOptions['executionProviders'] = providersOf(process.env['PREFIX_TUNING_ONNX_EP'])): ExecutionProvider[] => {
  if (p === 'auto') return cudaAvailable() ? ['cuda', 'cpu'] : ['cpu'];
  const eps = [...(p ?? ['cpu'])];
  if (eps.includes('cuda') && !cudaAvailable())
    throw new Error(
      `onnxBackend: the CUDA execution provider needs onnxruntime-node's CUDA libraries (${cudaProviderPath()} is missing); ` +
        `install them with scripts/install-ort-cuda.sh (see packages/backend-onnx/README.md), or use executionProviders: 'auto' to fall back to the CPU`,
    );
  return eps;
};

const bytesOf = (t: HostTensor): number => t.data.byteLength;

/** A host tensor as an ORT tensor over the same memory (converting only mismatched storage). */
export const toOrt = (t: HostTensor): ort.Tensor => {
  switch (t.dtype) {
    case 'float32': return new ort.Tensor('float32', t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>), [...t.shape]);
    case 'int32': return new ort.Tensor('int32', t.data instanceof Int32Array ? t.data : Int32Array.from(t.data as ArrayLike<number>), [...t.shape]);
    case 'int64':
      if (!(t.data instanceof BigInt64Array)) throw new Error(`int64 tensor data must be a BigInt64Array, got ${t.data.constructor.name}`);
      return new ort.Tensor('int64', t.data, [...t.shape]);
    case 'bool':
      if (!(t.data instanceof Uint8Array)) throw new Error(`bool tensor data must be a Uint8Array, got ${t.data.constructor.name}`);
      return new ort.Tensor('bool', t.data, [...t.shape]);
  }
};

/** An ORT tensor as a host tensor over the same memory. */
export const fromOrt = (t: ort.Tensor): HostTensor => {
  const dtype = t.type as DType;
  if (!['float32', 'int32', 'int64', 'bool'].includes(dtype)) throw new Error(`unexpected output dtype ${t.type}`);
  return { dtype, shape: [...t.dims], data: t.data as HostTensor['data'] };
};

const copyHost = (t: HostTensor): HostTensor => ({ dtype: t.dtype, shape: [...t.shape], data: t.data.slice() });

/** Emits the ONNX model of a graph (for inspection or other runtimes); params in `initializers` are embedded. */
export const toOnnx = (g: Graph, opts: { initializers?: Readonly<Record<string, HostTensor>>; fusions?: Partial<FusionOptions> } = {}): Uint8Array =>
  encodeModel(lowerGraph(g, opts).model);

class OnnxExecutable implements Executable {
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    readonly graph: Graph,
    private readonly session: ort.InferenceSession,
    private readonly lowered: LoweredModel,
    /** Inputs bound once (frozen params as inputs). */
    private readonly bound: ReadonlyMap<string, ort.Tensor>,
    /** Current state tensors, and the output that replaces each. */
    private readonly state: Map<string, ort.Tensor>,
    private readonly stateNext: ReadonlyMap<string, string>,
    private readonly internal: ReadonlySet<string>,
    private readonly profiling: boolean,
  ) {
    this.inputNames = new Set(lowered.inputs.map((i) => i.name));
    this.outputNames = new Set(lowered.outputs.map((o) => o.name));
    this.onnxNames = new Map(lowered.outputs.map((o) => [o.name, o.onnxName]));
    this.updates = new Set(stateNext.values());
  }

  // fixed at compile time, looked up at every run
  private readonly inputNames: ReadonlySet<string>;
  private readonly outputNames: ReadonlySet<string>;
  /** The ONNX value of each graph output (its own name unless that is a leaf's). */
  private readonly onnxNames: ReadonlyMap<string, string>;
  /** Outputs that replace state. */
  private readonly updates: ReadonlySet<string>;


  run(feeds: Readonly<Record<string, HostTensor>>, fetch?: readonly string[]): Promise<Record<string, HostTensor>> {
    const job = this.queue.then(() => this.runNow(feeds, fetch));
    this.queue = job.catch(() => undefined);
    return job;
  }

  private async runNow(feeds: Readonly<Record<string, HostTensor>>, fetch?: readonly string[]): Promise<Record<string, HostTensor>> {
    if (this.disposed) throw new Error('run: executable was disposed');
    const { outputNames, updates } = this;
    const wanted = fetch ?? this.lowered.outputs.map((o) => o.name).filter((n) => !this.internal.has(n));
    for (const f of wanted) if (!outputNames.has(f)) throw new Error(`run: unknown output '${f}' (outputs: ${[...outputNames].join(', ')})`);
    const ortFeeds: Record<string, ort.Tensor> = {};
    const sizes = new Map<string, [number, string]>();
    const bindSizes = (name: string, declared: Shape, actual: readonly number[]): void => {
      declared.forEach((d, i) => {
        if (isConcrete(d)) return;
        const key = dimToString(d);
        const prev = sizes.get(key);
        if (prev !== undefined && prev[0] !== actual[i])
          throw new Error(`run: dim ${key} is ${prev[0]} in '${prev[1]}' but ${actual[i]} in '${name}'`);
        sizes.set(key, [actual[i]!, name]);
      });
    };
    for (const inp of this.lowered.inputs) {
      const bound = this.bound.get(inp.name) ?? this.state.get(inp.name);
      if (bound !== undefined) {
        if (inp.name in feeds) throw new Error(`run: '${inp.name}' is ${this.state.has(inp.name) ? 'state' : 'a bound parameter'}; it cannot be fed`);
        ortFeeds[inp.name] = bound;
        bindSizes(inp.name, inp.shape, bound.dims);
        continue;
      }
      const t = feeds[inp.name];
      if (t === undefined) throw new Error(`run: missing feed '${inp.name}' (${inp.dtype}${shapeToString(inp.shape)})`);
      const leafNode = { op: inp.kind, dtype: inp.dtype, shape: inp.shape, attrs: { name: inp.name } } as unknown as Node<'input'>;
      const bad = checkLeafValue(leafNode, t, 'feed');
      if (bad !== undefined) throw new Error(`run: ${bad}`);
      bindSizes(inp.name, inp.shape, t.shape);
      ortFeeds[inp.name] = toOrt(t);
    }
    for (const k of Object.keys(feeds)) if (!this.inputNames.has(k)) throw new Error(`run: '${k}' is not an input of the graph`);
    const fetches: Record<string, ort.Tensor | null> = {};
    const onnx = (f: string): string => this.onnxNames.get(f) ?? f;
    for (const f of [...wanted, ...updates]) fetches[onnx(f)] = null;
    const out = await this.session.run(ortFeeds, fetches);
    const result: Record<string, HostTensor> = {};
    // an output that becomes state is returned as a copy (the caller may write into it)
    for (const f of wanted) result[f] = updates.has(f) ? copyHost(fromOrt(out[onnx(f)] as ort.Tensor)) : fromOrt(out[onnx(f)] as ort.Tensor);
    for (const [s, next] of this.stateNext) this.state.set(s, out[onnx(next)] as ort.Tensor);
    return result;
  }

  async readState(name: string): Promise<HostTensor> {
    await this.queue;
    const t = this.state.get(name);
    if (t === undefined) throw new Error(`readState: no state entry '${name}' (state: ${[...this.state.keys()].join(', ')})`);
    return copyHost(fromOrt(t));
  }

  async writeState(name: string, value: HostTensor): Promise<void> {
    await this.queue;
    const cur = this.state.get(name);
    if (cur === undefined) throw new Error(`writeState: no state entry '${name}'`);
    if (value.dtype !== cur.type || value.shape.length !== cur.dims.length || value.shape.some((d, i) => d !== cur.dims[i]))
      throw new Error(`writeState '${name}': expected ${cur.type}[${cur.dims.join(',')}], got ${value.dtype}[${value.shape.join(',')}]`);
    this.state.set(name, toOrt(copyHost(value)));
  }

  async dispose(): Promise<void> {
    await this.queue.catch(() => undefined);
    if (this.disposed) return;
    this.disposed = true;
    if (this.profiling) this.session.endProfiling();
    await this.session.release();
  }
}

/** The ONNX Runtime backend (CPU by default; see OnnxBackendOptions). */
export const onnxBackend = (opts: OnnxBackendOptions = {}): Backend => {
  const eps = resolveProviders(opts.executionProviders);
  const threads = opts.intraOpNumThreads ?? availableParallelism();
  return {
    name: 'onnx',
    engine: `onnxruntime-node ${ort.env.versions.common} ${eps.join('+')} (${threads} threads)`,
    async compile(g: Graph, copts: CompileOptions = {}): Promise<Executable> {
      const params = copts.params ?? {};
      const stateSpecs = copts.state ?? {};
      const leaves = new Map<string, Node<'input'> | Node<'param'>>();
      for (const n of graphNodes(g)) if (n.op === 'input' || n.op === 'param') leaves.set((n as Node<'input'>).attrs.name, n as Node<'input'>);
      const outputs = new Set(Object.keys(g.outputs));
      for (const [name, spec] of Object.entries(stateSpecs)) {
        const leaf = leaves.get(name);
        if (leaf === undefined) throw new Error(`compile: state '${name}' is not a leaf of the graph`);
        if (name in params) throw new Error(`compile: '${name}' is given both as a parameter and as state`);
        const bad = checkLeafValue(leaf, spec.init, 'state');
        if (bad !== undefined) throw new Error(`compile: ${bad}`);
        if (spec.next !== undefined) {
          if (!outputs.has(spec.next)) throw new Error(`compile: state '${name}' is updated from '${spec.next}', which is not an output`);
          const o = g.outputs[spec.next]!;
          if (o.dtype !== leaf.dtype || o.shape.length !== leaf.shape.length || o.shape.some((d, i) => dimToString(d) !== dimToString(leaf.shape[i]!)))
            throw new Error(`compile: state '${name}' (${leaf.dtype}${shapeToString(leaf.shape)}) cannot take output '${spec.next}' (${o.dtype}${shapeToString(o.shape)})`);
        }
      }
      const frozen: Record<string, HostTensor> = {};
      for (const [name, leaf] of leaves) {
        if (leaf.op !== 'param' || name in stateSpecs) continue;
        const t = params[name];
        if (t === undefined) throw new Error(`compile: no value for parameter '${name}' (${leaf.dtype}${shapeToString(leaf.shape)})`);
        const bad = checkLeafValue(leaf, t, 'parameter');
        if (bad !== undefined) throw new Error(`compile: ${bad}`);
        frozen[name] = t;
      }
      for (const o of copts.internalOutputs ?? []) if (!outputs.has(o)) throw new Error(`compile: internal output '${o}' is not an output`);
      const total = Object.values(frozen).reduce((s, t) => s + bytesOf(t), 0);
      // CPU: bound inputs share the caller's memory, but MLAS packs them at every GEMM, so an
      // executable run many times (a decoding step) owns prepacked initializers instead when
      // they fit in the model (GPT-2 small decoding on this 2-vCPU VM: 1.4x faster steps at
      // batch 1, 1.5x at batch 32; larger weights would go through a temporary file and be
      // held twice); CUDA: initializers are uploaded once (a bound input would be copied to
      // the device at every run)
      const mode = opts.weights ?? (eps.includes('cuda') || (copts.repeated && total <= EMBED_LIMIT) ? 'initializers' : 'inputs');
      const embed = mode !== 'inputs';
      const external = mode === 'external' || (mode === 'initializers' && total > EMBED_LIMIT);
      const lowered = lowerGraph(g, { initializers: embed ? frozen : {}, fusions: opts.fusions });
      let tmp: string | undefined;
      let model: Uint8Array | string;
      if (external) {
        tmp = mkdtempSync(join(tmpdir(), 'prefix-tuning-onnx-'));
        const m = externalizeInitializers(lowered.model, join(tmp, 'weights.bin'), 'weights.bin');
        writeFileSync(join(tmp, 'model.onnx'), encodeModel(m));
        model = join(tmp, 'model.onnx');
      } else model = encodeModel(lowered.model);
      const sessionOptions: ort.InferenceSession.SessionOptions = {
        executionProviders: [...eps],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
        enableCpuMemArena: opts.memArena ?? true,
        enableMemPattern: opts.memPattern ?? false,
        logSeverityLevel: opts.logSeverityLevel ?? 3,
        ...(opts.spinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
        ...(opts.optimizedModelPath ? { optimizedModelFilePath: opts.optimizedModelPath } : {}),
        ...(opts.profilePrefix ? { enableProfiling: true, profileFilePrefix: opts.profilePrefix } : {}),
      };
      let session: ort.InferenceSession;
      try {
        session = await (typeof model === 'string' ? ort.InferenceSession.create(model, sessionOptions) : ort.InferenceSession.create(model, sessionOptions));
      } catch (e) {
        const msg = (e as Error).message;
        if (/AppendExecutionProvider_Cuda/.test(msg))
          throw new Error(
            `compile: onnxruntime-node's CUDA execution provider did not start (${msg}): the CUDA libraries it was built against must be on ` +
              `LD_LIBRARY_PATH (\`ldd ${cudaProviderPath()}\` lists the missing ones; see packages/backend-onnx/README.md)`,
          );
        throw new Error(`compile: onnxruntime rejected the lowered model: ${msg}`);
      } finally {
        // ORT has read (or mapped) the external data; an unlinked mapped file stays valid
        if (tmp !== undefined) try { rmSync(tmp, { recursive: true, force: true }); } catch { /* a platform that keeps mapped files locked: left in tmpdir */ }
      }
      const bound = new Map<string, ort.Tensor>();
      if (!embed) for (const [name, t] of Object.entries(frozen)) bound.set(name, toOrt(t));
      const state = new Map<string, ort.Tensor>();
      const stateNext = new Map<string, string>();
      for (const [name, spec] of Object.entries(stateSpecs)) {
        state.set(name, toOrt(copyHost(spec.init)));
        if (spec.next !== undefined) stateNext.set(name, spec.next);
      }
      return new OnnxExecutable(g, session, lowered, bound, state, stateNext, new Set(copts.internalOutputs ?? []), opts.profilePrefix !== undefined);
    },
  };
};
