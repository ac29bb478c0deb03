/**
 * `prefix-tune quickstart`'s options, its decoding settings, and the table of metrics it prints
 * (one row per system).
 */
import type { MetricValue } from '@prefix-tuning/tasks';
import type { OptionSpec } from '../cli.ts';
import { deviceOption } from './backend.ts';
import { parseDecoding } from './generation.ts';

export const quickstartOptions: OptionSpec[] = [
  { name: 'model', short: 'm', type: 'string', description: 'base model directory (default: the embedded models/tiny-gpt2-en)' },
  { name: 'data-dir', type: 'string', description: 'E2E csv directory (default: $PREFIX_TUNING_SHARED/data/e2e, ../shared/data/e2e, then the download cache)' },
  { name: 'out', short: 'o', type: 'string', description: 'output directory (its previous quickstart files are replaced)', default: 'runs/quickstart' },
  { name: 'max-train', type: 'number', description: 'training examples (sampled)', default: 8000 },
  { name: 'max-test', type: 'number', description: 'test inputs generated and scored (the first N of the test set)', default: 50 },
  { name: 'show', type: 'number', description: 'test inputs printed with their outputs', default: 5 },
  { name: 'epochs', type: 'number', description: 'epochs', default: 3 },
  { name: 'batch-size', type: 'number', description: 'examples per update', default: 10 },
  { name: 'lr', type: 'number', description: 'peak learning rate (linear decay; high because the run is short)', default: 5e-3 },
  { name: 'prefix-length', type: 'number', description: 'virtual tokens', default: 20 },
  { name: 'mlp-hidden', type: 'number', description: 'hidden width of the prefix MLP', default: 512 },
  { name: 'max-new-tokens', type: 'number', description: 'generated tokens at most', default: 60 },
  { name: 'beams', type: 'number', description: 'beam search width (1: greedy)', default: 1 },
  { name: 'no-repeat-ngram', type: 'number', description: 'never repeat an n-gram of this size in an output (0: off; both systems)', default: 3 },
  { name: 'encoder-repetition-penalty', type: 'number', description: "favour the input's tokens by this factor (transformers' encoder_repetition_penalty; 1: off; both systems)", default: 1.5 },
  { name: 'min-new-tokens', type: 'number', description: 'no end of text before this many new tokens (E2E references average 19 words; 0: off; both systems)', default: 20 },
  { name: 'seed', type: 'number', description: 'seed of sampling and initialisation', default: 42 },
  { name: 'finetune', type: 'boolean', description: 'also fine-tune every weight on the same examples (into OUT/finetune), for contrast; about as long again' },
  { name: 'finetune-lr', type: 'number', description: 'peak learning rate of --finetune', default: 5e-4 },
  { name: 'offline', type: 'boolean', description: 'never download the data' },
  { name: 'backend', type: 'string', description: 'onnx | tfjs | reference', default: 'onnx' },
  deviceOption,
  { name: 'quiet', short: 'q', type: 'boolean', description: 'no progress output' },
];

type Opts = Readonly<Record<string, unknown>>;

/** The decoding of both systems, and its description. */
export const quickstartDecoding = (opts: Opts) => {
  const beams = Number(opts['beams']);
  const noRepeat = Number(opts['no-repeat-ngram']);
  const erp = Number(opts['encoder-repetition-penalty']);
  const minNew = Number(opts['min-new-tokens']);
  const dec = parseDecoding({
    ...(beams > 1 ? { beams } : { greedy: true }), 'max-new-tokens': opts['max-new-tokens'], 'batch-size': 10,
    ...(noRepeat > 0 ? { 'no-repeat-ngram': noRepeat } : {}),
    ...(erp !== 1 ? { 'encoder-repetition-penalty': erp } : {}),
    ...(minNew > 0 ? { 'min-new-tokens': minNew } : {}),
  }, { beams: 1, maxNewTokens: 60 });
  const decoding = [
    beams > 1 ? `beam ${beams}` : 'greedy',
    ...(noRepeat > 0 ? [`no repeated ${noRepeat}-grams`] : []),
    ...(erp !== 1 ? [`input tokens favoured ×${erp}`] : []),
    ...(minNew > 0 ? [`at least ${minNew} tokens`] : []),
  ].join(', ');
  return { dec, decoding };
};

const SCALE: Readonly<Record<string, number>> = { bleu: 100, meteor: 100, rouge_l: 100, nist: 1, cider: 1, slot_error: 100 };
const TITLE: Readonly<Record<string, string>> = { bleu: 'BLEU', nist: 'NIST', meteor: 'METEOR', rouge_l: 'ROUGE-L', cider: 'CIDEr', slot_error: 'SER % (lower is better)' };
const num = (v: MetricValue): number => (typeof v === 'number' ? v : v['fmeasure'] ?? Object.values(v)[0]!);
const cell = (name: string, v: MetricValue): string => {
  const s = SCALE[name] ?? 1;
  return s === 100 ? (num(v) * 100).toFixed(1) : num(v).toFixed(2);
};

/** A markdown table: one row per system. */
export const metricsTable = (names: readonly string[], rows: readonly (readonly [string, Readonly<Record<string, MetricValue>>])[]): string =>
  [
    `| | ${names.map((n) => TITLE[n] ?? n).join(' | ')} |`,
    `|---|${names.map(() => '---:').join('|')}|`,
    ...rows.map(([label, m]) => `| ${label} | ${names.map((n) => cell(n, m[n]!)).join(' | ')} |`),
  ].join('\n');

