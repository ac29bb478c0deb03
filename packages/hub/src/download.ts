/**
 * Downloading files from the Hugging Face hub (`<endpoint>/<id>/resolve/<revision>/<file>`) into
 * a local directory: resumable (HTTP Range into `<file>.part`, retried after a dropped
 * connection), verified (sha256 against the `X-Linked-Etag` the hub sends for LFS files, size
 * against `X-Linked-Size` / Content-Length), renamed into place only when complete.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm, stat, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { fsyncDir } from './files.ts';

/** Progress of one file download. */
export type ProgressEvent =
  | { readonly kind: 'start'; readonly file: string; readonly total: number | undefined; readonly resumedFrom: number }
  | { readonly kind: 'progress'; readonly file: string; readonly done: number; readonly total: number | undefined }
  | { readonly kind: 'retry'; readonly file: string; readonly reason: string; readonly attempt: number }
  | { readonly kind: 'done'; readonly file: string; readonly bytes: number; readonly verified: 'sha256' | 'size' | 'none' };

/** Where to download from, and how. */
export interface DownloadContext {
  readonly endpoint: string;
  readonly repo: string;
  readonly revision: string;
  readonly token?: string;
  readonly report: (e: ProgressEvent) => void;
  /** Attempts per file before giving up (dropped connections resume where they stopped). */
  readonly attempts?: number;
}

/** Outcome of a download that did not produce the file. */
export type DownloadFailure =
  | { readonly kind: 'missing'; readonly file: string } // 404: the repo has no such file
  | { readonly kind: 'unreachable'; readonly reason: string } // network down, DNS, refused
  | { readonly kind: 'failed'; readonly reason: string }; // anything else, with the reason

const SHA256 = /^[0-9a-f]{64}$/;
const unquote = (s: string | null): string | undefined => (s === null ? undefined : s.replace(/^W\//, '').replace(/^"|"$/g, ''));

/** The URL of a file in a repo at a revision. */
export const resolveUrl = (ctx: Pick<DownloadContext, 'endpoint' | 'repo' | 'revision'>, file: string): string =>
  `${ctx.endpoint.replace(/\/+$/, '')}/${ctx.repo}/resolve/${encodeURIComponent(ctx.revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;

interface Expected {
  readonly sha256?: string;
  readonly size?: number;
}

const isNetworkError = (e: unknown): boolean => {
  const code = (e as { cause?: { code?: string } })?.cause?.code ?? (e as { code?: string })?.code;
  return ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT'].includes(code ?? '');
};

const errText = (e: unknown): string => {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return `${(e as Error)?.message ?? String(e)}${cause?.code ? ` (${cause.code})` : cause?.message ? ` (${cause.message})` : ''}`;
};

/**
 * GET with manual redirects, so that the hub's own headers (X-Linked-Etag, X-Linked-Size) are
 * read from the first response even when the content comes from a CDN after a redirect.
 */
const get = async (url: string, headers: Record<string, string>): Promise<{ res: Response; expected: Expected }> => {
  let expected: Expected = {};
  let current = url;
  for (let hop = 0; hop < 6; hop++) {
    const res = await fetch(current, { headers, redirect: 'manual' });
    const linked = unquote(res.headers.get('x-linked-etag'));
    const etag = unquote(res.headers.get('etag'));
    const sha = linked !== undefined && SHA256.test(linked) ? linked : etag !== undefined && SHA256.test(etag) ? etag : undefined;
    const size = res.headers.get('x-linked-size');
    // the hub's own response carries them; a CDN after a redirect does not (its ETag is not a sha256)
    if (expected.sha256 === undefined && sha !== undefined) expected = { ...expected, sha256: sha };
    if (expected.size === undefined && size !== null && /^\d+$/.test(size)) expected = { ...expected, size: Number(size) };
    if (res.status >= 300 && res.status < 400 && res.headers.get('location') !== null) {
      current = new URL(res.headers.get('location')!, current).toString();
      await res.body?.cancel();
      continue;
    }
    return { res, expected };
  }
  throw new Error(`too many redirects for ${url}`);
};

const fileSize = async (p: string): Promise<number> => {
  try {
    return (await stat(p)).size;
  } catch {
    return 0;
  }
};

const sha256OfFile = (p: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(p).on('data', (c) => h.update(c)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });

/** One attempt: continue `<dest>.part` from its current size. Right(true) when the part is complete. */
const attempt = async (
  ctx: DownloadContext,
  file: string,
  part: string,
): Promise<E.Either<DownloadFailure, { expected: Expected; total: number | undefined }>> => {
  const have = await fileSize(part);
  const headers: Record<string, string> = { 'user-agent': 'prefix-tuning-hub' };
  if (ctx.token) headers['authorization'] = `Bearer ${ctx.token}`;
  if (have > 0) headers['range'] = `bytes=${have}-`;
  let res: Response;
  let expected: Expected;
  try {
    ({ res, expected } = await get(resolveUrl(ctx, file), headers));
  } catch (e) {
    return E.left(isNetworkError(e) ? { kind: 'unreachable', reason: errText(e) } : { kind: 'failed', reason: errText(e) });
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return E.left({ kind: 'missing', file });
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    return E.left({ kind: 'failed', reason: `HTTP ${res.status} for ${file}: the repo is gated or private (set HF_TOKEN to a token with access)` });
  }
  if (res.status === 416 && have > 0) {
    // nothing past what we have: the part is complete (verified by the caller)
    await res.body?.cancel();
    return E.right({ expected, total: expected.size ?? have });
  }
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel();
    return E.left({ kind: 'failed', reason: `HTTP ${res.status} ${res.statusText} for ${file}` });
  }
  const resumed = res.status === 206;
  const contentLength = res.headers.get('content-length');
  const rangeTotal = res.headers.get('content-range')?.match(/\/(\d+)$/)?.[1];
  const total = expected.size ?? (resumed ? (rangeTotal ? Number(rangeTotal) : undefined) : contentLength !== null ? Number(contentLength) : undefined);
  const start = resumed ? have : 0;
  ctx.report({ kind: 'start', file, total, resumedFrom: start });
  const fh = await open(part, resumed ? 'a' : 'w');
  let done = start;
  try {
    if (res.body === null) throw new Error('empty response body');
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      await fh.write(chunk);
      done += chunk.length;
      ctx.report({ kind: 'progress', file, done, total });
    }
    await fh.sync();
  } catch (e) {
    return E.left({ kind: 'failed', reason: `connection dropped after ${done} bytes of ${file}: ${errText(e)}` });
  } finally {
    await fh.close();
  }
  return E.right({ expected, total });
};

/**
 * Downloads one file of a repo into `dir/file`, resuming a `.part` left by an earlier run.
 * Verifies sha256 (LFS files) or size, then renames into place. A checksum mismatch discards the
 * part and downloads once more from scratch before failing.
 */
export const downloadFile = async (ctx: DownloadContext, dir: string, file: string): Promise<E.Either<DownloadFailure, string>> => {
  const dest = join(dir, file);
  const part = `${dest}.part`;
  await mkdir(join(dest, '..'), { recursive: true });
  const attempts = ctx.attempts ?? 5;
  let fresh = false;
  let lastReason = '';
  for (let i = 1; i <= attempts; i++) {
    const r = await attempt(ctx, file, part);
    if (E.isLeft(r)) {
      if (r.left.kind !== 'failed') return r;
      lastReason = r.left.reason;
      if (i < attempts) ctx.report({ kind: 'retry', file, reason: r.left.reason, attempt: i + 1 });
      continue;
    }
    const { expected, total } = r.right;
    const size = await fileSize(part);
    const wantSize = expected.size ?? total;
    if (wantSize !== undefined && size !== wantSize) {
      lastReason = `size mismatch for ${file}: expected ${wantSize} bytes, got ${size}`;
      if (size > wantSize) await rm(part, { force: true });
      if (i < attempts) ctx.report({ kind: 'retry', file, reason: lastReason, attempt: i + 1 });
      continue;
    }
    if (expected.sha256 !== undefined) {
      const got = await sha256OfFile(part);
      if (got !== expected.sha256) {
        await rm(part, { force: true });
        lastReason = `sha256 mismatch for ${file}: the hub says ${expected.sha256}, the download hashes to ${got}`;
        if (fresh) return E.left({ kind: 'failed', reason: `${lastReason} (twice; the partial file was removed)` });
        fresh = true;
        ctx.report({ kind: 'retry', file, reason: lastReason, attempt: i + 1 });
        continue;
      }
    }
    await rename(part, dest);
    await fsyncDir(dir);
    ctx.report({ kind: 'done', file, bytes: size, verified: expected.sha256 !== undefined ? 'sha256' : wantSize !== undefined ? 'size' : 'none' });
    return E.right(dest);
  }
  return E.left({ kind: 'failed', reason: `${lastReason} (gave up after ${attempts} attempts; run again to resume)` });
};

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

/** A reporter: a redrawn progress bar on a TTY, plain start/done lines otherwise. */
export const consoleReporter = (stream: NodeJS.WriteStream = process.stderr): ((e: ProgressEvent) => void) => {
  const tty = stream.isTTY === true;
  let last = 0;
  let t0 = Date.now();
  return (e) => {
    switch (e.kind) {
      case 'start':
        t0 = Date.now();
        stream.write(`${tty ? '' : ''}downloading ${e.file}${e.total !== undefined ? ` (${mb(e.total)})` : ''}${e.resumedFrom > 0 ? `, resuming at ${mb(e.resumedFrom)}` : ''}\n`);
        return;
      case 'progress': {
        if (!tty) return;
        const now = Date.now();
        if (now - last < 100 && e.done !== e.total) return;
        last = now;
        const frac = e.total ? Math.min(1, e.done / e.total) : 0;
        const width = 30;
        const bar = '='.repeat(Math.floor(frac * width)).padEnd(width);
        const rate = e.done / Math.max(0.001, (now - t0) / 1000);
        stream.write(`\r  [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${mb(e.done)}${e.total ? `/${mb(e.total)}` : ''} ${mb(rate)}/s `);
        return;
      }
      case 'retry':
        stream.write(`${tty ? '\n' : ''}retrying ${e.file} (attempt ${e.attempt}): ${e.reason}\n`);
        return;
      case 'done':
        stream.write(`${tty ? '\r\x1b[K' : ''}${e.file}: ${mb(e.bytes)}${e.verified === 'sha256' ? ', sha256 verified' : e.verified === 'size' ? ', size checked' : ''}\n`);
        return;
    }
  };
};
