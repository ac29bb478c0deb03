/**
 * Training data for the CLI: a task split or JSONL files -> (source, target) pairs (the
 * library's `makeBatches` turns them into batches).
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  TaskName, formatDataError, sharedDir, loadSeq2SeqJsonl, loadTaskSplit, lowDataSplit, makeRng, sampleIndices, type Pair, type RefGroup, type SplitName,
} from '@prefix-tuning/tasks';
import { UsageError } from '../cli.ts';
import { join } from 'node:path';
import { requireFile } from './model.ts';

/** Where the examples come from (recorded in the run config). */
export type DataSpec =
  | { readonly kind: 'task'; readonly task: TaskName; readonly dataDir: string | null; readonly webnlg?: 'all' | 'seen' | 'unseen' }
  | { readonly kind: 'jsonl'; readonly train: string; readonly dev: string | null };

const dataFail = (what: string, reason: string): never => {
  throw new UsageError(`${what}: ${reason}`);
};

/** The pairs and reference groups of one split; `null` when a JSONL run has no file for it. */
export const loadSplit = async (spec: DataSpec, split: SplitName, download = false): Promise<{ pairs: readonly Pair[]; groups: readonly RefGroup[] } | null> => {
  if (spec.kind === 'task') {
    const r = await loadTaskSplit(spec.task, split, {
      ...(spec.dataDir !== null ? { dir: spec.dataDir } : {}), offline: !download, ...(spec.webnlg !== undefined ? { webnlg: spec.webnlg } : {}),
    })();
    const what = `task ${spec.task} (${split}${spec.webnlg !== undefined && spec.webnlg !== 'all' ? `, ${spec.webnlg} categories` : ''})`;
    if (E.isLeft(r)) return dataFail(what, formatDataError(r.left));
    if (r.right.pairs.length === 0 && r.right.groups.length === 0) return dataFail(what, 'the split holds no examples');
    return { pairs: r.right.pairs, groups: r.right.groups };
  }
  const file = split === 'train' ? spec.train : split === 'dev' ? spec.dev : null;
  if (file === null) return null;
  requireFile(file, `--${split === 'train' ? 'jsonl' : 'dev-jsonl'}`);
  const r = await loadSeq2SeqJsonl(file)();
  if (E.isLeft(r)) return dataFail(file, formatDataError(r.left));
  if (r.right.rows.length === 0) return dataFail(file, 'no examples');
  const pairs = r.right.rows;
  return { pairs, groups: pairs.map((p) => ({ id: p.id, source: p.source, references: [p.target] })) };
};

/**
 * Training and development pairs. With `maxExamples` N the paper's low-data procedure draws N
 * training pairs and ⌊0.3·N⌋ development pairs (from the training pool when there is no dev
 * split); `maxDevExamples` caps the development pairs (0: none).
 */
export const trainingPairs = async (
  spec: DataSpec,
  opts: { readonly maxExamples: number | null; readonly maxDevExamples: number | null; readonly seed: number; readonly download?: boolean },
): Promise<{ train: readonly Pair[]; dev: readonly Pair[] }> => {
  const train = (await loadSplit(spec, 'train', opts.download))!.pairs;
  const devSplit = opts.maxDevExamples === 0 ? null : await loadSplit(spec, 'dev', opts.download);
  let tr = train;
  let dev: readonly Pair[] = devSplit?.pairs ?? [];
  if (opts.maxExamples !== null && opts.maxExamples < train.length) {
    const s = lowDataSplit(train, dev, { size: opts.maxExamples, seed: opts.seed, ...(devSplit === null ? { devFrom: 'train' as const } : {}) });
    if (E.isLeft(s)) {
      // not enough development pairs for ⌊0.3·N⌋: keep N training pairs and all development pairs
      const idx = sampleIndices(train.length, opts.maxExamples, makeRng(opts.seed, opts.maxExamples));
      tr = idx.map((i) => train[i]!);
    } else {
      tr = s.right.train;
      dev = s.right.dev;
    }
  }
  if (opts.maxDevExamples === 0) dev = [];
  else if (opts.maxDevExamples !== null && dev.length > opts.maxDevExamples)
    dev = sampleIndices(dev.length, opts.maxDevExamples, makeRng(opts.seed, 7, dev.length)).map((i) => dev[i]!);
  return { train: tr, dev };
};

export { makeBatches, batchesDigest, type BatchingOptions } from '@prefix-tuning/hub';

/** E2E's test split for the quick start; its absence is a usage error saying where to put it. */
export const e2eTestSplit = async (dataDir: string | null, download: boolean): Promise<{ pairs: readonly Pair[]; groups: readonly RefGroup[] }> => {
  try {
    return (await loadSplit({ kind: 'task', task: 'e2e', dataDir }, 'test', download))!;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    throw new UsageError(
      `the E2E dataset is not available: put trainset.csv, devset.csv and testset_w_refs.csv (the E2E NLG release) in ${join(sharedDir(), 'data', 'e2e')} ` +
        '(the shared directory is $PREFIX_TUNING_SHARED, else ../shared beside the repository), or pass --data-dir DIR, or run once with network access to download them.\n' +
        `  (${e.message})`,
    );
  }
};
