/**
 * CIDEr as pycocoevalcap's `Cider` computes it (CIDEr-D: n = 1..4, Gaussian length penalty with
 * σ = 6, clipped n-gram weights, ×10), the CIDEr of COCO captioning and of the E2E challenge.
 *
 * Document frequencies come from the references of the evaluated corpus, one document per
 * segment, and idf = log(number of segments) − log(max(1, df)). For each n the hypothesis and a
 * reference are tf-idf vectors; their similarity is Σ min(h, r)·r / (|h|·|r|) times
 * exp(−δ²/2σ²), where δ is the difference of their "lengths" — pycocoevalcap counts the number of
 * bigrams there, not words, and so does this code. A segment scores 10 × the mean over n of the
 * similarities averaged over its references; the corpus score is the mean over segments.
 * Tokens are the caption split on whitespace.
 */
import { mean, prepareCorpus, type CocoOptions } from './coco.ts';

const N = 4;
const SIGMA = 6;

type Counts = Map<string, number>;

/** n-gram counts for n = 1..4; keys are the n tokens joined by U+0001 so their n is recoverable. */
const ngramCounts = (s: string): Counts => {
  const words = s.split(/\s+/).filter((w) => w.length > 0);
  const counts: Counts = new Map();
  for (let k = 1; k <= N; k++) {
    for (let i = 0; i + k <= words.length; i++) {
      const g = words.slice(i, i + k).join('\u0001');
      counts.set(g, (counts.get(g) ?? 0) + 1);
    }
  }
  return counts;
};

const order = (ngram: string): number => ngram.split('\u0001').length - 1;

type TfIdf = {
  readonly vec: readonly Map<string, number>[];
  readonly norm: readonly number[];
  /** pycocoevalcap's "length": the number of bigrams */
  readonly length: number;
};

const tfIdf = (counts: Counts, df: Counts, logDocs: number): TfIdf => {
  const vec = Array.from({ length: N }, () => new Map<string, number>());
  const sq = new Array<number>(N).fill(0);
  let length = 0;
  for (const [g, tf] of counts) {
    const n = order(g);
    const v = tf * (logDocs - Math.log(Math.max(1, df.get(g) ?? 0)));
    vec[n].set(g, v);
    sq[n] += v * v;
    if (n === 1) length += tf;
  }
  return { vec, norm: sq.map(Math.sqrt), length };
};

const similarity = (h: TfIdf, r: TfIdf): readonly number[] => {
  const delta = h.length - r.length;
  const penalty = Math.exp(-(delta * delta) / (2 * SIGMA * SIGMA));
  return h.vec.map((hv, n) => {
    let val = 0;
    for (const [g, x] of hv) {
      const y = r.vec[n].get(g) ?? 0;
      val += Math.min(x, y) * y;
    }
    if (h.norm[n] !== 0 && r.norm[n] !== 0) val /= h.norm[n] * r.norm[n];
    return val * penalty;
  });
};

/**
 * Per-segment pycocoevalcap CIDEr. The scores depend on the whole corpus through the document
 * frequencies. Raw text is PTB-tokenized first unless `opts.tokenize` is false.
 */
export const ciderSegments = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts?: CocoOptions,
): readonly number[] => {
  const c = prepareCorpus('cider', refs, hyps, opts);
  const refCounts = c.refs.map((rs) => rs.map(ngramCounts));
  const df: Counts = new Map();
  for (const rs of refCounts) {
    const seen = new Set<string>();
    for (const counts of rs) for (const g of counts.keys()) seen.add(g);
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  }
  const logDocs = Math.log(c.refs.length);
  return c.hyps.map((hyp, i) => {
    const h = tfIdf(ngramCounts(hyp), df, logDocs);
    const sum = new Array<number>(N).fill(0);
    for (const rc of refCounts[i]) {
      similarity(h, tfIdf(rc, df, logDocs)).forEach((v, n) => (sum[n] += v));
    }
    return (mean(sum) / refCounts[i].length) * 10;
  });
};

/**
 * Corpus CIDEr as pycocoevalcap reports it (E2E's CIDEr): the mean of {@link ciderSegments}.
 * `refs[i]` are the references of `hyps[i]`.
 */
export const cider = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts?: CocoOptions,
): number => mean(ciderSegments(refs, hyps, opts));
