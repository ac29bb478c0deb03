/**
 * chrF and chrF++ as sacreBLEU 2.x computes them (`CHRF()` / `CHRF(word_order=2)`), on the
 * scale 0..100: character n-grams up to 6 over the text with whitespace removed (characters are
 * Unicode code points, as in Python), optional word n-grams over words with one leading or
 * trailing punctuation mark split off, beta = 2, the reference with the best sentence F chosen
 * per segment, statistics summed over the corpus, then F-beta of the precision and recall
 * averaged over the orders that have both hypothesis and reference n-grams.
 */
import { checkRefsHyps } from './ngrams.ts';
import { pySplit } from './mteval-tokenize.ts';

/** Options of {@link chrf}; defaults are sacreBLEU's chrF2. */
export type ChrfOptions = {
  readonly charOrder?: number;
  /** 0 for chrF (default), 2 for chrF++. */
  readonly wordOrder?: number;
  readonly beta?: number;
  readonly lowercase?: boolean;
  /** Keep whitespace inside character n-grams. */
  readonly whitespace?: boolean;
  /** Epsilon smoothing (chrF++.py / Moses style) instead of the effective order. */
  readonly epsSmoothing?: boolean;
};

const PUNCTS = new Set(Array.from('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'));

type Counts = Map<string, number>;

const charNgrams = (line: string, maxOrder: number, whitespace: boolean): Counts[] => {
  const chars = Array.from(whitespace ? line : pySplit(line).join(''));
  const out: Counts[] = [];
  for (let n = 1; n <= maxOrder; n++) {
    const c: Counts = new Map();
    for (let i = 0; i + n <= chars.length; i++) {
      const k = chars.slice(i, i + n).join('');
      c.set(k, (c.get(k) ?? 0) + 1);
    }
    out.push(c);
  }
  return out;
};

/** sacreBLEU's `_remove_punctuation`: words with one edge punctuation mark split off. */
const chrfWords = (sent: string): string[] =>
  pySplit(sent).flatMap((w) => {
    const cs = Array.from(w);
    if (cs.length === 1) return [w];
    if (PUNCTS.has(cs[cs.length - 1])) return [cs.slice(0, -1).join(''), cs[cs.length - 1]];
    if (PUNCTS.has(cs[0])) return [cs[0], cs.slice(1).join('')];
    return [w];
  });

const wordNgrams = (words: readonly string[], n: number): Counts => {
  const c: Counts = new Map();
  for (let i = 0; i + n <= words.length; i++) {
    const k = words.slice(i, i + n).join(' ');
    c.set(k, (c.get(k) ?? 0) + 1);
  }
  return c;
};

const allNgrams = (s: string, o: Required<ChrfOptions>): Counts[] => {
  const line = o.lowercase ? s.toLowerCase() : s;
  const grams = charNgrams(line, o.charOrder, o.whitespace);
  if (o.wordOrder > 0) {
    const words = chrfWords(line);
    for (let n = 1; n <= o.wordOrder; n++) grams.push(wordNgrams(words, n));
  }
  return grams;
};

/** [hyp, ref, match] counts of one order. */
const matchStats = (hyp: Counts, ref: Counts): [number, number, number] => {
  let match = 0, hypCount = 0, refCount = 0;
  for (const [k, c] of hyp) {
    hypCount += c;
    const r = ref.get(k);
    if (r !== undefined) match += Math.min(c, r);
  }
  for (const c of ref.values()) refCount += c;
  return [ref.size > 0 ? hypCount : 0, refCount, match];
};

/** sacreBLEU's `CHRF._compute_f_score` of flattened [hyp, ref, match] statistics (0..100). */
export const chrfOfStats = (stats: readonly number[], opts: ChrfOptions = {}): number => {
  const o = withDefaults(opts);
  const order = o.charOrder + o.wordOrder;
  const eps = 1e-16;
  const factor = o.beta ** 2;
  let score = 0, avgPrec = 0, avgRec = 0, effective = 0;
  for (let i = 0; i < order; i++) {
    const [nHyp, nRef, nMatch] = [stats[3 * i], stats[3 * i + 1], stats[3 * i + 2]];
    const prec = nHyp > 0 ? nMatch / nHyp : eps;
    const rec = nRef > 0 ? nMatch / nRef : eps;
    const denom = factor * prec + rec;
    score += denom > 0 ? ((1 + factor) * prec * rec) / denom : eps;
    if (nHyp > 0 && nRef > 0) {
      avgPrec += prec;
      avgRec += rec;
      effective++;
    }
  }
  if (o.epsSmoothing) return (100 * score) / order;
  if (effective === 0) avgPrec = avgRec = 0;
  else {
    avgPrec /= effective;
    avgRec /= effective;
  }
  if (avgPrec + avgRec === 0) return 0;
  return (100 * ((1 + factor) * avgPrec * avgRec)) / (factor * avgPrec + avgRec);
};

const withDefaults = (o: ChrfOptions): Required<ChrfOptions> => ({
  charOrder: o.charOrder ?? 6,
  wordOrder: o.wordOrder ?? 0,
  beta: o.beta ?? 2,
  lowercase: o.lowercase ?? false,
  whitespace: o.whitespace ?? false,
  epsSmoothing: o.epsSmoothing ?? false,
});

/** Per-segment statistics: those of the reference with the best chrF (the first on a tie). */
export const chrfSegmentStats = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts: ChrfOptions = {},
): number[][] => {
  checkRefsHyps('chrF', refs, hyps);
  const o = withDefaults(opts);
  return hyps.map((h, i) => {
    const hg = allNgrams(h, o);
    let best: number[] = [];
    let bestF = -1;
    for (const r of refs[i]) {
      const rg = allNgrams(r, o);
      const stats = hg.flatMap((g, j) => matchStats(g, rg[j]));
      const f = chrfOfStats(stats, o);
      if (f > bestF) {
        bestF = f;
        best = stats;
      }
    }
    return best;
  });
};

/** Corpus chrF (chrF++ with `wordOrder: 2`) as sacreBLEU's `corpus_score` (0..100). */
export const chrf = (refs: readonly (readonly string[])[], hyps: readonly string[], opts: ChrfOptions = {}): number => {
  const seg = chrfSegmentStats(refs, hyps, opts);
  const width = 3 * (withDefaults(opts).charOrder + withDefaults(opts).wordOrder);
  const sum = new Array<number>(width).fill(0);
  for (const s of seg) for (let j = 0; j < width; j++) sum[j] += s[j];
  return chrfOfStats(sum, opts);
};

/** Sentence chrF as `sacrebleu.sentence_chrf(hyp, refs).score` (0..100). */
export const chrfSentence = (refs: readonly string[], hyp: string, opts?: ChrfOptions): number => chrf([refs], [hyp], opts);
