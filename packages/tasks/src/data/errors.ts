/**
 * Data errors are values: every loader, parser and download returns `Either<DataError, _>`.
 * A `DataError` names the file (or URL), the 1-based line where the problem starts (0 when the
 * problem concerns the whole file) and a one-line reason.
 */
import * as t from 'io-ts';

/** What went wrong, coarsely: used by callers to choose a remedy (retry, fix the file, go online). */
export const DataErrorKind = t.keyof({
  io: null, // the file or directory could not be read or written
  syntax: null, // the file is not well-formed CSV / XML / JSON
  schema: null, // a well-formed record lacks a field or has the wrong type
  network: null, // a download failed
  checksum: null, // a downloaded file does not match its known checksum
  offline: null, // the dataset is not on disk and downloading is not possible or not allowed
  archive: null, // an archive is malformed or unsafe
  usage: null, // the caller asked for something that cannot be done (e.g. a split larger than its pool)
});
export type DataErrorKind = t.TypeOf<typeof DataErrorKind>;

/** A located data error: `file:line: reason`. */
export const DataError = t.readonly(
  t.type({ kind: DataErrorKind, file: t.string, line: t.number, reason: t.string }),
);
export type DataError = t.TypeOf<typeof DataError>;

/** Builds a `DataError`. */
export const dataError = (kind: DataErrorKind, file: string, line: number, reason: string): DataError => ({
  kind,
  file,
  line,
  reason,
});

/** `file:line: reason` (or `file: reason` for whole-file problems). */
export const formatDataError = (e: DataError): string =>
  e.line > 0 ? `${e.file}:${e.line}: ${e.reason}` : `${e.file}: ${e.reason}`;

const show = (v: unknown): string => {
  if (v === undefined) return 'undefined';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

/**
 * One line per io-ts validation error: `at .annotations[0].text: expected string, got 3`.
 * Only the first `max` errors are listed.
 */
export const formatValidationErrors = (errors: t.Errors, max = 3): string => {
  const member = (ty: t.Decoder<unknown, unknown>) => {
    const tag = (ty as { _tag?: string })._tag;
    return tag === 'UnionType' || tag === 'IntersectionType' || tag === 'ReadonlyType' || tag === 'ExactType';
  };
  const lines = errors.map((err) => {
    const path = err.context
      .slice(1)
      .filter((_, i) => !member(err.context[i].type)) // keys under unions / intersections are member indices
      .map((c) => (/^\d+$/.test(c.key) ? `[${c.key}]` : `.${c.key}`))
      .join('');
    const expected = err.context[err.context.length - 1]?.type.name ?? 'value';
    const where = path === '' ? 'record' : `field ${path}`;
    return err.message ?? `${where}: expected ${expected}, got ${show(err.value)}`;
  });
  const unique = [...new Set(lines)];
  const more = unique.length > max ? ` (+${unique.length - max} more)` : '';
  return unique.slice(0, max).join('; ') + more;
};
