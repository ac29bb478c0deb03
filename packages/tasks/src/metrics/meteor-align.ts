/**
 * METEOR 1.5's aligner and sufficient statistics (`Aligner`, `MeteorScorer.getMeteorStats`),
 * written from the published algorithm and its documented behaviour:
 *
 * 1. Every module in order adds candidate matches between hypothesis words (line 1) and
 *    reference words (line 2): exact (equal words), stem (different words, equal Snowball stems),
 *    synonym (different words sharing a WordNet synset), paraphrase (phrase pairs from the table,
 *    both directions). Identical sentences use the first module only.
 * 2. Matches that are the only candidate at their reference position and overlap no other
 *    candidate are fixed; a left-to-right beam search (beam 40) over reference positions picks
 *    the rest, ranking partial alignments by weighted matched words (exact 1, others 0.5,
 *    accumulated in an integer as METEOR does), then fewer chunks, then smaller distance.
 * 3. Statistics: lengths, function-word counts, matched words per module split into content and
 *    function words, chunks.
 */
import type { ParaphraseTable } from './meteor-paraphrase.ts';

/** METEOR's matching modules, in the order they run. */
export type MeteorModule = 'exact' | 'stem' | 'synonym' | 'paraphrase';

/** What the aligner needs besides the two word lists. */
export type AlignerConfig = {
  readonly modules: readonly MeteorModule[];
  readonly functionWords: ReadonlySet<string>;
  /** WordNet synsets of a word, own and of its base forms (METEOR's synonym module) */
  readonly synsets: (word: string) => ReadonlySet<number>;
  readonly paraphrase: ParaphraseTable | null;
  readonly beamSize: number;
  readonly stem: (word: string) => string;
};

type Match = {
  /** start and length in line 2 (reference) */
  readonly start: number;
  readonly length: number;
  /** start and length in line 1 (hypothesis) */
  readonly matchStart: number;
  readonly matchLength: number;
  /** index of the module in the module list */
  readonly module: number;
};

type Stage = {
  readonly matches: Match[][];
  readonly cov1: Int32Array;
  readonly cov2: Int32Array;
};

const addMatch = (s: Stage, m: Match): void => {
  s.matches[m.start].push(m);
  for (let k = 0; k < m.matchLength; k++) s.cov1[m.matchStart + k]++;
  for (let k = 0; k < m.length; k++) s.cov2[m.start + k]++;
};

const oneToOne = (s: Stage, module: number, w1: readonly string[], w2: readonly string[], same: (i: number, j: number) => boolean): void => {
  for (let j = 0; j < w2.length; j++) {
    for (let i = 0; i < w1.length; i++) {
      if (same(i, j)) addMatch(s, { start: j, length: 1, matchStart: i, matchLength: 1, module });
    }
  }
};

const paraphraseMatches = (s: Stage, module: number, w1: readonly string[], w2: readonly string[], pt: ParaphraseTable): void => {
  const l1 = w1.map(pt.id);
  const l2 = w2.map(pt.id);
  const occurs = (line: readonly number[], at: number, words: readonly number[]): boolean => {
    for (let k = 0; k < words.length; k++) if (at + k >= line.length || line[at + k] !== words[k]) return false;
    return true;
  };
  // phrases of line 2 whose paraphrase occurs in line 1
  for (let j = 0; j < l2.length; j++) {
    for (const { length, paraphrase } of pt.pathsFrom(l2, j)) {
      for (let i = 0; i < l1.length; i++) {
        if (occurs(l1, i, paraphrase)) addMatch(s, { start: j, length, matchStart: i, matchLength: paraphrase.length, module });
      }
    }
  }
  // phrases of line 1 whose paraphrase occurs in line 2
  for (let i = 0; i < l1.length; i++) {
    for (const { length, paraphrase } of pt.pathsFrom(l1, i)) {
      for (let j = 0; j < l2.length; j++) {
        if (occurs(l2, j, paraphrase)) addMatch(s, { start: j, length: paraphrase.length, matchStart: i, matchLength: length, module });
      }
    }
  }
};

type Path = {
  matches: (Match | undefined)[];
  matches1: number;
  matches2: number;
  chunks: number;
  idx: number;
  lastMatchEnd: number;
  distance: number;
  used1: Uint8Array;
  used2: Uint8Array;
};

const copyPath = (p: Path): Path => ({ ...p, matches: p.matches.slice(), used1: p.used1.slice(), used2: p.used2.slice() });

const isUsed = (p: Path, m: Match): boolean => {
  for (let k = 0; k < m.length; k++) if (p.used2[m.start + k] === 1) return true;
  for (let k = 0; k < m.matchLength; k++) if (p.used1[m.matchStart + k] === 1) return true;
  return false;
};

const setUsed = (p: Path, m: Match): void => {
  for (let k = 0; k < m.length; k++) p.used2[m.start + k] = 1;
  for (let k = 0; k < m.matchLength; k++) p.used1[m.matchStart + k] = 1;
};

/** METEOR's PARTIAL_COMPARE_TOTAL: more weighted matches, then fewer chunks, then less distance. */
const compare = (x: Path, y: Path): number => {
  const matchDiff = y.matches1 + y.matches2 - (x.matches1 + x.matches2);
  if (matchDiff !== 0) return matchDiff > 0 ? 1 : -1;
  if (x.chunks !== y.chunks) return x.chunks - y.chunks;
  return x.distance - y.distance;
};

/** Adds match `m` to `p`'s totals; METEOR keeps these weighted totals in ints (truncating). */
const extend = (p: Path, m: Match, weights: readonly number[]): void => {
  p.matches1 = Math.trunc(p.matches1 + m.matchLength * weights[m.module]);
  p.matches2 = Math.trunc(p.matches2 + m.length * weights[m.module]);
  if (p.lastMatchEnd !== -1 && m.matchStart !== p.lastMatchEnd) p.chunks++;
  p.idx = m.start + m.length;
  p.lastMatchEnd = m.matchStart + m.matchLength;
};

const resolve = (s: Stage, start: Path, weights: readonly number[], beamSize: number): Path => {
  const n = s.matches.length;
  let next: Path[] = [start];
  for (let current = 0; current <= n; current++) {
    const paths = next.sort(compare);
    next = [];
    for (let rank = 0; rank < beamSize && rank < paths.length; rank++) {
      const path = paths[rank];
      if (current === n) {
        if (path.lastMatchEnd !== -1) path.chunks++;
        next.push(path);
        continue;
      }
      if (path.used2[current] === 1) {
        if (current < path.idx) next.push(path);
        else {
          const m = path.matches[path.idx];
          if (m !== undefined) {
            extend(path, m, weights);
            path.distance += Math.abs(m.start - m.matchStart);
            next.push(path);
          }
        }
        continue;
      }
      for (const m of s.matches[current]) {
        if (isUsed(path, m)) continue;
        const np = copyPath(path);
        setUsed(np, m);
        np.matches[current] = m;
        extend(np, m, weights);
        // METEOR adds this distance to the path being extended, not to the new one
        path.distance += Math.abs(m.start - m.matchStart);
        next.push(np);
      }
      if (path.lastMatchEnd !== -1) {
        path.chunks++;
        path.lastMatchEnd = -1;
      }
      path.idx++;
      next.push(path);
    }
    if (next.length === 0) next.push(paths[0]);
  }
  return next.sort(compare)[0];
};

/** METEOR's sufficient statistics of one hypothesis/reference pair (word-based). */
export type MeteorStats = {
  readonly testLength: number;
  readonly referenceLength: number;
  readonly testFunctionWords: number;
  readonly referenceFunctionWords: number;
  /** per module: matched hypothesis / reference words, content and function */
  readonly testContent: readonly number[];
  readonly referenceContent: readonly number[];
  readonly testFunction: readonly number[];
  readonly referenceFunction: readonly number[];
  readonly chunks: number;
};

/** Aligns hypothesis words (line 1) with reference words (line 2) and returns the statistics. */
export const alignStats = (w1: readonly string[], w2: readonly string[], cfg: AlignerConfig): MeteorStats => {
  const stage: Stage = {
    matches: w2.map(() => []),
    cov1: new Int32Array(w1.length),
    cov2: new Int32Array(w2.length),
  };
  const identical = w1.length === w2.length && w1.every((w, i) => w === w2[i]);
  const modsUsed = identical ? 1 : cfg.modules.length;
  for (let k = 0; k < modsUsed; k++) {
    const mod = cfg.modules[k];
    if (mod === 'exact') oneToOne(stage, k, w1, w2, (i, j) => w1[i] === w2[j]);
    else if (mod === 'stem') {
      const s1 = w1.map(cfg.stem);
      const s2 = w2.map(cfg.stem);
      oneToOne(stage, k, w1, w2, (i, j) => s1[i] === s2[j] && w1[i] !== w2[j]);
    } else if (mod === 'synonym') {
      const syn1 = w1.map(cfg.synsets);
      const syn2 = w2.map(cfg.synsets);
      const meet = (a: ReadonlySet<number>, b: ReadonlySet<number>): boolean => {
        for (const x of a) if (b.has(x)) return true;
        return false;
      };
      oneToOne(stage, k, w1, w2, (i, j) => w1[i] !== w2[j] && meet(syn1[i], syn2[j]));
    } else {
      if (cfg.paraphrase === null) throw new Error('METEOR paraphrase module: no paraphrase table loaded');
      paraphraseMatches(stage, k, w1, w2, cfg.paraphrase);
    }
  }

  const start: Path = {
    matches: new Array(w2.length).fill(undefined),
    matches1: 0,
    matches2: 0,
    chunks: 0,
    idx: 0,
    lastMatchEnd: -1,
    distance: 0,
    used1: new Uint8Array(w1.length),
    used2: new Uint8Array(w2.length),
  };
  // one-to-one matches that overlap nothing else are certain
  stage.matches.forEach((ms, i) => {
    if (ms.length !== 1) return;
    const m = ms[0];
    let overlap = false;
    for (let k = 0; k < m.length; k++) if (stage.cov2[i + k] !== 1) overlap = true;
    for (let k = 0; k < m.matchLength; k++) if (stage.cov1[m.matchStart + k] !== 1) overlap = true;
    if (!overlap) {
      start.matches[i] = m;
      setUsed(start, m);
    }
  });

  const alignWeights = cfg.modules.map((m) => (m === 'exact' ? 1 : 0.5));
  const best = resolve(stage, start, alignWeights, cfg.beamSize);

  const isFn1 = w1.map((w) => cfg.functionWords.has(w.toLowerCase()));
  const isFn2 = w2.map((w) => cfg.functionWords.has(w.toLowerCase()));
  const zeros = () => new Array<number>(cfg.modules.length).fill(0);
  const tc = zeros();
  const rc = zeros();
  const tf = zeros();
  const rf = zeros();
  for (const m of best.matches) {
    if (m === undefined) continue;
    for (let k = 0; k < m.matchLength; k++) (isFn1[m.matchStart + k] ? tf : tc)[m.module]++;
    for (let k = 0; k < m.length; k++) (isFn2[m.start + k] ? rf : rc)[m.module]++;
  }

  // chunks of the final alignment
  let chunks = 0;
  let idx = 0;
  let lastMatchEnd = -1;
  while (idx < best.matches.length) {
    const m = best.matches[idx];
    if (m === undefined) {
      if (lastMatchEnd !== -1) {
        chunks++;
        lastMatchEnd = -1;
      }
      idx++;
    } else {
      if (lastMatchEnd !== -1 && m.matchStart !== lastMatchEnd) chunks++;
      idx = m.start + m.length;
      lastMatchEnd = m.matchStart + m.matchLength;
    }
  }
  if (lastMatchEnd !== -1) chunks++;

  return {
    testLength: w1.length,
    referenceLength: w2.length,
    testFunctionWords: isFn1.filter(Boolean).length,
    referenceFunctionWords: isFn2.filter(Boolean).length,
    testContent: tc,
    referenceContent: rc,
    testFunction: tf,
    referenceFunction: rf,
    chunks,
  };
};

