/** Each loader on small files written here: fields, ids, located errors, skip-and-count. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { left, right, tempDir, writeTree } from './helpers.ts';
import { loadE2E, loadE2EInputs } from '../../src/data/e2e.ts';
import { loadWebNLGDir, loadWebNLGJson, loadWebNLGXml } from '../../src/data/webnlg.ts';
import { loadDartJson, loadDartXml } from '../../src/data/dart.ts';
import {
  loadBbcNews,
  loadBbcNewsDir,
  loadDialogSum,
  loadSamsum,
  loadSamsumJson,
  loadSciTldr,
  loadXSumBbcDir,
  loadXSumJsonl,
  loadXSumSplitIds,
  parseXSumSummaryFile,
} from '../../src/data/summarization.ts';
import { loadSeq2SeqJsonl } from '../../src/data/jsonl.ts';
import { loadTaskSplit } from '../../src/data/tasks.ts';

const { dir, cleanup } = tempDir();
after(cleanup);
const at = (rel: string) => join(dir, rel);

writeTree(dir, {
  'e2e/trainset.csv':
    'mr,ref\n' +
    '"name[The Eagle], eatType[coffee shop], familyFriendly[yes]","The Eagle is a ""family"" coffee shop."\n' +
    '"name[The Eagle], eatType[coffee shop], familyFriendly[yes]",Kids welcome at The Eagle.\n' +
    '"name[Zizzi], priceRange[£20-25]","Zizzi costs\n£20-25."\n',
  'e2e/devset.csv': 'mr,ref\n"name[A], food[Thai]",ok\n"name[B] food[Thai]",missing comma\n"name[C]",fine\n',
  'e2e/testset.csv': 'MR\n"name[Blue Spice], area[riverside]"\n',
  'e2e/bad-header.csv': 'meaning,text\nx,y\n',
  'e2e/fields.csv': 'mr,ref\n"name[A]",one,two\n',
});

test('E2E CSV: quoted fields, multi-line references, parsed MRs', async () => {
  const l = await right(loadE2E(at('e2e/trainset.csv')));
  assert.equal(l.rows.length, 3);
  assert.equal(l.rows[0].ref, 'The Eagle is a "family" coffee shop.');
  assert.deepEqual(l.rows[0].attributes, [
    { key: 'name', value: 'The Eagle' },
    { key: 'eatType', value: 'coffee shop' },
    { key: 'familyFriendly', value: 'yes' },
  ]);
  assert.equal(l.rows[2].ref, 'Zizzi costs\n£20-25.');
  const inputs = await right(loadE2EInputs(at('e2e/testset.csv')));
  assert.deepEqual(inputs.rows.map((r) => r.mr), ['name[Blue Spice], area[riverside]']);
});

test('E2E CSV: a bad MR is a located Left, or skipped and counted', async () => {
  const e = await left(loadE2E(at('e2e/devset.csv')));
  assert.equal(e.kind, 'schema');
  assert.equal(e.file, at('e2e/devset.csv'));
  assert.equal(e.line, 3);
  assert.match(e.reason, /bad MR "name\[B\] food\[Thai\]": expected "," after name\[B\]/);
  const l = await right(loadE2E(at('e2e/devset.csv'), { onMalformed: 'skip' }));
  assert.deepEqual(l.rows.map((r) => r.ref), ['ok', 'fine']);
  assert.equal(l.skipped, 1);
  assert.equal(l.problems[0].line, 3);
});

test('E2E CSV: header and field-count errors; missing file', async () => {
  const h = await left(loadE2E(at('e2e/bad-header.csv')));
  assert.deepEqual([h.kind, h.line], ['schema', 1]);
  assert.match(h.reason, /header is "meaning,text", expected "mr,ref"/);
  const f = await left(loadE2E(at('e2e/fields.csv')));
  assert.deepEqual([f.line, f.reason], [2, 'expected 2 fields (mr,ref), got 3']);
  const m = await left(loadE2E(at('e2e/nope.csv')));
  assert.deepEqual([m.kind, m.line, m.reason], ['io', 0, 'no such file']);
});

const webnlgXml = (entries: string) =>
  `<?xml version='1.0' encoding='UTF-8'?>\n<benchmark>\n  <entries>\n${entries}  </entries>\n</benchmark>\n`;
const entry = (eid: string, cat: string, triples: string[], lexes: [string, string][], size = triples.length) =>
  `    <entry category="${cat}" eid="${eid}" size="${size}">\n` +
  `      <originaltripleset><otriple>ignored | x | y</otriple></originaltripleset>\n` +
  `      <modifiedtripleset>\n${triples.map((t) => `        <mtriple>${t}</mtriple>\n`).join('')}      </modifiedtripleset>\n` +
  lexes.map(([c, l], i) => `      <lex comment="${c}" lid="Id${i + 1}">${l}</lex>\n`).join('') +
  `    </entry>\n`;

writeTree(dir, {
  'webnlg/train/1triples/1triple_allSolutions_Food_train_challenge.xml': webnlgXml(
    entry('Id1', 'Food', ['Ajoblanco | country | Spain'], [['good', 'Ajoblanco is from Spain.'], ['toFix', 'Ajoblanco spain']]),
  ),
  'webnlg/train/2triples/2triples_Astronaut_train_challenge.xml': webnlgXml(
    entry('Id1', 'Astronaut', ['Alan_Bean | nationality | United_States', 'Alan_Bean | birthPlace | Wheeler,_Texas'], [
      ['good', 'Alan Bean, born in Wheeler, Texas, is American &amp; an astronaut.'],
    ]),
  ),
  'webnlg/train/10triples/10triples_City_train_challenge.xml': webnlgXml(
    entry('Id1', 'City', Array.from({ length: 10 }, (_, i) => `A | p${i} | B`), [['good', 'ten']]),
  ),
  'webnlg/bad-size.xml': webnlgXml(
    entry('Id1', 'Food', ['A | b | C'], [['good', 'x']], 2) + entry('Id2', 'Food', ['A | b | C'], [['good', 'y']]),
  ),
  'webnlg/bad-triple.xml': webnlgXml(entry('Id1', 'Food', ['A | b'], [['good', 'x']])),
  'webnlg/bad-xml.xml': webnlgXml(entry('Id1', 'Food', ['A | b | C'], [['good', 'x']])).replace('</lex>', '</lexx>'),
  'webnlg/dev.json': JSON.stringify(
    {
      entries: [
        { '1': { category: 'Food', size: '1', xml_id: 'Id1', modifiedtripleset: [{ subject: 'Ajoblanco', property: 'country', object: 'Spain' }], lexicalisations: [{ comment: 'good', lex: 'Ajoblanco is from Spain.', xml_id: 'Id1' }] } },
        { '2': { category: 'Food', size: '1', xml_id: 'Id2', modifiedtripleset: [{ subject: 'A' }], lexicalisations: [] } },
      ],
    },
    null,
    4,
  ),
});

test('WebNLG XML: a directory is read in release order, entries keep categories and lexes', async () => {
  const l = await right(loadWebNLGDir(at('webnlg/train')));
  assert.deepEqual(l.rows.map((e) => [e.category, e.size]), [
    ['Food', 1],
    ['Astronaut', 2],
    ['City', 10], // numeric order of the triple-count folders: 10triples after 2triples
  ]);
  assert.deepEqual(l.rows[0].lexes, [
    { lid: 'Id1', comment: 'good', text: 'Ajoblanco is from Spain.' },
    { lid: 'Id2', comment: 'toFix', text: 'Ajoblanco spain' },
  ]);
  assert.deepEqual(l.rows[1].triples[1], { subject: 'Alan_Bean', property: 'birthPlace', object: 'Wheeler,_Texas' });
  assert.equal(l.rows[1].lexes[0].text, 'Alan Bean, born in Wheeler, Texas, is American & an astronaut.');
});

test('WebNLG XML: schema errors point at the entry, syntax errors at the line', async () => {
  const size = await left(loadWebNLGXml(at('webnlg/bad-size.xml')));
  assert.deepEqual([size.kind, size.line, size.reason], ['schema', 4, 'size="2" but the entry has 1 triples']);
  const skipped = await right(loadWebNLGXml(at('webnlg/bad-size.xml'), { onMalformed: 'skip' }));
  assert.deepEqual([skipped.rows.map((e) => e.eid), skipped.skipped], [['Id2'], 1]);
  const tri = await left(loadWebNLGXml(at('webnlg/bad-triple.xml')));
  assert.match(tri.reason, /triple "A \| b" does not have the form/);
  const xml = await left(loadWebNLGXml(at('webnlg/bad-xml.xml')));
  assert.deepEqual([xml.kind, xml.line], ['syntax', 9]);
  assert.match(xml.reason, /<\/lexx> does not close <lex>/);
});

test('WebNLG JSON export: entries decoded; a bad entry is located at its line', async () => {
  const e = await left(loadWebNLGJson(at('webnlg/dev.json')));
  assert.equal(e.kind, 'schema');
  assert.equal(e.line, 24); // the line of the second element of "entries"
  assert.equal(e.reason, 'field .modifiedtripleset[0].property: expected string, got undefined; field .modifiedtripleset[0].object: expected string, got undefined');
  const l = await right(loadWebNLGJson(at('webnlg/dev.json'), { onMalformed: 'skip' }));
  assert.deepEqual(l.rows, [
    {
      eid: 'Id1',
      category: 'Food',
      size: 1,
      triples: [{ subject: 'Ajoblanco', property: 'country', object: 'Spain' }],
      lexes: [{ lid: 'Id1', comment: 'good', text: 'Ajoblanco is from Spain.' }],
    },
  ]);
});

writeTree(dir, {
  'dart/dev.json': JSON.stringify(
    [
      { tripleset: [['A', 'REL', 'B']], subtree_was_extended: false, annotations: [{ source: 'e2e', text: 'A is B.' }] },
      { tripleset: [['A', 'REL']], annotations: [] },
    ],
    null,
    2,
  ),
  'dart/test.xml':
    "<?xml version='1.0' encoding='utf-8'?>\n<benchmark>\n  <entries>\n" +
    '    <entry category="MISC" eid="Id7" size="2">\n      <modifiedtripleset>\n' +
    '        <mtriple>[TABLECONTEXT] | [TITLE] | Jeff Daniels</mtriple>\n        <mtriple>X | YEAR | 1982</mtriple>\n' +
    '      </modifiedtripleset>\n      <lex comment="WikiSQL_lily" lid="Id1">In 1982 ...</lex>\n' +
    '      <lex comment="WikiSQL_lily" lid="Id2" />\n    </entry>\n  </entries>\n</benchmark>\n',
});

test('DART: JSON and XML entries, annotations with their sources, located JSON errors', async () => {
  const e = await left(loadDartJson(at('dart/dev.json')));
  assert.deepEqual([e.kind, e.line], ['schema', 18]);
  const j = await right(loadDartJson(at('dart/dev.json'), { onMalformed: 'skip' }));
  assert.deepEqual(j.rows, [
    { id: '0', triples: [{ subject: 'A', property: 'REL', object: 'B' }], annotations: [{ source: 'e2e', text: 'A is B.' }] },
  ]);
  const x = await right(loadDartXml(at('dart/test.xml')));
  assert.deepEqual(x.rows[0], {
    id: 'Id7',
    triples: [
      { subject: '[TABLECONTEXT]', property: '[TITLE]', object: 'Jeff Daniels' },
      { subject: 'X', property: 'YEAR', object: '1982' },
    ],
    annotations: [
      { source: 'WikiSQL_lily', text: 'In 1982 ...' },
      { source: 'WikiSQL_lily', text: '' },
    ],
  });
});

writeTree(dir, {
  'sum/xsum.jsonl': '{"document": "Doc one.", "summary": "One.", "id": "101"}\n\n{"document": "Doc two.", "summary": "Two.", "id": 102}\n',
  'sum/xsum-bad.jsonl': '{"document": "Doc one.", "summary": "One.", "id": "101"}\n{"document": 3, "summary": "x", "id": "1"}\n{"document": "a"\n',
  'sum/dialogsum.dev.jsonl': '{"fname": "dev_0", "dialogue": "#Person1#: Hi.", "summary": "They greet.", "topic": "greeting"}\n',
  'sum/dialogsum.test.jsonl':
    '{"fname": "test_0", "dialogue": "#Person1#: Hi.", "summary1": "S1", "topic1": "t1", "summary2": "S2", "topic2": "t2", "summary3": "S3", "topic3": "t3"}\n',
  'sum/samsum.jsonl': '{"id":"13818513","dialogue":"Amanda: Hi\\r\\nJerry: Sure!","summary":"They talk."}\n',
  'sum/samsum.json': JSON.stringify([{ id: '1', dialogue: 'A: x', summary: 's' }, { id: '2', dialogue: 'B: y' }], null, 1),
  'sum/bbc.jsonl': '{"id": "sport/001", "category": "sport", "document": "Title\\n\\nBody.", "summary": "Body."}\n',
  'sum/scitldr.jsonl':
    '{"source": ["First sentence.", "Second one."], "source_labels": [0, 1], "rouge_scores": [0.1, 0.2], "paper_id": "p1", "target": ["TLDR a", "TLDR b"], "title": "T"}\n' +
    '{"source": ["x"], "paper_id": "p2", "target": []}\n',
  'sum/pairs.jsonl': '{"source": "a", "target": "b"}\n{"id": "k", "source": "c", "target": "d"}\n',
});

test('JSONL summarisation loaders map each format to SummaryRow', async () => {
  const x = await right(loadXSumJsonl(at('sum/xsum.jsonl')));
  assert.deepEqual(x.rows, [
    { id: '101', document: 'Doc one.', summary: 'One.', references: ['One.'] },
    { id: '102', document: 'Doc two.', summary: 'Two.', references: ['Two.'] },
  ]);
  const dd = await right(loadDialogSum(at('sum/dialogsum.dev.jsonl')));
  assert.deepEqual(dd.rows[0], { id: 'dev_0', document: '#Person1#: Hi.', summary: 'They greet.', references: ['They greet.'], topic: 'greeting' });
  const dt = await right(loadDialogSum(at('sum/dialogsum.test.jsonl')));
  assert.deepEqual(dt.rows[0].references, ['S1', 'S2', 'S3']);
  assert.deepEqual([dt.rows[0].summary, dt.rows[0].topic], ['S1', 't1']);
  const s = await right(loadSamsum(at('sum/samsum.jsonl')));
  assert.equal(s.rows[0].document, 'Amanda: Hi\r\nJerry: Sure!');
  const sj = await left(loadSamsumJson(at('sum/samsum.json')));
  assert.deepEqual([sj.kind, sj.line], ['schema', 7]);
  assert.match(sj.reason, /summary/);
  const b = await right(loadBbcNews(at('sum/bbc.jsonl')));
  assert.equal(b.rows[0].category, 'sport');
  const sc = await right(loadSciTldr(at('sum/scitldr.jsonl'), { onMalformed: 'skip' }));
  assert.deepEqual(sc.rows[0], { id: 'p1', document: 'First sentence. Second one.', summary: 'TLDR a', references: ['TLDR a', 'TLDR b'], title: 'T' });
  assert.deepEqual([sc.skipped, sc.problems[0].line, sc.problems[0].reason], [1, 2, 'paper p2 has no TLDR in "target"']);
  const p = await right(loadSeq2SeqJsonl(at('sum/pairs.jsonl')));
  assert.deepEqual(p.rows, [
    { id: '1', source: 'a', target: 'b' },
    { id: 'k', source: 'c', target: 'd' },
  ]);
});

test('JSONL: schema and syntax errors are located by line; skip mode counts both', async () => {
  const e = await left(loadXSumJsonl(at('sum/xsum-bad.jsonl')));
  assert.deepEqual([e.kind, e.line], ['schema', 2]);
  assert.match(e.reason, /field \.document: expected string, got 3/);
  const l = await right(loadXSumJsonl(at('sum/xsum-bad.jsonl'), { onMalformed: 'skip' }));
  assert.deepEqual([l.rows.length, l.skipped], [1, 2]);
  assert.deepEqual(
    l.problems.map((p) => [p.kind, p.line]),
    [
      ['schema', 2],
      ['syntax', 3],
    ],
  );
});

const summaryFile = (url: string, title: string, first: string, body: string[]) =>
  ['[SN]URL[SN]', url, '', '[SN]TITLE[SN]', title, '', '[SN]FIRST-SENTENCE[SN]', first, '', '[SN]RESTBODY[SN]', ...body, ''].join('\n');

writeTree(dir, {
  'xsum/bbc-summary-data/10000001.summary': summaryFile(
    'http://web.archive.org/web/20161231/http://www.bbc.com/news/uk-politics-10000001',
    'Politics title',
    'A one-sentence summary.',
    ['Share this with', 'Email', 'First body line.', '', 'Second body line.', 'These are external links and will open in a new window'],
  ),
  'xsum/bbc-summary-data/10000002.summary': summaryFile(
    'http://www.bbc.co.uk/sport/football/10000002',
    'Football',
    'Goal.',
    ['Body.'],
  ),
  'xsum/bbc-summary-data/10000003.summary': '[SN]URL[SN]\nhttp://x/news/1\n[SN]FIRST-SENTENCE[SN]\nno title section\n',
  'xsum/split.json': JSON.stringify({ train: ['10000001'], validation: [], test: ['10000002'] }),
});

test('XSum original format: sections, share lines dropped, category from the URL', async () => {
  const l = await right(loadXSumBbcDir(at('xsum/bbc-summary-data'), ['10000001', '10000002']));
  assert.deepEqual(l.rows[0], {
    id: '10000001',
    document: 'First body line.\nSecond body line.',
    summary: 'A one-sentence summary.',
    references: ['A one-sentence summary.'],
    url: 'http://web.archive.org/web/20161231/http://www.bbc.com/news/uk-politics-10000001',
    title: 'Politics title',
    category: 'news',
    topic: 'news/uk',
  });
  assert.deepEqual([l.rows[1].category, l.rows[1].topic], ['sport', 'sport/football']);
  const bad = await left(loadXSumBbcDir(at('xsum/bbc-summary-data')));
  assert.deepEqual([bad.kind, bad.line, bad.reason], ['schema', 3, 'section [SN]FIRST-SENTENCE[SN] where [SN]TITLE[SN] was expected']);
  assert.ok(bad.file.endsWith('10000003.summary'));
  const all = await right(loadXSumBbcDir(at('xsum/bbc-summary-data'), undefined, { onMalformed: 'skip' }));
  assert.deepEqual([all.rows.map((r) => r.id), all.skipped], [['10000001', '10000002'], 1]);
  const missing = await left(loadXSumBbcDir(at('xsum/bbc-summary-data'), ['99']));
  assert.deepEqual([missing.kind, missing.reason], ['io', 'no such file']);
  const ids = await right(loadXSumSplitIds(at('xsum/split.json')));
  assert.deepEqual(ids.test, ['10000002']);
  assert.deepEqual(parseXSumSummaryFile('x', 'stray\n[SN]URL[SN]\n'), { _tag: 'Left', left: { line: 1, reason: 'text before the [SN]URL[SN] section' } });
});

test('loadTaskSplit reads XSum from the original format with the official split file', async () => {
  writeTree(dir, { 'xsum/XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json': JSON.stringify({ train: ['10000001'], validation: [], test: ['10000002'] }) });
  const t = await right(loadTaskSplit('xsum', 'test', { dir: at('xsum') }));
  assert.deepEqual(t.pairs, [{ id: '10000002', source: 'Body.', target: 'Goal.' }]);
});

writeTree(dir, {
  'bbcdir/BBC News Summary/News Articles/sport/001.txt': 'Title\n\nBody one.\n',
  'bbcdir/BBC News Summary/Summaries/sport/001.txt': 'Body one.',
  'bbcdir/BBC News Summary/News Articles/tech/001.txt': Buffer.from([0x50, 0x72, 0x69, 0x63, 0x65, 0x20, 0xa3, 0x35]), // "Price £5" in latin-1
  'bbcdir/BBC News Summary/Summaries/tech/001.txt': 'Price.',
  'bbcdir/BBC News Summary/News Articles/tech/002.txt': 'No summary',
});

test('BBC News Summary original folders; latin-1 files decoded; a missing summary is located', async () => {
  const root = at('bbcdir/BBC News Summary');
  const e = await left(loadBbcNewsDir(root));
  assert.equal(e.kind, 'io');
  assert.ok(e.file.endsWith(join('Summaries', 'tech', '002.txt')));
  const l = await right(loadBbcNewsDir(root, { onMalformed: 'skip' }));
  assert.deepEqual(l.rows, [
    { id: 'sport/001', document: 'Title\n\nBody one.', summary: 'Body one.', references: ['Body one.'], category: 'sport' },
    { id: 'tech/001', document: 'Price £5', summary: 'Price.', references: ['Price.'], category: 'tech' },
  ]);
  assert.equal(l.skipped, 1);
});
