/**
 * Streaming text input: UTF-8 chunks of a file (a leading BOM is dropped; bytes that are not
 * UTF-8 are refused with their line and byte offset, never turned into U+FFFD silently) and the
 * physical lines of a file with their 1-based numbers. Lines end at `\n`; one trailing `\r` is
 * removed.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as E from 'fp-ts/lib/Either.js';
import { dataError, type DataError } from './errors.ts';

/** Length of the valid UTF-8 prefix of `b` (RFC 3629: no overlongs, no surrogates, at most U+10FFFF); `b.length` when all of it is valid. */
export const validUtf8Prefix = (b: Uint8Array): number => {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) { i += 1; continue; }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0 || i + n >= b.length) return i; // not a lead byte, or the sequence runs past the end
    const c1 = b[i + 1]!;
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (c1 < lo || c1 > hi) return i;
    for (let k = 2; k <= n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return i;
};

/** The error `textChunks`/`readText` throw on bytes that are not UTF-8 (`ioError` locates it). */
export class InvalidUtf8 extends Error {
  readonly code = 'EILSEQ';
  /** The reason without the line: `byte 0xe9 at byte offset 47 is not UTF-8 (...)`. */
  readonly reason: string;
  constructor(readonly line: number, readonly offset: number, readonly byte: number) {
    const reason = `byte 0x${byte.toString(16).padStart(2, '0')} at byte offset ${offset} is not UTF-8 (the file must be UTF-8 text; convert it, e.g. iconv -f latin1 -t utf-8)`;
    super(`line ${line}: ${reason}`);
    this.reason = reason;
  }
}

/** Decodes UTF-8 chunk by chunk, throwing `InvalidUtf8` (located in the whole stream) instead of yielding U+FFFD. */
const strictDecoder = () => {
  const dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let offset = 0, line = 1, carry = new Uint8Array(0);
  const locate = (bytes: Uint8Array): never => {
    const at = validUtf8Prefix(bytes);
    let l = line;
    for (let i = 0; i < at; i++) if (bytes[i] === 10) l += 1;
    throw new InvalidUtf8(l, offset + at, bytes[at] ?? 0);
  };
  return {
    push(chunk: Uint8Array, last = false): string {
      const bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      let text: string;
      try {
        text = dec.decode(chunk, { stream: !last });
      } catch {
        return locate(bytes);
      }
      // bytes held back by the decoder (an incomplete sequence at the end) are counted with the next chunk
      let held = 0;
      if (!last) for (let k = 1; k <= Math.min(3, bytes.length) && held === 0; k++) { const c = bytes[bytes.length - k]!; if (c >= 0xc0) held = k; else if (c < 0x80) break; }
      if (held > 0 && validUtf8Prefix(bytes.subarray(bytes.length - held)) === held) held = 0; // a complete sequence
      const done = bytes.subarray(0, bytes.length - held);
      for (let i = 0; i < done.length; i++) if (done[i] === 10) line += 1;
      offset += done.length;
      carry = new Uint8Array(bytes.subarray(bytes.length - held));
      return text;
    },
    end(): string {
      try {
        return dec.decode();
      } catch {
        return locate(carry);
      }
    },
  };
};

/** The UTF-8 text of a file, in chunks of about `chunkSize` bytes. Throws on I/O errors and (`InvalidUtf8`) on bytes that are not UTF-8. */
export async function* textChunks(file: string, chunkSize = 1 << 16): AsyncGenerator<string> {
  const stream = createReadStream(file, { highWaterMark: chunkSize });
  const dec = strictDecoder();
  let first = true;
  try {
    for await (const bytes of stream as AsyncIterable<Buffer>) {
      const chunk = dec.push(bytes);
      if (first && chunk.length > 0) {
        first = false;
        yield chunk.charCodeAt(0) === 0xfeff ? chunk.slice(1) : chunk;
      } else if (chunk.length > 0) {
        yield chunk;
      }
    }
    const rest = dec.end();
    if (rest.length > 0) yield rest;
  } finally {
    stream.destroy();
  }
}

/** `bytes` as UTF-8 text (BOM kept); throws `InvalidUtf8`, located, on bytes that are not UTF-8. */
export const decodeUtf8 = (bytes: Uint8Array): string => strictDecoder().push(bytes, true);

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
  if (err instanceof InvalidUtf8) return dataError('syntax', file, err.line, err.reason);
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
    const s = decodeUtf8(await readFile(file));
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
