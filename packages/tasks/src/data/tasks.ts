/**
 * One call from a task name and a split to training pairs and evaluation groups:
 * `loadTaskSplit('e2e', 'test')` finds the files (an explicit `dir`, else the shared copy, else the
 * cache, downloading when needed), loads them, linearises the inputs the paper's way and returns
 *   pairs  — one (source, target) per reference, for training;
 *   groups — one input with all of its references, for evaluation.
 *
 * Split conventions: WebNLG pairs use only lexicalisations whose comment is `good` (the official
 * training code's filter) while groups keep every lexicalisation; `webnlg` selects the seen /
 * unseen / all categories. XSum reads `<split>.jsonl` (Hugging Face form) when present, else the
 * original `bbc-summary-data` with the official split file. BBC News Summary has no official split:
 * its train / dev / test are those of `bbcNewsToSports` (non-sport 90/10 → sport) with `seed`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as t from 'io-ts';
import * as E from 'fp-ts/lib/Either.js';
import type * as TE from 'fp-ts/lib/TaskEither.js';
import { dataError, type DataError } from './errors.ts';
import type { DartEntry, Pair, RefGroup, SummaryRow, WebNLGEntry } from './codecs.ts';
import { OnMalformed, type Loaded } from './loaded.ts';
import { loadE2E } from './e2e.ts';
import { loadWebNLGDir, loadWebNLGXml } from './webnlg.ts';
import { loadDartJson, loadDartXml } from './dart.ts';
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
} from './summarization.ts';
import { E2EKeyStyle, lineariseE2E, lineariseTriples } from './linearise.ts';
import { dartGroups, groupBySource, webnlgGroups } from './references.ts';
import { bbcNewsToSports, webnlgSubset } from './splits.ts';
import { ensureDataset, type EnsureOptions } from './download.ts';
import { DatasetName, REGISTRY } from './registry.ts';
import { datasetCacheDir, sharedDir } from './paths.ts';

/** The tasks (= datasets of the registry). */
export const TaskName = DatasetName;
export type TaskName = DatasetName;

/** A split name. */
export const SplitName = t.keyof({ train: null, dev: null, test: null });
export type SplitName = t.TypeOf<typeof SplitName>;

/** Options of `loadTaskSplit` (download options, e.g. `offline`, `fetch`, `env`, pass through). */
export const TaskOptions = t.partial({
  /** Read the dataset from this directory (its layout as in the shared copy) instead of searching. */
  dir: t.string,
  onMalformed: OnMalformed,
  maxProblems: t.number,
  /** WebNLG categories: all (default), seen or unseen. */
  webnlg: t.keyof({ all: null, seen: null, unseen: null }),
  /** WebNLG entity underscores: kept (default, official) or replaced by spaces. */
  underscores: t.keyof({ keep: null, space: null }),
  /** E2E attribute names: official (default) or raw MR keys. */
  e2eKeys: E2EKeyStyle,
  /** Seed of splits that need one (BBC News Summary). */
  seed: t.number,
});
export type TaskOptions = t.TypeOf<typeof TaskOptions> & Omit<EnsureOptions, 'need'>;

/** Training pairs and evaluation groups of one split. */
export type TaskSplit = {
  readonly task: TaskName;
  readonly split: SplitName;
  readonly pairs: readonly Pair[];
  readonly groups: readonly RefGroup[];
  readonly skipped: number;
  readonly problems: readonly DataError[];
};

/**
 * The path of the first of `alternatives` found in `opts.dir`, the shared copy or the cache;
 * otherwise download `download` (registry paths) and return the first alternative in the cache.
 */
const locate = async (
  task: TaskName,
  alternatives: readonly string[],
  download: readonly string[],
  opts: TaskOptions,
): Promise<E.Either<DataError, string>> => {
  if (opts.dir !== undefined) {
    const hit = alternatives.find((a) => existsSync(join(opts.dir!, a)));
    return hit !== undefined
      ? E.right(join(opts.dir, hit))
      : E.left(dataError('io', opts.dir, 0, `none of ${alternatives.join(', ')} is in this directory`));
  }
  const env = opts.env ?? process.env;
  for (const base of [join(sharedDir(env), 'data', REGISTRY[task].sharedPath), datasetCacheDir(task, env)]) {
    const hit = alternatives.find((a) => existsSync(join(base, a)));
    if (hit !== undefined) return E.right(join(base, hit));
  }
  const { dir: _dir, ...ensure } = opts;
  const dir = await ensureDataset(task, { ...ensure, need: download.length > 0 ? download : alternatives.slice(0, 1) })();
  return E.map((d: string) => join(d, alternatives[0]))(dir);
};

const under = (task: TaskName, prefix: string) =>
  REGISTRY[task].files.map((f) => f.path).filter((p) => p.startsWith(prefix));

const result = (
  task: TaskName,
  split: SplitName,
  l: Pick<Loaded<unknown>, 'skipped' | 'problems'>,
  pairs: readonly Pair[],
  groups: readonly RefGroup[],
): TaskSplit => ({ task, split, pairs, groups, skipped: l.skipped, problems: l.problems });

const fromSummaries = (task: TaskName, split: SplitName, l: Loaded<SummaryRow>): TaskSplit =>
  result(
    task,
    split,
    l,
    l.rows.map((r) => ({ id: r.id, source: r.document, target: r.summary })),
    l.rows.map((r) => ({ id: r.id, source: r.document, references: r.references })),
  );

/** Loads one split of a task as training pairs and evaluation groups. */
export const loadTaskSplit =
  (task: TaskName, split: SplitName, opts: TaskOptions = {}): TE.TaskEither<DataError, TaskSplit> =>
  async () => {
    const lo = { onMalformed: opts.onMalformed ?? 'fail', maxProblems: opts.maxProblems ?? 20 } as const;
    switch (task) {
      case 'e2e': {
        const file = { train: 'trainset.csv', dev: 'devset.csv', test: 'testset_w_refs.csv' }[split];
        const path = await locate(task, [file], [], opts);
        if (E.isLeft(path)) return path;
        const l = await loadE2E(path.right, lo)();
        if (E.isLeft(l)) return l;
        const pairs = l.right.rows.map((r, i) => ({
          id: `e2e/${split}/${i}`,
          source: lineariseE2E(r.attributes, opts.e2eKeys ?? 'official'),
          target: r.ref,
        }));
        return E.right(result(task, split, l.right, pairs, groupBySource(pairs)));
      }
      case 'webnlg': {
        const rel = { train: 'train', dev: 'dev', test: 'test/testdata_with_lex.xml' }[split];
        const path = await locate(task, [rel], split === 'test' ? [rel] : under(task, `${split}/`), opts);
        if (E.isLeft(path)) return path;
        const l = await (split === 'test' ? loadWebNLGXml : loadWebNLGDir)(path.right, lo)();
        if (E.isLeft(l)) return l;
        const entries: readonly WebNLGEntry[] = webnlgSubset(opts.webnlg ?? 'all')(l.right.rows);
        const tripleOpts = opts.underscores === undefined ? {} : { underscores: opts.underscores };
        const pairs = entries.flatMap((e, i) => {
          const source = lineariseTriples(e.triples, 'webnlg', tripleOpts);
          return e.lexes
            .filter((x) => x.comment === 'good' || x.comment === '')
            .map((x, k) => ({ id: `webnlg/${split}/${i}/${x.lid || k}`, source, target: x.text }));
        });
        return E.right(result(task, split, l.right, pairs, webnlgGroups(entries, tripleOpts, `webnlg/${split}`)));
      }
      case 'dart': {
        const rel = {
          train: 'dart-v1.1.1-full-train.json',
          dev: 'dart-v1.1.1-full-dev.json',
          test: 'dart-v1.1.1-full-test.xml',
        }[split];
        const path = await locate(task, [rel], [], opts);
        if (E.isLeft(path)) return path;
        const l = await (rel.endsWith('.xml') ? loadDartXml : loadDartJson)(path.right, lo)();
        if (E.isLeft(l)) return l;
        const entries: readonly DartEntry[] = l.right.rows;
        const pairs = entries.flatMap((e) => {
          const source = lineariseTriples(e.triples, 'dart');
          return e.annotations.map((a, k) => ({ id: `dart/${split}/${e.id}/${k}`, source, target: a.text }));
        });
        return E.right(result(task, split, l.right, pairs, dartGroups(entries, `dart/${split}`)));
      }
      case 'xsum': {
        const hf = { train: 'train.jsonl', dev: 'validation.jsonl', test: 'test.jsonl' }[split];
        const splitFile = 'XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json';
        const jsonl = await locate(task, [hf], [], { ...opts, offline: true });
        if (E.isRight(jsonl)) {
          const l = await loadXSumJsonl(jsonl.right, lo)();
          return E.isLeft(l) ? l : E.right(fromSummaries(task, split, l.right));
        }
        const ids = await locate(task, [splitFile], [splitFile, 'bbc-summary-data'], opts);
        if (E.isLeft(ids)) return ids;
        const dir = join(ids.right, '..', 'bbc-summary-data');
        const split90 = await loadXSumSplitIds(ids.right)();
        if (E.isLeft(split90)) return split90;
        const want = { train: split90.right.train, dev: split90.right.validation, test: split90.right.test }[split];
        const l = await loadXSumBbcDir(dir, want, lo)();
        return E.isLeft(l) ? l : E.right(fromSummaries(task, split, l.right));
      }
      case 'dialogsum': {
        const path = await locate(task, [`dialogsum.${split}.jsonl`], [], opts);
        if (E.isLeft(path)) return path;
        const l = await loadDialogSum(path.right, lo)();
        return E.isLeft(l) ? l : E.right(fromSummaries(task, split, l.right));
      }
      case 'samsum': {
        const names = { train: ['train.jsonl', 'train.json'], dev: ['validation.jsonl', 'val.json'], test: ['test.jsonl', 'test.json'] }[split];
        const path = await locate(task, names, [], opts);
        if (E.isLeft(path)) return path;
        const l = await (path.right.endsWith('.jsonl') ? loadSamsum : loadSamsumJson)(path.right, lo)();
        return E.isLeft(l) ? l : E.right(fromSummaries(task, split, l.right));
      }
      case 'bbc-news': {
        const path = await locate(task, ['bbc-news-summary.jsonl', 'News Articles', 'BBC News Summary/News Articles'], [], opts);
        if (E.isLeft(path)) return path;
        const l = path.right.endsWith('.jsonl')
          ? await loadBbcNews(path.right, lo)()
          : await loadBbcNewsDir(join(path.right, '..'), lo)();
        if (E.isLeft(l)) return l;
        const s = bbcNewsToSports(l.right.rows, { seed: opts.seed ?? 0 });
        if (E.isLeft(s)) return s;
        return E.right(fromSummaries(task, split, { ...l.right, rows: s.right[split] }));
      }
      case 'scitldr': {
        const path = await locate(task, [`A_${split}.jsonl`], [], opts);
        if (E.isLeft(path)) return path;
        const l = await loadSciTldr(path.right, lo)();
        return E.isLeft(l) ? l : E.right(fromSummaries(task, split, l.right));
      }
    }
  };
