/**
 * TER as sacreBLEU 2.x computes it (`TER()` with its defaults), on the scale 0..100: text
 * lowercased and split on whitespace (no Tercom normalization, punctuation kept), the number of
 * edits of Tercom's greedy algorithm (shift a phrase of at most 10 words by at most 50 positions
 * while a shift lowers the word edit distance, the edit distance computed on a beam of 25 around
 * the diagonal, at most 1000 shift candidates per segment), the fewest edits over the
 * references divided by the average reference length, summed over the corpus.
 */
import { checkRefsHyps } from './ngrams.ts';
import { pyRstrip, pySplit } from './mteval-tokenize.ts';

/** Options of {@link ter}. */
export type TerOptions = {
  /** Keep case (sacreBLEU's `case_sensitive`); default false. */
  readonly caseSensitive?: boolean;
};

const MAX_SHIFT_SIZE = 10;
const MAX_SHIFT_DIST = 50;
const BEAM_WIDTH = 25;
const MAX_SHIFT_CANDIDATES = 1000;
const INF = 1e16;

// Edit operations of the trace: NOP, substitution, insertion, deletion, undefined.
type Op = ' ' | 's' | 'i' | 'd' | 'x';
type Cell = readonly [number, Op];

/** The beam edit distance of sacreBLEU's `BeamEditDistance` against a fixed reference. */
const beamEditDistance = (ref: readonly string[], hyp: readonly string[]): { distance: number; trace: Op[] } => {
  const nRef = ref.length, nHyp = hyp.length;
  const dist: Cell[][] = [Array.from({ length: nRef + 1 }, (_, j): Cell => [j, 'i'])];
  for (let i = 0; i < nHyp; i++) dist.push(new Array<Cell>(nRef + 1).fill([INF, 'x']));
  const ratio = nHyp > 0 ? nRef / nHyp : 1;
  const beam = BEAM_WIDTH < ratio / 2 ? Math.ceil(ratio / 2 + BEAM_WIDTH) : BEAM_WIDTH;
  for (let i = 1; i <= nHyp; i++) {
    const diag = Math.floor(i * ratio);
    const minJ = Math.max(0, diag - beam);
    const maxJ = i === nHyp ? nRef + 1 : Math.min(nRef + 1, diag + beam);
    const row = dist[i], prev = dist[i - 1];
    for (let j = minJ; j < maxJ; j++) {
      if (j === 0) {
        row[0] = [prev[0][0] + 1, 'd'];
        continue;
      }
      const same = hyp[i - 1] === ref[j - 1];
      let best: Cell = row[j];
      const sub: Cell = [prev[j - 1][0] + (same ? 0 : 1), same ? ' ' : 's'];
      if (best[0] > sub[0]) best = sub;
      if (best[0] > prev[j][0] + 1) best = [prev[j][0] + 1, 'd'];
      if (best[0] > row[j - 1][0] + 1) best = [row[j - 1][0] + 1, 'i'];
      row[j] = best;
    }
  }
  const trace: Op[] = [];
  let i = nHyp, j = nRef;
  while (i > 0 || j > 0) {
    const op = dist[i][j][1];
    trace.push(op);
    if (op === 's' || op === ' ') {
      i--;
      j--;
    } else if (op === 'i') j--;
    else if (op === 'd') i--;
    else throw new Error(`TER: undefined edit operation at (${i}, ${j})`);
  }
  trace.reverse();
  return { distance: dist[nHyp][nRef][0], trace };
};

/** sacreBLEU's `trace_to_alignment` of the flipped trace (rewriting the reference into the hypothesis). */
const traceToAlignment = (trace: readonly Op[]): { align: Map<number, number>; refErr: number[]; hypErr: number[] } => {
  let posHyp = -1, posRef = -1;
  const align = new Map<number, number>();
  const refErr: number[] = [], hypErr: number[] = [];
  for (const raw of trace) {
    const op = raw === 'i' ? 'd' : raw === 'd' ? 'i' : raw; // flip
    if (op === ' ' || op === 's') {
      posHyp++;
      posRef++;
      align.set(posRef, posHyp);
      const e = op === 's' ? 1 : 0;
      hypErr.push(e);
      refErr.push(e);
    } else if (op === 'i') {
      posHyp++;
      hypErr.push(1);
    } else if (op === 'd') {
      posRef++;
      align.set(posRef, posHyp);
      refErr.push(1);
    }
  }
  return { align, refErr, hypErr };
};

const performShift = (words: readonly string[], start: number, length: number, target: number): string[] => {
  if (target < start) return [...words.slice(0, target), ...words.slice(start, start + length), ...words.slice(target, start), ...words.slice(start + length)];
  if (target > start + length) return [...words.slice(0, start), ...words.slice(start + length, target), ...words.slice(start, start + length), ...words.slice(target)];
  return [...words.slice(0, start), ...words.slice(start + length, length + target), ...words.slice(start, start + length), ...words.slice(length + target)];
};

/** sacreBLEU's `_find_shifted_pairs`, in its order. */
function* shiftedPairs(h: readonly string[], r: readonly string[]): Generator<[number, number, number]> {
  for (let sh = 0; sh < h.length; sh++)
    for (let sr = 0; sr < r.length; sr++) {
      if (Math.abs(sr - sh) > MAX_SHIFT_DIST) continue;
      let length = 0;
      while (h[sh + length] === r[sr + length] && length < MAX_SHIFT_SIZE) {
        length++;
        yield [sh, sr, length];
        if (h.length === sh + length || r.length === sr + length) break;
      }
    }
}

const sumRange = (xs: readonly number[], from: number, to: number): number => {
  let s = 0;
  for (let k = from; k < Math.min(to, xs.length); k++) s += xs[k];
  return s;
};

type Candidate = { score: number; length: number; negStart: number; negIdx: number; words: string[] };

const better = (a: Candidate, b: Candidate): boolean =>
  a.score !== b.score ? a.score > b.score
  : a.length !== b.length ? a.length > b.length
  : a.negStart !== b.negStart ? a.negStart > b.negStart
  : a.negIdx > b.negIdx; // equal keys mean the same shift: keep the first

/** One round of sacreBLEU's `_shift`: the best shift, its gain and the candidates checked so far. */
const bestShift = (h: readonly string[], r: readonly string[], checked: number): { delta: number; words: readonly string[]; checked: number } => {
  const { distance: pre, trace } = beamEditDistance(r, h);
  const { align, refErr, hypErr } = traceToAlignment(trace);
  let best: Candidate | undefined;
  for (const [sh, sr, length] of shiftedPairs(h, r)) {
    if (sumRange(hypErr, sh, sh + length) === 0) continue;
    if (sumRange(refErr, sr, sr + length) === 0) continue;
    const a = align.get(sr)!;
    if (sh <= a && a < sh + length) continue;
    let prevIdx = -1;
    for (let offset = -1; offset < length; offset++) {
      let idx: number;
      if (sr + offset === -1) idx = 0;
      else if (align.has(sr + offset)) idx = align.get(sr + offset)! + 1;
      else break;
      if (idx === prevIdx) continue;
      prevIdx = idx;
      const words = performShift(h, sh, length, idx);
      const cand: Candidate = { score: pre - beamEditDistance(r, words).distance, length, negStart: -sh, negIdx: -idx, words };
      checked++;
      if (best === undefined || better(cand, best)) best = cand;
    }
    if (checked >= MAX_SHIFT_CANDIDATES) break;
  }
  return best === undefined ? { delta: 0, words: h, checked } : { delta: best.score, words: best.words, checked };
};

/** sacreBLEU's `translation_edit_rate`: [edits, reference length] of tokenized text. */
export const translationEditRate = (hyp: readonly string[], ref: readonly string[]): [number, number] => {
  if (ref.length === 0) return [hyp.length, 0];
  let words = hyp;
  let shifts = 0;
  let checked = 0;
  for (;;) {
    const s = bestShift(words, ref, checked);
    checked = s.checked;
    if (checked >= MAX_SHIFT_CANDIDATES || s.delta <= 0) break;
    shifts++;
    words = s.words;
  }
  return [shifts + beamEditDistance(ref, words).distance, ref.length];
};

const terTokens = (s: string, o: TerOptions): string[] => {
  const line = pyRstrip(s);
  return pySplit(o.caseSensitive ? line : line.toLowerCase());
};

/** Per-segment [fewest edits over the references, average reference length]. */
export const terSegmentStats = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts: TerOptions = {},
): [number, number][] => {
  checkRefsHyps('TER', refs, hyps);
  return hyps.map((h, i) => {
    const hw = terTokens(h, opts);
    let best = INF, refLengths = 0;
    for (const r of refs[i]) {
      const [edits, len] = translationEditRate(hw, terTokens(r, opts));
      refLengths += len;
      if (edits < best) best = edits;
    }
    return [best, refLengths / refs[i].length];
  });
};

/** TER (0..100 and above) of summed [edits, reference length] statistics. */
export const terOfStats = ([edits, refLength]: readonly [number, number]): number =>
  100 * (refLength > 0 ? edits / refLength : edits > 0 ? 1 : 0);

/** Corpus TER as `sacrebleu.corpus_ter` / `TER().corpus_score` (0..100, can exceed 100). */
export const ter = (refs: readonly (readonly string[])[], hyps: readonly string[], opts?: TerOptions): number => {
  let edits = 0, len = 0;
  for (const [e, l] of terSegmentStats(refs, hyps, opts)) {
    edits += e;
    len += l;
  }
  return terOfStats([edits, len]);
};

/** Sentence TER as `sacrebleu.sentence_ter(hyp, refs).score`. */
export const terSentence = (refs: readonly string[], hyp: string, opts?: TerOptions): number => ter([refs], [hyp], opts);
