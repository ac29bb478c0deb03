/**
 * Every dataset in ../shared/data loads with exactly the counts of /work/shared/README.md (and
 * those of the official releases where the README gives none), read in place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DATA, right } from './helpers.ts';
import { loadE2E, loadE2EInputs } from '../../src/data/e2e.ts';
import { loadWebNLGDir, loadWebNLGJson, loadWebNLGXml } from '../../src/data/webnlg.ts';
import { loadDartJson, loadDartXml } from '../../src/data/dart.ts';
import { loadBbcNews, loadDialogSum, loadSamsum, loadSciTldr } from '../../src/data/summarization.ts';
import { lineariseE2E, lineariseTriples } from '../../src/data/linearise.ts';
import { groupBySource } from '../../src/data/references.ts';
import { WEBNLG_SEEN_CATEGORIES, WEBNLG_UNSEEN_CATEGORIES, webnlgSubset } from '../../src/data/splits.ts';
import { loadTaskSplit } from '../../src/data/tasks.ts';
import { REGISTRY } from '../../src/data/registry.ts';
import { verifyFile } from '../../src/data/download.ts';

const have = existsSync(join(DATA, 'e2e', 'trainset.csv'));
const opts = { skip: have ? false : `shared data not found at ${DATA}` };
const distinct = <A>(xs: readonly A[]) => new Set(xs).size;

test('E2E: train 42,061 refs / 4,862 MRs, dev 4,672 / 547, test 4,693 / 630, testset.csv 630 MRs', opts, async () => {
  const want: Record<string, [number, number]> = {
    'trainset.csv': [42061, 4862],
    'devset.csv': [4672, 547],
    'testset_w_refs.csv': [4693, 630],
  };
  const loaded: Record<string, Awaited<ReturnType<ReturnType<typeof loadE2E>>>> = {};
  for (const [file, [refs, mrs]] of Object.entries(want)) {
    const l = await right(loadE2E(join(DATA, 'e2e', file)));
    loaded[file] = { _tag: 'Right', right: l };
    assert.equal(l.rows.length, refs, file);
    assert.equal(distinct(l.rows.map((r) => r.mr)), mrs, file);
    assert.equal(l.skipped, 0);
  }
  const inputs = await right(loadE2EInputs(join(DATA, 'e2e', 'testset.csv')));
  assert.equal(inputs.rows.length, 630);
  // the MR-only test file holds exactly the MRs of the test file with references
  const withRefs = await right(async () => loaded['testset_w_refs.csv']);
  assert.deepEqual(new Set(inputs.rows.map((r) => r.mr)), new Set(withRefs.rows.map((r) => r.mr)));
  // first record of trainset.csv, read by eye from the file
  const train = await right(async () => loaded['trainset.csv']);
  assert.deepEqual(train.rows[0].attributes, [
    { key: 'name', value: 'The Vaults' },
    { key: 'eatType', value: 'pub' },
    { key: 'priceRange', value: 'more than £30' },
    { key: 'customer rating', value: '5 out of 5' },
    { key: 'near', value: 'Café Adriatic' },
  ]);
  assert.equal(train.rows[0].ref, 'The Vaults pub near Café Adriatic has a 5 star rating.  Prices start at £30.');
  // the official prefix-tuning data's first test source (data/e2e_data/src1_test.txt)
  assert.equal(lineariseE2E(withRefs.rows[0].attributes), 'name : Blue Spice | Type : coffee shop | area : city centre');
});

test('E2E test grouping gives 630 inputs with 4,693 references', opts, async () => {
  const t = await right(loadTaskSplit('e2e', 'test'));
  assert.equal(t.pairs.length, 4693);
  assert.equal(t.groups.length, 630);
  assert.equal(
    t.groups.reduce((n, g) => n + g.references.length, 0),
    4693,
  );
  assert.deepEqual(t.groups[0].references, [
    'A coffee shop in the city centre area called Blue Spice.',
    'Blue Spice is a coffee shop in city centre.',
  ]);
  assert.deepEqual(groupBySource(t.pairs), t.groups);
});

test('WebNLG 2017: train 6,940 entries / 18,102 lexes, dev 872 / 2,268, test 1,862 / 4,928 (891 unseen)', opts, async () => {
  const w = join(DATA, 'webnlg2017');
  const train = await right(loadWebNLGDir(join(w, 'train')));
  const dev = await right(loadWebNLGDir(join(w, 'dev')));
  const test_ = await right(loadWebNLGXml(join(w, 'test', 'testdata_with_lex.xml')));
  const unseen = await right(loadWebNLGXml(join(w, 'test', 'testdata_unseen_with_lex.xml')));
  const noLex = await right(loadWebNLGXml(join(w, 'test', 'testdata_no_lex.xml')));
  const lexes = (rows: readonly { lexes: readonly unknown[] }[]) => rows.reduce((n, r) => n + r.lexes.length, 0);
  assert.deepEqual([train.rows.length, lexes(train.rows)], [6940, 18102]);
  assert.deepEqual([dev.rows.length, lexes(dev.rows)], [872, 2268]);
  assert.deepEqual([test_.rows.length, lexes(test_.rows)], [1862, 4928]);
  assert.deepEqual([unseen.rows.length, lexes(unseen.rows)], [891, 2433]);
  assert.deepEqual([noLex.rows.length, lexes(noLex.rows)], [1862, 0]);
  // 77 training lexicalisations are marked toFix; the official training code drops them
  assert.equal(train.rows.flatMap((e) => e.lexes).filter((l) => l.comment !== 'good').length, 77);
  // seen = the training categories, unseen = the test-only ones
  assert.deepEqual([...new Set(train.rows.map((e) => e.category))].sort(), [...WEBNLG_SEEN_CATEGORIES].sort());
  const testOnly = [...new Set(test_.rows.map((e) => e.category))].filter((c) => !WEBNLG_SEEN_CATEGORIES.includes(c));
  assert.deepEqual(testOnly.sort(), [...WEBNLG_UNSEEN_CATEGORIES].sort());
  assert.equal(webnlgSubset('seen')(test_.rows).length, 971);
  assert.equal(webnlgSubset('unseen')(test_.rows).length, 891);
  // the unseen file is exactly the unseen part of the full test file
  const key = (e: { category: string; triples: unknown }) => JSON.stringify([e.category, e.triples]);
  assert.deepEqual(unseen.rows.map(key).sort(), webnlgSubset('unseen')(test_.rows).map(key).sort());
  // the JSON export read by the official code holds the same dev entries, in the same order
  const devJson = await right(loadWebNLGJson(join(w, 'dev.json')));
  assert.deepEqual(devJson.rows, dev.rows);
  // first training entry, read by eye from train/1triples/..._Airport_train_challenge.xml
  assert.deepEqual(train.rows[0].triples, [{ subject: 'Aarhus_Airport', property: 'cityServed', object: '"Aarhus, Denmark"' }]);
  assert.equal(lineariseTriples(train.rows[0].triples, 'webnlg'), '| Aarhus_Airport : cityServed : "Aarhus, Denmark"');
});

test('DART v1.1.1: dev 2,768 triple sets / 6,980 refs (JSON), test 5,097 / 12,552 (XML)', opts, async () => {
  const dev = await right(loadDartJson(join(DATA, 'dart', 'dart-v1.1.1-full-dev.json')));
  const test_ = await right(loadDartXml(join(DATA, 'dart', 'dart-v1.1.1-full-test.xml')));
  const refs = (rows: readonly { annotations: readonly unknown[] }[]) => rows.reduce((n, r) => n + r.annotations.length, 0);
  assert.deepEqual([dev.rows.length, refs(dev.rows)], [2768, 6980]);
  assert.deepEqual([test_.rows.length, refs(test_.rows)], [5097, 12552]);
  assert.equal(
    lineariseTriples(dev.rows[0].triples, 'dart'),
    'Mars Hill College : joined : 1973 | Mars Hill College : location : Mars Hill, North Carolina',
  );
  assert.deepEqual(test_.rows[0].triples[1], { subject: '[TABLECONTEXT]', property: '[TITLE]', object: 'Jeff Daniels' });
  assert.equal(test_.rows[0].annotations[0].source, 'WikiTableQuestions_lily');
  const t = await right(loadTaskSplit('dart', 'test'));
  assert.equal(t.groups.length, 5097);
  assert.equal(t.pairs.length, 12552);
});

test('DialogSum 12,460 / 500 / 500 (test: 3 references each); SAMSum 14,732 / 818 / 819', opts, async () => {
  const d = join(DATA, 'summarization', 'dialogsum');
  const counts = async (f: string) => (await right(loadDialogSum(join(d, f)))).rows;
  assert.equal((await counts('dialogsum.train.jsonl')).length, 12460);
  assert.equal((await counts('dialogsum.dev.jsonl')).length, 500);
  const test_ = await counts('dialogsum.test.jsonl');
  assert.equal(test_.length, 500);
  assert.ok(test_.every((r) => r.references.length === 3 && r.summary === r.references[0]));
  assert.equal(test_[0].id, 'test_0');
  const s = join(DATA, 'summarization', 'samsum');
  assert.equal((await right(loadSamsum(join(s, 'train.jsonl')))).rows.length, 14732);
  assert.equal((await right(loadSamsum(join(s, 'validation.jsonl')))).rows.length, 818);
  const st = await right(loadSamsum(join(s, 'test.jsonl')));
  assert.equal(st.rows.length, 819);
  assert.equal(st.rows[0].summary, "Hannah needs Betty's number but Amanda doesn't have it. She needs to contact Larry.");
});

test('BBC News Summary: 2,225 articles in 5 categories (511 sport); SciTLDR-A 1,992 / 619 / 618', opts, async () => {
  const b = await right(loadBbcNews(join(DATA, 'summarization', 'bbc-news', 'bbc-news-summary.jsonl')));
  assert.equal(b.rows.length, 2225);
  const cats = new Map<string, number>();
  for (const r of b.rows) cats.set(r.category ?? '?', (cats.get(r.category ?? '?') ?? 0) + 1);
  assert.deepEqual([...cats.keys()].sort(), ['business', 'entertainment', 'politics', 'sport', 'tech']);
  assert.equal(cats.get('sport'), 511);
  const sc = join(DATA, 'summarization', 'scitldr');
  const train = await right(loadSciTldr(join(sc, 'A_train.jsonl')));
  const dev = await right(loadSciTldr(join(sc, 'A_dev.jsonl')));
  const test_ = await right(loadSciTldr(join(sc, 'A_test.jsonl')));
  assert.deepEqual([train.rows.length, dev.rows.length, test_.rows.length], [1992, 619, 618]);
  assert.ok(test_.rows.some((r) => r.references.length > 1), 'SciTLDR test has several TLDRs per paper');
  assert.equal(train.rows[0].title, 'Critical Points of Linear Neural Networks: Analytical Forms and Landscape Properties');
});

test("the registry's checksums match the shared copies (which are the official files)", opts, async () => {
  let checked = 0;
  for (const source of Object.values(REGISTRY)) {
    for (const f of source.files) {
      const p = join(DATA, source.sharedPath, f.path);
      if (f.sha256 === undefined || !existsSync(p)) continue;
      const ok = await verifyFile(p, f);
      assert.ok(ok._tag === 'Right', `${source.name}/${f.path}: ${ok._tag === 'Left' ? ok.left : ''}`);
      checked += 1;
    }
  }
  assert.equal(checked, 4 + 108 + 2 + 3); // e2e, webnlg (107 XML + dev.json), dart dev/test, scitldr
});
