/**
 * Which TensorFlow.js engine runs the graphs, chosen once per process (TensorFlow.js keeps one
 * global engine): `@tensorflow/tfjs-node-gpu` when it loads, else `@tensorflow/tfjs-node`, else
 * `@tensorflow/tfjs-backend-wasm`, else the pure-JS `@tensorflow/tfjs-backend-cpu`; or exactly
 * the engine the caller names (then a failure to load is an error, not a fallback).
 *
 * The native packages need libtensorflow, which their install script downloads from outside
 * the npm registry; where that script did not run (as in this repository's install), requiring
 * them fails at once and the selection moves on quietly, recording why. One line naming the
 * chosen engine and the skipped ones is logged (to stderr, once per engine, unless `log` says
 * otherwise) and the same facts are returned as `EngineInfo` (benchmarks record them).
 *
 * WebAssembly in Node: the `.wasm` binaries are read from the package's `dist/` directory; SIMD
 * is used when V8 validates it (Node 20 does). TensorFlow.js disables wasm threads under Node
 * (tfjs issue #3830: Emscripten's pthread workers are created from a blob: URL, which Node's
 * worker_threads refuse, and the thread count is capped at half the logical cores). With
 * `wasmThreads > 1` the threaded build is loaded anyway: its worker script is written to a
 * file, the blob: URLs are answered with file paths, the core count seen during initialisation
 * is raised so that the thread pool gets the requested size, and the pool's workers are
 * unref'd so that they never keep the process alive. The default is one thread.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernels } from './kernels.ts';

const require = createRequire(import.meta.url);

/** The engines, fastest first. */
export const engineNames = ['node-gpu', 'node', 'wasm', 'cpu'] as const;
export type EngineName = (typeof engineNames)[number];

/** What runs the graphs: the result of engine selection. */
export interface EngineInfo {
  readonly name: EngineName;
  /** The TensorFlow.js backend name it registers ('tensorflow', 'wasm' or 'cpu'). */
  readonly tfjsBackend: 'tensorflow' | 'wasm' | 'cpu';
  /** @tensorflow/tfjs-core version. */
  readonly version: string;
  /** Engine details, e.g. 'simd, 1 thread' or 'TensorFlow 2.18.0 C library, CPU'. */
  readonly detail: string;
  /** One line, e.g. 'tfjs wasm 4.22.0 (simd, 1 thread)'. */
  readonly description: string;
  /** Engines tried before this one and why they were passed over. */
  readonly skipped: readonly { readonly engine: EngineName; readonly reason: string }[];
}

export interface EngineOptions {
  /**
   * 'auto' (default; the environment variable PREFIX_TUNING_TFJS_ENGINE may name one) tries
   * node-gpu, node, wasm, cpu in that order; a name selects exactly that engine.
   */
  readonly engine?: EngineName | 'auto';
  /** Threads of the wasm engine's XNNPACK pool (default 1; see the module comment). */
  readonly wasmThreads?: number;
  /** Where the selection line goes: true (default, stderr), false, or a function. */
  readonly log?: boolean | ((line: string) => void);
}

/** Raised when an engine cannot be loaded; `reason` is one line. */
export class EngineUnavailable extends Error {
  constructor(readonly engine: EngineName, readonly reason: string) {
    super(`tfjs engine '${engine}' is unavailable: ${reason}`);
    this.name = 'EngineUnavailable';
  }
}

const firstLine = (e: unknown): string => {
  const msg = e instanceof Error ? e.message : String(e);
  const line = msg.split('\n').map((s) => s.trim()).find((s) => s !== '') ?? 'unknown error';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
};

const tfjsBackendOf: Readonly<Record<EngineName, EngineInfo['tfjsBackend']>> = { 'node-gpu': 'tensorflow', node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' };

/**
 * Runs `f` with TensorFlow.js warnings collected instead of printed. Returns the result and
 * the collected lines (so a failed initialisation can report its reason in one line).
 */
const collectingWarnings = async <A>(f: () => Promise<A>): Promise<{ value: A; warnings: string[] }> => {
  const warnings: string[] = [];
  const orig = console.warn;
  console.warn = (...args: unknown[]) => { warnings.push(args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ')); };
  try {
    return { value: await f(), warnings };
  } finally {
    console.warn = orig;
  }
};

// ---------------------------------------------------------------------------------------------
// native engines

let nativeLoaded: EngineName | undefined;

const loadNative = async (name: 'node-gpu' | 'node'): Promise<{ detail: string }> => {
  const pkg = name === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  if (nativeLoaded !== undefined && nativeLoaded !== name)
    throw new EngineUnavailable(name, `${nativeLoaded === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node'} is already loaded in this process`);
  if (nativeLoaded === undefined) {
    // TensorFlow's C++ logging (CPU feature banners) is noise for a library user
    process.env['TF_CPP_MIN_LOG_LEVEL'] ??= '2';
    const orig = console.warn;
    console.warn = () => {};
    try {
      require(pkg);
    } catch (e) {
      // the package may have registered its kernels before its native addon failed to load:
      // remove them, so that a later native package (or none) starts clean and quiet
      for (const k of tf.getKernelsForBackend('tensorflow')) tf.unregisterKernel(k.kernelName, 'tensorflow');
      if (tf.findBackendFactory('tensorflow') !== null) tf.removeBackend('tensorflow');
      const code = (e as { code?: string }).code;
      const msg = String((e as Error).message);
      if (code === 'MODULE_NOT_FOUND' && msg.includes(`'${pkg}'`)) throw new EngineUnavailable(name, `${pkg} is not installed`);
      if (/tfjs_binding\.node\) can not be found/.test(msg))
        throw new EngineUnavailable(name, `${pkg} did not load: its native addon was not built (the install script that downloads libtensorflow did not run)`);
      throw new EngineUnavailable(name, `${pkg} did not load: ${firstLine(e)}`);
    } finally {
      console.warn = orig;
    }
    if (tf.findBackendFactory('tensorflow') === null)
      throw new EngineUnavailable(name, `${pkg} loaded but registered with another copy of @tensorflow/tfjs-core (versions must equal ${tf.version_core})`);
    nativeLoaded = name;
  }
  const { value: ok, warnings } = await collectingWarnings(() => tf.setBackend('tensorflow'));
  if (!ok) throw new EngineUnavailable(name, `the 'tensorflow' backend failed to initialise: ${warnings[0] ?? 'no reason given'}`);
  const be = tf.backend() as unknown as { isUsingGpuDevice?: boolean; binding?: { TF_Version?: string } };
  // the C library's own version: 2.9.1 from tfjs-node's download, 2.18.0 from scripts/install-tfjs-native.sh
  const lib = `TensorFlow ${be.binding?.TF_Version ?? ''}`.trimEnd();
  const detail = name === 'node-gpu'
    ? be.isUsingGpuDevice === false ? `${lib}: no GPU device visible, runs on the CPU` : `${lib}, GPU device in use`
    : `${lib} C library, CPU`;
  return { detail };
};

// ---------------------------------------------------------------------------------------------
// wasm

let wasmThreadsInit: number | undefined;

const wasmDist = (): string => dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));

/**
 * Prepares the threaded build for Node (see the module comment). Returns an undo function for
 * the patches that must only hold during initialisation.
 */
const patchThreadsForNode = (threads: number): (() => void) => {
  const out = join(wasmDist(), '..', 'wasm-out');
  const mainJs = join(out, 'tfjs-backend-wasm-threaded-simd.js');
  const { wasmWorkerContents } = require(join(out, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  // inside the worker, the main script arrives as a Blob: answer with its file path instead
  const source = `URL.createObjectURL = () => ${JSON.stringify(mainJs)};\nURL.revokeObjectURL = () => {};\n${wasmWorkerContents.replace(/\n/g, '\\n')}`;
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(os.tmpdir(), `prefix-tuning-tfjs-wasm-${tf.version_core}`);
  const workerPath = join(dir, `worker-${hash}.cjs`);
  if (!existsSync(workerPath) || readFileSync(workerPath, 'utf8') !== source) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(workerPath, source);
  }
  const origUrl = URL.createObjectURL;
  URL.createObjectURL = (obj: Blob) => (obj instanceof Blob && obj.type === 'application/javascript' ? workerPath : origUrl(obj));
  // the wasm module caps its pool at half the logical cores (seen through os.cpus() in Node)
  const origCpus = os.cpus;
  const real = origCpus();
  (os as { cpus: typeof os.cpus }).cpus = () => Array.from({ length: Math.max(real.length, 2 * threads) }, (_, i) => real[i % real.length]!);
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  tfwasm.setThreadsCount(threads);
  return () => {
    URL.createObjectURL = origUrl;
    (os as { cpus: typeof os.cpus }).cpus = origCpus;
  };
};

const unrefWasmWorkers = (): void => {
  const pt = (tf.backend() as unknown as { wasm?: { PThread?: { unusedWorkers?: unknown[]; runningWorkers?: unknown[]; pthreads?: Record<string, unknown> } } }).wasm?.PThread;
  if (!pt) return;
  for (const w of [...(pt.unusedWorkers ?? []), ...(pt.runningWorkers ?? []), ...Object.values(pt.pthreads ?? {})])
    (w as { unref?: () => void }).unref?.();
};

const loadWasm = async (threads: number): Promise<{ detail: string }> => {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`wasmThreads must be a positive integer, got ${threads}`);
  let undo = (): void => {};
  if (wasmThreadsInit === undefined) {
    const dist = wasmDist();
    if (!existsSync(join(dist, 'tfjs-backend-wasm.wasm'))) throw new EngineUnavailable('wasm', `no .wasm binaries in ${dist}`);
    tfwasm.setWasmPaths(`${dist}/`);
    if (threads > 1) undo = patchThreadsForNode(threads);
    wasmThreadsInit = threads;
  }
  let result: { value: boolean; warnings: string[] };
  try {
    result = await collectingWarnings(() => tf.setBackend('wasm'));
  } finally {
    undo();
  }
  if (!result.value) throw new EngineUnavailable('wasm', `initialisation failed: ${result.warnings.find((w) => !w.startsWith('Initialization of backend')) ?? result.warnings[0] ?? 'no reason given'}`);
  unrefWasmWorkers();
  registerWasmKernels();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const n = tfwasm.getThreadsCount();
  return { detail: `${simd ? 'simd' : 'no simd'}, ${n} thread${n === 1 ? '' : 's'}` };
};

// ---------------------------------------------------------------------------------------------
// cpu

const loadCpu = async (): Promise<{ detail: string }> => {
  const ok = await tf.setBackend('cpu');
  if (!ok) throw new EngineUnavailable('cpu', 'the cpu backend failed to initialise');
  // the cpu backend prints an advertisement for tfjs-node on its first tensor: consume it quietly
  const prod = tf.env().getBool('PROD');
  tf.env().set('PROD', true);
  try {
    tf.tensor1d([0]).dispose();
  } finally {
    tf.env().set('PROD', prod);
  }
  return { detail: 'pure JavaScript' };
};

// ---------------------------------------------------------------------------------------------
// selection

const loaded = new Map<EngineName, Promise<{ detail: string }>>();

const load = (name: EngineName, opts: EngineOptions): Promise<{ detail: string }> => {
  let p = loaded.get(name);
  if (p === undefined) {
    p = name === 'wasm' ? loadWasm(opts.wasmThreads ?? 1) : name === 'cpu' ? loadCpu() : loadNative(name);
    loaded.set(name, p);
  }
  return p;
};

const packageLabel: Readonly<Record<EngineName, string>> = { 'node-gpu': 'tfjs-node-gpu', node: 'tfjs-node', wasm: 'tfjs wasm', cpu: 'tfjs cpu' };

const logged = new Set<string>();

const emit = (opts: EngineOptions, info: EngineInfo): void => {
  if (opts.log === false) return;
  const skipped = info.skipped.map((s) => `${s.engine}: ${s.reason}`).join('; ');
  const line = `[backend-tfjs] engine: ${info.description}${skipped === '' ? '' : ` (skipped ${skipped})`}`;
  if (typeof opts.log === 'function') opts.log(line);
  else if (!logged.has(line)) {
    logged.add(line);
    process.stderr.write(`${line}\n`);
  }
};

const isEngineName = (s: string): s is EngineName => (engineNames as readonly string[]).includes(s);

/** The engine order an option (or PREFIX_TUNING_TFJS_ENGINE) asks for. */
export const requestedEngines = (opt: EngineOptions['engine']): { order: readonly EngineName[]; explicit: boolean } => {
  const fromEnv = process.env['PREFIX_TUNING_TFJS_ENGINE'];
  const want = opt ?? (fromEnv === undefined || fromEnv === '' ? 'auto' : fromEnv);
  if (want === 'auto') return { order: engineNames, explicit: false };
  if (!isEngineName(want)) throw new Error(`unknown tfjs engine '${want}' (engines: auto, ${engineNames.join(', ')})`);
  return { order: [want], explicit: true };
};

/**
 * Selects and initialises the engine (see the module comment), makes it TensorFlow.js's active
 * backend and returns what was chosen. Throws `EngineUnavailable` only when the caller named an
 * engine that cannot load (or, in 'auto', when not even the cpu engine can).
 */
export const selectEngine = async (opts: EngineOptions = {}): Promise<EngineInfo> => {
  const { order, explicit } = requestedEngines(opts.engine);
  const skipped: { engine: EngineName; reason: string }[] = [];
  for (const name of order) {
    try {
      const { detail } = await load(name, opts);
      const info: EngineInfo = {
        name, tfjsBackend: tfjsBackendOf[name], version: tf.version_core, detail, skipped,
        description: `${packageLabel[name]} ${tf.version_core} (${detail})`,
      };
      emit(opts, info);
      return info;
    } catch (e) {
      if (!(e instanceof EngineUnavailable)) throw e;
      if (explicit) throw e;
      skipped.push({ engine: name, reason: e.reason });
    }
  }
  throw new Error(`no tfjs engine could be loaded: ${skipped.map((s) => `${s.engine}: ${s.reason}`).join('; ')}`);
};

/** Makes `info`'s backend TensorFlow.js's active one (several executables may use different engines). */
export const activate = async (info: EngineInfo): Promise<void> => {
  if (tf.getBackend() !== info.tfjsBackend) {
    const ok = await tf.setBackend(info.tfjsBackend);
    if (!ok) throw new Error(`cannot switch TensorFlow.js to its '${info.tfjsBackend}' backend`);
  }
};
