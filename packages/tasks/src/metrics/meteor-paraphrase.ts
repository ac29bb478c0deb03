/**
 * METEOR's paraphrase table (`ParaphraseTransducer`): `paraphrase-en.gz` holds records of three
 * lines (a probability METEOR ignores, a phrase, its paraphrase); METEOR puts every record into a
 * trie over the first phrase.
 *
 * Here the file is parsed once into word ids ({@link readParaphraseFile}, about 5.3 million
 * records, ~200 MB in memory), and each scored corpus gets a trie of just the records whose words
 * all occur in it ({@link restrictParaphrases}): a record with another word can never match, and
 * file order, which fixes the order in which candidates are tried, is kept. Same matches as
 * METEOR at a fraction of the trie's memory.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';

/** The whole table as word ids: record r has phrase `words[refStart[r]..parStart[r])` and paraphrase `words[parStart[r]..refStart[r+1])`. */
export type ParaphraseFile = {
  readonly path: string;
  readonly vocabulary: ReadonlyMap<string, number>;
  readonly words: Int32Array;
  readonly refStart: Int32Array;
  readonly parStart: Int32Array;
  readonly records: number;
};

/** A paraphrase table restricted to a corpus. Word ids are -1 for words it does not know. */
export type ParaphraseTable = {
  readonly id: (word: string) => number;
  /** phrases of `line` starting at `start` (shortest first, then file order) and their paraphrases */
  readonly pathsFrom: (
    line: readonly number[],
    start: number,
  ) => readonly { readonly length: number; readonly paraphrase: readonly number[] }[];
  /** number of records kept */
  readonly size: number;
};

const isDelim = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0c;

/** Parses `paraphrase-en.gz`; Left with a message when it cannot be read or is malformed. */
export const readParaphraseFile = (path: string): E.Either<string, ParaphraseFile> => {
  let text: Buffer;
  try {
    text = gunzipSync(readFileSync(path));
  } catch (e) {
    return E.left(`${path}: cannot read the paraphrase table (${(e as Error).message})`);
  }
  // Word ids by hashing the UTF-8 bytes in place (open addressing): no string per occurrence.
  const vocabulary = new Map<string, number>();
  let cap = 1 << 16;
  let slotId = new Int32Array(cap).fill(-1);
  let slotHash = new Int32Array(cap);
  // per distinct byte sequence: where it first occurs, and its word id
  const idStart: number[] = [];
  const idLen: number[] = [];
  const seqId: number[] = [];
  let words = new Int32Array(1 << 24);
  let nWords = 0;
  let refStart = new Int32Array(1 << 20);
  let parStart = new Int32Array(1 << 20);
  let records = 0;
  const pushWord = (id: number): void => {
    if (nWords === words.length) {
      const w = new Int32Array(words.length * 2);
      w.set(words);
      words = w;
    }
    words[nWords++] = id;
  };
  const grow = (): void => {
    const oldId = slotId;
    const oldHash = slotHash;
    cap *= 2;
    slotId = new Int32Array(cap).fill(-1);
    slotHash = new Int32Array(cap);
    for (let k = 0; k < oldId.length; k++) {
      if (oldId[k] < 0) continue;
      let q = oldHash[k] & (cap - 1);
      while (slotId[q] >= 0) q = (q + 1) & (cap - 1);
      slotId[q] = oldId[k];
      slotHash[q] = oldHash[k];
    }
  };
  const wordId = (ws: number, we: number): number => {
    let h = 0x811c9dc5;
    for (let k = ws; k < we; k++) h = Math.imul(h ^ text[k], 0x01000193);
    let q = h & (cap - 1);
    for (;;) {
      const seq = slotId[q];
      if (seq < 0) break;
      if (slotHash[q] === h && idLen[seq] === we - ws) {
        const s0 = idStart[seq];
        let same = true;
        for (let k = 0; k < we - ws; k++) {
          if (text[s0 + k] !== text[ws + k]) {
            same = false;
            break;
          }
        }
        if (same) return seqId[seq];
      }
      q = (q + 1) & (cap - 1);
    }
    // different bytes can decode to the same string (invalid UTF-8): METEOR keys by string
    const str = text.toString('utf8', ws, we);
    const id = vocabulary.get(str) ?? vocabulary.size;
    vocabulary.set(str, id);
    idStart.push(ws);
    idLen.push(we - ws);
    seqId.push(id);
    slotId[q] = idStart.length - 1;
    slotHash[q] = h;
    if (idStart.length * 2 > cap) grow();
    return id;
  };
  // words of the line text[s, e)
  const pushLine = (s: number, e: number): void => {
    let i = s;
    while (i < e) {
      while (i < e && isDelim(text[i])) i++;
      const ws = i;
      while (i < e && !isDelim(text[i])) i++;
      if (i > ws) pushWord(wordId(ws, i));
    }
  };
  let pos = 0;
  let line = 0;
  while (pos < text.length) {
    const ends: number[] = [];
    let p = pos;
    for (let k = 0; k < 3; k++) {
      const nl = text.indexOf(0x0a, p);
      ends.push(nl < 0 ? text.length : nl);
      p = nl < 0 ? text.length : nl + 1;
      if (nl < 0 && k < 2) {
        const rest = text.toString('utf8', pos).trim();
        if (rest.length === 0) break;
        return E.left(`${path}: truncated record at line ${line + k + 1} (records are 3 lines)`);
      }
    }
    if (ends.length < 3) break;
    if (records === refStart.length) {
      const a = new Int32Array(refStart.length * 2);
      a.set(refStart);
      refStart = a;
      const b = new Int32Array(parStart.length * 2);
      b.set(parStart);
      parStart = b;
    }
    refStart[records] = nWords;
    pushLine(ends[0] + 1, ends[1]);
    parStart[records] = nWords;
    pushLine(ends[1] + 1, ends[2]);
    records++;
    line += 3;
    pos = p;
  }
  const rs = new Int32Array(records + 1);
  rs.set(refStart.subarray(0, records));
  rs[records] = nWords;
  return E.right({
    path,
    vocabulary,
    words: words.slice(0, nWords),
    refStart: rs,
    parStart: parStart.slice(0, records),
    records,
  });
};

type Node = { readonly next: Map<number, Node>; readonly emit: number[] };

/** The records of `file` whose words all belong to `vocabulary`, as METEOR's trie. */
export const restrictParaphrases = (file: ParaphraseFile, vocabulary: ReadonlySet<string>): ParaphraseTable => {
  const known = new Uint8Array(file.vocabulary.size);
  for (const w of vocabulary) {
    const id = file.vocabulary.get(w);
    if (id !== undefined) known[id] = 1;
  }
  const root: Node = { next: new Map(), emit: [] };
  const paraphrases: Int32Array[] = [];
  const { words, refStart, parStart } = file;
  for (let r = 0; r < file.records; r++) {
    let ok = true;
    for (let k = refStart[r]; k < refStart[r + 1]; k++) {
      if (known[words[k]] === 0) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    let cur = root;
    for (let k = refStart[r]; k < parStart[r]; k++) {
      let nx = cur.next.get(words[k]);
      if (nx === undefined) {
        nx = { next: new Map(), emit: [] };
        cur.next.set(words[k], nx);
      }
      cur = nx;
    }
    cur.emit.push(paraphrases.length);
    paraphrases.push(words.subarray(parStart[r], refStart[r + 1]));
  }
  return {
    id: (w) => {
      const id = file.vocabulary.get(w);
      return id !== undefined && known[id] === 1 ? id : -1;
    },
    pathsFrom: (line, start) => {
      const out: { length: number; paraphrase: readonly number[] }[] = [];
      let cur: Node | undefined = root;
      for (let i = 0; i < line.length - start; i++) {
        cur = cur.next.get(line[start + i]);
        if (cur === undefined) break;
        for (const e of cur.emit) out.push({ length: i + 1, paraphrase: paraphrases[e] as unknown as readonly number[] });
      }
      return out;
    },
    size: paraphrases.length,
  };
};

const fileCache = new Map<string, ParaphraseFile>();

/** {@link readParaphraseFile}, kept in memory per path for later corpora (see {@link releaseParaphraseFiles}). */
export const cachedParaphraseFile = (path: string): E.Either<string, ParaphraseFile> => {
  const hit = fileCache.get(path);
  if (hit !== undefined) return E.right(hit);
  const read = readParaphraseFile(path);
  if (E.isRight(read)) fileCache.set(path, read.right);
  return read;
};

/** Drops the parsed paraphrase tables kept by {@link cachedParaphraseFile} (~200 MB each). */
export const releaseParaphraseFiles = (): void => fileCache.clear();
