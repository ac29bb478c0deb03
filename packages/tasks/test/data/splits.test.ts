/** Splits: low-data subsets, topic extrapolation splits, the URL topic rule, the seeded RNG. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { DATA, right } from './helpers.ts';
import {
  LOW_DATA_SIZES,
  bbcNewsToSports,
  lowDataDevSize,
  lowDataSplit,
  xsumNewsToSports,
  xsumTopic,
  xsumWithinNews,
} from '../../src/data/splits.ts';
import { makeRng, sampleIndices, shuffle } from '../../src/data/rng.ts';
import { loadE2E } from '../../src/data/e2e.ts';
import { loadBbcNews } from '../../src/data/summarization.ts';
import type { SummaryRow } from '../../src/data/codecs.ts';

const ints = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
const get = <A>(r: E.Either<unknown, A>): A => {
  assert.ok(E.isRight(r), E.isLeft(r) ? JSON.stringify(r.left) : '');
  return r.right;
};

test('low-data dev size is ⌊0.3·N⌋: 15, 30, 60, 150 for the paper sizes', () => {
  assert.deepEqual(LOW_DATA_SIZES.map(lowDataDevSize), [15, 30, 60, 150]);
});

test('low-data laws: right sizes, drawn from the pools without repetition, deterministic per seed', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 80 }),
      fc.integer({ min: 0, max: 120 }),
      fc.integer({ min: 0, max: 60 }),
      fc.integer(),
      fc.boolean(),
      (size, trainN, devN, seed, fromTrain) => {
        const train = ints(trainN);
        const dev = ints(devN, 1000);
        const opts = { size, seed, devFrom: fromTrain ? ('train' as const) : ('dev' as const) };
        const r = lowDataSplit(train, dev, opts);
        const devSize = Math.floor((size * 3) / 10);
        const fits = fromTrain ? size + devSize <= trainN : size <= trainN && devSize <= devN;
        assert.equal(E.isRight(r), fits);
        if (E.isLeft(r)) {
          assert.equal(r.left.kind, 'usage');
          return;
        }
        const s = r.right;
        assert.equal(s.train.length, size);
        assert.equal(s.dev.length, devSize);
        assert.equal(new Set(s.train).size, size);
        assert.equal(new Set(s.dev).size, devSize);
        assert.ok(s.train.every((x) => x < 1000));
        if (fromTrain) {
          assert.ok(s.dev.every((x) => x < 1000));
          assert.ok(s.dev.every((x) => !s.train.includes(x)), 'disjoint');
        } else assert.ok(s.dev.every((x) => x >= 1000));
        assert.deepEqual(lowDataSplit(train, dev, opts), r);
      },
    ),
    { numRuns: 300 },
  );
});

test('low-data: different seeds give different subsets; bad sizes are usage errors', () => {
  const pool = ints(1000);
  const a = get(lowDataSplit(pool, pool, { size: 50, seed: 0 }));
  const b = get(lowDataSplit(pool, pool, { size: 50, seed: 1 }));
  assert.notDeepEqual(a.train, b.train);
  const e = lowDataSplit(pool, pool, { size: 0, seed: 0 });
  assert.ok(E.isLeft(e) && /positive integer/.test(e.left.reason));
});

const haveE2E = existsSync(join(DATA, 'e2e', 'trainset.csv'));

test('low-data E2E subsets from the real training and development sets', { skip: !haveE2E }, async () => {
  const train = (await right(loadE2E(join(DATA, 'e2e', 'trainset.csv')))).rows;
  const dev = (await right(loadE2E(join(DATA, 'e2e', 'devset.csv')))).rows;
  const trainSet = new Set(train);
  const devSet = new Set(dev);
  for (const size of LOW_DATA_SIZES) {
    for (const seed of [0, 1, 2, 3, 4]) {
      const s = get(lowDataSplit(train, dev, { size, seed }));
      assert.equal(s.train.length, size);
      assert.equal(s.dev.length, lowDataDevSize(size));
      assert.equal(new Set(s.train).size, size); // distinct rows of the training set
      assert.ok(s.train.every((r) => trainSet.has(r)));
      assert.ok(s.dev.every((r) => devSet.has(r)));
    }
  }
});

test('XSum URL topics follow the official process_url rule (examples worked by hand)', () => {
  assert.deepEqual(xsumTopic('http://www.bbc.co.uk/news/uk-politics-12345678'), ['news', 'uk']);
  assert.deepEqual(xsumTopic('http://www.bbc.com/news/world-europe-37000000/'), ['news', 'world']);
  assert.deepEqual(xsumTopic('http://www.bbc.com/news/business-38000000'), ['news', 'business']);
  assert.deepEqual(xsumTopic('http://www.bbc.com/sport/football/35213458'), ['sport', 'football']);
  assert.deepEqual(xsumTopic('http://www.bbc.co.uk/news/10342567'), ['news']);
  assert.deepEqual(xsumTopic('http://www.bbc.co.uk/sport/0/football/12345678'), ['0', 'football']);
  assert.deepEqual(xsumTopic('http://web.archive.org/web/2016/http://www.bbc.com/news/health-36000000'), ['news', 'health']);
  assert.deepEqual(xsumTopic('http://www.bbc.com/news/technology'), ['news']);
  assert.deepEqual(xsumTopic(''), []);
});

const article = (id: string, url: string): SummaryRow => ({ id, document: `doc ${id}`, summary: `sum ${id}`, references: [`sum ${id}`], url });

test('XSum news→sports and within-news splits', () => {
  const urls = [
    'http://www.bbc.com/news/uk-1',
    'http://www.bbc.com/news/world-2',
    'http://www.bbc.com/news/business-3',
    'http://www.bbc.com/news/health-4',
    'http://www.bbc.com/news/technology-5',
    'http://www.bbc.com/sport/football/6',
    'http://www.bbc.com/sport/tennis/7',
    'http://www.bbc.com/weather/8',
  ];
  const rows = (tag: string) => urls.map((u, i) => article(`${tag}${i}`, u));
  const splits = { train: rows('tr'), dev: rows('dv'), test: rows('te') };
  const ns = get(xsumNewsToSports(splits, { seed: 0 }));
  assert.deepEqual(ns.train.map((r) => r.id), ['tr0', 'tr1', 'tr2', 'tr3', 'tr4']);
  assert.deepEqual(ns.dev.map((r) => r.id), ['dv0', 'dv1', 'dv2', 'dv3', 'dv4']);
  assert.deepEqual(ns.test.map((r) => r.id), ['te5', 'te6']);
  const wn = get(xsumWithinNews(splits, { seed: 0 }));
  assert.deepEqual(wn.train.map((r) => r.id), ['tr0', 'tr1', 'tr2']);
  assert.deepEqual(wn.test.map((r) => r.id), ['te3', 'te4']);
  // the test set is capped by a seeded sample (official max_num = 8000)
  const big = { train: [], dev: [], test: ints(50).map((i) => article(`s${i}`, `http://www.bbc.com/sport/golf/${i}`)) };
  const capped = get(xsumNewsToSports(big, { seed: 7, maxTest: 10 }));
  assert.equal(capped.test.length, 10);
  assert.equal(new Set(capped.test).size, 10);
  assert.deepEqual(get(xsumNewsToSports(big, { seed: 7, maxTest: 10 })).test, capped.test);
  // Hugging Face JSONL rows have no URL: a usage error, not a silent empty split
  const noUrl = xsumNewsToSports({ train: [{ id: '1', document: 'd', summary: 's', references: ['s'] }], dev: [], test: [] }, { seed: 0 });
  assert.ok(E.isLeft(noUrl) && noUrl.left.kind === 'usage');
});

const haveBbc = existsSync(join(DATA, 'summarization', 'bbc-news', 'bbc-news-summary.jsonl'));

test('BBC News news→sports: non-sport 90/10 train/dev, all sport as test; deterministic, disjoint', { skip: !haveBbc }, async () => {
  const rows = (await right(loadBbcNews(join(DATA, 'summarization', 'bbc-news', 'bbc-news-summary.jsonl')))).rows;
  const s = get(bbcNewsToSports(rows, { seed: 0 }));
  assert.deepEqual([s.train.length, s.dev.length, s.test.length], [1543, 171, 511]);
  assert.ok(s.test.every((r) => r.category === 'sport'));
  assert.ok([...s.train, ...s.dev].every((r) => r.category !== 'sport'));
  const ids = [...s.train, ...s.dev, ...s.test].map((r) => r.id);
  assert.equal(new Set(ids).size, rows.length);
  assert.deepEqual(get(bbcNewsToSports(rows, { seed: 0 })), s);
  assert.notDeepEqual(get(bbcNewsToSports(rows, { seed: 1 })).dev, s.dev);
});

test('RNG: deterministic streams; shuffles are permutations; samples are distinct; roughly uniform', () => {
  fc.assert(
    fc.property(fc.integer(), fc.nat(3), fc.array(fc.nat(), { maxLength: 40 }), (seed, stream, xs) => {
      const a = makeRng(seed, stream);
      const b = makeRng(seed, stream);
      for (let i = 0; i < 5; i += 1) assert.equal(a(), b());
      const sh = shuffle(xs, makeRng(seed));
      assert.deepEqual([...sh].sort((p, q) => p - q), [...xs].sort((p, q) => p - q));
      const k = Math.abs(seed) % (xs.length + 1);
      const idx = sampleIndices(xs.length, k, makeRng(seed));
      assert.equal(new Set(idx).size, k);
    }),
  );
  const rng = makeRng(123);
  const counts = Array(10).fill(0);
  for (let i = 0; i < 100000; i += 1) counts[Math.floor(rng() * 10)] += 1;
  assert.ok(counts.every((c) => Math.abs(c - 10000) < 500), counts.join(','));
  assert.notEqual(makeRng(1)(), makeRng(2)());
  assert.notEqual(makeRng(1, 0)(), makeRng(1, 1)());
});
