/**
 * io-ts codecs: the single source of the types of every record this package reads (the raw
 * shapes of the official files) and of the normalised rows it returns.
 */
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import { dataError, formatValidationErrors, type DataError } from './errors.ts';

// ---------------------------------------------------------------------------------------------
// Normalised rows (what loaders return)

/** One attribute of an E2E meaning representation: `key[value]`. */
export const MRAttribute = t.readonly(t.type({ key: t.string, value: t.string }));
export type MRAttribute = t.TypeOf<typeof MRAttribute>;

/** One E2E (MR, reference) pair; `attributes` is the parsed MR. */
export const E2ERow = t.readonly(t.type({ mr: t.string, ref: t.string, attributes: t.readonlyArray(MRAttribute) }));
export type E2ERow = t.TypeOf<typeof E2ERow>;

/** An E2E input without a reference (`testset.csv`). */
export const E2EInput = t.readonly(t.type({ mr: t.string, attributes: t.readonlyArray(MRAttribute) }));
export type E2EInput = t.TypeOf<typeof E2EInput>;

/** An RDF triple. */
export const Triple = t.readonly(t.type({ subject: t.string, property: t.string, object: t.string }));
export type Triple = t.TypeOf<typeof Triple>;

/** A WebNLG lexicalisation (a reference text) with its quality comment (`good`, `toFix`, ...). */
export const Lexicalisation = t.readonly(t.type({ lid: t.string, comment: t.string, text: t.string }));
export type Lexicalisation = t.TypeOf<typeof Lexicalisation>;

/** A WebNLG entry: a set of modified triples, its category and its lexicalisations. */
export const WebNLGEntry = t.readonly(
  t.type({
    eid: t.string,
    category: t.string,
    size: t.number,
    triples: t.readonlyArray(Triple),
    lexes: t.readonlyArray(Lexicalisation),
  }),
);
export type WebNLGEntry = t.TypeOf<typeof WebNLGEntry>;

/** A DART annotation: a reference text and where it came from (`e2e`, `webnlg`, `WikiSQL_lily`, ...). */
export const DartAnnotation = t.readonly(t.type({ source: t.string, text: t.string }));
export type DartAnnotation = t.TypeOf<typeof DartAnnotation>;

/** A DART triple set and its references. */
export const DartEntry = t.readonly(
  t.type({ id: t.string, triples: t.readonlyArray(Triple), annotations: t.readonlyArray(DartAnnotation) }),
);
export type DartEntry = t.TypeOf<typeof DartEntry>;

/**
 * A summarisation example. `summary` is the training target; `references` are all references
 * for evaluation (several for DialogSum test, SciTLDR). `category` is set for BBC News Summary
 * and for XSum rows whose URL is known; `url`/`title` only for XSum's original format.
 */
export const SummaryRow = t.readonly(
  t.intersection([
    t.type({ id: t.string, document: t.string, summary: t.string, references: t.readonlyArray(t.string) }),
    t.partial({ category: t.string, url: t.string, title: t.string, topic: t.string }),
  ]),
);
export type SummaryRow = t.TypeOf<typeof SummaryRow>;

/** A generic (source, target) pair; the unit of training for every task. */
export const Pair = t.readonly(t.type({ id: t.string, source: t.string, target: t.string }));
export type Pair = t.TypeOf<typeof Pair>;

/** One evaluation input with all of its references. */
export const RefGroup = t.readonly(t.type({ id: t.string, source: t.string, references: t.readonlyArray(t.string) }));
export type RefGroup = t.TypeOf<typeof RefGroup>;

// ---------------------------------------------------------------------------------------------
// Raw shapes of the official files

/** A line of a generic JSONL file: `{source, target}` and an optional `id`. */
export const RawSeq2Seq = t.intersection([
  t.type({ source: t.string, target: t.string }),
  t.partial({ id: t.union([t.string, t.number]) }),
]);

/** Hugging Face XSum JSONL: `{document, summary, id}`. */
export const RawXSum = t.type({ document: t.string, summary: t.string, id: t.union([t.string, t.number]) });

/** SAMSum JSONL (Hugging Face export): `{id, dialogue, summary}`. */
export const RawSamsum = t.type({ id: t.union([t.string, t.number]), dialogue: t.string, summary: t.string });

/** DialogSum train/dev line: one summary and its topic. */
export const RawDialogSumSingle = t.intersection([
  t.type({ fname: t.string, dialogue: t.string, summary: t.string }),
  t.partial({ topic: t.string }),
]);
/** DialogSum test line: three references `summary1..3` (and topics `topic1..3`). */
export const RawDialogSumMulti = t.intersection([
  t.type({ fname: t.string, dialogue: t.string, summary1: t.string, summary2: t.string, summary3: t.string }),
  t.partial({ topic1: t.string, topic2: t.string, topic3: t.string }),
]);

/** BBC News Summary JSONL: `{id, category, document, summary}`. */
export const RawBbcNews = t.type({ id: t.string, category: t.string, document: t.string, summary: t.string });

/** SciTLDR JSONL: abstract sentences `source`, TLDRs `target`, `paper_id` (and more, unused). */
export const RawSciTldr = t.intersection([
  t.type({ source: t.array(t.string), target: t.array(t.string), paper_id: t.string }),
  t.partial({ title: t.string, source_labels: t.array(t.number), rouge_scores: t.array(t.number) }),
]);

/** A DART JSON record. */
export const RawDart = t.intersection([
  t.type({
    tripleset: t.array(t.tuple([t.string, t.string, t.string])),
    annotations: t.array(t.type({ source: t.string, text: t.string })),
  }),
  t.partial({ subtree_was_extended: t.union([t.boolean, t.null]) }),
]);

/** One entry of the WebNLG JSON export (`{"<n>": {...}}` inside `entries`). */
export const RawWebNLGJsonEntry = t.type({
  category: t.string,
  size: t.union([t.string, t.number]),
  xml_id: t.string,
  modifiedtripleset: t.array(t.type({ subject: t.string, property: t.string, object: t.string })),
  lexicalisations: t.array(
    t.intersection([t.type({ lex: t.string, comment: t.string }), t.partial({ xml_id: t.string })]),
  ),
});

/** Decodes `value` with `codec`, as a located schema error on failure. */
export const decodeAt =
  <A, O>(codec: t.Type<A, O, unknown>, file: string, line: number) =>
  (value: unknown): E.Either<DataError, A> => {
    const r = codec.decode(value);
    return E.isRight(r) ? E.right(r.right) : E.left(dataError('schema', file, line, formatValidationErrors(r.left)));
  };
