/**
 * METEOR's paraphrase table (`ParaphraseTransducer`): `paraphrase-en.gz` holds records of three
 * lines (a probability METEOR ignores, a phrase, its paraphrase). METEOR loads all 5.3 million
 * records into a trie over the first phrase. A record can only ever match when every word of
 * both phrases occurs in the scored text, so this table keeps just those records (in file order,
 * which fixes the order in which candidate matches are tried): the result is the same, at a
 * fraction of the memory.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';

/** A paraphrase table restricted to a vocabulary. Word ids are -1 for unknown words. */
export type ParaphraseTable = {
  readonly id: (word: string) => number;
  /** phrases of `line` starting at `start` (shortest first, then file order) and their paraphrases */
  readonly pathsFrom: (line: readonly number[], start: number) => readonly { readonly length: number; readonly paraphrase: readonly number[] }[];
  /** number of records kept */
  readonly size: number;
};

type Node = { next: Map<number, Node>; emit: number[] };

const node = (): Node => ({ next: new Map(), emit: [] });

/**
 * Reads `paraphrase-en.gz`, keeping the records whose words all belong to `vocabulary`.
 * Left with a message when the file cannot be read or is malformed.
 */
export const loadParaphraseTable = (path: string, vocabulary: ReadonlySet<string>): E.Either<string, ParaphraseTable> => {
  let text: Buffer;
  try {
    text = gunzipSync(readFileSync(path));
  } catch (e) {
    return E.left(`${path}: cannot read the paraphrase table (${(e as Error).message})`);
  }
  const ids = new Map<string, number>();
  const idOf = (w: string): number => {
    let i = ids.get(w);
    if (i === undefined) {
      i = ids.size;
      ids.set(w, i);
    }
    return i;
  };
  const root = node();
  const paraphrases: number[][] = [];
  const usable = (words: readonly string[]): boolean => words.every((w) => vocabulary.has(w));
  const split = (l: string): string[] => l.split(/[ \t\n\r\f]+/).filter((w) => w.length > 0);

  // Decode in slices that end at a line break: the whole file is ~270 MB of text.
  const SLICE = 1 << 24;
  let carry = '';
  let lineNo = 0;
  let pending: string[] = [];
  for (let off = 0; off < text.length; off += SLICE) {
    const chunk = carry + text.toString('utf8', off, Math.min(text.length, off + SLICE));
    const lines = chunk.split('\n');
    carry = off + SLICE < text.length ? (lines.pop() ?? '') : '';
    for (const line of lines) {
      lineNo++;
      pending.push(line);
      if (pending.length < 3) continue;
      const [, ref, par] = pending;
      pending = [];
      const r = split(ref);
      const p = split(par);
      if (!usable(r) || !usable(p)) continue;
      let cur = root;
      for (const w of r) {
        const id = idOf(w);
        let nx = cur.next.get(id);
        if (nx === undefined) {
          nx = node();
          cur.next.set(id, nx);
        }
        cur = nx;
      }
      cur.emit.push(paraphrases.length);
      paraphrases.push(p.map(idOf));
    }
  }
  if (pending.length !== 0 && pending.some((l) => l.length > 0)) {
    return E.left(`${path}: truncated record at line ${lineNo} (records are 3 lines)`);
  }
  return E.right({
    id: (w) => ids.get(w) ?? -1,
    pathsFrom: (line, start) => {
      const out: { length: number; paraphrase: readonly number[] }[] = [];
      let cur: Node | undefined = root;
      for (let i = 0; i < line.length - start; i++) {
        cur = cur.next.get(line[start + i]);
        if (cur === undefined) break;
        for (const e of cur.emit) out.push({ length: i + 1, paraphrase: paraphrases[e] });
      }
      return out;
    },
    size: paraphrases.length,
  });
};
