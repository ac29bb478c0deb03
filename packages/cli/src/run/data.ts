/**
 * Training data for the CLI: a task split or JSONL files -> (source, target) pairs -> token
 * examples -> fixed padded batches (the trainer re-orders them every epoch).
 */
import { createHash } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import { isEncoderDecoder, type Batch, type HostTensor, type Injection, type ModelConfig } from '@prefix-tuning/core';
import {
  IGNORE_INDEX, TaskName, batches, buildDecoderExample, buildSeq2SeqExample, collateDecoder, collateSeq2Seq, formatDataError,
  loadSeq2SeqJsonl, loadTaskSplit, lowDataSplit, makeRng, sampleIndices, type Pair, type RefGroup, type SplitName, type TokenizerLike,
} from '@prefix-tuning/tasks';
import { UsageError } from '../cli.ts';
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

const i32 = (rows: readonly (readonly number[])[], width?: number): HostTensor => {
  const B = rows.length;
  const T = width ?? (rows[0]?.length ?? 0);
  const data = new Int32Array(B * T);
  rows.forEach((r, b) => data.set(r, b * T));
  return { dtype: 'int32', shape: [B, T], data };
};

const countTokens = (labels: readonly (readonly number[])[]): number =>
  labels.reduce((s, r) => s + r.filter((x) => x !== IGNORE_INDEX).length, 0);

/** Options of `makeBatches`. */
export interface BatchingOptions {
  readonly batchSize: number;
  /** Decoder-only: whole sequence (infix: half for the source, half for the target); encoder-decoder: source and target each. */
  readonly maxLength: number;
  readonly prependSpace: boolean;
  readonly seed: number;
  readonly shuffle: boolean;
}

/**
 * Feeds of the injected training graph for `pairs`, in fixed batches; also counts truncated
 * examples, examples whose target was cut away entirely (decoder-only: `maxLength` leaves no
 * target token of a non-empty target) and pairs whose source and target are both empty, so that
 * the caller can refuse to train on nothing (the indices of the first of each are kept).
 */
export const makeBatches = (
  cfg: ModelConfig,
  inj: Injection,
  tok: TokenizerLike,
  pairs: readonly Pair[],
  o: BatchingOptions,
): { batches: Batch[]; truncated: number; maxId: number; emptyTargets: number[]; emptyPairs: number[] } => {
  let truncated = 0;
  let maxId = -1;
  const emptyPairs = pairs.flatMap((p, i) => (p.source.trim() === '' && p.target.trim() === '' ? [i] : []));
  const emptyTargets: number[] = [];
  const seen = (ids: readonly number[]) => {
    for (const i of ids) if (i > maxId) maxId = i;
  };
  const groups = batches(pairs.map((_, i) => i), { batchSize: o.batchSize, shuffle: o.shuffle, seed: o.seed });
  if (isEncoderDecoder(cfg)) {
    const build = buildSeq2SeqExample(tok, { maxSourceLength: o.maxLength, maxTargetLength: o.maxLength, prependSpace: o.prependSpace });
    const out = groups.map((g) => {
      const exs = g.map((i) => build(pairs[i]!));
      exs.forEach((e) => { truncated += e.truncated ? 1 : 0; seen(e.inputIds); seen(e.labels); });
      const b = collateSeq2Seq(exs, tok.padId);
      return { feeds: { input_ids: i32(b.inputIds), attention_mask: i32(b.attentionMask), labels: i32(b.labels) }, tokens: countTokens(b.labels) };
    });
    return { batches: out, truncated, maxId, emptyTargets, emptyPairs };
  }
  const infix = inj.groups.some((g) => g.kind === 'infix' && g.length > 0);
  // infix batches pad sources and targets separately, so each side gets half the length
  const half = Math.floor(o.maxLength / 2);
  const build = buildDecoderExample(tok, infix
    ? { maxSourceLength: half, maxTargetLength: Math.max(1, o.maxLength - half - 2), prependSpace: o.prependSpace }
    : { maxLength: o.maxLength, prependSpace: o.prependSpace });
  const out = groups.map((g): Batch => {
    const exs = g.map((i) => {
      const e = build(pairs[i]!);
      // labels = source (ignored), separator (ignored), target, EOS: no target token left
      if (e.labels.length - e.sourceLength - 2 === 0 && pairs[i]!.target.trim() !== '') emptyTargets.push(i);
      return e;
    });
    exs.forEach((e) => { truncated += e.truncated ? 1 : 0; seen(e.inputIds); });
    if (!infix) {
      const b = collateDecoder(exs, tok.padId);
      return { feeds: { input_ids: i32(b.inputIds), attention_mask: i32(b.attentionMask), labels: i32(b.labels) }, tokens: countTokens(b.labels) };
    }
    // [x; INFIX; y]: the source goes in separately; the target part starts with the separator,
    // whose logits predict the first target token
    const src = exs.map((e) => e.inputIds.slice(0, e.sourceLength));
    const S = Math.max(1, ...src.map((s) => s.length));
    const tgt = collateDecoder(exs.map((e) => ({ inputIds: e.inputIds.slice(e.sourceLength), labels: e.labels.slice(e.sourceLength) })), tok.padId);
    return {
      feeds: {
        source_ids: i32(src.map((s) => [...s, ...Array<number>(S - s.length).fill(tok.padId)]), S),
        source_mask: i32(src.map((s) => [...Array<number>(s.length).fill(1), ...Array<number>(S - s.length).fill(0)]), S),
        input_ids: i32(tgt.inputIds), attention_mask: i32(tgt.attentionMask), labels: i32(tgt.labels),
      },
      tokens: countTokens(tgt.labels),
    };
  });
  return { batches: out, truncated, maxId, emptyTargets: emptyTargets.sort((a, b) => a - b), emptyPairs };
};

/** A digest of batches (their order and every id): a checkpoint records the data it was trained on. */
export const batchesDigest = (bs: readonly Batch[]): string => {
  const h = createHash('sha256');
  for (const b of bs)
    for (const k of Object.keys(b.feeds).sort()) {
      const t = b.feeds[k]!;
      h.update(`${k}[${t.shape.join(',')}]`);
      h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  return h.digest('hex');
};
