/**
 * BLEU as sacreBLEU 2.x computes it (`sacrebleu.corpus_bleu` / `sentence_bleu`), on sacreBLEU's
 * scale 0..100: `13a` tokenization (case kept unless `lowercase`), clipped n-gram precisions up
 * to order 4 with counts clipped by the maximum over the references, the closest reference length
 * (the shorter on a tie) for the brevity penalty, `exp` smoothing by default. Sentence BLEU uses
 * the effective order, as `sentence_bleu` does.
 */
import { countNgrams, checkRefsHyps, maxCounts, ngramOrder } from './ngrams.ts';
import { pySplit, tokenize13a } from './mteval-tokenize.ts';

/** sacreBLEU's smoothing methods (Chen & Cherry 2014). */
export type SacreBleuSmoothing = 'none' | 'floor' | 'add-k' | 'exp';

/** Options of {@link sacreBleu}; defaults are sacreBLEU's. */
export type SacreBleuOptions = {
  readonly lowercase?: boolean;
  /** `13a` (default) or `none` (split on whitespace only). */
  readonly tokenize?: '13a' | 'none';
  readonly smoothMethod?: SacreBleuSmoothing;
  /** For `floor` (default 0.1) and `add-k` (default 1). */
  readonly smoothValue?: number;
  readonly effectiveOrder?: boolean;
  readonly maxNgramOrder?: number;
};

/** sacreBLEU's sufficient statistics. */
export type SacreBleuStats = {
  readonly sysLen: number;
  readonly refLen: number;
  readonly correct: readonly number[];
  readonly total: readonly number[];
};

/** A BLEU score with the details sacreBLEU prints. */
export type SacreBleuScore = SacreBleuStats & {
  readonly score: number;
  readonly precisions: readonly number[];
  readonly bp: number;
};

const SMOOTH_DEFAULTS: Record<SacreBleuSmoothing, number | undefined> = { none: undefined, floor: 0.1, 'add-k': 1, exp: undefined };

/** sacreBLEU's `my_log`: log with log(0) floored to -9999999999. */
const myLog = (x: number): number => (x === 0 ? -9999999999 : Math.log(x));

const preprocess = (s: string, o: SacreBleuOptions): string[] => {
  const line = o.lowercase ? s.toLowerCase() : s;
  return o.tokenize === 'none' ? pySplit(line) : tokenize13a(line).split(' ').filter((t) => t !== '');
};

/** sacreBLEU's `_get_closest_ref_len`. */
const closestRefLength = (hypLen: number, refLens: readonly number[]): number => {
  let closestDiff = -1, closestLen = -1;
  for (const r of refLens) {
    const d = Math.abs(hypLen - r);
    if (closestDiff === -1 || d < closestDiff) {
      closestDiff = d;
      closestLen = r;
    } else if (d === closestDiff && r < closestLen) closestLen = r;
  }
  return closestLen;
};

/** Statistics of each segment (`refs[i]` are the references of `hyps[i]`). */
export const sacreBleuSegmentStats = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts: SacreBleuOptions = {},
): SacreBleuStats[] => {
  checkRefsHyps('sacreBLEU', refs, hyps);
  const order = opts.maxNgramOrder ?? 4;
  return hyps.map((h, i) => {
    const refNgrams = new Map<string, number>();
    const refLens: number[] = [];
    for (const r of refs[i]) {
      const toks = preprocess(r, opts);
      refLens.push(toks.length);
      maxCounts(refNgrams, countNgrams(toks, 1, order));
    }
    const hyp = preprocess(h, opts);
    const correct = new Array<number>(order).fill(0), total = new Array<number>(order).fill(0);
    for (const [k, c] of countNgrams(hyp, 1, order)) {
      const n = ngramOrder(k);
      total[n - 1] += c;
      const rc = refNgrams.get(k);
      if (rc !== undefined) correct[n - 1] += Math.min(c, rc);
    }
    return { sysLen: hyp.length, refLen: closestRefLength(hyp.length, refLens), correct, total };
  });
};

/** Sums statistics. */
export const sumSacreBleuStats = (stats: readonly SacreBleuStats[], order = 4): SacreBleuStats => {
  const correct = new Array<number>(order).fill(0), total = new Array<number>(order).fill(0);
  let sysLen = 0, refLen = 0;
  for (const s of stats) {
    sysLen += s.sysLen;
    refLen += s.refLen;
    for (let j = 0; j < order; j++) {
      correct[j] += s.correct[j];
      total[j] += s.total[j];
    }
  }
  return { sysLen, refLen, correct, total };
};

/** sacreBLEU's `BLEU.compute_bleu`: the score (0..100) of statistics. */
export const sacreBleuOfStats = (stats: SacreBleuStats, opts: SacreBleuOptions = {}): SacreBleuScore => {
  const method = opts.smoothMethod ?? 'exp';
  const value = opts.smoothValue ?? SMOOTH_DEFAULTS[method] ?? 0;
  const order = stats.correct.length;
  const correct = [...stats.correct], total = [...stats.total];
  const { sysLen, refLen } = stats;
  const bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0) : 1;
  const precisions = new Array<number>(order).fill(0);
  const result = (score: number): SacreBleuScore => ({ score, precisions, bp, sysLen, refLen, correct, total });
  if (!correct.some((c) => c !== 0)) return result(0);
  let smoothMteval = 1;
  let effOrder = order;
  for (let n = 1; n <= order; n++) {
    if (method === 'add-k' && n > 1) {
      correct[n - 1] += value;
      total[n - 1] += value;
    }
    if (total[n - 1] === 0) break;
    if (opts.effectiveOrder) effOrder = n;
    if (correct[n - 1] === 0) {
      if (method === 'exp') {
        smoothMteval *= 2;
        precisions[n - 1] = 100 / (smoothMteval * total[n - 1]);
      } else if (method === 'floor') precisions[n - 1] = (100 * value) / total[n - 1];
    } else precisions[n - 1] = (100 * correct[n - 1]) / total[n - 1];
  }
  let logSum = 0;
  for (let j = 0; j < effOrder; j++) logSum += myLog(precisions[j]);
  return result(bp * Math.exp(logSum / effOrder));
};

/** Corpus BLEU as `sacrebleu.corpus_bleu` (0..100) with its details. */
export const sacreBleuDetailed = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts: SacreBleuOptions = {},
): SacreBleuScore => sacreBleuOfStats(sumSacreBleuStats(sacreBleuSegmentStats(refs, hyps, opts), opts.maxNgramOrder ?? 4), opts);

/** Corpus BLEU as `sacrebleu.corpus_bleu(hyps, refs).score` (0..100). */
export const sacreBleu = (refs: readonly (readonly string[])[], hyps: readonly string[], opts?: SacreBleuOptions): number =>
  sacreBleuDetailed(refs, hyps, opts).score;

/** Sentence BLEU as `sacrebleu.sentence_bleu(hyp, refs).score` (0..100; effective order on). */
export const sacreBleuSentence = (refs: readonly string[], hyp: string, opts: SacreBleuOptions = {}): number =>
  sacreBleuDetailed([refs], [hyp], { effectiveOrder: true, ...opts }).score;
