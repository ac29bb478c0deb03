/**
 * Summarisation datasets, all normalised to `SummaryRow` (`document` → `summary`, with every
 * reference in `references`):
 * - XSum (Narayan et al. 2018) as Hugging Face JSONL (`document`, `summary`, `id`) or in its
 *   original `bbc-summary-data/<id>.summary` format (sections `[SN]URL[SN]`, `[SN]TITLE[SN]`,
 *   `[SN]FIRST-SENTENCE[SN]` = the summary, `[SN]RESTBODY[SN]` = the document), with the
 *   official split file `XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json`;
 * - DialogSum (train/dev: `summary`; test: `summary1..3`), SAMSum, BBC News Summary (JSONL with
 *   `category`, or the original `News Articles/<category>/NNN.txt` + `Summaries/...` folders),
 *   SciTLDR (abstract sentences `source` → TLDRs `target`).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { dataError, type DataError } from './errors.ts';
import {
  decodeAt,
  RawBbcNews,
  RawDialogSumMulti,
  RawDialogSumSingle,
  RawSamsum,
  RawSciTldr,
  RawXSum,
  type SummaryRow,
} from './codecs.ts';
import { Collector, type LoadOptions, type Loaded } from './loaded.ts';
import { loadJsonArrayWith, loadJsonlWith } from './jsonl.ts';
import { ioError, readText } from './text.ts';
import { parseJson } from './json.ts';
import { xsumTopic } from './splits.ts';

type Loader = (file: string, opts?: LoadOptions) => TE.TaskEither<DataError, Loaded<SummaryRow>>;

/** XSum in the Hugging Face JSONL form: `{document, summary, id}` (no URL, hence no category). */
export const loadXSumJsonl: Loader = loadJsonlWith(RawXSum, (r) =>
  E.right({ id: String(r.id), document: r.document, summary: r.summary, references: [r.summary] }),
);

/** SAMSum JSONL: `{id, dialogue, summary}`. */
export const loadSamsum: Loader = loadJsonlWith(RawSamsum, (r) =>
  E.right({ id: String(r.id), document: r.dialogue, summary: r.summary, references: [r.summary] }),
);

/** DialogSum JSONL: `summary` + `topic` (train, dev) or `summary1..3` + `topic1..3` (test). */
export const loadDialogSum: Loader = loadJsonlWith(t.union([RawDialogSumMulti, RawDialogSumSingle]), (r) =>
  E.right(
    // decide by the codec, not by one key: a single-summary row may carry a stray `summary1`
    RawDialogSumMulti.is(r)
      ? {
          id: r.fname,
          document: r.dialogue,
          summary: r.summary1,
          references: [r.summary1, r.summary2, r.summary3],
          ...(r.topic1 === undefined ? {} : { topic: r.topic1 }),
        }
      : {
          id: r.fname,
          document: r.dialogue,
          summary: r.summary,
          references: [r.summary],
          ...(r.topic === undefined ? {} : { topic: r.topic }),
        },
  ),
);

/** BBC News Summary JSONL: `{id, category, document, summary}`. */
export const loadBbcNews: Loader = loadJsonlWith(RawBbcNews, (r) =>
  E.right({ id: r.id, document: r.document, summary: r.summary, references: [r.summary], category: r.category }),
);

/**
 * SciTLDR JSONL: the document is the abstract (sentences joined by a space), the training target
 * the first TLDR, the references all TLDRs.
 */
export const loadSciTldr: Loader = loadJsonlWith(RawSciTldr, (r) =>
  r.target.length === 0
    ? E.left(`paper ${r.paper_id} has no TLDR in "target"`)
    : E.right({
        id: r.paper_id,
        document: r.source.join(' '),
        summary: r.target[0],
        references: r.target,
        ...(r.title === undefined ? {} : { title: r.title }),
      }),
);

// ---------------------------------------------------------------------------------------------
// XSum, original format

/** Lines dropped from XSum files, as in the official preprocessing (share widgets). */
export const XSUM_REMOVE_LINES: ReadonlySet<string> = new Set([
  'Share this with',
  'Email',
  'Facebook',
  'Messenger',
  'Twitter',
  'Pinterest',
  'WhatsApp',
  'Linkedin',
  'LinkedIn',
  'Copy this link',
  'These are external links and will open in a new window',
]);

const XSUM_SECTIONS = ['URL', 'TITLE', 'FIRST-SENTENCE', 'RESTBODY'] as const;

/**
 * Parses one `bbc-summary-data/<id>.summary` file. Share-widget lines and blank lines are
 * dropped; the document keeps its line breaks (as Hugging Face's `xsum` does). The category is
 * the first element of `xsumTopic(url)`.
 */
export const parseXSumSummaryFile = (
  id: string,
  text: string,
): E.Either<{ line: number; reason: string }, SummaryRow> => {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const raw = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    const marker = /^\[SN\](.*)\[SN\]$/.exec(raw.trim());
    if (marker !== null) {
      const name = marker[1];
      const expected = XSUM_SECTIONS[sections.size];
      if (name !== expected) {
        return E.left({
          line: i + 1,
          reason: `section [SN]${name}[SN] where [SN]${expected ?? '(none)'}[SN] was expected`,
        });
      }
      current = [];
      sections.set(name, current);
      continue;
    }
    if (raw.trim() === '' || XSUM_REMOVE_LINES.has(raw)) continue;
    if (current === undefined) return E.left({ line: i + 1, reason: 'text before the [SN]URL[SN] section' });
    current.push(raw);
  }
  const missing = XSUM_SECTIONS.find((s) => !sections.has(s));
  if (missing !== undefined) return E.left({ line: 0, reason: `no [SN]${missing}[SN] section` });
  const get = (s: string) => (sections.get(s) ?? []).join('\n').trim();
  const url = get('URL');
  const topic = xsumTopic(url);
  return E.right({
    id,
    document: get('RESTBODY'),
    summary: get('FIRST-SENTENCE'),
    references: [get('FIRST-SENTENCE')],
    url,
    title: get('TITLE'),
    ...(topic.length > 0 ? { category: topic[0], topic: topic.join('/') } : {}),
  });
};

/** The official XSum split file: ids of the train / validation / test articles. */
export const XSumSplitIds = t.type({
  train: t.array(t.string),
  validation: t.array(t.string),
  test: t.array(t.string),
});
export type XSumSplitIds = t.TypeOf<typeof XSumSplitIds>;

/** Reads `XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json`. */
export const loadXSumSplitIds =
  (file: string): TE.TaskEither<DataError, XSumSplitIds> =>
  async () => {
    const text = await readText(file);
    if (E.isLeft(text)) return text;
    const doc = parseJson(text.right);
    if (E.isLeft(doc)) return E.left(dataError('syntax', file, doc.left.line, doc.left.reason));
    return decodeAt(XSumSplitIds, file, 0)(doc.right);
  };

/**
 * Loads XSum articles from a `bbc-summary-data` directory: those named in `ids` (in that order),
 * or every `*.summary` file sorted by id. Files are read 32 at a time.
 */
export const loadXSumBbcDir =
  (dir: string, ids?: readonly string[], opts: LoadOptions = {}): TE.TaskEither<DataError, Loaded<SummaryRow>> =>
  async () => {
    let wanted: readonly string[];
    if (ids !== undefined) wanted = ids;
    else {
      try {
        wanted = (await readdir(dir))
          .filter((f) => f.endsWith('.summary'))
          .map((f) => f.slice(0, -'.summary'.length))
          .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
      } catch (err) {
        return E.left(ioError(dir, err));
      }
    }
    const acc = new Collector<SummaryRow>(opts);
    const width = 32;
    for (let start = 0; start < wanted.length; start += width) {
      const batch = wanted.slice(start, start + width);
      const texts = await Promise.all(batch.map((id) => readText(join(dir, `${id}.summary`))));
      for (let k = 0; k < batch.length; k += 1) {
        const file = join(dir, `${batch[k]}.summary`);
        const text = texts[k];
        const row = E.isLeft(text)
          ? text
          : E.mapLeft((p: { line: number; reason: string }) => dataError('schema', file, p.line, p.reason))(
              parseXSumSummaryFile(batch[k], text.right),
            );
        if (E.isLeft(row)) {
          const fatal = acc.problem(row.left);
          if (fatal) return E.left(fatal);
          continue;
        }
        acc.rows.push(row.right);
      }
    }
    return E.right(acc.done());
  };

// ---------------------------------------------------------------------------------------------
// BBC News Summary, original folders

const decodeLegacyText = (buf: Buffer): string => {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    return buf.toString('latin1'); // a few files of the release are not UTF-8
  }
};

/**
 * Loads the original BBC News Summary release: `<dir>/News Articles/<category>/<NNN>.txt` and
 * `<dir>/Summaries/<category>/<NNN>.txt`. Ids are `<category>/<NNN>` as in the JSONL form.
 */
export const loadBbcNewsDir =
  (dir: string, opts: LoadOptions = {}): TE.TaskEither<DataError, Loaded<SummaryRow>> =>
  async () => {
    const articles = join(dir, 'News Articles');
    const summaries = join(dir, 'Summaries');
    let categories: string[];
    try {
      categories = (await readdir(articles, { withFileTypes: true }))
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort();
    } catch (err) {
      return E.left(ioError(articles, err));
    }
    const acc = new Collector<SummaryRow>(opts);
    for (const category of categories) {
      let names: string[];
      try {
        names = (await readdir(join(articles, category))).filter((f) => f.endsWith('.txt')).sort();
      } catch (err) {
        return E.left(ioError(join(articles, category), err));
      }
      for (const name of names) {
        const id = `${category}/${name.slice(0, -4)}`;
        const summaryFile = join(summaries, category, name);
        try {
          const document = decodeLegacyText(await readFile(join(articles, category, name))).trim();
          let summary: string;
          try {
            summary = decodeLegacyText(await readFile(summaryFile)).trim();
          } catch (err) {
            const fatal = acc.problem(ioError(summaryFile, err));
            if (fatal) return E.left(fatal);
            continue;
          }
          acc.rows.push({ id, document, summary, references: [summary], category });
        } catch (err) {
          return E.left(ioError(join(articles, category, name), err));
        }
      }
    }
    return E.right(acc.done());
  };

/** SAMSum's original release: `train.json` / `val.json` / `test.json`, JSON arrays of `{id, dialogue, summary}`. */
export const loadSamsumJson: Loader = loadJsonArrayWith(RawSamsum, (r) =>
  E.right({ id: String(r.id), document: r.dialogue, summary: r.summary, references: [r.summary] }),
);
