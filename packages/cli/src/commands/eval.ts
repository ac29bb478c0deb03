/**
 * `prefix-tune eval`: generates for every input of a task split with a trained adapter, scores
 * the outputs against all references with the task's metrics, and writes `hypotheses.txt`,
 * `references.txt` (e2e-metrics format), `metrics.json` and `results.md` (a table as in the
 * paper: BLEU, METEOR, ROUGE-L ×100; NIST, CIDEr raw).
 */
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { E2E_METRICS, MetricName, makeRng, meteorNote, sampleIndices, SplitName, TaskName, formatReferences, score, slotErrorRateOfSources, type MetricValue } from '@prefix-tuning/tasks';
import { writeFileAtomic } from '@prefix-tuning/hub';
import { UsageError, type Command } from '../cli.ts';
import { requireOutDir } from '../run/outpath.ts';
import { loadModelOrExit, modelDirOrExit } from '../run/model.ts';
import { readAdapterDir } from '../run/adapter.ts';
import { backendFromOptions } from '../run/backend.ts';
import { decodingOptions, generationDefaults, makeGenerator, parseDecoding } from '../run/generation.ts';
import { loadSplit } from '../run/data.ts';
import { countProgress, formatDuration } from '../run/progress.ts';

/** The paper's decoding for table-to-text: beam search with 5 beams. */
const DEFAULTS = { beams: 5, maxNewTokens: 100 };

const SUMMARIZATION_METRICS: readonly MetricName[] = ['rouge1', 'rouge2', 'rougeL'];

/** Paper scale and column title of a metric. */
const column = (m: MetricName): { title: string; scale: number } => {
  switch (m) {
    case 'bleu': return { title: 'BLEU', scale: 100 };
    case 'nist': return { title: 'NIST', scale: 1 };
    case 'meteor': return { title: 'METEOR', scale: 100 };
    case 'rouge_l': return { title: 'ROUGE-L', scale: 100 };
    case 'cider': return { title: 'CIDEr', scale: 1 };
    case 'rouge1': return { title: 'R-1', scale: 100 };
    case 'rouge2': return { title: 'R-2', scale: 100 };
    case 'rougeL': return { title: 'R-L', scale: 100 };
    case 'rougeLsum': return { title: 'R-Lsum', scale: 100 };
    default: return { title: m, scale: 1 };
  }
};

const scalar = (v: MetricValue): number => (typeof v === 'number' ? v : v['fmeasure'] ?? Object.values(v)[0]!);

/** The markdown results table (one row). */
export const resultsTable = (label: string, names: readonly MetricName[], values: Readonly<Record<string, MetricValue>>): string => {
  const cols = names.map(column);
  return [
    `| | ${cols.map((c) => c.title).join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
    `| ${label} | ${names.map((n, i) => { const x = scalar(values[n]!) * cols[i]!.scale; return cols[i]!.scale === 100 ? x.toFixed(1) : x.toFixed(2); }).join(' | ')} |`,
  ].join('\n');
};

export const evalCommand: Command = {
  name: 'eval',
  summary: 'generate on a task split with an adapter and score it (BLEU, NIST, METEOR, ROUGE-L, CIDEr; ROUGE for summaries)',
  usage: 'prefix-tune eval --model DIR --adapter DIR --task NAME [--split test] [--max-examples N] [--beams N] --out DIR [options]',
  options: [
    { name: 'model', short: 'm', type: 'string', description: 'model directory or hub id', required: true },
    { name: 'adapter', short: 'a', type: 'string', description: 'adapter directory written by prefix-tune train', required: true },
    { name: 'task', type: 'string', description: 'task: e2e, webnlg, dart, ...', required: true },
    { name: 'data-dir', type: 'string', description: 'read the task from this directory' },
    { name: 'download', type: 'boolean', description: 'download the task\'s data into the cache when it is not on disk (default: off)' },
    { name: 'split', type: 'string', description: 'train | dev | test (default: test)' },
    { name: 'max-examples', type: 'number', description: 'evaluate N inputs of the split (the first N; with --pick random, N drawn by --pick-seed)' },
    { name: 'pick', type: 'string', description: 'with --max-examples N: first (the first N inputs) | random (a seeded sample of N, kept in split order)', default: 'first' },
    { name: 'pick-seed', type: 'number', description: 'seed of --pick random', default: 1 },
    { name: 'webnlg-categories', type: 'string', description: 'webnlg: all | seen | unseen (the 10 training categories or the 5 test-only ones; the paper\'s A / S / U)', default: 'all' },
    { name: 'metrics', type: 'list', description: `comma-separated (default: ${E2E_METRICS.join(',')}; summarization tasks: ${SUMMARIZATION_METRICS.join(',')})` },
    { name: 'out', short: 'o', type: 'string', description: 'output directory (hypotheses.txt, references.txt, metrics.json, results.md)', required: true },
    ...decodingOptions(DEFAULTS),
  ],
  run: async (opts) => {
    requireOutDir(String(opts['out'])); // before anything is generated
    const task = String(opts['task']);
    if (!TaskName.is(task)) throw new UsageError(`unknown task '${task}' (one of ${Object.keys(TaskName.keys).join(', ')})`);
    const split = String(opts['split'] ?? 'test');
    if (!SplitName.is(split)) throw new UsageError(`unknown split '${split}' (train, dev or test)`);
    const summarization = ['xsum', 'dialogsum', 'samsum', 'bbc-news', 'scitldr'].includes(task);
    const names = (opts['metrics'] as string[] | undefined) ?? [...(summarization ? SUMMARIZATION_METRICS : E2E_METRICS)];
    for (const n of names) if (!MetricName.is(n)) throw new UsageError(`unknown metric '${n}' (known: ${Object.keys(MetricName.keys).join(', ')})`);
    const max = opts['max-examples'];
    if (max !== undefined && !(Number.isInteger(max) && (max as number) >= 1)) throw new UsageError(`--max-examples must be a positive integer, got ${String(max)}`);
    const pick = String(opts['pick'] ?? 'first');
    if (pick !== 'first' && pick !== 'random') throw new UsageError(`--pick must be first or random, got '${pick}'`);
    if (pick === 'random' && max === undefined) throw new UsageError('--pick random needs --max-examples N (the sample size)');
    const pickSeed = Number(opts['pick-seed'] ?? 1);
    if (!Number.isInteger(pickSeed)) throw new UsageError(`--pick-seed must be an integer, got ${String(opts['pick-seed'])}`);
    const cats = String(opts['webnlg-categories'] ?? 'all');
    if (cats !== 'all' && cats !== 'seen' && cats !== 'unseen') throw new UsageError(`--webnlg-categories must be all, seen or unseen, got '${cats}'`);
    if (cats !== 'all' && task !== 'webnlg') throw new UsageError(`--webnlg-categories applies to --task webnlg only (the task is ${task})`);
    // the decoding options over the model's generation_config.json: usage errors before the weights load
    // one hypothesis per input is scored: the call's num_return_sequences is 1 (over a model's own)
    if (opts['num-return-sequences'] !== undefined && Number(opts['num-return-sequences']) !== 1) throw new UsageError('--num-return-sequences does not apply to eval (one hypothesis per input is scored)');
    const dec = parseDecoding({ ...opts, 'num-return-sequences': 1 }, DEFAULTS, generationDefaults(await modelDirOrExit(String(opts['model']))));
    const backend = await backendFromOptions(opts);
    const model = await loadModelOrExit(String(opts['model']));
    const adapter = await readAdapterDir(String(opts['adapter']), model, String(opts['model']));
    const data = await loadSplit({ kind: 'task', task, dataDir: opts['data-dir'] !== undefined ? String(opts['data-dir']) : null, ...(cats !== 'all' ? { webnlg: cats } : {}) }, split, opts['download'] === true);
    const all = data!.groups;
    const groups = max === undefined || (max as number) >= all.length ? all
      : pick === 'random' ? sampleIndices(all.length, max as number, makeRng(pickSeed, max as number)).sort((a, b) => a - b).map((i) => all[i]!)
      : all.slice(0, max as number);
    const gen = await makeGenerator(backend, model, adapter);
    const t0 = performance.now();
    // in place on a terminal, plain lines at each tenth otherwise (a log shows the run moving)
    const progress = countProgress(process.stderr, groups.length, 'generating');
    let outs;
    try {
      outs = await gen.run(groups.map((g) => g.source), dec, (done) => progress.update(done));
    } finally {
      await gen.dispose();
      progress.end();
    }
    const genSeconds = (performance.now() - t0) / 1000;
    const hyps = outs.map((o) => o.text.replace(/\s*\n\s*/g, ' '));
    const refs = groups.map((g) => g.references);
    const r = score(refs, hyps, names as MetricName[]);
    if (E.isLeft(r)) {
      console.error(`prefix-tune eval: ${r.left}`);
      return 1;
    }
    // E2E: the share of input slot values the outputs leave out or contradict
    const slotError = task === 'e2e' ? slotErrorRateOfSources(groups.map((g) => g.source), hyps) : undefined;
    const out = String(opts['out']);
    const label = `${task} ${split}${cats !== 'all' ? ` (${cats} categories)` : ''} (${groups.length}${pick === 'random' ? ' sampled' : ''} inputs, ${dec.numBeams! > 1 ? `beam ${dec.numBeams}` : dec.doSample ? 'sampling' : 'greedy'})`;
    // the scale, stated: `prefix-tune score` and metrics.json keep each official scorer's 0..1
    const meteorNoteText = names.includes('meteor') ? meteorNote() : null;
    const pct = (names as MetricName[]).filter((n) => column(n).scale === 100).map((n) => column(n).title);
    const table = resultsTable(label, names as MetricName[], r.right) +
      (pct.length > 0 ? `\n\n${pct.join(', ')} ×100 (prefix-tune score and metrics.json: 0..1)` : '') +
      (meteorNoteText !== null ? `\nMETEOR (${meteorNoteText})` : '') +
      (slotError !== undefined ? `\n\nslot error rate: ${(slotError.rate * 100).toFixed(1)}% (${slotError.missing} missing + ${slotError.contradicted} contradicted of ${slotError.slots} slot values)` : '');
    const files: [string, string][] = [
      ['hypotheses.txt', hyps.join('\n') + '\n'],
      ['references.txt', formatReferences(refs)],
      ['metrics.json', `${JSON.stringify({ task, split, ...(cats !== 'all' ? { webnlg_categories: cats } : {}), inputs: groups.length, ...(pick === 'random' ? { pick: 'random', pick_seed: pickSeed } : {}), decoding: dec, metrics: r.right, ...(meteorNoteText !== null ? { meteor_note: meteorNoteText } : {}), ...(slotError !== undefined ? { slot_error: slotError } : {}) }, null, 2)}\n`],
      ['results.md', `${table}\n`],
    ];
    for (const [f, text] of files) {
      const w = await writeFileAtomic(join(out, f), text);
      if (E.isLeft(w)) throw new Error(w.left);
    }
    console.log(table);
    console.log(`\n${groups.length} inputs generated in ${formatDuration(genSeconds)}; wrote ${out}/{hypotheses.txt,references.txt,metrics.json,results.md}`);
    return 0;
  },
};
