/**
 * Streaming text input: UTF-8 chunks of a file (invalid bytes become U+FFFD, a leading BOM is
 * dropped) and the physical lines of a file with their 1-based numbers. Lines end at `\n`; one
 * trailing `\r` is removed.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as E from 'fp-ts/lib/Either.js';
import { dataError, type DataError } from './errors.ts';

/** The UTF-8 text of a file, in chunks of about `chunkSize` bytes. Throws on I/O errors. */
export async function* textChunks(file: string, chunkSize = 1 << 16): AsyncGenerator<string> {
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: chunkSize });
  let first = true;
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      if (first) {
        first = false;
        yield chunk.charCodeAt(0) === 0xfeff ? chunk.slice(1) : chunk;
      } else {
        yield chunk;
      }
    }
  } finally {
    stream.destroy();
  }
}

/** One physical line and its 1-based number. */
export type Line = { readonly line: number; readonly text: string };

/** The lines of a stream of text chunks (a final line without `\n` is included when non-empty). */
export async function* linesOf(chunks: AsyncIterable<string>): AsyncGenerator<Line> {
  let rest = '';
  let n = 0;
  for await (const chunk of chunks) {
    let buf = rest + chunk;
    let start = 0;
    for (let nl = buf.indexOf('\n', start); nl !== -1; nl = buf.indexOf('\n', start)) {
      n += 1;
      const end = nl > start && buf.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      yield { line: n, text: buf.slice(start, end) };
      start = nl + 1;
    }
    rest = buf.slice(start);
    buf = '';
  }
  if (rest.length > 0) {
    n += 1;
    yield { line: n, text: rest.endsWith('\r') ? rest.slice(0, -1) : rest };
  }
}

/** The lines of a file. Throws on I/O errors (loaders turn them into `DataError`s). */
export const fileLines = (file: string): AsyncGenerator<Line> => linesOf(textChunks(file));

/**
 * A thrown I/O error (one with an errno `code`) as a `DataError` for `file`. Anything else is a
 * bug, not a data problem, and is rethrown.
 */
export const ioError = (file: string, err: unknown): DataError => {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code !== 'string') throw err;
  const reason =
    e?.code === 'ENOENT'
      ? 'no such file'
      : e?.code === 'EISDIR'
        ? 'is a directory, expected a file'
        : e?.code === 'EACCES'
          ? 'permission denied'
          : `cannot read: ${e?.message ?? String(err)}`;
  return dataError('io', file, 0, reason);
};

/** The whole UTF-8 text of a (small) file, BOM removed. */
export const readText = async (file: string): Promise<E.Either<DataError, string>> => {
  try {
    const s = await readFile(file, 'utf8');
    return E.right(s.charCodeAt(0) === 0xfeff ? s.slice(1) : s);
  } catch (err) {
    return E.left(ioError(file, err));
  }
};

/** 1-based line number of character offset `pos` in `text`. */
export const lineAt = (text: string, pos: number): number => {
  let n = 1;
  const end = Math.min(pos, text.length);
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) n += 1;
  return n;
};
