/**
 * Backend selection for the CLI: `onnx` (default), `tfjs` (imported only when asked for),
 * `reference`; `--device cpu|cuda|auto` says where the onnx backend runs.
 */
import type { Backend } from '@prefix-tuning/core';
import { referenceBackend } from '@prefix-tuning/core';
import { UsageError, type OptionSpec } from '../cli.ts';

export const BACKENDS = ['onnx', 'tfjs', 'reference'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Checks a `--backend` value. */
export const backendName = (v: unknown): BackendName => {
  const s = String(v ?? 'onnx');
  if (!(BACKENDS as readonly string[]).includes(s)) throw new UsageError(`unknown backend '${s}' (one of ${BACKENDS.join(', ')})`);
  return s as BackendName;
};

export const DEVICES = ['cpu', 'cuda', 'auto'] as const;
export type DeviceName = (typeof DEVICES)[number];

/** The `--device` option of every command that runs a model. */
export const deviceOption: OptionSpec = {
  name: 'device', type: 'string',
  description: "where the onnx backend runs: cpu | cuda | auto (cuda when onnxruntime-node's CUDA provider is installed; default: $PREFIX_TUNING_ONNX_EP, else cpu)",
};

/** Checks a `--device` value (absent: the backend's default). */
export const deviceName = (v: unknown): DeviceName | undefined => {
  if (v === undefined) return undefined;
  const s = String(v);
  if (!(DEVICES as readonly string[]).includes(s)) throw new UsageError(`unknown device '${s}' (one of ${DEVICES.join(', ')})`);
  return s as DeviceName;
};

/** A backend request, checked before anything loads: which backend, where and with how many threads. */
export interface BackendChoice {
  readonly name: BackendName;
  /** Where the onnx backend runs (absent: its default, PREFIX_TUNING_ONNX_EP or the CPU). */
  readonly device?: DeviceName;
  /** ONNX Runtime intra-op threads (absent: all cores). */
  readonly threads?: number;
}

/**
 * The backend a command's options ask for: `--backend` (or `name`: a resumed run's), `--device`
 * (onnx only) and `--threads` (where the command has it). Usage errors only, nothing loaded.
 */
export const backendChoice = (opts: Readonly<Record<string, unknown>>, name: BackendName = backendName(opts['backend'])): BackendChoice => {
  const device = deviceName(opts['device']);
  if (device !== undefined && name !== 'onnx')
    throw new UsageError(`--device applies to the onnx backend (${name === 'tfjs' ? 'the tfjs backend picks its engine itself: tfjs-node-gpu when it loads, or PREFIX_TUNING_TFJS_ENGINE' : 'the reference evaluator runs on the CPU'})`);
  const t = opts['threads'];
  if (t !== undefined && !(Number.isInteger(t) && (t as number) >= 1)) throw new UsageError(`--threads must be a positive integer, got ${String(t)}`);
  return { name, ...(device !== undefined ? { device } : {}), ...(t !== undefined ? { threads: t as number } : {}) };
};

/** The onnx backend's execution providers: `--device`, else PREFIX_TUNING_ONNX_EP (a bad value or CUDA without its provider: a usage error). */
const onnxProviders = (onnx: typeof import('@prefix-tuning/backend-onnx'), device: DeviceName | undefined) => {
  const { cudaAvailable, cudaProviderPath, providersOf } = onnx;
  const env = process.env['PREFIX_TUNING_ONNX_EP'];
  let eps: ReturnType<typeof providersOf>;
  try {
    eps = providersOf(device ?? env); // a --device is checked already: only the variable can be bad
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (eps !== undefined && eps !== 'auto' && eps.includes('cuda') && !cudaAvailable()) {
    const [asked, fallback] = device !== undefined ? ['--device cuda', '--device auto'] : [`PREFIX_TUNING_ONNX_EP=${String(env).trim()}`, 'PREFIX_TUNING_ONNX_EP=auto'];
    throw new UsageError(
      `${asked}: onnxruntime-node's CUDA provider is not installed (${cudaProviderPath()} is missing); ` +
        `install it with scripts/install-ort-cuda.sh (see packages/backend-onnx/README.md), or use ${fallback} to fall back to the CPU`,
    );
  }
  return eps;
};

/** The backend of a choice. tfjs is loaded lazily so that its native modules cost nothing otherwise. */
export const selectBackend = async (choice: BackendChoice): Promise<Backend> => {
  switch (choice.name) {
    case 'reference':
      return referenceBackend();
    case 'onnx': {
      const onnx = await import('@prefix-tuning/backend-onnx');
      const eps = onnxProviders(onnx, choice.device);
      return onnx.onnxBackend({
        ...(eps !== undefined ? { executionProviders: eps } : {}),
        ...(choice.threads !== undefined ? { intraOpNumThreads: choice.threads } : {}),
      });
    }
    case 'tfjs': {
      // a variable specifier: the package may not be built yet, and then it is a clear error, not a crash
      const spec = '@prefix-tuning/backend-tfjs';
      let mod: { tfjsBackend?: (opts?: object) => Backend | Promise<Backend>; loadTfjsBackend?: (opts?: object) => Promise<Backend> };
      try {
        mod = (await import(spec)) as typeof mod;
      } catch (e) {
        throw new UsageError(`the tfjs backend is not available (${(e as Error).message.split('\n')[0]}); use --backend onnx`);
      }
      // loadTfjsBackend waits for the engine selection (tfjs-node-gpu > tfjs-node > wasm > cpu)
      if (typeof mod.loadTfjsBackend === 'function') return await mod.loadTfjsBackend();
      if (typeof mod.tfjsBackend !== 'function') throw new UsageError('the tfjs backend package exports no tfjsBackend(); use --backend onnx');
      return await mod.tfjsBackend();
    }
  }
};

/** The backend a command's `--backend`, `--device` and `--threads` ask for (`selectBackend(backendChoice(opts))`). */
export const backendFromOptions = (opts: Readonly<Record<string, unknown>>): Promise<Backend> => selectBackend(backendChoice(opts));
