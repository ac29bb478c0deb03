/**
 * Streaming extraction of `.tar.gz` archives (ustar, GNU long names, pax `path` records) for
 * dataset downloads. Only regular files and directories are created; links and devices are
 * skipped. Members with absolute paths or `..` components are refused.
 */
import { createReadStream, mkdirSync, openSync, writeSync, closeSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { dirname, join, posix } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { dataError, type DataError } from './errors.ts';

const BLOCK = 512;

const cstr = (b: Buffer, start: number, len: number): string => {
  const end = b.indexOf(0, start);
  return b.toString('utf8', start, end === -1 || end > start + len ? start + len : end);
};

const octal = (b: Buffer, start: number, len: number): number => {
  if ((b[start] & 0x80) !== 0) {
    // GNU base-256 for large sizes
    let v = b[start] & 0x7f;
    for (let i = 1; i < len; i += 1) v = v * 256 + b[start + i];
    return v;
  }
  const s = cstr(b, start, len).trim();
  return s === '' ? 0 : /^[0-7]+$/.test(s) ? parseInt(s, 8) : NaN;
};

const checksumOk = (h: Buffer): boolean => {
  const stored = octal(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i += 1) sum += i >= 148 && i < 156 ? 32 : h[i];
  return stored === sum;
};

const safePath = (name: string, strip: number): string | null | undefined => {
  const norm = posix.normalize(name.replace(/\\/g, '/'));
  if (norm.startsWith('/') || /^[A-Za-z]:/.test(norm) || norm.split('/').includes('..')) return null;
  const parts = norm.split('/').filter((p) => p !== '' && p !== '.');
  return parts.length <= strip ? undefined : parts.slice(strip).join('/');
};

/** Options of `extractTarGz`. */
export type ExtractOptions = {
  /** Drop this many leading path components (like `tar --strip-components`). */
  readonly strip?: number;
};

/** Extracts a `.tar.gz` file into `dest`; returns the number of regular files written. */
export const extractTarGz =
  (archive: string, dest: string, opts: ExtractOptions = {}): TE.TaskEither<DataError, { files: number }> =>
  async () => {
    const strip = opts.strip ?? 0;
    let buf: Buffer = Buffer.alloc(0);
    let files = 0;
    let zeroBlocks = 0;
    let ended = false;
    // current member being written
    let remaining = 0; // data bytes left in the member
    let padding = 0; // padding bytes after the member
    let fd: number | undefined;
    let collect: Buffer[] | undefined; // for pax / GNU long-name payloads
    let collectKind: 'pax' | 'longname' | undefined;
    let nextName: string | undefined;
    let memberName = '';
    const fail = (reason: string) => {
      if (fd !== undefined) closeSync(fd);
      return E.left(dataError('archive', archive, 0, reason));
    };
    try {
      const input = createReadStream(archive).pipe(createGunzip());
      for await (const chunk of input as AsyncIterable<Buffer>) {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        let off = 0;
        for (;;) {
          if (ended) break;
          if (remaining > 0) {
            const n = Math.min(remaining, buf.length - off);
            if (n === 0) break;
            const piece = buf.subarray(off, off + n);
            if (fd !== undefined) writeSync(fd, piece);
            else if (collect !== undefined) collect.push(Buffer.from(piece));
            off += n;
            remaining -= n;
            if (remaining > 0) break;
          }
          if (remaining === 0 && (fd !== undefined || collect !== undefined)) {
            if (fd !== undefined) {
              closeSync(fd);
              fd = undefined;
              files += 1;
            }
            if (collect !== undefined) {
              const payload = Buffer.concat(collect).toString('utf8');
              if (collectKind === 'longname') nextName = payload.replace(/\0+$/, '');
              else {
                for (const rec of payload.split('\n')) {
                  const m = /^\d+ path=(.*)$/.exec(rec);
                  if (m) nextName = m[1];
                }
              }
              collect = undefined;
              collectKind = undefined;
            }
          }
          if (padding > 0) {
            const n = Math.min(padding, buf.length - off);
            off += n;
            padding -= n;
            if (padding > 0) break;
          }
          if (buf.length - off < BLOCK) break;
          const h = buf.subarray(off, off + BLOCK);
          off += BLOCK;
          if (h.every((x) => x === 0)) {
            zeroBlocks += 1;
            if (zeroBlocks === 2) ended = true;
            continue;
          }
          zeroBlocks = 0;
          if (!checksumOk(h)) return fail(`bad tar header checksum after member "${memberName}"`);
          const size = octal(h, 124, 12);
          if (!Number.isFinite(size) || size < 0) return fail('bad member size in a tar header');
          const type = String.fromCharCode(h[156] || 48);
          const prefix = h.toString('latin1', 257, 262) === 'ustar' ? cstr(h, 345, 155) : '';
          const rawName = nextName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
          memberName = rawName;
          remaining = size;
          padding = (BLOCK - (size % BLOCK)) % BLOCK;
          if (type === 'L' || type === 'x') {
            collect = [];
            collectKind = type === 'L' ? 'longname' : 'pax';
            if (size === 0) remaining = 0;
            continue;
          }
          if (type === 'g' || type === 'K') continue; // global pax header, long link name: data skipped
          nextName = undefined;
          const rel = safePath(rawName, strip);
          if (rel === null) return fail(`unsafe member path "${rawName}"`);
          if (type === '5') {
            if (rel !== undefined) mkdirSync(join(dest, rel), { recursive: true });
          } else if ((type === '0' || type === '7') && rel !== undefined) {
            const target = join(dest, rel);
            mkdirSync(dirname(target), { recursive: true });
            fd = openSync(target, 'w');
            if (size === 0) {
              closeSync(fd);
              fd = undefined;
              files += 1;
            }
          }
          // other types (links, devices, fifos): data (if any) is skipped
        }
        buf = buf.subarray(off);
      }
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      return E.left(dataError('archive', archive, 0, `cannot extract: ${(err as Error).message}`));
    }
    if (fd !== undefined) closeSync(fd);
    if (remaining > 0 || collect !== undefined) return E.left(dataError('archive', archive, 0, `archive ends inside member "${memberName}"`));
    return E.right({ files });
  };
