/**
 * ROUGE-L as pycocoevalcap's `Rouge` computes it (the ROUGE_L of COCO captioning and of the E2E
 * challenge): per segment, the LCS of the hypothesis with each reference gives a precision
 * (LCS / hypothesis length) and a recall (LCS / reference length); the maxima over references,
 * taken separately, are combined as F = (1 + β²)·P·R / (R + β²·P) with β = 1.2; the corpus score
 * is the mean over segments. Tokens are the caption split on single spaces, as in Python's
 * `str.split(" ")` (an empty caption is one empty token).
 */
import { mean, prepareCorpus, type CocoOptions } from './coco.ts';

const BETA = 1.2;

/** Length of the longest common subsequence of two token lists. */
export const lcsLength = (a: readonly string[], b: readonly string[]): number => {
  const [long, short] = a.length >= b.length ? [a, b] : [b, a];
  let prev = new Int32Array(short.length + 1);
  let cur = new Int32Array(short.length + 1);
  for (let i = 1; i <= long.length; i++) {
    for (let j = 1; j <= short.length; j++) {
      cur[j] = long[i - 1] === short[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[short.length];
};

/** pycocoevalcap ROUGE-L of one (already tokenized) hypothesis against its references. */
export const cocoRougeLSentence = (refs: readonly string[], hyp: string): number => {
  if (refs.length === 0) throw new RangeError('cocoRougeL: a segment needs at least one reference');
  const h = hyp.split(' ');
  let precMax = 0;
  let recMax = 0;
  for (const ref of refs) {
    const r = ref.split(' ');
    const lcs = lcsLength(r, h);
    precMax = Math.max(precMax, lcs / h.length);
    recMax = Math.max(recMax, lcs / r.length);
  }
  if (precMax === 0 || recMax === 0) return 0;
  return ((1 + BETA ** 2) * precMax * recMax) / (recMax + BETA ** 2 * precMax);
};

/** Per-segment pycocoevalcap ROUGE-L (tokenized first unless `opts.tokenize` is false). */
export const cocoRougeLSegments = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts?: CocoOptions,
): readonly number[] => {
  const c = prepareCorpus('cocoRougeL', refs, hyps, opts);
  return c.hyps.map((h, i) => cocoRougeLSentence(c.refs[i], h));
};

/**
 * Corpus ROUGE-L as pycocoevalcap reports it (E2E's ROUGE_L): the mean of the segment scores.
 * `refs[i]` are the references of `hyps[i]`; raw text is PTB-tokenized first unless
 * `opts.tokenize` is false.
 */
export const cocoRougeL = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts?: CocoOptions,
): number => mean(cocoRougeLSegments(refs, hyps, opts));
