/** Backend selection for the CLI: `onnx` (default), `tfjs` (imported only when asked for), `reference`. */
import type { Backend } from '@prefix-tuning/core';
import { referenceBackend } from '@prefix-tuning/core';
import { UsageError } from '../cli.ts';

export const BACKENDS = ['onnx', 'tfjs', 'reference'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Checks a `--backend` value. */
export const backendName = (v: unknown): BackendName => {
  const s = String(v ?? 'onnx');
  if (!(BACKENDS as readonly string[]).includes(s)) throw new UsageError(`unknown backend '${s}' (one of ${BACKENDS.join(', ')})`);
  return s as BackendName;
};

/** The backend by name. tfjs is loaded lazily so that its native modules cost nothing otherwise. */
export const selectBackend = async (name: BackendName): Promise<Backend> => {
  switch (name) {
    case 'reference':
      return referenceBackend();
    case 'onnx': {
      const { onnxBackend } = await import('@prefix-tuning/backend-onnx');
      return onnxBackend();
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
