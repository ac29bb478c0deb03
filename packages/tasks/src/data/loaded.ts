/**
 * The result of loading a dataset file, and the policy for malformed records: `fail` (the
 * default) stops at the first malformed record and returns it as a `Left`; `skip` drops malformed
 * records, counts them, and keeps the first few problems for the report.
 */
import * as t from 'io-ts';
import type { DataError } from './errors.ts';

/** What to do with a malformed record. */
export const OnMalformed = t.keyof({ fail: null, skip: null });
export type OnMalformed = t.TypeOf<typeof OnMalformed>;

/** Options shared by every loader. */
export const LoadOptions = t.partial({
  /** `fail` (default): the first malformed record is a `Left`. `skip`: drop and count it. */
  onMalformed: OnMalformed,
  /** How many problems to keep in `Loaded.problems` when skipping (default 20). */
  maxProblems: t.number,
});
export type LoadOptions = t.TypeOf<typeof LoadOptions>;

/** Rows that loaded, how many malformed records were skipped, and the first few of them. */
export type Loaded<A> = {
  readonly rows: readonly A[];
  readonly skipped: number;
  readonly problems: readonly DataError[];
};

/** Mutable accumulator used inside loaders; never escapes them. */
export class Collector<A> {
  readonly rows: A[] = [];
  skipped = 0;
  readonly problems: DataError[] = [];
  private readonly mode: OnMalformed;
  private readonly maxProblems: number;

  constructor(opts: LoadOptions = {}) {
    this.mode = opts.onMalformed ?? 'fail';
    this.maxProblems = opts.maxProblems ?? 20;
  }

  /** Records a problem. Returns the error when the policy is `fail` (the caller must stop). */
  problem(e: DataError): DataError | undefined {
    if (this.mode === 'fail') return e;
    this.skipped += 1;
    if (this.problems.length < this.maxProblems) this.problems.push(e);
    return undefined;
  }

  /** The immutable result. */
  done(): Loaded<A> {
    return { rows: this.rows, skipped: this.skipped, problems: this.problems };
  }
}

/** Applies `f` to every row, keeping the skip count and the problems. */
export const mapLoaded =
  <A, B>(f: (a: A, index: number) => B) =>
  (l: Loaded<A>): Loaded<B> => ({ rows: l.rows.map(f), skipped: l.skipped, problems: l.problems });

/** Concatenates several results (e.g. the XML files of one WebNLG split). */
export const concatLoaded = <A>(parts: readonly Loaded<A>[]): Loaded<A> => ({
  rows: parts.flatMap((p) => p.rows),
  skipped: parts.reduce((n, p) => n + p.skipped, 0),
  problems: parts.flatMap((p) => p.problems),
});
