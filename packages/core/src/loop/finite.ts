/**
 * Non-finite values (NaN, ±Inf) in parameters: the trainer stops on them, and an adapter that
 * holds any is refused at load (a diverged run's adapter generates garbage, e.g. NUL characters).
 */
import * as E from 'fp-ts/lib/Either.js';
import type { HostTensor } from '../backend/tensor.ts';
import type { ModelConfig } from '../models/config.ts';
import { parseAdapter, type LoadedAdapter } from '../prefix/export.ts';

/** The first tensor (by name) holding non-finite float values: its name, how many, and the first one. */
export const nonFiniteTensor = (ts: Readonly<Record<string, HostTensor>>): { name: string; count: number; value: number } | undefined => {
  for (const name of Object.keys(ts).sort()) {
    const t = ts[name]!;
    if (t.dtype !== 'float32') continue;
    let count = 0, value = 0;
    for (const v of t.data as Float32Array) if (!Number.isFinite(v)) { if (count++ === 0) value = v; }
    if (count > 0) return { name, count, value };
  }
  return undefined;
};

/**
 * `parseAdapter`, refusing an adapter with non-finite values; the one reader of adapter files
 * for generate, eval, quickstart and serve. Left is one line.
 */
export const parseFiniteAdapter = (
  cfg: ModelConfig,
  configJson: unknown,
  weights: Uint8Array,
  opts: Parameters<typeof parseAdapter>[3] = {},
): E.Either<string, LoadedAdapter> => {
  const a = parseAdapter(cfg, configJson, weights, opts);
  if (E.isLeft(a)) return a;
  const bad = nonFiniteTensor(a.right.params);
  if (bad === undefined) return a;
  return E.left(`adapter_model.safetensors: ${bad.name} holds ${bad.count} non-finite value${bad.count === 1 ? '' : 's'} (${bad.value}); the run that wrote it diverged (retrain it, e.g. with a lower --lr)`);
};
