/**
 * JSON documents with located syntax errors. `JSON.parse` does the work; when it fails, a small
 * scanner finds the line of the first error (V8's messages do not always carry a position).
 */
import * as E from 'fp-ts/lib/Either.js';
import { lineAt } from './text.ts';

/** A JSON syntax error and its line. */
export type JsonProblem = { readonly line: number; readonly reason: string };

/** Parses `text` as one JSON value. */
export const parseJson = (text: string): E.Either<JsonProblem, unknown> => {
  try {
    return E.right(JSON.parse(text));
  } catch (err) {
    const at = locateJsonError(text);
    const msg = (err as Error).message.split('\n')[0];
    return E.left({ line: lineAt(text, at.pos), reason: `invalid JSON: ${at.reason ?? msg}` });
  }
};

/** Position and description of the first syntax error in `text` (the end when none is found). */
export const locateJsonError = (text: string): { pos: number; reason?: string } => {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i += 1;
      else break;
    }
  };
  class Stop extends Error {
    constructor(
      readonly pos: number,
      readonly why: string,
    ) {
      super(why);
    }
  }
  const stop = (why: string, at = i): never => {
    throw new Stop(at, why);
  };
  const describe = (): string => (i >= n ? 'unexpected end of input' : `unexpected ${JSON.stringify(text[i])}`);
  const str = () => {
    i += 1; // opening quote
    for (;;) {
      if (i >= n) stop('string is never closed');
      const c = text.charCodeAt(i);
      if (c === 34) {
        i += 1;
        return;
      }
      if (c < 32) stop('control character inside a string');
      if (c === 92) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) stop('bad \\u escape');
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else stop('bad escape in a string');
      } else i += 1;
    }
  };
  const NUM = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  const value = (depth: number): void => {
    if (depth > 10000) stop('nesting too deep');
    ws();
    if (i >= n) stop('unexpected end of input');
    const c = text[i];
    if (c === '{') {
      i += 1;
      ws();
      if (text[i] === '}') {
        i += 1;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') stop(`${describe()}, expected a property name`);
        str();
        ws();
        if (text[i] !== ':') stop(`${describe()}, expected ":"`);
        i += 1;
        value(depth + 1);
        ws();
        if (text[i] === ',') i += 1;
        else if (text[i] === '}') {
          i += 1;
          return;
        } else stop(`${describe()}, expected "," or "}"`);
      }
    } else if (c === '[') {
      i += 1;
      ws();
      if (text[i] === ']') {
        i += 1;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ',') i += 1;
        else if (text[i] === ']') {
          i += 1;
          return;
        } else stop(`${describe()}, expected "," or "]"`);
      }
    } else if (c === '"') str();
    else if (text.startsWith('true', i)) i += 4;
    else if (text.startsWith('false', i)) i += 5;
    else if (text.startsWith('null', i)) i += 4;
    else {
      NUM.lastIndex = i;
      const m = NUM.exec(text);
      if (m === null) return stop(`${describe()}, expected a value`);
      i += m[0].length;
    }
  };
  try {
    value(0);
    ws();
    if (i < n) stop(`${describe()} after the end of the JSON value`);
    return { pos: n };
  } catch (err) {
    if (err instanceof Stop) return { pos: err.pos, reason: err.why };
    if (err instanceof RangeError) return { pos: i, reason: 'nesting too deep' };
    throw err;
  }
};

/**
 * Start offsets of the elements of the arrays found at nesting `depth` (the root value is at
 * depth 0; the elements of a root array are at depth 1). Used to locate schema errors in JSON
 * documents, after `JSON.parse` succeeded, so the text is known to be well-formed.
 */
export const arrayElementOffsets = (text: string, depth: number): number[] => {
  const out: number[] = [];
  const stack: ('[' | '{')[] = [];
  let expectValue = false; // just after '[' or ',' inside an array at the target depth
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
    if (expectValue && c !== ']') {
      out.push(i);
      expectValue = false;
    } else expectValue = false;
    if (c === '"') {
      for (i += 1; i < text.length && text[i] !== '"'; i += 1) if (text[i] === '\\') i += 1;
    } else if (c === '[' || c === '{') {
      stack.push(c);
      if (c === '[' && stack.length === depth) expectValue = true;
    } else if (c === ']' || c === '}') {
      stack.pop();
    } else if (c === ',' && stack.length === depth && stack[stack.length - 1] === '[') {
      expectValue = true;
    }
  }
  return out;
};
