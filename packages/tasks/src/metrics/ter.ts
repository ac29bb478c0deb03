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
const OPS: readonly Op[] = [' ', 's', 'i', 'd', 'x'];
const [NOP, SUB, INS, DEL, UNDEF] = [0, 1, 2, 3, 4];

/** The beam geometry of sacreBLEU's `BeamEditDistance` for these lengths. */
const beamOf = (nRef: number, nHyp: number): { ratio: number; beam: number } => {
  const ratio = nHyp > 0 ? nRef / nHyp : 1;
  return { ratio, beam: BEAM_WIDTH < ratio / 2 ? Math.ceil(ratio / 2 + BEAM_WIDTH) : BEAM_WIDTH };
};

/** Columns [minJ, maxJ) of row i (1-based) that the beam computes. */
const beamColumns = (i: number, nRef: number, nHyp: number, g: { ratio: number; beam: number }): [number, number] => {
  const diag = Math.floor(i * g.ratio);
  return [Math.max(0, diag - g.beam), i === nHyp ? nRef + 1 : Math.min(nRef + 1, diag + g.beam)];
};

/** Rows 0..nHyp of the beam edit-distance matrix (costs and the operation chosen in each cell). */
type Matrix = { readonly cost: readonly Float64Array[]; readonly op: readonly Uint8Array[] };

/** sacreBLEU's `BeamEditDistance._edit_distance` (hypothesis words as rows, reference as columns). */
const editMatrix = (ref: readonly string[], hyp: readonly string[]): Matrix => {
  const nRef = ref.length, nHyp = hyp.length, g = beamOf(nRef, nHyp);
  const cost = [Float64Array.from({ length: nRef + 1 }, (_, j) => j)];
  const op = [new Uint8Array(nRef + 1).fill(INS)];
  for (let i = 1; i <= nHyp; i++) {
    const c = new Float64Array(nRef + 1).fill(INF), o = new Uint8Array(nRef + 1).fill(UNDEF);
    const pc = cost[i - 1];
    const [minJ, maxJ] = beamColumns(i, nRef, nHyp, g);
    for (let j = minJ; j < maxJ; j++) {
      if (j === 0) {
        c[0] = pc[0] + 1;
        o[0] = DEL;
        continue;
      }
      // Tercom's preference (no-op/substitution, then deletion, then insertion), strict improvements only
      const same = hyp[i - 1] === ref[j - 1];
      const sub = pc[j - 1] + (same ? 0 : 1);
      if (c[j] > sub) {
        c[j] = sub;
        o[j] = same ? NOP : SUB;
      }
      if (c[j] > pc[j] + 1) {
        c[j] = pc[j] + 1;
        o[j] = DEL;
      }
      if (c[j] > c[j - 1] + 1) {
        c[j] = c[j - 1] + 1;
        o[j] = INS;
      }
    }
    cost.push(c);
    op.push(o);
  }
  return { cost, op };
};

/** The edit operations of the matrix's optimal path, first to last. */
const traceOf = (m: Matrix, nRef: number, nHyp: number): Op[] => {
  const trace: Op[] = [];
  let i = nHyp, j = nRef;
  while (i > 0 || j > 0) {
    const op = m.op[i][j];
    trace.push(OPS[op]);
    if (op === SUB || op === NOP) {
      i--;
      j--;
    } else if (op === INS) j--;
    else if (op === DEL) i--;
    else throw new Error(`TER: undefined edit operation at (${i}, ${j})`);
  }
  return trace.reverse();
};

/**
 * The beam edit distance of `hyp`, whose first `p` words equal those of the hypothesis of `base`
 * (same length): rows 0..p are taken from `base`, as sacreBLEU's prefix cache does.
 */
const editDistanceFrom = (ref: readonly string[], hyp: readonly string[], base: Matrix, p: number, scratch: [Float64Array, Float64Array]): number => {
  const nRef = ref.length, nHyp = hyp.length, g = beamOf(nRef, nHyp);
  if (p >= nHyp) return base.cost[nHyp][nRef];
  let prev: Float64Array = base.cost[p];
  let k = 0;
  for (let i = p + 1; i <= nHyp; i++) {
    const c = scratch[k];
    c.fill(INF);
    const [minJ, maxJ] = beamColumns(i, nRef, nHyp, g);
    for (let j = minJ; j < maxJ; j++) {
      if (j === 0) {
        c[0] = prev[0] + 1;
        continue;
      }
      const sub = prev[j - 1] + (hyp[i - 1] === ref[j - 1] ? 0 : 1);
      let best = c[j];
      if (best > sub) best = sub;
      if (best > prev[j] + 1) best = prev[j] + 1;
      if (best > c[j - 1] + 1) best = c[j - 1] + 1;
      c[j] = best;
    }
    prev = c;
    k = 1 - k;
  }
  return prev[nRef];
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

const commonPrefix = (a: readonly string[], b: readonly string[]): number => {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  return p;
};

/** One round of sacreBLEU's `_shift`: the best shift, its gain and the candidates checked so far. */
const bestShift = (h: readonly string[], r: readonly string[], checked: number): { delta: number; words: readonly string[]; checked: number } => {
  const m = editMatrix(r, h);
  const pre = m.cost[h.length][r.length];
  const { align, refErr, hypErr } = traceToAlignment(traceOf(m, r.length, h.length));
  const scratch: [Float64Array, Float64Array] = [new Float64Array(r.length + 1), new Float64Array(r.length + 1)];
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
      const distance = editDistanceFrom(r, words, m, commonPrefix(words, h), scratch);
      const cand: Candidate = { score: pre - distance, length, negStart: -sh, negIdx: -idx, words };
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
  return [shifts + editMatrix(ref, words).cost[words.length][ref.length], ref.length];
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
