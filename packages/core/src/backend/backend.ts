/**
 * The contract every backend implements (the reference evaluator in core, ONNX Runtime,
 * TensorFlow.js): compile a graph once, run it many times. Parameters bound at compile time
 * stay on the device; `state` entries are carried between runs on the device (a train step's
 * parameters and optimizer moments), replaced after each run by the output they name.
 */
import type { Graph } from '../ir/graph.ts';
import type { HostTensor } from './tensor.ts';

export interface StateSpec {
  /** Initial value. */
  readonly init: HostTensor;
  /** Graph output that replaces the state after each `run` (absent: the state is read-only). */
  readonly next?: string;
}

export interface CompileOptions {
  /** Values of `param` leaves, bound once (frozen weights). Missing params are an error. */
  readonly params?: Readonly<Record<string, HostTensor>>;
  /**
   * Values of `param` (or `input`) leaves kept on the device between runs and updated from
   * outputs: `{ 'prefix.wte': { init, next: 'prefix.wte:new' } }`.
   */
  readonly state?: Readonly<Record<string, StateSpec>>;
  /** Outputs that are only needed to update state and need not be returned. */
  readonly internalOutputs?: readonly string[];
  /**
   * The executable will run many times on small inputs (a decoding step): a backend may spend
   * memory and compile time to make each run cheaper. ONNX Runtime on the CPU then owns a copy
   * of the weights that it prepacks for its GEMM kernels instead of reading the caller's
   * buffers, which it would repack at every run.
   */
  readonly repeated?: boolean;
}

export interface Executable {
  readonly graph: Graph;
  /** Runs with the given `input` feeds; returns the requested outputs (default: all non-internal). */
  run(feeds: Readonly<Record<string, HostTensor>>, fetch?: readonly string[]): Promise<Record<string, HostTensor>>;
  /** Current value of a state entry, copied to the host. */
  readState(name: string): Promise<HostTensor>;
  /** Replaces a state entry (e.g. when resuming from a checkpoint). */
  writeState(name: string, value: HostTensor): Promise<void>;
  /** Releases device memory. */
  dispose(): Promise<void>;
}

export interface Backend {
  /** Short name: 'reference', 'onnx', 'tfjs'. */
  readonly name: string;
  /** What actually runs, e.g. 'onnxruntime-node 1.30 cpu' or 'tfjs wasm (simd, 2 threads)'. */
  readonly engine: string;
  compile(g: Graph, opts?: CompileOptions): Promise<Executable>;
}
