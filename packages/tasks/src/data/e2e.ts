/**
 * E2E NLG (Novikova et al. 2017), official CSV release: `trainset.csv`, `devset.csv`,
 * `testset_w_refs.csv` have the header `mr,ref` and one (MR, reference) pair per record (an MR
 * repeats once per reference); `testset.csv` has the header `MR` and one MR per record.
 * Read as a stream; each MR is parsed (`name[The Eagle], eatType[pub], ...`).
 */
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { dataError, type DataError } from './errors.ts';
import type { E2EInput, E2ERow } from './codecs.ts';
import { Collector, type LoadOptions, type Loaded } from './loaded.ts';
import { csvRecords, type CsvRecord } from './csv.ts';
import { parseMR } from './linearise.ts';
import { ioError, textChunks } from './text.ts';

const loadCsv =
  <A>(expected: readonly string[][], toRow: (r: CsvRecord) => E.Either<string, A>) =>
  (file: string, opts: LoadOptions = {}): TE.TaskEither<DataError, Loaded<A>> =>
  async () => {
    const acc = new Collector<A>(opts);
    let header: readonly string[] | undefined;
    try {
      for await (const rec of csvRecords(textChunks(file))) {
        if (E.isLeft(rec)) {
          const e = dataError('syntax', file, rec.left.line, rec.left.reason);
          if (header === undefined) return E.left(e);
          const fatal = acc.problem(e);
          if (fatal) return E.left(fatal);
          continue;
        }
        const { line, fields } = rec.right;
        if (header === undefined) {
          header = fields.map((f) => f.trim().toLowerCase());
          if (!expected.some((h) => h.length === header!.length && h.every((x, i) => x === header![i]))) {
            const want = expected.map((h) => h.join(',')).join('" or "');
            return E.left(dataError('schema', file, line, `header is "${fields.join(',')}", expected "${want}"`));
          }
          continue;
        }
        const row =
          fields.length === header.length
            ? toRow(rec.right)
            : E.left(`expected ${header.length} fields (${header.join(',')}), got ${fields.length}`);
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
    if (header === undefined) return E.left(dataError('schema', file, 0, 'empty file: no CSV header'));
    return E.right(acc.done());
  };

const mrOf = (mr: string) =>
  E.mapLeft((why: string) => `bad MR "${mr.length > 80 ? `${mr.slice(0, 77)}...` : mr}": ${why}`)(parseMR(mr));

/** Loads an E2E `mr,ref` CSV file (train, dev, test with references). */
export const loadE2E: (file: string, opts?: LoadOptions) => TE.TaskEither<DataError, Loaded<E2ERow>> = loadCsv(
  [['mr', 'ref']],
  ({ fields }) => E.map((attributes: E2ERow['attributes']) => ({ mr: fields[0], ref: fields[1], attributes }))(mrOf(fields[0])),
);

/** Loads MRs only: `testset.csv` (header `MR`), or the MR column of an `mr,ref` file. */
export const loadE2EInputs: (file: string, opts?: LoadOptions) => TE.TaskEither<DataError, Loaded<E2EInput>> =
  loadCsv([['mr'], ['mr', 'ref']], ({ fields }) =>
    E.map((attributes: E2EInput['attributes']) => ({ mr: fields[0], attributes }))(mrOf(fields[0])),
  );
