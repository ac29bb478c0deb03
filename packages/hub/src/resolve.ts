/**
 * `resolveModel(idOrDir)`: a local directory is used as it is; a hub id (`gpt2-medium`,
 * `facebook/bart-large`) maps to a cache directory, filled from the hub when online.
 */
import { homedir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import { stat, readdir } from 'node:fs/promises';
import * as E from 'fp-ts/lib/Either.js';
import { parseShardIndex, shardFiles, SHARD_INDEX_FILE } from './core-io.ts';
import { exists, readJson, writeFileAtomic } from './files.ts';
import { consoleReporter, downloadFile, type DownloadContext, type DownloadFailure, type ProgressEvent } from './download.ts';

/** Options of `resolveModel`; each defaults from the environment as noted. */
export interface ResolveOptions {
  /** Branch, tag or commit (default `main`). */
  readonly revision?: string;
  /** Cache root (default `$PREFIX_TUNING_CACHE`, else `$XDG_CACHE_HOME/prefix-tuning` or `~/.cache/prefix-tuning`). */
  readonly cacheDir?: string;
  /** Hub base URL (default `$HF_ENDPOINT`, else https://huggingface.co). */
  readonly endpoint?: string;
  /** Never use the network (default: `$HF_HUB_OFFLINE` is 1/true/yes). */
  readonly offline?: boolean;
  /** Access token for gated or private repos (default `$HF_TOKEN`). */
  readonly token?: string;
  /** Progress sink (default: a bar on a TTY stderr, plain lines otherwise). */
  readonly report?: (e: ProgressEvent) => void;
  /** Download attempts per file (default 5). */
  readonly attempts?: number;
}

/** Files needed for a model: required ones, weights (single or sharded), optional extras. */
export const REQUIRED_FILES = ['config.json', 'tokenizer.json'] as const;
export const OPTIONAL_FILES = ['tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json'] as const;
const MANIFEST = '.prefix-tuning-complete.json';

const HUB_ID = /^(?:[A-Za-z0-9][\w.-]{0,95}\/)?[A-Za-z0-9][\w.-]{0,95}$/;

const envTrue = (v: string | undefined): boolean => v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());

/** The cache root in use. */
export const cacheRoot = (opts: Pick<ResolveOptions, 'cacheDir'> = {}): string =>
  opts.cacheDir ?? process.env['PREFIX_TUNING_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'prefix-tuning');

/** The cache directory of a hub id at a revision: `<root>/hub/<org>--<name>` (plus `--<revision>` when not `main`). */
export const cacheDirFor = (id: string, opts: Pick<ResolveOptions, 'cacheDir' | 'revision'> = {}): string => {
  const rev = opts.revision ?? 'main';
  const base = id.replace('/', '--');
  return join(cacheRoot(opts), 'hub', rev === 'main' ? base : `${base}--${rev.replace(/[^\w.-]/g, '_')}`);
};

const isDir = async (p: string): Promise<boolean> => {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
};

/** Whether a directory already holds a usable model (config, tokenizer, complete weights). */
const haveWeights = async (dir: string): Promise<boolean> => {
  if (await exists(join(dir, 'model.safetensors'))) return true;
  const idx = await readJson(join(dir, SHARD_INDEX_FILE));
  if (E.isLeft(idx)) return false;
  const parsed = parseShardIndex(idx.right);
  if (E.isLeft(parsed)) return false;
  for (const f of shardFiles(parsed.right)) if (!(await exists(join(dir, f)))) return false;
  return true;
};
const complete = async (dir: string): Promise<boolean> => {
  if (await exists(join(dir, MANIFEST))) return true;
  for (const f of REQUIRED_FILES) if (!(await exists(join(dir, f)))) return false;
  return haveWeights(dir);
};

const instructions = (id: string, dir: string, revision: string, endpoint: string, why: string): string =>
  [
    `${id}: ${why}.`,
    `Put the model's files into ${dir}:`,
    `  ${REQUIRED_FILES.join(', ')}, and model.safetensors (or ${SHARD_INDEX_FILE} with every shard it names)`,
    `  optional: ${OPTIONAL_FILES.join(', ')}`,
    `They are at ${endpoint.replace(/\/+$/, '')}/${id}/tree/${revision}; or pass a local model directory instead of a hub id.`,
  ].join('\n');

/**
 * Resolves a model to a local directory. An existing directory is returned as is. A hub id is
 * looked up in the cache; missing files are downloaded (resumable, verified) unless offline.
 * Offline or unreachable, the Left names the directory to fill and the files it needs.
 */
export const resolveModel = async (idOrDir: string, opts: ResolveOptions = {}): Promise<E.Either<string, string>> => {
  if (await isDir(idOrDir)) return E.right(resolvePath(idOrDir));
  if (!HUB_ID.test(idOrDir) || idOrDir.includes('..'))
    return E.left(`${idOrDir}: no such directory, and not a hub id (expected "name" or "org/name")`);
  const revision = opts.revision ?? 'main';
  const endpoint = opts.endpoint ?? process.env['HF_ENDPOINT'] ?? 'https://huggingface.co';
  const dir = cacheDirFor(idOrDir, { ...opts, revision });
  if (await complete(dir)) return E.right(dir);
  const offline = opts.offline ?? envTrue(process.env['HF_HUB_OFFLINE']);
  if (offline) return E.left(instructions(idOrDir, dir, revision, endpoint, 'not in the cache and downloads are off (HF_HUB_OFFLINE)'));
  const token = opts.token ?? process.env['HF_TOKEN'];
  const ctx: DownloadContext = { endpoint, repo: idOrDir, revision, report: opts.report ?? consoleReporter(), attempts: opts.attempts, ...(token ? { token } : {}) };

  const fail = (f: DownloadFailure): string =>
    f.kind === 'unreachable'
      ? instructions(idOrDir, dir, revision, endpoint, `cannot reach ${endpoint} (${f.reason})`)
      : f.kind === 'missing'
        ? `${idOrDir}: ${endpoint}/${idOrDir} has no ${f.file} at revision ${revision} (wrong id, or not a transformers model?)`
        : `${idOrDir}: download failed: ${f.reason}`;
  const fetchFile = async (file: string): Promise<E.Either<DownloadFailure, string>> =>
    (await exists(join(dir, file))) ? E.right(join(dir, file)) : downloadFile(ctx, dir, file);

  const files: string[] = [];
  for (const f of REQUIRED_FILES) {
    const r = await fetchFile(f);
    if (E.isLeft(r)) return E.left(fail(r.left));
    files.push(f);
  }
  // weights: a single file, else the sharded index and its shards
  const single = await fetchFile('model.safetensors');
  if (E.isRight(single)) files.push('model.safetensors');
  else if (single.left.kind === 'missing') {
    const idx = await fetchFile(SHARD_INDEX_FILE);
    if (E.isLeft(idx))
      return E.left(idx.left.kind === 'missing' ? `${idOrDir}: no model.safetensors or ${SHARD_INDEX_FILE} at revision ${revision} (only safetensors weights are supported)` : fail(idx.left));
    const json = await readJson(idx.right);
    if (E.isLeft(json)) return json;
    const index = parseShardIndex(json.right);
    if (E.isLeft(index)) return E.left(`${idx.right}: ${index.left}`);
    files.push(SHARD_INDEX_FILE);
    for (const shard of shardFiles(index.right)) {
      const r = await fetchFile(shard);
      if (E.isLeft(r)) return E.left(fail(r.left));
      files.push(shard);
    }
  } else return E.left(fail(single.left));
  for (const f of OPTIONAL_FILES) {
    const r = await fetchFile(f);
    if (E.isRight(r)) files.push(f);
    else if (r.left.kind !== 'missing') return E.left(fail(r.left));
  }
  const leftovers = (await readdir(dir)).filter((f) => f.endsWith('.part'));
  if (leftovers.length > 0) return E.left(`${dir}: incomplete downloads remain (${leftovers.join(', ')})`);
  const m = await writeFileAtomic(join(dir, MANIFEST), `${JSON.stringify({ id: idOrDir, revision, endpoint, files }, null, 2)}\n`);
  return E.isLeft(m) ? m : E.right(dir);
};
