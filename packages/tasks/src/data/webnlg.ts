/**
 * WebNLG challenge 2017 (Gardent et al.). The XML release: `train/` and `dev/` hold one file per
 * (triple count, category) under `1triples/` ... `7triples/`; `test/testdata_with_lex.xml` holds
 * the 1,862 test entries (seen and unseen categories), `test/testdata_unseen_with_lex.xml` the
 * unseen part, `test/testdata_no_lex.xml` the inputs only. Each `<entry category eid size>` has
 * `<modifiedtripleset>` of `<mtriple>s | p | o</mtriple>` and `<lex comment lid>` references.
 * Also reads the JSON export used by the official prefix-tuning code (`dev.json`).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { dataError, type DataError } from './errors.ts';
import { decodeAt, RawWebNLGJsonEntry, type Lexicalisation, type Triple, type WebNLGEntry } from './codecs.ts';
import { Collector, concatLoaded, type LoadOptions, type Loaded } from './loaded.ts';
import { childElements, parseXml, textContent, type XmlElement } from './xml.ts';
import { arrayElementOffsets, parseJson } from './json.ts';
import { ioError, lineAt, readText } from './text.ts';

/** Splits `s | p | o` into a triple. */
export const parseTripleText = (text: string): E.Either<string, Triple> => {
  const parts = text.trim().split(' | ');
  return parts.length === 3
    ? E.right({ subject: parts[0], property: parts[1], object: parts[2] })
    : E.left(`triple "${text.trim()}" does not have the form "subject | property | object"`);
};

/** Reads the triples and references of one `<entry>` (shared by WebNLG and DART). */
export const entryParts = (
  entry: XmlElement,
): E.Either<string, { triples: Triple[]; lexes: Lexicalisation[]; size: number | undefined }> => {
  const sets = childElements(entry, 'modifiedtripleset');
  if (sets.length !== 1) return E.left(`expected one <modifiedtripleset>, found ${sets.length}`);
  const triples: Triple[] = [];
  for (const m of childElements(sets[0])) {
    if (m.name !== 'mtriple') return E.left(`unexpected <${m.name}> in <modifiedtripleset>`);
    const tr = parseTripleText(textContent(m));
    if (E.isLeft(tr)) return tr;
    triples.push(tr.right);
  }
  if (triples.length === 0) return E.left('empty <modifiedtripleset>');
  const lexes = childElements(entry, 'lex').map((l) => ({
    lid: l.attrs.lid ?? '',
    comment: l.attrs.comment ?? '',
    text: textContent(l).trim(),
  }));
  const sizeAttr = entry.attrs.size;
  if (sizeAttr === undefined) return E.right({ triples, lexes, size: undefined });
  const size = /^\d+$/.test(sizeAttr) ? Number(sizeAttr) : NaN;
  if (!Number.isInteger(size)) return E.left(`size="${sizeAttr}" is not a whole number`);
  if (size !== triples.length) return E.left(`size="${size}" but the entry has ${triples.length} triples`);
  return E.right({ triples, lexes, size });
};

/** The `<entry>` elements of a `<benchmark><entries>` document. */
export const benchmarkEntries = (root: XmlElement): E.Either<string, XmlElement[]> => {
  if (root.name !== 'benchmark') return E.left(`root element is <${root.name}>, expected <benchmark>`);
  const lists = childElements(root, 'entries');
  if (lists.length !== 1) return E.left(`expected one <entries> in <benchmark>, found ${lists.length}`);
  return E.right(childElements(lists[0], 'entry'));
};

/** Loads one WebNLG XML file. */
export const loadWebNLGXml =
  (file: string, opts: LoadOptions = {}): TE.TaskEither<DataError, Loaded<WebNLGEntry>> =>
  async () => {
    const text = await readText(file);
    if (E.isLeft(text)) return text;
    const doc = parseXml(text.right);
    if (E.isLeft(doc)) return E.left(dataError('syntax', file, doc.left.line, doc.left.reason));
    const entries = benchmarkEntries(doc.right);
    if (E.isLeft(entries)) return E.left(dataError('schema', file, doc.right.line, entries.left));
    const acc = new Collector<WebNLGEntry>(opts);
    for (const entry of entries.right) {
      const parts = entryParts(entry);
      const category = entry.attrs.category;
      const eid = entry.attrs.eid;
      const why = E.isLeft(parts)
        ? parts.left
        : category === undefined
          ? 'entry has no category attribute'
          : eid === undefined
            ? 'entry has no eid attribute'
            : parts.right.size === undefined
              ? 'entry has no size attribute'
              : undefined;
      if (why !== undefined || E.isLeft(parts)) {
        const fatal = acc.problem(dataError('schema', file, entry.line, why ?? 'bad entry'));
        if (fatal) return E.left(fatal);
        continue;
      }
      acc.rows.push({
        eid: eid!,
        category: category!,
        size: parts.right.triples.length,
        triples: parts.right.triples,
        lexes: parts.right.lexes,
      });
    }
    return E.right(acc.done());
  };

const listXml = async (dir: string): Promise<string[]> => {
  const names = (await readdir(dir)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const out: string[] = [];
  for (const name of names) {
    const p = join(dir, name);
    if ((await stat(p)).isDirectory()) out.push(...(await listXml(p)));
    else if (name.endsWith('.xml')) out.push(p);
  }
  return out;
};

/**
 * Loads every `*.xml` under a directory (a WebNLG `train/` or `dev/` split), in the order of
 * the official release: by triple count (`1triples` ... `7triples`), then by file name.
 */
export const loadWebNLGDir =
  (dir: string, opts: LoadOptions = {}): TE.TaskEither<DataError, Loaded<WebNLGEntry>> =>
  async () => {
    let files: string[];
    try {
      files = await listXml(dir);
    } catch (err) {
      return E.left(ioError(dir, err));
    }
    if (files.length === 0) return E.left(dataError('io', dir, 0, 'no .xml files in this directory'));
    const parts: Loaded<WebNLGEntry>[] = [];
    for (const f of files) {
      const r = await loadWebNLGXml(f, opts)();
      if (E.isLeft(r)) return r;
      parts.push(r.right);
    }
    return E.right(concatLoaded(parts));
  };

/**
 * Loads the WebNLG JSON export (`{"entries": [{"1": {...}}, ...]}`), the format read by the
 * official prefix-tuning code.
 */
export const loadWebNLGJson =
  (file: string, opts: LoadOptions = {}): TE.TaskEither<DataError, Loaded<WebNLGEntry>> =>
  async () => {
    const text = await readText(file);
    if (E.isLeft(text)) return text;
    const doc = parseJson(text.right);
    if (E.isLeft(doc)) return E.left(dataError('syntax', file, doc.left.line, doc.left.reason));
    const entries = (doc.right as { entries?: unknown } | null)?.entries;
    if (!Array.isArray(entries)) return E.left(dataError('schema', file, 1, 'expected {"entries": [...]}'));
    let offsets: number[] | undefined;
    const lineOf = (i: number) => lineAt(text.right, (offsets ??= arrayElementOffsets(text.right, 2))[i] ?? 0);
    const acc = new Collector<WebNLGEntry>(opts);
    for (let i = 0; i < entries.length; i += 1) {
      const wrapper = entries[i] as unknown;
      const keys = wrapper !== null && typeof wrapper === 'object' ? Object.keys(wrapper) : [];
      const row =
        keys.length !== 1
          ? E.left(dataError('schema', file, lineOf(i), `entries[${i}] must be {"<n>": {...}}`))
          : E.map((r: typeof RawWebNLGJsonEntry._A): WebNLGEntry => ({
              eid: r.xml_id,
              category: r.category,
              size: r.modifiedtripleset.length,
              triples: r.modifiedtripleset.map((x) => ({ subject: x.subject, property: x.property, object: x.object })),
              lexes: r.lexicalisations.map((l) => ({ lid: l.xml_id ?? '', comment: l.comment, text: l.lex })),
            }))(decodeAt(RawWebNLGJsonEntry, file, lineOf(i))((wrapper as Record<string, unknown>)[keys[0]]));
      if (E.isLeft(row)) {
        const fatal = acc.problem(row.left);
        if (fatal) return E.left(fatal);
        continue;
      }
      acc.rows.push(row.right);
    }
    return E.right(acc.done());
  };
