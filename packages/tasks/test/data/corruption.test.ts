/**
 * Robustness laws: random corruptions (truncation, stray quotes, garbage bytes, deleted spans,
 * dropped fields) of a valid small file never make a loader throw. In `fail` mode the result is
 * a `Left` located in the file (or a clean `Right` with nothing skipped); in `skip` mode it is a
 * `Left` (structural damage) or a `Right` whose skips are counted and located; every row returned
 * is well-typed (checked with the row codecs).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { tempDir, csvField, xmlEscape, writeTree } from './helpers.ts';
import type { DataError } from '../../src/data/errors.ts';
import type { LoadOptions, Loaded } from '../../src/data/loaded.ts';
import { DartEntry, E2ERow, Pair, SummaryRow, WebNLGEntry } from '../../src/data/codecs.ts';
import { loadE2E } from '../../src/data/e2e.ts';
import { loadWebNLGJson, loadWebNLGXml } from '../../src/data/webnlg.ts';
import { loadDartJson, loadDartXml } from '../../src/data/dart.ts';
import { loadDialogSum, loadSamsumJson, loadXSumBbcDir, loadXSumJsonl } from '../../src/data/summarization.ts';
import { loadSeq2SeqJsonl } from '../../src/data/jsonl.ts';

const { dir, cleanup } = tempDir('pt-corrupt-');
after(cleanup);
let counter = 0;

// ---------------------------------------------------------------------------------------------
// Corruptions

type Corruption =
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'replace'; at: number; byte: number };

const STRUCTURAL = [...'",\n\r{}[]:<>/&;=|'].map((c) => c.charCodeAt(0));
const corruptionArb: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.constant([0x22] as number[]), // a stray quote
      fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }), // garbage, often invalid UTF-8
      fc.array(fc.constantFrom(...STRUCTURAL), { minLength: 1, maxLength: 3 }),
    ),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), byte: fc.constantFrom(...STRUCTURAL, 0x00, 0xff) }),
);

const apply = (buf: Buffer, c: Corruption): Buffer => {
  const at = buf.length === 0 ? 0 : c.at % (buf.length + 1);
  switch (c.kind) {
    case 'truncate':
      return buf.subarray(0, at);
    case 'insert':
      return Buffer.concat([buf.subarray(0, at), Buffer.from(c.bytes), buf.subarray(at)]);
    case 'delete':
      return Buffer.concat([buf.subarray(0, at), buf.subarray(at + c.len)]);
    case 'replace':
      return at < buf.length ? Buffer.concat([buf.subarray(0, at), Buffer.from([c.byte]), buf.subarray(at + 1)]) : buf;
  }
};

const lineCount = (buf: Buffer) => buf.toString('utf8').split('\n').length;

/** The law, for one loader and one corrupted file. */
const checkLoader = async <A>(
  load: (file: string, opts?: LoadOptions) => TE.TaskEither<DataError, Loaded<A>>,
  codec: t.Type<A, unknown, unknown>,
  file: string,
  content: Buffer,
  fileOfError: (e: DataError) => boolean = (e) => e.file === file,
) => {
  const maxLine = lineCount(content) + 1;
  const located = (e: DataError, where: string) => {
    assert.ok(fileOfError(e), `${where}: error names ${e.file}, not ${file}`);
    assert.ok(Number.isInteger(e.line) && e.line >= 0 && e.line <= maxLine, `${where}: line ${e.line} outside 0..${maxLine}`);
    assert.ok(e.reason.length > 0, `${where}: empty reason`);
    assert.ok(['syntax', 'schema', 'io'].includes(e.kind), `${where}: kind ${e.kind}`);
  };
  const strict = await load(file)();
  if (E.isLeft(strict)) located(strict.left, 'fail mode');
  else {
    assert.equal(strict.right.skipped, 0);
    assert.equal(strict.right.problems.length, 0);
    for (const row of strict.right.rows) assert.ok(codec.is(row), `ill-typed row ${JSON.stringify(row)}`);
  }
  const lenient = await load(file, { onMalformed: 'skip', maxProblems: 1000 })();
  if (E.isLeft(lenient)) located(lenient.left, 'skip mode');
  else {
    assert.equal(lenient.right.problems.length, lenient.right.skipped);
    lenient.right.problems.forEach((p, i) => located(p, `skip mode problem ${i}`));
    for (const row of lenient.right.rows) assert.ok(codec.is(row), `ill-typed row ${JSON.stringify(row)}`);
    // skipping only ever removes: in fail mode a Right means nothing was malformed
    if (E.isRight(strict)) assert.equal(lenient.right.rows.length, strict.right.rows.length);
  }
};

const write = (name: string, content: Buffer): string => {
  counter += 1;
  const file = join(dir, `${counter}-${name}`);
  writeFileSync(file, content);
  return file;
};

// ---------------------------------------------------------------------------------------------
// Valid files

const text = fc.string({ unit: fc.constantFrom('a', 'b', 'Z', ' ', ',', '"', "'", '\n', '£', 'é', '-', '.', '&', '<', '|', ':'), maxLength: 12 });
const plain = fc.string({ unit: fc.constantFrom('a', 'b', 'Z', ' ', '£', 'é', '-', '.', "'"), minLength: 1, maxLength: 10 }).filter((s) => s.trim() !== '');
const word = fc.stringMatching(/^[A-Za-z][A-Za-z ]{0,8}[A-Za-z]$/);

const mrArb = fc.array(fc.tuple(word, plain.filter((v) => !/[[\],]/.test(v))), { minLength: 1, maxLength: 4 }).map((as) =>
  as.map(([k, v]) => `${k}[${v}]`).join(', '),
);
const e2eCsv = fc
  .array(fc.tuple(mrArb, text), { minLength: 1, maxLength: 6 })
  .map((rows) => Buffer.from(`mr,ref\n${rows.map(([mr, ref]) => `${csvField(mr)},${csvField(ref)}`).join('\n')}\n`));

const tripleArb = fc.tuple(plain, word.map((w) => w.replace(/ /g, '')), plain).filter(([s, , o]) => !s.includes(' | ') && !o.includes(' | '));
const webnlgXml = fc
  .array(fc.tuple(fc.array(tripleArb, { minLength: 1, maxLength: 3 }), fc.array(text, { maxLength: 3 })), { minLength: 1, maxLength: 4 })
  .map((entries) =>
    Buffer.from(
      `<?xml version='1.0' encoding='UTF-8'?>\n<benchmark>\n  <entries>\n` +
        entries
          .map(
            ([triples, lexes], i) =>
              `    <entry category="Food" eid="Id${i + 1}" size="${triples.length}">\n      <modifiedtripleset>\n` +
              triples.map(([s, p, o]) => `        <mtriple>${xmlEscape(`${s} | ${p} | ${o}`)}</mtriple>\n`).join('') +
              `      </modifiedtripleset>\n` +
              lexes.map((l, k) => `      <lex comment="good" lid="Id${k + 1}">${xmlEscape(l)}</lex>\n`).join('') +
              `    </entry>\n`,
          )
          .join('') +
        `  </entries>\n</benchmark>\n`,
    ),
  );

const dartJson = fc
  .array(fc.record({ tripleset: fc.array(tripleArb, { minLength: 1, maxLength: 3 }), annotations: fc.array(fc.record({ source: word, text }), { maxLength: 2 }) }), { minLength: 1, maxLength: 4 })
  .map((xs) => Buffer.from(JSON.stringify(xs, null, 2)));

const webnlgJson = fc
  .array(fc.tuple(fc.array(tripleArb, { minLength: 1, maxLength: 2 }), fc.array(text, { maxLength: 2 })), { minLength: 1, maxLength: 3 })
  .map((entries) =>
    Buffer.from(
      JSON.stringify(
        {
          entries: entries.map(([triples, lexes], i) => ({
            [String(i + 1)]: {
              category: 'Food',
              size: String(triples.length),
              xml_id: `Id${i + 1}`,
              modifiedtripleset: triples.map(([subject, property, object]) => ({ subject, property, object })),
              lexicalisations: lexes.map((lex, k) => ({ comment: 'good', lex, xml_id: `Id${k + 1}` })),
            },
          })),
        },
        null,
        4,
      ),
    ),
  );

/** JSONL lines; with `drops`, some lines lose a field ("missing fields"). */
const jsonlOf = <R extends Record<string, unknown>>(row: fc.Arbitrary<R>, drops: boolean) =>
  fc.array(fc.tuple(row, drops ? fc.option(fc.nat(), { nil: undefined }) : fc.constant(undefined)), { minLength: 1, maxLength: 6 }).map((rows) =>
    Buffer.from(
      rows
        .map(([r, drop]) => {
          if (drop === undefined) return JSON.stringify(r);
          const keys = Object.keys(r);
          const copy: Record<string, unknown> = { ...r };
          delete copy[keys[drop % keys.length]];
          return JSON.stringify(copy);
        })
        .join('\n') + '\n',
    ),
  );
const xsumRow = fc.record({ document: text, summary: text, id: fc.stringMatching(/^[0-9]{1,8}$/) });
const dialogRow = fc.oneof(
  fc.record({ fname: word, dialogue: text, summary: text, topic: word }),
  fc.record({ fname: word, dialogue: text, summary1: text, summary2: text, summary3: text }),
);
const seq2seqRow = fc.record({ source: text, target: text });

const summaryFile = fc
  .tuple(fc.constantFrom('http://www.bbc.com/news/uk-1', 'http://www.bbc.co.uk/sport/football/2'), plain, plain, fc.array(text, { maxLength: 4 }))
  .map(([url, title, first, body]) =>
    Buffer.from(['[SN]URL[SN]', url, '', '[SN]TITLE[SN]', title, '', '[SN]FIRST-SENTENCE[SN]', first, '', '[SN]RESTBODY[SN]', ...body, ''].join('\n')),
  );

const cases: {
  name: string;
  gen: fc.Arbitrary<Buffer>;
  /** Valid files that may also lack fields (default: `gen`). */
  damaged?: fc.Arbitrary<Buffer>;
  load: (file: string, opts?: LoadOptions) => TE.TaskEither<DataError, Loaded<unknown>>;
  codec: t.Type<unknown, unknown, unknown>;
}[] = [
  { name: 'E2E CSV', gen: e2eCsv, load: loadE2E, codec: E2ERow as t.Type<unknown, unknown, unknown> },
  { name: 'WebNLG XML', gen: webnlgXml, load: loadWebNLGXml, codec: WebNLGEntry as t.Type<unknown, unknown, unknown> },
  { name: 'WebNLG JSON', gen: webnlgJson, load: loadWebNLGJson, codec: WebNLGEntry as t.Type<unknown, unknown, unknown> },
  { name: 'DART XML', gen: webnlgXml, load: loadDartXml, codec: DartEntry as t.Type<unknown, unknown, unknown> },
  { name: 'DART JSON', gen: dartJson, load: loadDartJson, codec: DartEntry as t.Type<unknown, unknown, unknown> },
  { name: 'XSum JSONL', gen: jsonlOf(xsumRow, false), damaged: jsonlOf(xsumRow, true), load: loadXSumJsonl, codec: SummaryRow as t.Type<unknown, unknown, unknown> },
  { name: 'DialogSum JSONL', gen: jsonlOf(dialogRow, false), damaged: jsonlOf(dialogRow, true), load: loadDialogSum, codec: SummaryRow as t.Type<unknown, unknown, unknown> },
  { name: 'generic JSONL', gen: jsonlOf(seq2seqRow, false), damaged: jsonlOf(seq2seqRow, true), load: loadSeq2SeqJsonl, codec: Pair as t.Type<unknown, unknown, unknown> },
  {
    name: 'SAMSum JSON array',
    gen: fc.array(fc.record({ id: word, dialogue: text, summary: text }), { minLength: 1, maxLength: 4 }).map((xs) => Buffer.from(JSON.stringify(xs, null, 1))),
    load: loadSamsumJson,
    codec: SummaryRow as t.Type<unknown, unknown, unknown>,
  },
];

for (const c of cases) {
  test(`corruption law: ${c.name}`, async () => {
    // the uncorrupted file loads cleanly
    await fc.assert(
      fc.asyncProperty(c.gen, async (content) => {
        const file = write('valid', content);
        const r = await c.load(file)();
        assert.ok(E.isRight(r), E.isLeft(r) ? `${r.left.line}: ${r.left.reason}` : '');
      }),
      { numRuns: 25 },
    );
    await fc.assert(
      fc.asyncProperty(c.damaged ?? c.gen, fc.array(corruptionArb, { minLength: 1, maxLength: 3 }), async (content, corruptions) => {
        const bad = corruptions.reduce(apply, content);
        await checkLoader(c.load, c.codec, write('bad', bad), bad);
      }),
      { numRuns: 120 },
    );
  });
}

test('corruption law: XSum bbc-summary-data file', async () => {
  await fc.assert(
    fc.asyncProperty(summaryFile, fc.array(corruptionArb, { minLength: 1, maxLength: 3 }), async (content, corruptions) => {
      counter += 1;
      const d = join(dir, `xsum-${counter}`);
      const bad = corruptions.reduce(apply, content);
      writeTree(d, { '1.summary': bad });
      const load = (folder: string, opts?: LoadOptions) => loadXSumBbcDir(folder, ['1'], opts);
      await checkLoader(load, SummaryRow as t.Type<unknown, unknown, unknown>, d, bad, (e) => e.file === join(d, '1.summary'));
    }),
    { numRuns: 120 },
  );
});
