/**
 * JSON Lines: one JSON object per line, read as a stream. Blank lines are ignored. Each line is
 * decoded with an io-ts codec and converted to a row; failures are located at their line.
 */
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { dataError, type DataError } from './errors.ts';
import { decodeAt, RawSeq2Seq, type Pair } from './codecs.ts';
import { Collector, type LoadOptions, type Loaded } from './loaded.ts';
import { fileLines, ioError, lineAt, readText } from './text.ts';
import { arrayElementOffsets, parseJson } from './json.ts';

/**
 * Streams a JSONL file: each non-blank line is parsed, decoded with `codec` and mapped by
 * `toRow` (which may reject a decoded record with a reason).
 */
export const loadJsonlWith =
  <R, A>(codec: t.Type<R, unknown, unknown>, toRow: (raw: R, line: number) => E.Either<string, A>) =>
  (file: string, opts: LoadOptions = {}): TE.TaskEither<DataError, Loaded<A>> =>
  async () => {
    const acc = new Collector<A>(opts);
    try {
      for await (const { line, text } of fileLines(file)) {
        if (text.trim() === '') continue;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch (err) {
          const fatal = acc.problem(dataError('syntax', file, line, `invalid JSON: ${(err as Error).message}`));
          if (fatal) return E.left(fatal);
          continue;
        }
        const decoded = decodeAt(codec, file, line)(value);
        if (E.isLeft(decoded)) {
          const fatal = acc.problem(decoded.left);
          if (fatal) return E.left(fatal);
          continue;
        }
        const row = toRow(decoded.right, line);
        if (E.isLeft(row)) {
          const fatal = acc.problem(dataError('schema', file, line, row.left));
          if (fatal) return E.left(fatal);
          continue;
        }
        acc.rows.push(row.right);
      }
    } catch (err) {
      return E.left(ioError(file, err));
    }
    return E.right(acc.done());
  };

/** A generic JSONL file of `{source, target}` (optional `id`; default: the line number). */
export const loadSeq2SeqJsonl: (file: string, opts?: LoadOptions) => TE.TaskEither<DataError, Loaded<Pair>> =
  loadJsonlWith(RawSeq2Seq, (r, line) =>
    E.right({ id: r.id === undefined ? String(line) : String(r.id), source: r.source, target: r.target }),
  );

/**
 * Reads a file holding one JSON array of records (e.g. SAMSum's original `train.json`); each
 * element is decoded with `codec` and mapped by `toRow`. Schema errors are located at the line
 * where the element starts. A syntax error anywhere is fatal (the array cannot be split).
 */
export const loadJsonArrayWith =
  <R, A>(codec: t.Type<R, unknown, unknown>, toRow: (raw: R, index: number) => E.Either<string, A>) =>
  (file: string, opts: LoadOptions = {}): TE.TaskEither<DataError, Loaded<A>> =>
  async () => {
    const text = await readText(file);
    if (E.isLeft(text)) return text;
    const doc = parseJson(text.right);
    if (E.isLeft(doc)) return E.left(dataError('syntax', file, doc.left.line, doc.left.reason));
    if (!Array.isArray(doc.right)) return E.left(dataError('schema', file, 1, 'expected a JSON array'));
    const items: unknown[] = doc.right;
    let offsets: number[] | undefined;
    const lineOf = (i: number) => lineAt(text.right, (offsets ??= arrayElementOffsets(text.right, 1))[i] ?? 0);
    const acc = new Collector<A>(opts);
    for (let i = 0; i < items.length; i += 1) {
      const decoded = decodeAt(codec, file, 0)(items[i]);
      const mapped = E.isLeft(decoded) ? E.left(decoded.left.reason) : toRow(decoded.right, i);
      if (E.isLeft(mapped)) {
        const fatal = acc.problem(dataError('schema', file, lineOf(i), mapped.left));
        if (fatal) return E.left(fatal);
        continue;
      }
      acc.rows.push(mapped.right);
    }
    return E.right(acc.done());
  };
