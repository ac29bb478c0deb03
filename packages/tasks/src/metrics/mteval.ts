/**
 * BLEU and NIST exactly as the E2E NLG challenge scorer computes them (e2e-metrics'
 * `measure_scores.py` running NIST `mteval-v13a-sig.pl` with its defaults): mteval-v13a
 * tokenization and lowercasing, any number of references per segment, statistics summed over
 * the corpus (one document), then
 *
 * - BLEU: 4-gram geometric mean of clipped precisions, mteval's "closest" brevity penalty
 *   (the reference length closest to the hypothesis length, the shorter one on a tie, summed over
 *   segments) and mteval's smoothing (a zero match count at order n counts as 1/2^k), and
 * - NIST: information-weighted 5-gram matches, the information of an n-gram coming from its
 *   counts in ALL references of the corpus, times NIST's length penalty against the average
 *   reference length.
 *
 * Two faithful quirks of the Perl: an n-gram order whose hypothesis count is 0 contributes a
 * precision of 1 to BLEU; and an n-gram whose (n-1)-word prefix is the token `0` (false in Perl)
 * takes its information from the unigram total instead of the prefix count.
 */
import { countNgrams, checkRefsHyps, maxCounts, ngramOrder, ngramTotal } from './ngrams.ts';
import { mtevalTokens } from './mteval-tokenize.ts';

/** The n-gram orders mteval accumulates (its `$max_Ngram`). */
export const MTEVAL_MAX_ORDER = 9;
const BLEU_ORDER = 4;
const NIST_ORDER = 5;

/** mteval's statistics of one segment or of a corpus; arrays are indexed by n-1. */
export type MtevalStats = {
  /** Closest reference length (summed over segments for a corpus). */
  readonly refLength: number;
  /** Non-empty references (summed over segments for a corpus). */
  readonly nRefs: number;
  /** Number of segments these statistics cover. */
  readonly nSegments: number;
  /** Clipped n-gram matches. */
  readonly match: readonly number[];
  /** Hypothesis n-gram counts. */
  readonly tst: readonly number[];
  /** Reference n-gram counts, summed over the references. */
  readonly ref: readonly number[];
  /** Information of the matched n-grams (NIST). */
  readonly tstInfo: readonly number[];
};

/** Per-segment and summed statistics of a corpus. */
export type MtevalCorpusStats = { readonly segments: readonly MtevalStats[]; readonly totals: MtevalStats };

/** Options of the mteval scorers. */
export type MtevalOptions = {
  /** Keep case (mteval's `-c`); default false, as in e2e-metrics. */
  readonly preserveCase?: boolean;
  /** Highest n-gram order to accumulate (1..9); default 5, all that BLEU and NIST use. */
  readonly maxOrder?: number;
};

/** mteval's `brevity_penalty_closest` fold: keeps the closer length, the shorter on a tie; skips empty refs. */
const closerLength = (current: number, refLen: number, hypLen: number): number => {
  if (refLen === 0) return current;
  const dNew = Math.abs(hypLen - refLen);
  const dCur = Math.abs(hypLen - current);
  if (dNew < dCur) return refLen;
  if (dNew === dCur && current > refLen) return refLen;
  return current;
};

/** NIST information of every reference n-gram of the corpus, in bits. */
const ngramInformation = (refTokens: readonly (readonly (readonly string[])[])[], maxOrder: number): Map<string, number> => {
  const counts = new Map<string, number>();
  let totalWords = 0;
  for (const seg of refTokens)
    for (const toks of seg) {
      totalWords += toks.length;
      for (const [k, c] of countNgrams(toks, 1, maxOrder)) counts.set(k, (counts.get(k) ?? 0) + c);
    }
  const info = new Map<string, number>();
  for (const [k, c] of counts) {
    const cut = k.lastIndexOf(' ');
    const prefix = cut < 0 ? '' : k.slice(0, cut);
    // Perl: $mgram ? count/count{$mgram} : count/tot_wrds -- "0" is false in Perl.
    const p = prefix !== '' && prefix !== '0' ? c / counts.get(prefix)! : c / totalWords;
    info.set(k, -Math.log(p) / Math.log(2));
  }
  return info;
};

const zeros = (n: number): number[] => new Array<number>(n).fill(0);

/** mteval's `score_segment`. */
const segmentStats = (
  hyp: readonly string[],
  refs: readonly (readonly string[])[],
  info: ReadonlyMap<string, number>,
  maxOrder: number,
): MtevalStats => {
  const match = zeros(maxOrder), tst = zeros(maxOrder), ref = zeros(maxOrder), tstInfo = zeros(maxOrder);
  for (let n = 1; n <= maxOrder; n++) tst[n - 1] = ngramTotal(hyp.length, n);
  const refMax = new Map<string, number>();
  let refLength: number | undefined;
  let nRefs = 0;
  for (const r of refs) {
    if (r.length > 0) nRefs++;
    maxCounts(refMax, countNgrams(r, 1, maxOrder));
    for (let n = 1; n <= maxOrder; n++) ref[n - 1] += ngramTotal(r.length, n);
    refLength = refLength === undefined ? r.length : closerLength(refLength, r.length, hyp.length);
  }
  for (const [k, c] of countNgrams(hyp, 1, maxOrder)) {
    const rc = refMax.get(k);
    if (rc === undefined) continue;
    const n = ngramOrder(k);
    const m = Math.min(c, rc);
    match[n - 1] += m;
    tstInfo[n - 1] += info.get(k)! * m;
  }
  return { refLength: refLength ?? 0, nRefs, nSegments: 1, match, tst, ref, tstInfo };
};

/** Sums segment statistics in corpus order (as mteval accumulates them). */
export const sumMtevalStats = (segments: readonly MtevalStats[], maxOrder: number): MtevalStats => {
  const t = { refLength: 0, nRefs: 0, nSegments: 0, match: zeros(maxOrder), tst: zeros(maxOrder), ref: zeros(maxOrder), tstInfo: zeros(maxOrder) };
  for (const s of segments) {
    t.refLength += s.refLength;
    t.nRefs += s.nRefs;
    t.nSegments += s.nSegments;
    for (let j = 0; j < maxOrder; j++) {
      t.match[j] += s.match[j];
      t.tst[j] += s.tst[j];
      t.ref[j] += s.ref[j];
      t.tstInfo[j] += s.tstInfo[j];
    }
  }
  return t;
};

/**
 * mteval's statistics of a corpus: `refs[i]` are the references of `hyps[i]` (raw text; tokenized
 * here). NIST information is computed from all references of this corpus.
 */
export const mtevalCorpusStats = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts: MtevalOptions = {},
): MtevalCorpusStats => {
  checkRefsHyps('mteval', refs, hyps);
  const maxOrder = opts.maxOrder ?? NIST_ORDER;
  if (!Number.isInteger(maxOrder) || maxOrder < 1 || maxOrder > MTEVAL_MAX_ORDER)
    throw new RangeError(`mteval: maxOrder must be an integer in 1..${MTEVAL_MAX_ORDER}, got ${maxOrder}`);
  const refTokens = refs.map((rs) => rs.map((r) => mtevalTokens(r, opts.preserveCase)));
  const info = ngramInformation(refTokens, maxOrder);
  const segments = hyps.map((h, i) => segmentStats(mtevalTokens(h, opts.preserveCase), refTokens[i], info, maxOrder));
  return { segments, totals: sumMtevalStats(segments, maxOrder) };
};

/** mteval's `bleu_score` (smoothed) of statistics: a number in [0, 1]. */
export const mtevalBleuOfStats = (s: MtevalStats): number => {
  if (s.tst.length < BLEU_ORDER) throw new RangeError(`BLEU needs statistics up to order ${BLEU_ORDER}`);
  const expLenScore = s.tst[0] > 0 ? Math.exp(Math.min(0, 1 - s.refLength / s.tst[0])) : 0;
  let smooth = 1;
  let score = 0;
  for (let j = 0; j < BLEU_ORDER; j++) {
    let iscore: number;
    if (s.tst[j] === 0) iscore = 0;
    else if (s.match[j] === 0) {
      smooth *= 2;
      iscore = Math.log(1 / (smooth * s.tst[j]));
    } else iscore = Math.log(s.match[j] / s.tst[j]);
    score += iscore;
  }
  return Math.exp(score / BLEU_ORDER) * expLenScore;
};

/** NIST's length penalty of the ratio hypothesis length / average reference length. */
export const nistLengthPenalty = (ratio: number): number => {
  if (ratio >= 1) return 1;
  if (ratio <= 0) return 0;
  const beta = -Math.log(0.5) / Math.log(1.5) / Math.log(1.5);
  return Math.exp(-beta * Math.log(ratio) * Math.log(ratio));
};

/** mteval's `nist_score` of statistics (a corpus uses the average number of references per segment). */
export const mtevalNistOfStats = (s: MtevalStats): number => {
  if (s.tst.length < NIST_ORDER) throw new RangeError(`NIST needs statistics up to order ${NIST_ORDER}`);
  const nsys = s.nRefs / s.nSegments;
  let score = 0;
  for (let j = 0; j < NIST_ORDER; j++) score += s.tstInfo[j] / Math.max(s.tst[j], 1);
  return score * nistLengthPenalty(s.tst[0] / (s.ref[0] / nsys));
};

/** Corpus BLEU of the E2E challenge (e2e-metrics / mteval-v13a), in [0, 1]. */
export const bleu = (refs: readonly (readonly string[])[], hyps: readonly string[], opts?: MtevalOptions): number =>
  mtevalBleuOfStats(mtevalCorpusStats(refs, hyps, opts).totals);

/** Corpus NIST of the E2E challenge (e2e-metrics / mteval-v13a), unbounded above (about 0..15). */
export const nist = (refs: readonly (readonly string[])[], hyps: readonly string[], opts?: MtevalOptions): number =>
  mtevalNistOfStats(mtevalCorpusStats(refs, hyps, opts).totals);

/** Segment-level BLEU as mteval reports it (`-d 2`): each segment's smoothed BLEU. */
export const bleuSegments = (refs: readonly (readonly string[])[], hyps: readonly string[], opts?: MtevalOptions): number[] =>
  mtevalCorpusStats(refs, hyps, opts).segments.map(mtevalBleuOfStats);

/** Segment-level NIST as mteval reports it (`-d 2`): information still comes from the whole corpus. */
export const nistSegments = (refs: readonly (readonly string[])[], hyps: readonly string[], opts?: MtevalOptions): number[] =>
  mtevalCorpusStats(refs, hyps, opts).segments.map(mtevalNistOfStats);

/** mteval BLEU of one hypothesis against its references (a one-segment corpus). */
export const bleuSentence = (refs: readonly string[], hyp: string, opts?: MtevalOptions): number => bleu([refs], [hyp], opts);

/** mteval NIST of one hypothesis against its references (information from these references only). */
export const nistSentence = (refs: readonly string[], hyp: string, opts?: MtevalOptions): number => nist([refs], [hyp], opts);
