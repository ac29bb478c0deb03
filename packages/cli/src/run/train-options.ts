/**
 * The options of `prefix-tune train` (also read by `experiment` and `quickstart`), its usage text,
 * and the library settings (`tune`'s) of a resolved run.
 */
import type { TuneSettings } from '@prefix-tuning/hub';
import { RECIPES, recipesMarkdown } from '@prefix-tuning/tasks';
import type { OptionSpec } from '../cli.ts';
import { deviceOption } from './backend.ts';
import type { RunConfig } from './config.ts';

export const trainOptions: OptionSpec[] = [
  { name: 'model', short: 'm', type: 'string', description: 'model directory or hub id (config.json, model.safetensors, tokenizer.json); required unless --resume' },
  { name: 'task', type: 'string', description: 'task: e2e, webnlg, dart, xsum, dialogsum, samsum, bbc-news, scitldr' },
  { name: 'data-dir', type: 'string', description: 'read the task from this directory (default: the shared copy, then the cache)' },
  { name: 'download', type: 'boolean', description: 'download the task\'s data into the cache when it is not on disk (default: off)' },
  { name: 'jsonl', type: 'string', description: 'training pairs instead of a task: JSONL of {"source", "target"}' },
  { name: 'dev-jsonl', type: 'string', description: 'development pairs for --jsonl (dev loss per epoch, early stopping)' },
  { name: 'variant', type: 'string', description: 'prefix | embedding | infix | finetune | finetune-top2 (default: prefix)' },
  { name: 'variant-json', type: 'string', description: 'any variant as JSON, e.g. {"kind":"prefix","length":10,"layers":{"top":12}}' },
  { name: 'prefix-length', type: 'number', description: 'virtual tokens (default: recipe, else 10)' },
  { name: 'reparam', type: 'string', description: 'mlp (the paper\'s P = MLP(P\')) | direct (default: mlp)' },
  { name: 'mlp-hidden', type: 'number', description: 'hidden width of the reparametrisation MLP (default: recipe, else 512)' },
  { name: 'prefix-dropout', type: 'number', description: 'dropout on the prefix activations (default: 0)' },
  { name: 'init-text', type: 'string', description: 'initialise the prefix from the activations of these words (its length becomes their token count)' },
  { name: 'recipe', type: 'string', description: `paper hyperparameters: ${Object.keys(RECIPES).join(', ')} (each value overridable)` },
  { name: 'epochs', type: 'number', description: 'epochs (default: recipe, else 10)' },
  { name: 'batch-size', type: 'number', description: 'examples per micro-batch (default: recipe, else 5)' },
  { name: 'lr', type: 'number', description: 'peak learning rate (default: recipe, else 5e-5)' },
  { name: 'warmup-steps', type: 'number', description: 'linear warmup updates, then linear decay to 0 (default: 0)' },
  { name: 'weight-decay', type: 'number', description: 'AdamW decoupled weight decay, not on biases/norms (default: 0)' },
  { name: 'max-grad-norm', type: 'number', description: 'clip the global gradient norm; 0 = off (default: 1)' },
  { name: 'grad-accum', type: 'number', description: 'micro-batches per optimizer update (default: 1)' },
  { name: 'loss', type: 'string', description: 'mean (per token, Hugging Face) | sum (per sentence, official code) (default: recipe, else mean)' },
  { name: 'max-examples', type: 'number', description: 'train on N sampled examples and ⌊0.3·N⌋ dev examples (the paper\'s low-data procedure)' },
  { name: 'max-dev-examples', type: 'number', description: 'cap the development examples; 0 = no dev evaluation' },
  { name: 'max-length', type: 'number', description: 'tokens per example (decoder-only: source + target; default: the model\'s positions minus the prefix)' },
  { name: 'seed', type: 'number', description: 'seed of sampling, initialisation, batch order and dropout (default: 42)' },
  { name: 'patience', type: 'number', description: 'stop after this many epochs without a better dev loss (default: never)' },
  { name: 'checkpoint-every', type: 'number', description: 'also checkpoint every N optimizer updates (default: 100; always at each epoch end)' },
  { name: 'on-nonfinite', type: 'string', description: 'a NaN/Inf loss or gradient: stop (exit 1, the last good checkpoint kept) | skip (undo that batch\'s update; needs --grad-accum 1, --steps-per-run 1) (default: stop)' },
  { name: 'backend', type: 'string', description: 'onnx | tfjs | reference (default: onnx)' },
  deviceOption,
  {
    name: 'steps-per-run', type: 'number',
    description: 'micro-batches per backend run (default 1). On CUDA, onnxruntime-node moves the trainable state and AdamW moments to the GPU and back at every run: 8 runs 8 micro-batches per transfer (8 updates with --grad-accum 1), for 8x the compile time; the results do not change',
  },
  { name: 'out', short: 'o', type: 'string', description: 'output directory', required: true },
  { name: 'resume', type: 'boolean', description: 'continue the run in --out from its checkpoint (same settings)' },
  { name: 'quiet', short: 'q', type: 'boolean', description: 'no progress output on stderr' },
];

export const trainUsage = [
    'prefix-tune train --model DIR|HUB_ID (--task NAME [--data-dir DIR] | --jsonl FILE [--dev-jsonl FILE]) --out DIR [options]',
    '       prefix-tune train --out DIR --resume',
    '',
    'Recipes (--recipe NAME sets these; any option given explicitly wins):',
    ...recipesMarkdown().split('\n').map((l) => `  ${l}`),
    '',
    'Writes into --out: run.json, checkpoint/, train-log.jsonl, loss-curve.svg and, at the end, adapter/',
    '(adapter_config.json + adapter_model.safetensors: the computed prefix, PEFT PREFIX_TUNING when PEFT can express the variant).',
    'Ctrl-C, SIGTERM and SIGHUP save a checkpoint and exit with 128 + the signal (130, 143, 129); --resume continues it exactly,',
    'keeping the run\'s settings (run-control options given again, e.g. --checkpoint-every, replace the saved value and are listed).',
    'One process at a time writes into --out (.lock names it: a second run is refused, exit 2; a dead owner\'s lock is taken over).',
    'A NaN/Inf loss or gradient stops the run (exit 1, the last good checkpoint kept, no adapter); --on-nonfinite skip skips that batch.',
    '--out is checked before any work (a file, under a file, not writable, /proc or /sys: exit 2); a failed write during the run',
    '(disk full, permissions) is one line naming the file; the previous checkpoint is intact and --resume continues from it.',
  ].join('\n');

/** The library's settings of a resolved run. */
export const tuneSettings = (run: RunConfig, stepsPerRun: number): TuneSettings => ({
  variant: run.variant, loss: run.loss, epochs: run.epochs, batchSize: run.batchSize, seed: run.seed,
  schedule: { lr: run.lr, warmupSteps: run.warmupSteps, decay: 'linear' },
  optimizer: {
    beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: run.weightDecay, flavor: run.adam,
    ...(run.maxGradNorm !== null ? { maxGradNorm: run.maxGradNorm } : {}),
    ...(run.gradAccum > 1 ? { accumulation: run.gradAccum } : {}),
  },
  checkpointEvery: run.checkpointEvery, stepsPerRun, onNonFinite: run.onNonFinite ?? 'stop',
  ...(run.patience !== null ? { patience: run.patience } : {}),
});
