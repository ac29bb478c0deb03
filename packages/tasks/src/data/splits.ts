/**
 * The paper's data splits.
 *
 * Low-data (Li & Liang §7.2, and the official `lowdata_gen.py`): for a size N in
 * {50, 100, 200, 500}, draw N training examples uniformly without replacement from the full
 * training split and ⌊0.3·N⌋ development examples from the full development split, with a seed;
 * the paper uses several seeds per size (5 samples × 2 training seeds) and averages. With
 * `devFrom: 'train'` the development examples are drawn from the training examples not chosen
 * (for datasets without a development split). The sampling unit is the row (for E2E, an
 * (MR, reference) pair), as in the official script. Our generator is not numpy's, so the exact
 * official samples are not reproduced; the procedure is.
 *
 * WebNLG: the 10 categories of the training data are "seen"; the 5 test-only categories are
 * "unseen" (S / U / A columns of the paper's Table 1).
 *
 * Extrapolation (§7.3): XSum news→sports trains on articles whose URL topic is `news` (train and
 * validation splits) and tests on `sport` articles of the test split; within-news trains on the
 * news topics world, UK and business and tests on the other news topics. The topic is read from
 * the article URL exactly as the official `topic_url_process.py` does (see `xsumTopic`); test
 * sets are subsampled to at most 8,000 articles (official `max_num`). BBC News Summary has no
 * official split and no extrapolation protocol of its own: we mirror news→sports by training on
 * the four non-sport categories (90% train / 10% dev, seeded) and testing on all sport articles.
 */
import * as E from 'fp-ts/lib/Either.js';
import { dataError, type DataError } from './errors.ts';
import type { SummaryRow, WebNLGEntry } from './codecs.ts';
import { makeRng, sampleIndices, shuffle } from './rng.ts';

/** The training-set sizes of the paper's low-data experiments. */
export const LOW_DATA_SIZES = [50, 100, 200, 500] as const;

/** Size of the low-data development set for a training size: ⌊0.3·N⌋. */
export const lowDataDevSize = (trainSize: number): number => Math.floor((trainSize * 3) / 10);

/** Options of `lowDataSplit`. */
export type LowDataOptions = {
  readonly size: number;
  readonly seed: number;
  /** Where development examples come from: the dev split (default) or the unused training rows. */
  readonly devFrom?: 'dev' | 'train';
};

/** A low-data subset: N training and ⌊0.3·N⌋ development rows. */
export const lowDataSplit = <A>(
  train: readonly A[],
  dev: readonly A[],
  opts: LowDataOptions,
): E.Either<DataError, { readonly train: readonly A[]; readonly dev: readonly A[] }> => {
  const { size, seed } = opts;
  const devSize = lowDataDevSize(size);
  const fromTrain = opts.devFrom === 'train';
  const need = fromTrain ? size + devSize : size;
  if (!Number.isInteger(size) || size < 1) return E.left(dataError('usage', 'lowDataSplit', 0, `size must be a positive integer, got ${size}`));
  if (need > train.length)
    return E.left(dataError('usage', 'lowDataSplit', 0, `needs ${need} training rows, the pool has ${train.length}`));
  if (!fromTrain && devSize > dev.length)
    return E.left(dataError('usage', 'lowDataSplit', 0, `needs ${devSize} development rows, the pool has ${dev.length}`));
  const rng = makeRng(seed, size);
  const picked = sampleIndices(train.length, need, rng);
  const trainRows = picked.slice(0, size).map((i) => train[i]);
  const devRows = fromTrain
    ? picked.slice(size).map((i) => train[i])
    : sampleIndices(dev.length, devSize, makeRng(seed, size, 1)).map((i) => dev[i]);
  return E.right({ train: trainRows, dev: devRows });
};

/** The 10 WebNLG 2017 categories present in training ("seen"). */
export const WEBNLG_SEEN_CATEGORIES: readonly string[] = [
  'Airport',
  'Astronaut',
  'Building',
  'City',
  'ComicsCharacter',
  'Food',
  'Monument',
  'SportsTeam',
  'University',
  'WrittenWork',
];
/** The 5 WebNLG 2017 categories that appear only in the test set ("unseen"). */
export const WEBNLG_UNSEEN_CATEGORIES: readonly string[] = [
  'Artist',
  'Athlete',
  'CelestialBody',
  'MeanOfTransportation',
  'Politician',
];

/** Keeps the entries of seen categories, unseen categories, or all. */
export const webnlgSubset =
  (subset: 'seen' | 'unseen' | 'all') =>
  (entries: readonly WebNLGEntry[]): readonly WebNLGEntry[] =>
    subset === 'all'
      ? entries
      : entries.filter((e) => (subset === 'seen' ? WEBNLG_SEEN_CATEGORIES : WEBNLG_UNSEEN_CATEGORIES).includes(e.category));

/**
 * The topic of a BBC article URL, by the official rule (`process_url` in
 * `topic_url_process.py`): take the last three path segments; if the last one is a number, drop
 * it; otherwise replace it by the first word of its dash-separated slug (when it has a dash);
 * drop a first segment containing `www`; drop empty segments. Examples:
 * `.../news/uk-politics-12345678` → `[news, uk]`; `.../sport/football/35213458` →
 * `[sport, football]`; `.../news/10342567` → `[news]`; `.../sport/0/football/123` → `[0, football]`
 * (a quirk of the rule: such sport URLs do not count as `sport`).
 */
export const xsumTopic = (url: string): string[] => {
  const trimmed = url.trim().replace(/^\/+|\/+$/g, '');
  let kw = trimmed.split('/').slice(-3);
  const last = kw[kw.length - 1];
  if (/^[0-9]+$/.test(last)) {
    if (kw[0].includes('www')) kw = kw.slice(1);
    kw = kw.slice(0, -1);
  } else {
    const detailed = last.split('-').slice(0, -1);
    if (kw[0].includes('www')) kw = kw.slice(1);
    kw = detailed.length > 0 ? [...kw.slice(0, -1), detailed[0]] : kw.slice(0, -1);
  }
  return kw.filter((x) => x !== '');
};

/** Train / dev / test rows of an extrapolation split. */
export type TopicSplit<A> = { readonly train: readonly A[]; readonly dev: readonly A[]; readonly test: readonly A[] };

const capSample = <A>(rows: readonly A[], max: number, seed: number): readonly A[] =>
  rows.length <= max ? rows : sampleIndices(rows.length, max, makeRng(seed, max)).map((i) => rows[i]);

const topicOf = (r: SummaryRow): string[] => (r.url === undefined ? [] : xsumTopic(r.url));

const needUrls = (splits: TopicSplit<SummaryRow>): DataError | undefined => {
  const n = [...splits.train, ...splits.dev, ...splits.test].filter((r) => r.url === undefined).length;
  return n === 0
    ? undefined
    : dataError('usage', 'xsum', 0, `${n} rows have no URL: topic splits need XSum in its original bbc-summary-data format`);
};

/**
 * XSum news→sports: train/dev = `news` articles of the train/validation splits, test = `sport`
 * articles of the test split, subsampled to `maxTest` (default 8,000) with `seed`.
 */
export const xsumNewsToSports = (
  splits: TopicSplit<SummaryRow>,
  opts: { readonly seed: number; readonly maxTest?: number },
): E.Either<DataError, TopicSplit<SummaryRow>> => {
  const missing = needUrls(splits);
  if (missing) return E.left(missing);
  const is = (t: string) => (r: SummaryRow) => topicOf(r)[0] === t;
  return E.right({
    train: splits.train.filter(is('news')),
    dev: splits.dev.filter(is('news')),
    test: capSample(splits.test.filter(is('sport')), opts.maxTest ?? 8000, opts.seed),
  });
};

/** The news topics trained on in the within-news split. */
export const XSUM_WITHIN_NEWS_TRAIN_TOPICS: readonly string[] = ['news/uk', 'news/business', 'news/world'];

/**
 * XSum within-news: train/dev = news articles about the UK, business or world; test = the other
 * news articles of the test split, subsampled to `maxTest` (default 8,000) with `seed`.
 */
export const xsumWithinNews = (
  splits: TopicSplit<SummaryRow>,
  opts: { readonly seed: number; readonly maxTest?: number },
): E.Either<DataError, TopicSplit<SummaryRow>> => {
  const missing = needUrls(splits);
  if (missing) return E.left(missing);
  const key = (r: SummaryRow) => topicOf(r).join('/');
  const inTrain = (r: SummaryRow) => XSUM_WITHIN_NEWS_TRAIN_TOPICS.includes(key(r));
  const isNews = (r: SummaryRow) => topicOf(r)[0] === 'news';
  return E.right({
    train: splits.train.filter(inTrain),
    dev: splits.dev.filter(inTrain),
    test: capSample(
      splits.test.filter((r) => isNews(r) && !inTrain(r)),
      opts.maxTest ?? 8000,
      opts.seed,
    ),
  });
};

/**
 * BBC News Summary news→sports: the non-`sport` articles, shuffled with `seed`, give dev (the
 * first `round(devFraction·n)`, default 10%) and train (the rest); test is every `sport` article.
 */
export const bbcNewsToSports = (
  rows: readonly SummaryRow[],
  opts: { readonly seed: number; readonly devFraction?: number },
): E.Either<DataError, TopicSplit<SummaryRow>> => {
  const frac = opts.devFraction ?? 0.1;
  if (!(frac >= 0 && frac < 1)) return E.left(dataError('usage', 'bbcNewsToSports', 0, `devFraction must be in [0, 1), got ${frac}`));
  const missing = rows.filter((r) => r.category === undefined).length;
  if (missing > 0) return E.left(dataError('usage', 'bbcNewsToSports', 0, `${missing} rows have no category`));
  const news = shuffle(
    rows.filter((r) => r.category !== 'sport'),
    makeRng(opts.seed),
  );
  const nDev = Math.round(frac * news.length);
  return E.right({ train: news.slice(nDev), dev: news.slice(0, nDev), test: rows.filter((r) => r.category === 'sport') });
};
