/** Small file-system helpers with errors as values, and crash-safe (atomic) writes. */
import { open, readFile, rename, rm, stat, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** True when `path` exists (file or directory). */
export const exists = async (path: string): Promise<boolean> => {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
};

/** Reads a whole file as bytes; Left names the path. */
export const readBytes = async (path: string): Promise<E.Either<string, Uint8Array>> => {
  try {
    const b = await readFile(path);
    return E.right(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  } catch (e) {
    return E.left(`${path}: cannot read (${message(e)})`);
  }
};

/** Reads and parses a JSON file; Left names the path. */
export const readJson = async (path: string): Promise<E.Either<string, unknown>> => {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return E.left(`${path}: cannot read (${message(e)})`);
  }
  try {
    return E.right(JSON.parse(text) as unknown);
  } catch (e) {
    return E.left(`${path}: invalid JSON (${message(e)})`);
  }
};

/**
 * Writes a file atomically: data goes to a temporary file in the same directory, which is
 * fsync'ed and renamed over the target, then the directory is fsync'ed. A reader sees the old
 * file or the new one, never a torn one. Creates the directory if needed.
 */
export const writeFileAtomic = async (path: string, data: Uint8Array | string): Promise<E.Either<string, void>> => {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await mkdir(dir, { recursive: true });
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
    return E.right(undefined);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    return E.left(`${path}: cannot write (${message(e)})`);
  }
};

/** fsync a directory so a rename in it is durable (a no-op where directories cannot be opened). */
export const fsyncDir = async (dir: string): Promise<void> => {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Windows cannot open directories; the rename is still atomic there
  }
};
