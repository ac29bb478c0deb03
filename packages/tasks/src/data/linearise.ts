/**
 * The paper's linearisations of structured inputs into source text, following Li & Liang's
 * official code (github.com/XiangLi1999/PrefixTuning):
 *
 * - E2E: the MR `name[The Eagle], eatType[coffee shop], ...` becomes
 *   `name : The Eagle | Type : coffee shop | ...` — attributes in MR order, `key : value` joined
 *   by ` | `, with the official key names (`eatType`→`Type`, `priceRange`→`price`,
 *   `familyFriendly`→`family friendly`; the others unchanged). The official data files were also
 *   word-tokenised (`£ 30`, `rating .`); we keep the raw text, which GPT-2's byte-level BPE handles.
 * - WebNLG (`LineByLineWebNLGTextDataset`): each modified triple contributes ` | s : p : o`; the
 *   contributions are concatenated, so the source is `| s1 : p1 : o1 | s2 : p2 : o2` (we drop the
 *   outer leading space; the example builder's `prependSpace` restores it). Entity names keep their
 *   underscores, as in the official code (it reads the WebNLG JSON export, whose entities contain
 *   `_`); `underscores: 'space'` replaces them in subjects and objects for those who prefer it.
 * - DART (`LineByLineTriplesTextDataset`): `s1 : p1 : o1 | s2 : p2 : o2` with no leading bar and
 *   the relation lower-cased.
 */
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import type { MRAttribute, Triple } from './codecs.ts';

/** MR attribute names as written by the official E2E linearisation. */
export const E2E_OFFICIAL_KEYS: Readonly<Record<string, string>> = {
  name: 'name',
  eatType: 'Type',
  food: 'food',
  priceRange: 'price',
  'customer rating': 'customer rating',
  area: 'area',
  familyFriendly: 'family friendly',
  near: 'near',
};
const E2E_RAW_KEYS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(E2E_OFFICIAL_KEYS).map(([raw, official]) => [official, raw]),
);

/**
 * Parses an E2E meaning representation `key[value], key[value], ...` into attributes.
 * Values may contain commas; they may not contain `]`.
 */
export const parseMR = (mr: string): E.Either<string, readonly MRAttribute[]> => {
  const out: MRAttribute[] = [];
  let i = 0;
  const n = mr.length;
  const skipWs = () => {
    for (let c = mr.charCodeAt(i); i < n && (c === 32 || c === 9 || c === 10 || c === 13 || c === 160); c = mr.charCodeAt(i)) i += 1;
  };
  skipWs();
  if (i === n) return E.left('empty meaning representation');
  while (i < n) {
    const open = mr.indexOf('[', i);
    if (open === -1) return E.left(`attribute "${mr.slice(i).trim()}" has no [value]`);
    const key = mr.slice(i, open).trim();
    if (key === '') return E.left(`attribute ${out.length + 1} has an empty name`);
    if (/[\],]/.test(key)) return E.left(`malformed attribute name "${key}"`);
    const close = mr.indexOf(']', open + 1);
    if (close === -1) return E.left(`value of "${key}" is not closed with "]"`);
    const value = mr.slice(open + 1, close);
    if (value.includes('[')) return E.left(`value of "${key}" contains "["`);
    out.push({ key, value });
    i = close + 1;
    skipWs();
    if (i < n) {
      if (mr[i] !== ',') return E.left(`expected "," after ${key}[${value}], got ${JSON.stringify(mr[i])}`);
      i += 1;
      skipWs();
      if (i === n) return E.left('trailing comma');
    }
  }
  return E.right(out);
};

/** Writes attributes back as an MR string `key[value], key[value]` (inverse of `parseMR`). */
export const printMR = (attributes: readonly MRAttribute[]): string =>
  attributes.map((a) => `${a.key}[${a.value}]`).join(', ');

/** Key naming for the E2E linearisation: the official names (default) or the MR's own keys. */
export const E2EKeyStyle = t.keyof({ official: null, raw: null });
export type E2EKeyStyle = t.TypeOf<typeof E2EKeyStyle>;

/** `name : The Eagle | Type : coffee shop | ...` from parsed MR attributes. */
export const lineariseE2E = (attributes: readonly MRAttribute[], keys: E2EKeyStyle = 'official'): string =>
  attributes
    .map((a) => `${keys === 'official' ? (E2E_OFFICIAL_KEYS[a.key] ?? a.key) : a.key} : ${a.value}`)
    .join(' | ');

/**
 * Parses an E2E linearisation back into MR attributes (official key names are mapped back to
 * the MR's). Inverse of `lineariseE2E` when no value contains ` | ` or ` : `.
 */
export const parseLinearisedE2E = (source: string): E.Either<string, readonly MRAttribute[]> => {
  if (source.trim() === '') return E.left('empty linearisation');
  const out: MRAttribute[] = [];
  for (const part of source.split(' | ')) {
    const sep = part.indexOf(' : ');
    if (sep === -1) return E.left(`"${part}" is not "key : value"`);
    const key = part.slice(0, sep);
    out.push({ key: E2E_RAW_KEYS[key] ?? key, value: part.slice(sep + 3) });
  }
  return E.right(out);
};

/** Triple linearisation style: `webnlg` (`| s : p : o` each) or `dart` (joined by ` | `, relation lower-cased). */
export const TripleStyle = t.keyof({ webnlg: null, dart: null });
export type TripleStyle = t.TypeOf<typeof TripleStyle>;

/** Options of `lineariseTriples`. */
export const TripleOptions = t.partial({
  /** Underscores in subjects and objects: kept (default, official code) or replaced by spaces. */
  underscores: t.keyof({ keep: null, space: null }),
});
export type TripleOptions = t.TypeOf<typeof TripleOptions>;

/** Linearises a triple set in the official WebNLG or DART style. */
export const lineariseTriples = (
  triples: readonly Triple[],
  style: TripleStyle,
  opts: TripleOptions = {},
): string => {
  const ent = (s: string) => (opts.underscores === 'space' ? s.replace(/_/g, ' ') : s);
  const parts = triples.map(
    (tr) => `${ent(tr.subject)} : ${style === 'dart' ? tr.property.toLowerCase() : tr.property} : ${ent(tr.object)}`,
  );
  return style === 'webnlg' ? parts.map((p) => `| ${p}`).join(' ') : parts.join(' | ');
};

/**
 * Parses a triple linearisation back into triples. Inverse of `lineariseTriples` (with
 * underscores kept, and lower-case relations for DART) when no field contains ` | ` or ` : `.
 */
export const parseLinearisedTriples = (source: string, style: TripleStyle): E.Either<string, readonly Triple[]> => {
  let body = source;
  if (style === 'webnlg') {
    if (!body.startsWith('| ')) return E.left('a WebNLG linearisation starts with "| "');
    body = body.slice(2);
  }
  if (body === '') return E.left('no triples');
  const out: Triple[] = [];
  for (const part of body.split(' | ')) {
    const fields = part.split(' : ');
    if (fields.length !== 3) return E.left(`"${part}" is not "subject : property : object"`);
    out.push({ subject: fields[0], property: fields[1], object: fields[2] });
  }
  return E.right(out);
};
