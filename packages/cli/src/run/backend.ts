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

export interface BackendChoice {
  /** Where the onnx backend runs (absent: its default, PREFIX_TUNING_ONNX_EP or the CPU). */
  readonly device?: DeviceName;
  /** ONNX Runtime intra-op threads (absent: all cores). */
  readonly threads?: number;
}

/** The backend by name. tfjs is loaded lazily so that its native modules cost nothing otherwise. */
export const selectBackend = async (name: BackendName, choice: BackendChoice = {}): Promise<Backend> => {
  if (choice.device !== undefined && name !== 'onnx')
    throw new UsageError(`--device applies to the onnx backend (${name === 'tfjs' ? 'the tfjs backend picks its engine itself: tfjs-node-gpu when it loads, or PREFIX_TUNING_TFJS_ENGINE' : 'the reference evaluator runs on the CPU'})`);
  switch (name) {
    case 'reference':
      return referenceBackend();
    case 'onnx': {
      const { onnxBackend, cudaAvailable, cudaProviderPath } = await import('@prefix-tuning/backend-onnx');
      const { device, threads } = choice;
      if (device === 'cuda' && !cudaAvailable())
        throw new UsageError(
          `--device cuda: onnxruntime-node's CUDA provider is not installed (${cudaProviderPath()} is missing); ` +
            'install it with scripts/install-ort-cuda.sh (see packages/backend-onnx/README.md), or use --device auto to fall back to the CPU',
        );
      try {
        return onnxBackend({
          ...(device === undefined ? {} : { executionProviders: device === 'auto' ? 'auto' : device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'] }),
          ...(threads === undefined ? {} : { intraOpNumThreads: threads }),
        });
      } catch (e) {
        throw new UsageError((e as Error).message); // e.g. a bad PREFIX_TUNING_ONNX_EP: one line, exit 2
      }
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
