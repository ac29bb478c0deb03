/**
 * ROUGE-N, ROUGE-L and ROUGE-Lsum exactly as Google's `rouge-score` package computes them
 * (`rouge_scorer.RougeScorer(types, use_stemmer=...)`), scale 0..1:
 *
 * - tokens: the text lowercased, every run of characters other than [a-z0-9] replaced by a
 *   space, split; with the stemmer, tokens longer than 3 characters go through NLTK's Porter
 *   stemmer (its default NLTK_EXTENSIONS mode, see ./porter.ts);
 * - rougeN: clipped n-gram overlap, precision over the prediction's n-grams, recall over the
 *   target's; rougeL: longest common subsequence; rougeLsum: summary-level LCS over sentences
 *   split at newlines (union LCS, each token counted at most as often as it occurs);
 *   F is the harmonic mean of P and R (0 when both are 0);
 * - several references: `score_multi`, i.e. for each type the reference with the highest F
 *   (the first one on a tie);
 * - a corpus: the arithmetic mean of the per-example P, R and F.
 *
 * This is not the COCO ROUGE-L of the E2E challenge (`rouge_l`, ./coco-rouge.ts).
 */
import { countNgrams, checkRefsHyps } from './ngrams.ts';
import { porterStem } from './porter.ts';

/** A ROUGE type of rouge-score: `rouge1`..`rouge9`, `rougeL`, `rougeLsum`. */
export type RougeType = `rouge${1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9}` | 'rougeL' | 'rougeLsum';

/** rouge-score's `Score`. */
export type RougeScore = { readonly precision: number; readonly recall: number; readonly fmeasure: number };

/** Options of the ROUGE scorers. */
export type RougeOptions = {
  /** Types to compute; default rouge1, rouge2, rougeL, rougeLsum. */
  readonly types?: readonly RougeType[];
  /** Porter-stem tokens longer than 3 characters (rouge-score's `use_stemmer`); default true. */
  readonly useStemmer?: boolean;
};

/** The default types. */
export const ROUGE_TYPES: readonly RougeType[] = ['rouge1', 'rouge2', 'rougeL', 'rougeLsum'];

const ZERO: RougeScore = { precision: 0, recall: 0, fmeasure: 0 };

/** rouge-score's `scoring.fmeasure`. */
export const rougeFmeasure = (precision: number, recall: number): number =>
  precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;

const score = (precision: number, recall: number): RougeScore => ({ precision, recall, fmeasure: rougeFmeasure(precision, recall) });

/**
 * rouge-score's default tokenizer (`tokenize.tokenize`). `stem` defaults to the Porter stemmer
 * when `useStemmer` is true.
 */
export const rougeTokenize = (text: string, useStemmer = false, stem: (w: string) => string = porterStem): string[] =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/gu, ' ')
    .split(' ')
    .map((t) => (useStemmer && t.length > 3 ? stem(t) : t))
    .filter((t) => /^[a-z0-9]+$/.test(t));

/** rouge-score's `_score_ngrams` on token lists. */
export const rougeN = (target: readonly string[], prediction: readonly string[], n: number): RougeScore => {
  const t = countNgrams(target, n, n), p = countNgrams(prediction, n, n);
  let overlap = 0, tCount = 0, pCount = 0;
  for (const [k, c] of t) {
    overlap += Math.min(c, p.get(k) ?? 0);
    tCount += c;
  }
  for (const c of p.values()) pCount += c;
  return score(overlap / Math.max(pCount, 1), overlap / Math.max(tCount, 1));
};

/** The LCS dynamic-programming table (rows: ref, columns: candidate). */
const lcsTable = (ref: readonly string[], can: readonly string[]): Int32Array[] => {
  const t = Array.from({ length: ref.length + 1 }, () => new Int32Array(can.length + 1));
  for (let i = 1; i <= ref.length; i++)
    for (let j = 1; j <= can.length; j++)
      t[i][j] = ref[i - 1] === can[j - 1] ? t[i - 1][j - 1] + 1 : Math.max(t[i - 1][j], t[i][j - 1]);
  return t;
};

/** rouge-score's `_score_lcs` on token lists. */
export const rougeL = (target: readonly string[], prediction: readonly string[]): RougeScore => {
  if (target.length === 0 || prediction.length === 0) return ZERO;
  const lcs = lcsTable(target, prediction)[target.length][prediction.length];
  return score(lcs / prediction.length, lcs / target.length);
};

/** Indices into `ref` of one LCS, as rouge-score's `_backtrack_norec` picks it. */
const lcsIndices = (ref: readonly string[], can: readonly string[]): number[] => {
  const t = lcsTable(ref, can);
  const out: number[] = [];
  let i = ref.length, j = can.length;
  while (i > 0 && j > 0) {
    if (ref[i - 1] === can[j - 1]) {
      out.push(i - 1);
      i--;
      j--;
    } else if (t[i][j - 1] > t[i - 1][j]) j--;
    else i--;
  }
  return out.reverse();
};

/** rouge-score's `_summary_level_lcs` on tokenized sentences. */
export const rougeLsum = (targetSents: readonly (readonly string[])[], predSents: readonly (readonly string[])[]): RougeScore => {
  if (targetSents.length === 0 || predSents.length === 0) return ZERO;
  const m = targetSents.reduce((a, s) => a + s.length, 0);
  const n = predSents.reduce((a, s) => a + s.length, 0);
  if (m === 0 || n === 0) return ZERO;
  const countsOf = (sents: readonly (readonly string[])[]): Map<string, number> => {
    const c = new Map<string, number>();
    for (const s of sents) for (const t of s) c.set(t, (c.get(t) ?? 0) + 1);
    return c;
  };
  const cr = countsOf(targetSents), cc = countsOf(predSents);
  let hits = 0;
  for (const r of targetSents) {
    const union = new Set<number>();
    for (const c of predSents) for (const i of lcsIndices(r, c)) union.add(i);
    for (const i of [...union].sort((a, b) => a - b)) {
      const tok = r[i];
      if ((cc.get(tok) ?? 0) > 0 && (cr.get(tok) ?? 0) > 0) {
        hits++;
        cc.set(tok, cc.get(tok)! - 1);
        cr.set(tok, cr.get(tok)! - 1);
      }
    }
  }
  return score(hits / n, hits / m);
};

const sentences = (text: string): string[] => text.split('\n').filter((s) => s.length > 0);

type Tokenizer = (text: string) => string[];

const memoTokenizer = (useStemmer: boolean): Tokenizer => {
  const stems = new Map<string, string>();
  const stem = (w: string): string => {
    let s = stems.get(w);
    if (s === undefined) stems.set(w, (s = porterStem(w)));
    return s;
  };
  return (text) => rougeTokenize(text, useStemmer, stem);
};

const scoreWith = (tok: Tokenizer, types: readonly RougeType[], target: string, prediction: string): Record<string, RougeScore> => {
  const out: Record<string, RougeScore> = {};
  const needTokens = types.some((t) => t !== 'rougeLsum');
  const tt = needTokens ? tok(target) : [], pt = needTokens ? tok(prediction) : [];
  for (const type of types) {
    if (type === 'rougeL') out[type] = rougeL(tt, pt);
    else if (type === 'rougeLsum') out[type] = rougeLsum(sentences(target).map(tok), sentences(prediction).map(tok));
    else {
      const n = Number(type.slice(5));
      if (!/^rouge[1-9]$/.test(type)) throw new RangeError(`ROUGE: invalid type '${type}'`);
      out[type] = rougeN(tt, pt, n);
    }
  }
  return out;
};

const multiWith = (tok: Tokenizer, types: readonly RougeType[], targets: readonly string[], prediction: string): Record<string, RougeScore> => {
  const all = targets.map((t) => scoreWith(tok, types, t, prediction));
  const out: Record<string, RougeScore> = {};
  for (const type of types) {
    let best = 0;
    for (let i = 1; i < all.length; i++) if (all[i][type].fmeasure > all[best][type].fmeasure) best = i;
    out[type] = all[best][type];
  }
  return out;
};

/** rouge-score's `RougeScorer.score(target, prediction)`. */
export const rougeScore = (target: string, prediction: string, opts: RougeOptions = {}): Record<string, RougeScore> =>
  scoreWith(memoTokenizer(opts.useStemmer ?? true), opts.types ?? ROUGE_TYPES, target, prediction);

/** rouge-score's `RougeScorer.score_multi(targets, prediction)`: per type, the best reference by F. */
export const rougeScoreMulti = (targets: readonly string[], prediction: string, opts: RougeOptions = {}): Record<string, RougeScore> => {
  if (targets.length === 0) throw new RangeError('ROUGE: no reference');
  return multiWith(memoTokenizer(opts.useStemmer ?? true), opts.types ?? ROUGE_TYPES, targets, prediction);
};

/** Per-example `score_multi` of a corpus (`refs[i]` are the references of `hyps[i]`). */
export const rougeSegments = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts: RougeOptions = {},
): Record<string, RougeScore>[] => {
  checkRefsHyps('ROUGE', refs, hyps);
  const tok = memoTokenizer(opts.useStemmer ?? true);
  const types = opts.types ?? ROUGE_TYPES;
  return hyps.map((h, i) => multiWith(tok, types, refs[i], h));
};

/** Corpus ROUGE: the mean over examples of each type's precision, recall and F (0..1). */
export const rougeCorpus = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts: RougeOptions = {},
): Record<string, RougeScore> => {
  const segs = rougeSegments(refs, hyps, opts);
  const out: Record<string, RougeScore> = {};
  for (const type of opts.types ?? ROUGE_TYPES) {
    let p = 0, r = 0, f = 0;
    for (const s of segs) {
      p += s[type].precision;
      r += s[type].recall;
      f += s[type].fmeasure;
    }
    const k = Math.max(segs.length, 1);
    out[type] = { precision: p / k, recall: r / k, fmeasure: f / k };
  }
  return out;
};
