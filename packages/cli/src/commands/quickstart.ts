/**
 * `prefix-tune quickstart` (`pnpm start`): the embedded base model prefix-tuned on E2E in a few
 * minutes, end to end on a laptop CPU, with no model download:
 *   1. loads `models/tiny-gpt2-en` (the project's own pretrained GPT-2) and the E2E data
 *      ($PREFIX_TUNING_SHARED/data/e2e or ../shared/data/e2e, else the download cache);
 *   2. prefix-tunes it (`prefix-tune train`: the paper's prefix with its MLP, scaled down) on a
 *      sample of the training set, showing progress;
 *   3. with --finetune, fine-tunes every weight on the same examples too, for contrast;
 *   4. generates for a sample of test inputs with the untuned model (the table text continued),
 *      the prefix (and the fine-tuned model), prints a few, and scores each (BLEU, NIST, METEOR,
 *      ROUGE-L, CIDEr, and the slot error rate).
 * Writes into `--out` (default runs/quickstart, replaced on each run): the training run
 * (adapter/, loss-curve.svg, train-log.jsonl, checkpoint/) and results.md / metrics.json /
 * hypotheses.txt.
 */
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { E2E_METRICS, score, slotErrorRateOfSources, type MetricName, type MetricValue } from '@prefix-tuning/tasks';
import { writeFileAtomic } from '@prefix-tuning/hub';
import { UsageError, type Command } from '../cli.ts';
import { claimRunDir } from '../run/lock.ts';
import { loadModelOrExit } from '../run/model.ts';
import { readAdapterDir } from '../run/adapter.ts';
import { backendChoice, backendFromOptions } from '../run/backend.ts';
import { generateLines } from '../run/generation.ts';
import { metricsTable, quickstartDecoding, quickstartOptions } from '../run/quickstart-options.ts';
import { e2eTestSplit } from '../run/data.ts';
import { formatDuration } from '../run/progress.ts';
import { trainCommand } from './train.ts';

/** The repository root (this file is packages/cli/src/commands/quickstart.ts). */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
/** The embedded base model. */
export const EMBEDDED_MODEL = join(repoRoot, 'models', 'tiny-gpt2-en');

/** Files of a previous quickstart run that a new one replaces (nothing else in --out is touched). */
const OUTPUTS = ['checkpoint', 'adapter', 'finetune', 'run.json', 'train-log.jsonl', 'loss-curve.svg', 'results.md', 'metrics.json', 'hypotheses.txt'];

export const quickstartCommand: Command = {
  name: 'quickstart',
  summary: 'prefix-tune the embedded model on E2E in minutes, then compare it with the untuned model (pnpm start)',
  usage: 'prefix-tune quickstart [--max-train N] [--max-test N] [--epochs N] [--out DIR] [options]',
  options: quickstartOptions,
  run: async (opts, positionals) => {
    if (positionals.length > 0)
      throw new UsageError(`unexpected argument(s) ${positionals.map((p) => `'${p}'`).join(' ')}: pass options directly, e.g. pnpm start --max-train 1000 (no '--' before them)`);
    const t0 = performance.now();
    const modelDir = opts['model'] !== undefined ? resolve(String(opts['model'])) : EMBEDDED_MODEL;
    if (!existsSync(join(modelDir, 'config.json')))
      throw new UsageError(`no model in ${modelDir} (the embedded model is models/tiny-gpt2-en in the repository; see models/README.md)`);
    backendChoice(opts); // a bad --backend or --device before anything is removed or trained
    const out = resolve(process.cwd(), String(opts['out']));
    claimRunDir(out, 'quickstart', (l) => console.error(l)); // --out checked, then one quickstart per directory (released at exit)
    const dataDir = opts['data-dir'] !== undefined ? resolve(String(opts['data-dir'])) : null;
    const maxTest = Number(opts['max-test']);
    const show = Number(opts['show']);
    const quiet = opts['quiet'] === true;
    const say = (s: string) => {
      if (!quiet) console.log(s);
    };

    // 1. data first: a missing dataset is one clear message, before anything slow
    const test = await e2eTestSplit(dataDir, opts['offline'] !== true);
    const groups = test.groups.slice(0, maxTest);
    for (const f of OUTPUTS) rmSync(join(out, f), { recursive: true, force: true });

    // 2. prefix-tuning, by the train command itself
    say(`quickstart: prefix-tuning ${modelDir} on ${String(opts['max-train'])} E2E training examples for ${String(opts['epochs'])} epochs`);
    const trainOpts: Record<string, unknown> = {
      model: modelDir, task: 'e2e', out, 'max-examples': opts['max-train'], 'max-dev-examples': 0,
      epochs: opts['epochs'], 'batch-size': opts['batch-size'], lr: opts['lr'], 'warmup-steps': 0,
      'prefix-length': opts['prefix-length'], 'mlp-hidden': opts['mlp-hidden'], seed: opts['seed'],
      backend: opts['backend'], device: opts['device'], 'checkpoint-every': 1000, quiet, download: opts['offline'] !== true,
      ...(dataDir !== null ? { 'data-dir': dataDir } : {}),
    };
    const code = await trainCommand.run(trainOpts, []);
    if (code !== 0) return code;
    const finetune = opts['finetune'] === true;
    if (finetune) {
      say(`\nquickstart: fine-tuning every weight of ${modelDir} on the same examples, for contrast (learning rate ${String(opts['finetune-lr'])})`);
      const { 'prefix-length': _l, 'mlp-hidden': _h, ...rest } = trainOpts;
      const ft = await trainCommand.run({ ...rest, variant: 'finetune', lr: opts['finetune-lr'], out: join(out, 'finetune') }, []);
      if (ft !== 0) return ft;
    }
    const tTrained = performance.now();

    // 3. untuned vs prefix-tuned on the test inputs
    const backend = await backendFromOptions(opts);
    const model = await loadModelOrExit(modelDir);
    const adapter = await readAdapterDir(join(out, 'adapter'), model, modelDir);
    const ftAdapter = finetune ? await readAdapterDir(join(out, 'finetune', 'adapter'), model, modelDir) : undefined;
    const { dec, decoding } = quickstartDecoding(opts);
    const sources = groups.map((g) => g.source);
    const gen = (name: string, a: typeof adapter | undefined) => generateLines(backend, model, a, sources, dec, { label: name, quiet });
    say(`\ngenerating for ${groups.length} test inputs (${decoding}, at most ${dec.maxNewTokens} tokens): untuned, then prefix-tuned${finetune ? ', then fine-tuned' : ''}`);
    // the untuned model has no task format: it continues the table's text
    const untuned = await gen('untuned', undefined);
    const tuned = await gen('prefix-tuned', adapter);
    const finetuned = ftAdapter !== undefined ? await gen('fine-tuned', ftAdapter) : undefined;
    const refs = groups.map((g) => g.references);
    const names = E2E_METRICS as readonly MetricName[];
    const scored = [untuned, tuned, ...(finetuned !== undefined ? [finetuned] : [])].map((h) => score(refs, h, names));
    const bad = scored.find(E.isLeft);
    if (bad !== undefined) {
      console.error(`prefix-tune quickstart: scoring failed: ${bad.left}`);
      return 1;
    }
    const [su, st, sf] = scored.map((r) => (r as E.Right<Record<string, MetricValue>>).right) as [Record<string, MetricValue>, Record<string, MetricValue>, Record<string, MetricValue> | undefined];

    for (const [i, g] of groups.slice(0, show).entries()) {
      say(`\ninput:        ${g.source}`);
      say(`prefix-tuned: ${tuned[i]}`);
      if (finetuned !== undefined) say(`fine-tuned:   ${finetuned[i]}`);
      say(`untuned:      ${untuned[i]}`);
      say(`reference:    ${g.references[0]}`);
    }
    // the share of the inputs' slot values that the outputs leave out or contradict
    const serU = slotErrorRateOfSources(sources, untuned), serT = slotErrorRateOfSources(sources, tuned);
    const serF = finetuned !== undefined ? slotErrorRateOfSources(sources, finetuned) : undefined;
    const table = metricsTable([...names, 'slot_error'], [
      ['untuned (table text continued)', { ...su, slot_error: serU.rate }],
      [`prefix-tuned (prefix ${String(opts['prefix-length'])})`, { ...st, slot_error: serT.rate }],
      ...(sf !== undefined && serF !== undefined ? [['fine-tuned (every weight)', { ...sf, slot_error: serF.rate }] as const] : []),
    ]);
    console.log(`\nE2E test, first ${groups.length} inputs (${refs.reduce((s, r) => s + r.length, 0)} references), ${decoding}:\n`);
    console.log(table);
    const files: [string, string][] = [
      ['results.md', `${table}\n`],
      ['metrics.json', `${JSON.stringify({
        inputs: groups.length, untuned: su, prefix_tuned: st, ...(sf !== undefined ? { fine_tuned: sf } : {}),
        slot_error: { untuned: serU, prefix_tuned: serT, ...(serF !== undefined ? { fine_tuned: serF } : {}) }, decoding: dec,
      }, null, 2)}\n`],
      ['hypotheses.txt', tuned.join('\n') + '\n'],
    ];
    for (const [f, text] of files) {
      const w = await writeFileAtomic(join(out, f), text);
      if (E.isLeft(w)) throw new Error(w.left);
    }
    const total = (performance.now() - t0) / 1000;
    console.log(`\ndone in ${formatDuration(total)} (training ${formatDuration((tTrained - t0) / 1000)}); adapter: ${join(out, 'adapter')}; loss curve: ${join(out, 'loss-curve.svg')}; results: ${join(out, 'results.md')}`);
    return 0;
  },
};
