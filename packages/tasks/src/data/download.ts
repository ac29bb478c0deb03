/**
 * Finding a dataset on disk, and downloading it into the cache when it is not there.
 *
 * `ensureDataset(name)` returns a directory that holds the requested files: the shared copy
 * (`$PREFIX_TUNING_SHARED/data/<dir>`) when it has them all, else the cache
 * (`$PREFIX_TUNING_CACHE/datasets/<name>`), downloading what the cache lacks from the registry's
 * URLs. Downloads go to `<file>.part` and resume with an HTTP `Range` request after an
 * interruption (within a call, up to `retries` times, and across calls); a finished file is
 * checked against its known size, sha256 or git blob id before it is renamed into place.
 * Offline (`offline: true` or `PREFIX_TUNING_OFFLINE=1`), or when the network is unreachable,
 * the error names the directory to fill by hand and the files it needs.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { dataError, type DataError, type DataErrorKind } from './errors.ts';
import { datasetCacheDir, sharedDir, type DataEnv } from './paths.ts';
import { REGISTRY, type DatasetSource, type RemoteFile } from './registry.ts';
import { extractTarGz } from './tar.ts';

/** The subset of `fetch` used here (tests may pass their own). */
export type FetchLike = (url: string, init?: { headers?: Record<string, string>; signal?: AbortSignal }) => Promise<Response>;

/** Options of `downloadFile`. */
export type DownloadOptions = {
  readonly fetch?: FetchLike;
  /** Further attempts after a failed one, each resuming the partial file (default 3). */
  readonly retries?: number;
  /** Called after each received chunk. */
  readonly onProgress?: (p: { readonly url: string; readonly bytes: number; readonly total?: number }) => void;
};

/** What is known about a file's content. */
export type Expected = Pick<RemoteFile, 'sha256' | 'gitSha1' | 'bytes'>;

/** Checks a file against its expected size, sha256 and git blob id; `Left(reason)` on mismatch. */
export const verifyFile = async (path: string, expected: Expected): Promise<E.Either<string, void>> => {
  const size = (await stat(path)).size;
  if (expected.bytes !== undefined && size !== expected.bytes) return E.left(`size is ${size} bytes, expected ${expected.bytes}`);
  if (expected.sha256 === undefined && expected.gitSha1 === undefined) return E.right(undefined);
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1').update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    sha256.update(chunk);
    sha1.update(chunk);
  }
  const got256 = sha256.digest('hex');
  const got1 = sha1.digest('hex');
  if (expected.sha256 !== undefined && got256 !== expected.sha256.toLowerCase())
    return E.left(`sha256 is ${got256}, expected ${expected.sha256}`);
  if (expected.gitSha1 !== undefined && got1 !== expected.gitSha1.toLowerCase())
    return E.left(`git blob id is ${got1}, expected ${expected.gitSha1}`);
  return E.right(undefined);
};

const sizeOf = async (p: string): Promise<number> => {
  try {
    return (await stat(p)).size;
  } catch {
    return 0;
  }
};

const isUnreachable = (err: unknown): boolean => {
  const e = err as { cause?: { code?: string }; code?: string; name?: string };
  const code = e?.cause?.code ?? e?.code;
  return (
    (err instanceof TypeError && /fetch failed/i.test((err as Error).message)) ||
    ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH'].includes(code ?? '')
  );
};

/**
 * Downloads `file.urls` (tried in order) to `dest`, resuming a `dest.part` left by an earlier
 * attempt, and verifies the result. An existing `dest` that verifies is kept as is.
 * `resumedFrom` is the byte offset of the request that completed the file (0: in one go).
 */
export const downloadFile =
  (
    file: Pick<RemoteFile, 'urls'> & Expected,
    dest: string,
    opts: DownloadOptions = {},
  ): TE.TaskEither<DataError, { readonly path: string; readonly bytes: number; readonly resumedFrom: number }> =>
  async () => {
    const doFetch: FetchLike = opts.fetch ?? ((url, init) => fetch(url, init));
    if (existsSync(dest) && E.isRight(await verifyFile(dest, file))) return E.right({ path: dest, bytes: await sizeOf(dest), resumedFrom: 0 });
    await mkdir(dirname(dest), { recursive: true });
    const part = `${dest}.part`;
    let last: { kind: DataErrorKind; url: string; reason: string } = { kind: 'network', url: file.urls[0] ?? dest, reason: 'no URL' };
    for (const url of file.urls) {
      for (let attempt = 0; attempt <= (opts.retries ?? 3); attempt += 1) {
        let offset = await sizeOf(part);
        if (file.bytes !== undefined && offset > file.bytes) {
          await rm(part, { force: true });
          offset = 0;
        }
        let complete = false;
        try {
          const res = await doFetch(url, offset > 0 ? { headers: { Range: `bytes=${offset}-` } } : {});
          if (res.status === 416 && offset > 0) {
            await res.body?.cancel();
            complete = true; // the partial file already holds everything
          } else if (res.status === 200 || (res.status === 206 && offset > 0)) {
            const range = res.headers.get('content-range');
            const append = res.status === 206;
            if (append && (range === null || !range.startsWith(`bytes ${offset}-`))) {
              await res.body?.cancel();
              await rm(part, { force: true });
              last = { kind: 'network', url, reason: `server answered range ${range ?? '(none)'} to a request from byte ${offset}` };
              continue;
            }
            const len = res.headers.get('content-length');
            const total = len === null ? undefined : Number(len) + (append ? offset : 0);
            const fh = await open(part, append ? 'a' : 'w');
            let bytes = append ? offset : 0;
            try {
              if (res.body !== null) {
                for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
                  await fh.write(chunk);
                  bytes += chunk.length;
                  opts.onProgress?.({ url, bytes, ...(total === undefined ? {} : { total }) });
                }
              }
            } finally {
              await fh.close();
            }
            if (total !== undefined && bytes !== total) {
              last = { kind: 'network', url, reason: `connection closed after ${bytes} of ${total} bytes` };
              continue;
            }
            complete = true;
          } else {
            await res.body?.cancel();
            last = { kind: 'network', url, reason: `HTTP ${res.status} ${res.statusText}`.trim() };
            if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) break; // next URL
            continue;
          }
        } catch (err) {
          const cause = (err as { cause?: Error }).cause;
          last = {
            kind: isUnreachable(err) ? 'offline' : 'network',
            url,
            reason: `${(err as Error).message}${cause?.message ? ` (${cause.message})` : ''}`,
          };
          if (last.kind === 'offline') break; // unreachable host: no point retrying it
          continue;
        }
        if (complete) {
          const ok = await verifyFile(part, file);
          if (E.isLeft(ok)) {
            await rm(part, { force: true });
            last = { kind: 'checksum', url, reason: ok.left };
            continue;
          }
          await rename(part, dest);
          return E.right({ path: dest, bytes: await sizeOf(dest), resumedFrom: offset });
        }
      }
    }
    return E.left(dataError(last.kind, last.url, 0, last.reason));
  };

/** Options of `ensureDataset`. */
export type EnsureOptions = DownloadOptions & {
  /** Environment (default `process.env`): `PREFIX_TUNING_SHARED`, `PREFIX_TUNING_CACHE`, `PREFIX_TUNING_OFFLINE`. */
  readonly env?: DataEnv;
  /** Never download (default: `PREFIX_TUNING_OFFLINE` is `1` or `true`). */
  readonly offline?: boolean;
  /** The paths the caller needs, relative to the dataset directory (default: all of the registry's). */
  readonly need?: readonly string[];
  /** Another registry (tests, mirrors). */
  readonly registry?: Readonly<Record<string, DatasetSource>>;
};

const allPresent = (dir: string, need: readonly string[]) => need.every((p) => existsSync(join(dir, p)));

/**
 * A directory holding `need` (default: every file of the dataset): the shared copy, else the
 * cache after downloading what it lacks. The error, when there is one, names the directory to fill.
 */
export const ensureDataset =
  (name: string, opts: EnsureOptions = {}): TE.TaskEither<DataError, string> =>
  async () => {
    const env = opts.env ?? process.env;
    const registry: Readonly<Record<string, DatasetSource>> = opts.registry ?? REGISTRY;
    const source = Object.prototype.hasOwnProperty.call(registry, name) ? registry[name] : undefined;
    if (source === undefined)
      return E.left(dataError('usage', name, 0, `unknown dataset "${name}"; known: ${Object.keys(registry).join(', ')}`));
    const need = opts.need ?? [...source.files.map((f) => f.path), ...source.archives.map((a) => a.provides)];
    const shared = join(sharedDir(env), 'data', source.sharedPath);
    const cache = datasetCacheDir(name, env);
    if (need.length === 0) {
      // nothing is downloadable (a manual dataset): any existing copy will do
      for (const d of [shared, cache]) if (existsSync(d)) return E.right(d);
    } else {
      if (allPresent(shared, need)) return E.right(shared);
      if (allPresent(cache, need)) return E.right(cache);
    }
    const missing = need.length === 0 ? ['its files'] : need.filter((p) => !existsSync(join(cache, p)));
    const fill = (kind: DataErrorKind, why: string) =>
      E.left(
        dataError(
          kind,
          cache,
          0,
          `${why}. To use ${name} without downloading, put ${missing.join(', ')} into ${cache}` +
            ` (or set PREFIX_TUNING_SHARED to a directory with data/${source.sharedPath}/)` +
            (source.manual === undefined ? '' : `. ${source.manual}`),
        ),
      );
    if (need.length === 0) return fill('offline', `${name} cannot be downloaded automatically`);
    const offline = opts.offline ?? ['1', 'true', 'yes'].includes((env.PREFIX_TUNING_OFFLINE ?? '').toLowerCase());
    if (offline) return fill('offline', `dataset ${name} is not on disk and downloads are off (offline)`);
    for (const path of missing) {
      const file = source.files.find((f) => f.path === path);
      if (file !== undefined) {
        const r = await downloadFile(file, join(cache, path), opts)();
        if (E.isLeft(r)) return fill(r.left.kind, `could not download ${path} from ${r.left.file}: ${r.left.reason}`);
        continue;
      }
      const archive = source.archives.find((a) => a.provides === path || path.startsWith(`${a.provides}/`));
      if (archive !== undefined) {
        const tmp = join(cache, '.downloads', archive.name);
        const r = await downloadFile(archive, tmp, opts)();
        if (E.isLeft(r)) return fill(r.left.kind, `could not download ${archive.name} from ${r.left.file}: ${r.left.reason}`);
        const x = await extractTarGz(tmp, cache)();
        if (E.isLeft(x)) return fill('archive', `could not unpack ${archive.name}: ${x.left.reason}`);
        if (!existsSync(join(cache, archive.provides)))
          return fill('archive', `${archive.name} did not contain ${archive.provides}`);
        await rm(tmp, { force: true });
        continue;
      }
      return fill('offline', `${path} of ${name} cannot be downloaded automatically`);
    }
    return E.right(cache);
  };
