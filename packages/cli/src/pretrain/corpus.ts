/**
 * The pretraining corpus: gzip shards of `<doc …>…</doc>` blocks (WikiExtractor's format, which
 * the Gutenberg shards share), read as a stream, never whole.
 *
 * - Sources are the sub-folders of the corpus directory (`wikipedia/`, `gutenberg/`), each a
 *   sorted list of `*.gz` shards.
 * - The held-out validation slice is the first documents of each source's first shard, up to
 *   `VALIDATION_CHARS[source]` characters (the last one cut there). Training never reads a
 *   document of it: the training reader of that shard starts after the document in which the
 *   slice ends.
 * - Training rows are contiguous windows of the packed token stream of one shard (documents
 *   tokenized and joined by EOS). Row k of the run reads from shard k mod S, so every batch
 *   mixes all shards (Wikipedia and Gutenberg in the proportion of their shard counts). A
 *   shard read to its end starts again (a new pass).
 * - A `Cursor` (per shard: pass, document index, token offset) is a plain value stored in
 *   the checkpoint; readers reopen their shard and skip to it, so the data order of a resumed
 *   run equals that of an uninterrupted one.
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import * as t from 'io-ts';

/** Characters held out from the first shard of each source (others: DEFAULT_VALIDATION_CHARS). */
export const VALIDATION_CHARS: Readonly<Record<string, number>> = { wikipedia: 200_000, gutenberg: 100_000 };
export const DEFAULT_VALIDATION_CHARS = 100_000;

/** A shard file and the source it belongs to. */
export interface Shard {
  readonly source: string;
  readonly path: string;
  /** Position in its source's sorted shard list (0 = the shard holding the validation slice). */
  readonly index: number;
}

/** Lists the shards of a corpus directory: `<dir>/<source>/*.gz`, sources and shards sorted. */
export const listShards = (dir: string): Shard[] => {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  const out: Shard[] = [];
  for (const source of readdirSync(dir).sort()) {
    const sd = join(dir, source);
    if (!statSync(sd).isDirectory()) continue;
    readdirSync(sd).filter((f) => f.endsWith('.gz')).sort().forEach((f, index) => out.push({ source, path: join(sd, f), index }));
  }
  return out;
};

/** The documents' texts of a `<doc>`-formatted text (a whole text without `<doc` is one document). */
export const docsOfText = (text: string): string[] => {
  if (!/<doc[\s>]/.test(text)) return text.trim() === '' ? [] : [text.trim()];
  const out: string[] = [];
  const re = /<doc[^>]*>([\s\S]*?)<\/doc>/g;
  for (const m of text.matchAll(re)) {
    const d = m[1]!.trim();
    if (d !== '') out.push(d);
  }
  return out;
};

/** Streams the documents of a shard (gzip when the name ends in `.gz`), in order. Empty documents are skipped. */
export async function* readDocs(path: string): AsyncGenerator<string> {
  const raw = createReadStream(path);
  const s = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  s.setEncoding('utf8');
  let buf = '';
  try {
    for await (const chunk of s as AsyncIterable<string>) {
      buf += chunk;
      for (;;) {
        const start = buf.indexOf('<doc');
        if (start < 0) {
          buf = buf.slice(-4);
          break;
        }
        const open = buf.indexOf('>', start);
        const end = open < 0 ? -1 : buf.indexOf('</doc>', open);
        if (end < 0) {
          buf = buf.slice(start);
          break;
        }
        const d = buf.slice(open + 1, end).trim();
        buf = buf.slice(end + 6);
        if (d !== '') yield d;
      }
    }
  } finally {
    raw.destroy();
  }
}

const validationChars = (source: string): number => VALIDATION_CHARS[source] ?? DEFAULT_VALIDATION_CHARS;

/**
 * The held-out slice of one source: the first documents of its first shard up to the character
 * budget (the last cut), and the number of documents training skips in that shard.
 */
export const validationSlice = async (shard: Shard): Promise<{ docs: string[]; skip: number; whole: boolean }> => {
  if (shard.index !== 0) return { docs: [], skip: 0, whole: false };
  const budget = validationChars(shard.source);
  const docs: string[] = [];
  let used = 0;
  let whole = true;
  for await (const d of readDocs(shard.path)) {
    if (used >= budget) {
      whole = false; // a document remains for training
      break;
    }
    const take = d.slice(0, budget - used);
    docs.push(take);
    used += take.length;
  }
  return { docs, skip: docs.length, whole };
};

/** The whole validation slice of a corpus, source by source, as `<doc>` blocks can hold it. */
export const validationDocs = async (shards: readonly Shard[]): Promise<{ source: string; docs: string[] }[]> => {
  const out: { source: string; docs: string[] }[] = [];
  for (const s of shards.filter((x) => x.index === 0)) out.push({ source: s.source, docs: (await validationSlice(s)).docs });
  return out;
};

/** Where one shard's reader stands: its pass over the shard, document index (in the file), token offset in that document. */
export const ShardCursorC = t.type({ pass: t.number, doc: t.number, offset: t.number });
export type ShardCursor = t.TypeOf<typeof ShardCursorC>;
/** The data position of a run: the next row number and every shard's cursor (by shard path relative to the corpus). */
export const CursorC = t.type({ row: t.number, shards: t.record(t.string, ShardCursorC) });
export type Cursor = t.TypeOf<typeof CursorC>;

/** Encodes a document to ids (EOS appended by the reader). */
export type Encode = (text: string) => readonly number[];

/** A resumable reader of one shard's packed token stream. */
export class ShardReader {
  private it: AsyncGenerator<string> | undefined;
  private tokens: readonly number[] = [];
  private cur: ShardCursor;
  private readonly skip: number;

  constructor(readonly shard: Shard, private readonly encode: Encode, private readonly eos: number, skip: number, cursor?: ShardCursor) {
    this.skip = skip;
    this.cur = cursor ?? { pass: 0, doc: skip, offset: 0 };
  }

  get cursor(): ShardCursor {
    return { ...this.cur };
  }

  /** Opens the shard at the cursor (skipping documents without tokenizing them). */
  private async open(): Promise<void> {
    this.it = readDocs(this.shard.path);
    let i = 0;
    for (;;) {
      const r = await this.it.next();
      if (r.done) {
        if (i <= this.skip) throw new Error(`${this.shard.path}: no training documents after the ${this.skip} held out`);
        // the cursor lies past the end (the shard changed?): a new pass
        this.cur = { pass: this.cur.pass + 1, doc: this.skip, offset: 0 };
        return this.open();
      }
      if (i === this.cur.doc) {
        this.tokens = [...this.encode(r.value), this.eos];
        return;
      }
      i++;
    }
  }

  private async nextDoc(): Promise<void> {
    const r = await this.it!.next();
    if (r.done) {
      this.cur = { pass: this.cur.pass + 1, doc: this.skip, offset: 0 };
      await this.open();
      return;
    }
    this.cur = { pass: this.cur.pass, doc: this.cur.doc + 1, offset: 0 };
    this.tokens = [...this.encode(r.value), this.eos];
  }

  /** The next `n` tokens of the stream. */
  async take(n: number): Promise<number[]> {
    if (!this.it) await this.open();
    const out: number[] = [];
    while (out.length < n) {
      if (this.cur.offset >= this.tokens.length) {
        await this.nextDoc();
        continue;
      }
      const k = Math.min(n - out.length, this.tokens.length - this.cur.offset);
      for (let i = 0; i < k; i++) out.push(this.tokens[this.cur.offset + i]!);
      this.cur = { ...this.cur, offset: this.cur.offset + k };
    }
    return out;
  }

  async close(): Promise<void> {
    await this.it?.return(undefined);
  }
}

/** Training rows from all shards, round-robin, resumable from a `Cursor`. */
export class RowStream {
  private row: number;
  private constructor(private readonly readers: readonly ShardReader[], private readonly keyOf: (s: Shard) => string, row: number) {
    this.row = row;
  }

  /** Opens the readers (computing each first shard's validation skip) at `cursor`, or at the start. */
  static async open(corpusDir: string, shards: readonly Shard[], encode: Encode, eos: number, cursor?: Cursor): Promise<RowStream> {
    const keyOf = (s: Shard) => s.path.slice(corpusDir.length).replace(/^\/+/, '');
    const readers: ShardReader[] = [];
    for (const s of shards) {
      const v = await validationSlice(s);
      if (v.whole) continue; // the shard is all validation
      readers.push(new ShardReader(s, encode, eos, v.skip, cursor?.shards[keyOf(s)]));
    }
    if (readers.length === 0) throw new Error(`${corpusDir}: every shard is held out for validation; no training text`);
    return new RowStream(readers, keyOf, cursor?.row ?? 0);
  }

  /** The next `rows` rows of `len` tokens each (row-major). */
  async next(rows: number, len: number): Promise<Int32Array> {
    const out = new Int32Array(rows * len);
    for (let r = 0; r < rows; r++) {
      const reader = this.readers[this.row % this.readers.length]!;
      out.set(await reader.take(len), r * len);
      this.row++;
    }
    return out;
  }

  get cursor(): Cursor {
    return { row: this.row, shards: Object.fromEntries(this.readers.map((r) => [this.keyOf(r.shard), r.cursor])) };
  }

  async close(): Promise<void> {
    for (const r of this.readers) await r.close();
  }
}
