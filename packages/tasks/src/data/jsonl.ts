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
import { fileLines, ioError } from './text.ts';

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
