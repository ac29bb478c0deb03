/**
 * The plain-text corpus format of the E2E challenge scorer (e2e-metrics' `read_lines`):
 *
 * - references: each example's references one per line, examples separated by a blank line;
 *   a file without any blank line holds one reference per example, one per line;
 * - hypotheses: one line per example.
 *
 * Lines are split as Python splits them (`\n`, `\r\n`, `\r`, U+000B, U+000C, U+001C..U+001E,
 * U+0085, U+2028, U+2029) and stripped of surrounding whitespace, so a file scores the same here
 * as with e2e-metrics. Unlike e2e-metrics, two blank lines in a row (an example without
 * references) are an error instead of a silent misalignment; trailing blank lines are ignored.
 */
import * as E from 'fp-ts/lib/Either.js';
import { pyStrip } from './mteval-tokenize.ts';

const PY_LINE_BREAK = /\r\n|[\n\r\v\f\u001c-\u001e\u0085\u2028\u2029]/u;

/** The lines of a text as Python's `str.splitlines()` (no empty last line after a final break). */
export const pyLines = (text: string): string[] => {
  const lines = text.split(PY_LINE_BREAK);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
};

/** Hypotheses: one stripped line per example. */
export const parseHypotheses = (text: string): string[] => pyLines(text).map(pyStrip);

/**
 * References grouped per example; `source` names the text in error messages
 * (`refs.txt:12: ...`).
 */
export const parseReferences = (text: string, source = 'references'): E.Either<string, string[][]> => {
  const lines = pyLines(text).map(pyStrip);
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) return E.left(`${source}: no references`);
  if (!lines.includes('')) return E.right(lines.map((l) => [l]));
  const groups: string[][] = [[]];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l !== '') groups[groups.length - 1].push(l);
    else if (groups[groups.length - 1].length === 0)
      return E.left(`${source}:${i + 1}: blank line after ${i === 0 ? 'the start of the file' : 'a blank line'} (an example without references)`);
    else groups.push([]);
  }
  return E.right(groups);
};

/** Formats references back into the format (inverse of {@link parseReferences} for multi-reference corpora). */
export const formatReferences = (refs: readonly (readonly string[])[]): string => refs.map((r) => r.join('\n')).join('\n\n') + '\n';
