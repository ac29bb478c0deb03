/** The options and usage text of `prefix-tune pretrain`. */
import type { OptionSpec } from '../cli.ts';
import { deviceOption } from '../run/backend.ts';
import { PRESETS } from './model.ts';

export const pretrainOptions: OptionSpec[] = [
  { name: 'out', short: 'o', type: 'string', description: 'run directory (created, or continued when it holds a checkpoint)', required: true },
  { name: 'preset', type: 'string', description: `architecture: ${Object.keys(PRESETS).join(', ')}` },
  { name: 'config', type: 'string', description: 'architecture as a GPT-2 config.json (vocab_size and EOS are taken from the tokenizer)' },
  { name: 'init-from', type: 'string', description: 'start from this model directory\'s weights, config and tokenizer (fresh optimizer)' },
  { name: 'tokenizer', type: 'string', description: 'directory with tokenizer.json (+ tokenizer_config.json; see prefix-tune train-bpe)' },
  { name: 'corpus', type: 'string', description: 'corpus directory (default: $PREFIX_TUNING_SHARED/data/corpus, else ../shared/data/corpus)' },
  { name: 'tokens', type: 'number', description: 'train this many more tokens in this run' },
  { name: 'minutes', type: 'number', description: 'train for at most this many minutes in this run' },
  { name: 'seq-len', type: 'number', description: "tokens per training row (default: 128, or the architecture's positions when it has fewer)" },
  { name: 'batch-size', type: 'number', description: 'rows per update', default: 16 },
  { name: 'lr', type: 'number', description: 'peak learning rate', default: 1e-3 },
  { name: 'min-lr', type: 'number', description: 'final learning rate of the cosine schedule', default: 1e-4 },
  { name: 'warmup', type: 'number', description: 'linear warmup updates', default: 100 },
  { name: 'schedule-tokens', type: 'number', description: 'cosine decay over this many tokens in all (0: constant after warmup)', default: 0 },
  { name: 'weight-decay', type: 'number', description: 'AdamW decoupled weight decay on matrices', default: 0.1 },
  { name: 'max-grad-norm', type: 'number', description: 'clip the global gradient norm (0: off)', default: 1 },
  { name: 'seed', type: 'number', description: 'seed of the initialisation', default: 1234 },
  { name: 'val-tokens', type: 'number', description: 'validation tokens evaluated at each checkpoint (evenly spread over the held-out slice)', default: 8192 },
  { name: 'checkpoint-every', type: 'number', description: 'checkpoint (and validate) every N updates', default: 50 },
  { name: 'export', type: 'string', description: 'after the run, write the Hugging Face model (F16) here' },
  { name: 'export-dtype', type: 'string', description: 'F16 | F32', default: 'F16' },
  { name: 'write-validation', type: 'string', description: 'write the held-out validation documents (<doc> blocks; .gz compresses) to FILE and exit' },
  { name: 'threads', type: 'number', description: 'ONNX Runtime intra-op threads (default: all cores)' },
  { name: 'backend', type: 'string', description: 'onnx | tfjs | reference', default: 'onnx' },
  deviceOption,
  { name: 'quiet', short: 'q', type: 'boolean', description: 'no progress output' },
];

export const pretrainUsage = [
  'prefix-tune pretrain --out DIR (--preset NAME | --config FILE | --init-from MODEL_DIR) --tokenizer DIR [--tokens N] [--minutes M] [options]',
  '       prefix-tune pretrain --out DIR [--tokens N] [--minutes M]      (continue the run in DIR)',
  '       prefix-tune pretrain --out DIR --tokens 0 --export MODEL_DIR   (export the latest checkpoint)',
  '       prefix-tune pretrain --out DIR --write-validation FILE         (the held-out text, for `prefix-tune perplexity`)',
  '',
  `Presets: ${Object.entries(PRESETS).map(([k, p]) => `${k} (width ${p.n_embd}, ${p.n_layer} layers, ${p.n_head} heads, ${p.n_positions} positions)`).join('; ')}.`,
  'The corpus is <source>/*.gz of <doc> blocks; the first 200k characters of wikipedia/ and 100k of gutenberg/ (first shard) are',
  'held out for validation and never trained on. Each run checkpoints and stops at its budget; Ctrl-C, SIGTERM and SIGHUP',
  'checkpoint and exit with 128 + the signal (130, 143, 129); a later run continues exactly (same data order, same optimizer state).',
].join('\n');
