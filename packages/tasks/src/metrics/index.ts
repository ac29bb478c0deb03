/**
 * The metric registry: every corpus metric under its name, with the scale of its official scorer,
 * and {@link score}, which runs a list of them on one corpus.
 *
 * | name        | official scorer                                   | scale      |
 * |-------------|---------------------------------------------------|------------|
 * | bleu, nist  | E2E challenge (e2e-metrics, mteval-v13a)          | 0..1, raw  |
 * | meteor, rouge_l, cider | E2E challenge (pycocoevalcap)          | 0..1, 0..1, raw |
 * | sacrebleu, chrf, chrf++, ter | sacreBLEU 2.x                    | 0..100     |
 * | rouge1, rouge2, rougeL, rougeLsum | rouge-score, stemmer on     | 0..1 (P, R, F) |
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { bleu, nist } from './mteval.ts';
import { sacreBleu } from './sacrebleu.ts';
import { chrf } from './chrf.ts';
import { ter } from './ter.ts';
import { rougeCorpus, type RougeType } from './rouge.ts';
// The COCO-caption metrics of the E2E challenge (written in ./meteor.ts, ./cider.ts, ./coco-rouge.ts).
import { meteor } from './meteor.ts';
export { meteorNote, fetchMeteorData, meteorCacheDir, PYPI_URL, METEOR_APPROXIMATE_NOTE, type FetchMeteorOptions, type FetchedMeteor } from './meteor.ts';
import { cider } from './cider.ts';
import { cocoRougeL } from './coco-rouge.ts';

export {
  bleu, nist, bleuSegments, nistSegments, bleuSentence, nistSentence, mtevalCorpusStats, mtevalBleuOfStats, mtevalNistOfStats,
  type MtevalStats, type MtevalCorpusStats, type MtevalOptions,
} from './mteval.ts';
export { mtevalTokenize, tokenize13a } from './mteval-tokenize.ts';
export { sacreBleu, sacreBleuDetailed, sacreBleuSentence, type SacreBleuOptions, type SacreBleuScore, type SacreBleuSmoothing } from './sacrebleu.ts';
export { chrf, chrfSentence, type ChrfOptions } from './chrf.ts';
export { ter, terSentence, type TerOptions } from './ter.ts';
export {
  rougeCorpus, rougeSegments, rougeScore, rougeScoreMulti, rougeTokenize, ROUGE_TYPES,
  type RougeOptions, type RougeScore, type RougeType,
} from './rouge.ts';
export { porterStem } from './porter.ts';
export { parseHypotheses, parseReferences, formatReferences } from './text-format.ts';

/** Names of the registered corpus metrics. */
export const MetricName = t.keyof({
  bleu: null,
  nist: null,
  meteor: null,
  rouge_l: null,
  cider: null,
  sacrebleu: null,
  chrf: null,
  'chrf++': null,
  ter: null,
  rouge1: null,
  rouge2: null,
  rougeL: null,
  rougeLsum: null,
});
export type MetricName = t.TypeOf<typeof MetricName>;

/** A metric's value: a number, or named numbers (ROUGE's precision, recall, fmeasure). */
export type MetricValue = number | Readonly<Record<string, number>>;

/** A corpus metric: `refs[i]` are the references of `hyps[i]`. May throw on malformed input. */
export type CorpusMetric = (refs: readonly (readonly string[])[], hyps: readonly string[]) => MetricValue;

const rouge = (type: RougeType): CorpusMetric => (refs, hyps) => rougeCorpus(refs, hyps, { types: [type], useStemmer: true })[type];

/** Every metric by name. */
export const metrics = {
  bleu: (refs, hyps) => bleu(refs, hyps),
  nist: (refs, hyps) => nist(refs, hyps),
  // COCO-caption metrics as the E2E challenge runs them (PTB tokenization first).
  meteor: (refs, hyps) => meteor(refs, hyps),
  rouge_l: (refs, hyps) => cocoRougeL(refs, hyps),
  cider: (refs, hyps) => cider(refs, hyps),
  sacrebleu: (refs, hyps) => sacreBleu(refs, hyps),
  chrf: (refs, hyps) => chrf(refs, hyps),
  'chrf++': (refs, hyps) => chrf(refs, hyps, { wordOrder: 2 }),
  ter: (refs, hyps) => ter(refs, hyps),
  rouge1: rouge('rouge1'),
  rouge2: rouge('rouge2'),
  rougeL: rouge('rougeL'),
  rougeLsum: rouge('rougeLsum'),
} as const satisfies Record<MetricName, CorpusMetric>;

/** One line per metric: what it is and its scale (shown by `prefix-tune score --help`). */
export const metricDescriptions: Readonly<Record<MetricName, string>> = {
  bleu: 'BLEU, E2E challenge / mteval-v13a (0..1)',
  nist: 'NIST, E2E challenge / mteval-v13a (raw, ~0..15)',
  meteor: 'METEOR 1.5, E2E challenge / pycocoevalcap (0..1)',
  rouge_l: 'ROUGE-L, E2E challenge / pycocoevalcap (0..1)',
  cider: 'CIDEr, E2E challenge / pycocoevalcap (raw, ~0..10)',
  sacrebleu: 'BLEU, sacreBLEU 13a (0..100)',
  chrf: 'chrF2, sacreBLEU (0..100)',
  'chrf++': 'chrF++, sacreBLEU (0..100)',
  ter: 'TER, sacreBLEU (0..100, lower is better)',
  rouge1: 'ROUGE-1 P/R/F, rouge-score with stemmer (0..1)',
  rouge2: 'ROUGE-2 P/R/F, rouge-score with stemmer (0..1)',
  rougeL: 'ROUGE-L P/R/F, rouge-score with stemmer (0..1)',
  rougeLsum: 'ROUGE-Lsum P/R/F, rouge-score with stemmer, sentences split at newlines (0..1)',
};

/** The E2E challenge's five metrics, in its order. */
export const E2E_METRICS: readonly MetricName[] = ['bleu', 'nist', 'meteor', 'rouge_l', 'cider'];

/** Checks a metric name; Left names the valid ones. */
export const decodeMetricName = (name: string): E.Either<string, MetricName> =>
  MetricName.is(name) ? E.right(name) : E.left(`unknown metric '${name}' (known: ${Object.keys(MetricName.keys).join(', ')})`);

/**
 * Runs `names` on one corpus (`refs[i]`: the references of `hyps[i]`) and returns each value on
 * its official scale. Left with a message when the corpus is malformed, a name is unknown, or a
 * metric fails (e.g. METEOR's resources cannot be read).
 */
export const score = (
  refs: readonly (readonly string[])[],
  hyps: readonly string[],
  names: readonly string[],
): E.Either<string, Partial<Record<MetricName, MetricValue>>> => {
  if (refs.length !== hyps.length) return E.left(`${hyps.length} hypotheses but ${refs.length} reference lists`);
  const empty = refs.findIndex((r) => r.length === 0);
  if (empty >= 0) return E.left(`example ${empty}: no reference`);
  if (hyps.length === 0) return E.left('empty corpus');
  const out: Partial<Record<MetricName, MetricValue>> = {};
  for (const raw of names) {
    const name = decodeMetricName(raw);
    if (E.isLeft(name)) return name;
    try {
      out[name.right] = metrics[name.right](refs, hyps);
    } catch (e) {
      return E.left(`${name.right}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return E.right(out);
};
export { slotErrorRate, slotErrorRateOfSources, slotVerdicts, type SlotErrorReport, type SlotOutcome, type SlotVerdict } from './slot-error.ts';
