/**
 * DART v1.1.1 (Nan et al. 2021): the JSON release (an array of `{tripleset: [[s, p, o], ...],
 * annotations: [{source, text}], subtree_was_extended}`) and the XML release (WebNLG-style
 * `<entry>`s whose `<lex comment=...>` holds the annotation source).
 */
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { dataError, type DataError } from './errors.ts';
import { decodeAt, RawDart, type DartEntry } from './codecs.ts';
import { Collector, type LoadOptions, type Loaded } from './loaded.ts';
import { parseXml } from './xml.ts';
import { arrayElementOffsets, parseJson } from './json.ts';
import { lineAt, readText } from './text.ts';
import { benchmarkEntries, entryParts } from './webnlg.ts';

/** Loads a DART JSON file; entry ids are their 0-based positions. */
export const loadDartJson =
  (file: string, opts: LoadOptions = {}): TE.TaskEither<DataError, Loaded<DartEntry>> =>
  async () => {
    const text = await readText(file);
    if (E.isLeft(text)) return text;
    const doc = parseJson(text.right);
    if (E.isLeft(doc)) return E.left(dataError('syntax', file, doc.left.line, doc.left.reason));
    if (!Array.isArray(doc.right)) return E.left(dataError('schema', file, 1, 'expected a JSON array of entries'));
    const items: unknown[] = doc.right;
    let offsets: number[] | undefined;
    const lineOf = (i: number) => lineAt(text.right, (offsets ??= arrayElementOffsets(text.right, 1))[i] ?? 0);
    const acc = new Collector<DartEntry>(opts);
    for (let i = 0; i < items.length; i += 1) {
      const r = decodeAt(RawDart, file, 0)(items[i]);
      if (E.isLeft(r) || r.right.tripleset.length === 0) {
        const reason = E.isLeft(r) ? r.left.reason : 'empty tripleset';
        const fatal = acc.problem(dataError('schema', file, lineOf(i), reason));
        if (fatal) return E.left(fatal);
        continue;
      }
      acc.rows.push({
        id: String(i),
        triples: r.right.tripleset.map(([subject, property, object]) => ({ subject, property, object })),
        annotations: r.right.annotations.map((a) => ({ source: a.source, text: a.text })),
      });
    }
    return E.right(acc.done());
  };

/** Loads a DART XML file; entry ids are their `eid` attributes. */
export const loadDartXml =
  (file: string, opts: LoadOptions = {}): TE.TaskEither<DataError, Loaded<DartEntry>> =>
  async () => {
    const text = await readText(file);
    if (E.isLeft(text)) return text;
    const doc = parseXml(text.right);
    if (E.isLeft(doc)) return E.left(dataError('syntax', file, doc.left.line, doc.left.reason));
    const entries = benchmarkEntries(doc.right);
    if (E.isLeft(entries)) return E.left(dataError('schema', file, doc.right.line, entries.left));
    const acc = new Collector<DartEntry>(opts);
    for (const entry of entries.right) {
      const parts = entryParts(entry);
      const eid = entry.attrs.eid;
      if (E.isLeft(parts) || eid === undefined) {
        const reason = E.isLeft(parts) ? parts.left : 'entry has no eid attribute';
        const fatal = acc.problem(dataError('schema', file, entry.line, reason));
        if (fatal) return E.left(fatal);
        continue;
      }
      acc.rows.push({
        id: eid,
        triples: parts.right.triples,
        annotations: parts.right.lexes.map((l) => ({ source: l.comment, text: l.text })),
      });
    }
    return E.right(acc.done());
  };
