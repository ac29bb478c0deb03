/**
 * A streaming RFC 4180 CSV reader: comma-separated fields, `"`-quoted fields that may contain
 * commas, newlines and doubled quotes (`""`). It is strict where corruption usually shows: a
 * quote inside an unquoted field, a character right after a closing quote and a quoted field left
 * open at the end of the file are errors located at their line. After an error the reader
 * resynchronises at the next line, so a caller may skip the bad record and go on.
 * Blank lines are ignored; `\r\n` line ends are accepted.
 */
import * as E from 'fp-ts/lib/Either.js';

/** One record: its fields and the 1-based line where it starts. */
export type CsvRecord = { readonly line: number; readonly fields: readonly string[] };
/** A malformed record: where and why. */
export type CsvProblem = { readonly line: number; readonly reason: string };

const enum S {
  FieldStart,
  Unquoted,
  Quoted,
  QuotedQuote,
  Resync,
}

/** Incremental CSV parser: feed chunks with `push`, then call `end`. */
export class CsvParser {
  private state = S.FieldStart;
  private fields: string[] = [];
  private cur = '';
  private line = 1;
  private recordLine = 1;
  private quoteLine = 1;
  private inRecord = false;

  /** Parses one chunk; returns the records (and problems) completed by it. */
  push(chunk: string): E.Either<CsvProblem, CsvRecord>[] {
    const out: E.Either<CsvProblem, CsvRecord>[] = [];
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const c = chunk.charCodeAt(i);
      switch (this.state) {
        case S.Resync: {
          const nl = chunk.indexOf('\n', i);
          if (nl === -1) {
            i = n;
          } else {
            this.line += 1;
            i = nl + 1;
            this.reset();
          }
          break;
        }
        case S.FieldStart: {
          if (!this.inRecord) {
            this.inRecord = true;
            this.recordLine = this.line;
          }
          if (c === 34 /* " */) {
            this.state = S.Quoted;
            this.quoteLine = this.line;
            i += 1;
          } else if (c === 44 /* , */) {
            this.fields.push('');
            i += 1;
          } else if (c === 10 /* \n */) {
            this.fields.push('');
            this.endRecord(out);
            this.line += 1;
            i += 1;
          } else if (c === 13 /* \r */ && (i + 1 === n || chunk.charCodeAt(i + 1) === 10)) {
            i += 1;
          } else {
            this.state = S.Unquoted;
          }
          break;
        }
        case S.Unquoted: {
          let j = i;
          while (j < n) {
            const d = chunk.charCodeAt(j);
            if (d === 44 || d === 10 || d === 34 || d === 13) break;
            j += 1;
          }
          this.cur += chunk.slice(i, j);
          i = j;
          if (i === n) break;
          const d = chunk.charCodeAt(i);
          if (d === 44) {
            this.fields.push(this.cur);
            this.cur = '';
            this.state = S.FieldStart;
            i += 1;
          } else if (d === 10) {
            this.fields.push(this.cur);
            this.cur = '';
            this.endRecord(out);
            this.line += 1;
            i += 1;
          } else if (d === 13) {
            if (i + 1 === n || chunk.charCodeAt(i + 1) === 10) i += 1;
            else {
              this.cur += '\r';
              i += 1;
            }
          } else {
            out.push(E.left({ line: this.line, reason: 'a quote (") inside an unquoted field' }));
            this.state = S.Resync;
          }
          break;
        }
        case S.Quoted: {
          const q = chunk.indexOf('"', i);
          const j = q === -1 ? n : q;
          const piece = chunk.slice(i, j);
          for (let k = piece.indexOf('\n'); k !== -1; k = piece.indexOf('\n', k + 1)) this.line += 1;
          this.cur += piece;
          i = j;
          if (q !== -1) {
            this.state = S.QuotedQuote;
            i += 1;
          }
          break;
        }
        case S.QuotedQuote: {
          if (c === 34) {
            this.cur += '"';
            this.state = S.Quoted;
            i += 1;
          } else if (c === 44) {
            this.fields.push(this.cur);
            this.cur = '';
            this.state = S.FieldStart;
            i += 1;
          } else if (c === 10) {
            this.fields.push(this.cur);
            this.cur = '';
            this.endRecord(out);
            this.line += 1;
            i += 1;
          } else if (c === 13 && (i + 1 === n || chunk.charCodeAt(i + 1) === 10)) {
            i += 1;
          } else {
            const shown = JSON.stringify(chunk[i]);
            out.push(E.left({ line: this.line, reason: `unexpected character ${shown} after a closing quote` }));
            this.state = S.Resync;
          }
          break;
        }
      }
    }
    return out;
  }

  /** Finishes the input: the last record, or a problem if a quoted field is still open. */
  end(): E.Either<CsvProblem, CsvRecord>[] {
    const out: E.Either<CsvProblem, CsvRecord>[] = [];
    if (this.state === S.Quoted) {
      out.push(E.left({ line: this.quoteLine, reason: 'quoted field is never closed (end of file inside quotes)' }));
    } else if (this.state !== S.Resync && this.inRecord) {
      this.fields.push(this.cur);
      this.endRecord(out);
    }
    this.reset();
    return out;
  }

  private endRecord(out: E.Either<CsvProblem, CsvRecord>[]): void {
    const blank = this.fields.length === 1 && this.fields[0] === '' && this.state === S.FieldStart;
    if (!blank) out.push(E.right({ line: this.recordLine, fields: this.fields }));
    this.reset();
  }

  private reset(): void {
    this.fields = [];
    this.cur = '';
    this.state = S.FieldStart;
    this.inRecord = false;
  }
}

/** CSV records of a stream of text chunks. */
export async function* csvRecords(
  chunks: AsyncIterable<string>,
): AsyncGenerator<E.Either<CsvProblem, CsvRecord>> {
  const p = new CsvParser();
  for await (const chunk of chunks) yield* p.push(chunk);
  yield* p.end();
}

/** Parses a whole CSV string (convenience for small inputs and tests). */
export const parseCsv = (text: string): E.Either<CsvProblem, CsvRecord>[] => {
  const p = new CsvParser();
  return [...p.push(text), ...p.end()];
};
