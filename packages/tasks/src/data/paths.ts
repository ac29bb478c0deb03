/**
 * Where datasets live on disk. Local copies come first: `$PREFIX_TUNING_SHARED/data/<dir>`
 * (default `<repo>/../shared/data/<dir>`); then the download cache
 * `$PREFIX_TUNING_CACHE/datasets/<name>` (default `~/.cache/prefix-tuning/datasets/<name>`,
 * or under `$XDG_CACHE_HOME` when set).
 */
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Environment variables read by this package (a subset of `process.env`). */
export type DataEnv = Readonly<Record<string, string | undefined>>;

/** The repository root (this file is `packages/tasks/src/data/paths.ts`). */
export const repoRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

/** The shared read-only directory: `$PREFIX_TUNING_SHARED`, else `<repo>/../shared`. */
export const sharedDir = (env: DataEnv = process.env): string =>
  env.PREFIX_TUNING_SHARED !== undefined && env.PREFIX_TUNING_SHARED !== ''
    ? resolve(env.PREFIX_TUNING_SHARED)
    : resolve(repoRoot, '..', 'shared');

/**
 * The cache root, shared with the hub package: `$PREFIX_TUNING_CACHE`, else
 * `$XDG_CACHE_HOME/prefix-tuning`, else `~/.cache/prefix-tuning`.
 */
export const cacheRoot = (env: DataEnv = process.env): string =>
  env.PREFIX_TUNING_CACHE !== undefined && env.PREFIX_TUNING_CACHE !== ''
    ? resolve(env.PREFIX_TUNING_CACHE)
    : join(env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache'), 'prefix-tuning');

/** The download directory of one dataset: `<cache root>/datasets/<name>`. */
export const datasetCacheDir = (name: string, env: DataEnv = process.env): string =>
  join(cacheRoot(env), 'datasets', name);
