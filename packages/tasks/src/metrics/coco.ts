/**
 * Shared plumbing of the pycocoevalcap scorers (METEOR, ROUGE-L, CIDEr) as the E2E challenge's
 * `measure_scores.py` runs them: one hypothesis and at least one reference per segment, all
 * captions through pycocoevalcap's PTB tokenizer first.
 */
import { ptbTokenizeLines } from './ptb-tokenize.ts';

/** Options shared by the COCO-style scorers. */
export type CocoOptions = {
  /**
   * Run pycocoevalcap's PTB tokenizer first, as `COCOEvalCap.evaluate` (and so E2E's
   * `measure_scores.py`) does. Default true; false scores the strings as given (already tokenized).
   */
  readonly tokenize?: boolean;
};

/** A corpus: `refs[i]` are the references of segment `i`, `hyps[i]` its hypothesis. */
export type CocoCorpus = {
  readonly refs: readonly (readonly string[])[];
  readonly hyps: readonly string[];
};

/**
 * Throws a RangeError naming the metric when the corpus is malformed: different numbers of
 * hypotheses and reference lists, or a segment without references.
 */
export const checkCorpus = (metric: string, refs: readonly (readonly string[])[], hyps: readonly string[]): void => {
  if (refs.length !== hyps.length) {
    throw new RangeError(`${metric}: ${hyps.length} hypotheses but ${refs.length} reference lists`);
  }
  refs.forEach((r, i) => {
    if (r.length === 0) throw new RangeError(`${metric}: segment ${i} has no reference`);
  });
};

/**
 * The corpus after pycocoevalcap's tokenizer: the references of all segments are tokenized in one
 * call and the hypotheses in another, in corpus order, as `COCOEvalCap.evaluate` does.
 */
export const cocoTokenizeCorpus = (refs: readonly (readonly string[])[], hyps: readonly string[]): CocoCorpus => {
  const flat = ptbTokenizeLines(refs.flat());
  let k = 0;
  return {
    refs: refs.map((r) => r.map(() => flat[k++])),
    hyps: ptbTokenizeLines(hyps),
  };
};

/** The corpus as the scorers see it: tokenized unless `opts.tokenize` is false. */
export const prepareCorpus = (
  metric: string,
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts: CocoOptions | undefined,
): CocoCorpus => {
  checkCorpus(metric, refs, hyps);
  return opts?.tokenize === false ? { refs, hyps } : cocoTokenizeCorpus(refs, hyps);
};

/** Arithmetic mean, 0 for an empty list (numpy would give nan; an empty corpus scores 0 here). */
export const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
