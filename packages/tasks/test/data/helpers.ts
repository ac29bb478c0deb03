/** Test helpers for the data half of @prefix-tuning/tasks. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { sharedDir } from '../../src/data/paths.ts';
import { formatDataError, type DataError } from '../../src/data/errors.ts';

/** `<shared>/data`, read in place. */
export const DATA = join(sharedDir(), 'data');

/** Runs a TaskEither and returns its right value, failing the test with the located error otherwise. */
export const right = async <A>(te: TE.TaskEither<DataError, A>): Promise<A> => {
  const r = await te();
  if (E.isLeft(r)) assert.fail(`expected Right, got Left: ${formatDataError(r.left)}`);
  return r.right;
};

/** Runs a TaskEither and returns its error, failing the test if it succeeded. */
export const left = async <A>(te: TE.TaskEither<DataError, A>): Promise<DataError> => {
  const r = await te();
  if (E.isRight(r)) assert.fail('expected Left, got Right');
  return r.left;
};

/** A fresh temporary directory, removed by `cleanup`. */
export const tempDir = (prefix = 'pt-data-'): { dir: string; cleanup: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
};

/** Writes `files` (relative path → content) under `dir`, creating folders. */
export const writeTree = (dir: string, files: Readonly<Record<string, string | Buffer>>): void => {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
};

/** Quotes a CSV field the way Python's csv module does (only when needed). */
export const csvField = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/** Escapes text for XML content and attribute values. */
export const xmlEscape = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
