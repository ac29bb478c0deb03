/**
 * `tfjsBackend(opts)`: the core `Backend` contract on TensorFlow.js, interchangeable with
 * `onnxBackend(opts)`: the same graphs, the same compile options, the same results within
 * float32 rounding. The engine (tfjs-node-gpu, tfjs-node, wasm or cpu) is selected when the
 * backend is created (engine.ts); `engine` names it once the selection has finished.
 */
import type { Backend, CompileOptions, Graph } from '@prefix-tuning/core';
import { selectEngine, requestedEngines, type EngineInfo, type EngineOptions } from './engine.ts';
import { compileTfjs, type TfjsExecutable } from './executable.ts';
import type { BatchedMatmul } from './lower.ts';

export interface TfjsBackendOptions extends EngineOptions {
  /**
   * Products batched on both sides (attention): 'loop' (one 2-D product per batch entry, the
   * default on wasm, where only 2-D products reach XNNPACK) or 'native' (tf.matMul on the
   * whole batch, the default elsewhere).
   */
  readonly batchedMatmul?: BatchedMatmul;
  /** Evaluate subgraphs of frozen parameters and constants once at compile time (default true). */
  readonly foldFrozen?: boolean;
  /** Accumulate per-op CPU time in each executable (`TfjsExecutable.profile()`; default false). */
  readonly profile?: boolean;
  /**
   * Fused lowerings of composites (tf.softmax, tf.logSoftmax, cross-entropy through gather;
   * default true). false runs every composite as its decomposition (the specification).
   */
  readonly fuse?: boolean;
}

/** A TensorFlow.js backend: `Backend` plus the engine selection it made. */
export interface TfjsBackend extends Backend {
  /** Resolves when the engine is initialised, with what was chosen (rejects if none could be). */
  ready(): Promise<EngineInfo>;
  compile(g: Graph, opts?: CompileOptions): Promise<TfjsExecutable>;
}

/**
 * The TensorFlow.js backend. Engine selection starts at once (see `EngineOptions`); `compile`
 * waits for it. `engine` is the chosen engine's description (before selection finishes, what
 * was requested).
 */
export const tfjsBackend = (opts: TfjsBackendOptions = {}): TfjsBackend => {
  let info: EngineInfo | undefined;
  const requested = requestedEngines(opts.engine);
  const ready = selectEngine(opts).then((i) => (info = i));
  ready.catch(() => undefined); // reported by ready() and compile()
  return {
    name: 'tfjs',
    get engine(): string {
      return info?.description ?? `tfjs (selecting: ${requested.order.join(' > ')})`;
    },
    ready: () => ready,
    async compile(g: Graph, copts: CompileOptions = {}): Promise<TfjsExecutable> {
      const engine = await ready;
      return compileTfjs(g, copts, engine, {
        batched: opts.batchedMatmul ?? (engine.name === 'wasm' ? 'loop' : 'native'),
        foldFrozen: opts.foldFrozen ?? true,
        profile: opts.profile ?? false,
        fuse: opts.fuse ?? true,
      });
    },
  };
};

/** `tfjsBackend(opts)` once its engine is ready (so `engine` is final). */
export const loadTfjsBackend = async (opts: TfjsBackendOptions = {}): Promise<TfjsBackend> => {
  const b = tfjsBackend(opts);
  await b.ready();
  return b;
};
