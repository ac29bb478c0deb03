/**
 * `prefix-tune perplexity`: a causal LM's perplexity on a text file (plain, or gzip when the
 * name ends in `.gz`). `<doc>` blocks are documents (the corpus format, and what
 * `prefix-tune pretrain --write-validation` writes); otherwise the whole file is one. Documents
 * are tokenized without special tokens and joined by EOS (as pretraining packs them), then cut
 * into non-overlapping windows of `--seq-len` tokens; each window's first token is context
 * only. Prints JSON: {perplexity, nll (mean, nats), tokens (predicted), windows, seq_len, model, text}.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { type Gpt2Config } from '@prefix-tuning/core';
import { UsageError, type Command } from '../cli.ts';
import { loadModelOrExit, maxPositions, requireFile } from '../run/model.ts';
import { backendFromOptions, deviceOption } from '../run/backend.ts';
import { docsOfText } from '../pretrain/corpus.ts';
import { compileLossSum, nllOfWindows, windows } from '../pretrain/model.ts';

export const perplexityCommand: Command = {
  name: 'perplexity',
  summary: 'perplexity of a causal LM on a text file (plain or .gz; <doc> blocks are documents); prints JSON',
  usage: 'prefix-tune perplexity --model DIR --text FILE [--seq-len N] [--max-tokens N] [--batch-size N]',
  options: [
    { name: 'model', short: 'm', type: 'string', description: 'model directory or hub id', required: true },
    { name: 'text', short: 't', type: 'string', description: 'text file (plain, or gzip when it ends in .gz)', required: true },
    { name: 'seq-len', type: 'number', description: 'window length in tokens (default: the model\'s positions)' },
    { name: 'max-tokens', type: 'number', description: 'evaluate the first N tokens only (default: all)' },
    { name: 'batch-size', type: 'number', description: 'windows per forward pass', default: 8 },
    { name: 'backend', type: 'string', description: 'onnx | tfjs | reference', default: 'onnx' },
    deviceOption,
  ],
  run: async (opts) => {
    const file = String(opts['text']);
    requireFile(file, '--text');
    const backend = await backendFromOptions(opts);
    const model = await loadModelOrExit(String(opts['model']));
    const cfg = model.config;
    if (cfg.model_type !== 'gpt2') throw new UsageError(`perplexity is implemented for gpt2 models; this model is ${cfg.model_type}`);
    const seqLen = opts['seq-len'] !== undefined ? Number(opts['seq-len']) : maxPositions(cfg);
    if (!Number.isInteger(seqLen) || seqLen < 2 || seqLen > maxPositions(cfg)) throw new UsageError(`--seq-len must be an integer in [2, ${maxPositions(cfg)}], got ${seqLen}`);
    const eos = model.tokenizer.eosId ?? (cfg as Gpt2Config & { eos_token_id?: number }).eos_token_id;
    if (eos === undefined) throw new UsageError(`${model.dir}: no EOS token to join documents`);
    const raw = readFileSync(file);
    let text: string;
    try {
      text = (file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    } catch (e) {
      throw new UsageError(`${file}: cannot read (${(e as Error).message})`);
    }
    const docs = docsOfText(text);
    if (docs.length === 0) throw new UsageError(`${file}: no text`);
    let ids = docs.flatMap((d) => [...model.tokenizer.encode(d, { addSpecialTokens: false }), eos]);
    if (opts['max-tokens'] !== undefined) ids = ids.slice(0, Number(opts['max-tokens']));
    const wins = windows(ids, seqLen);
    if (wins.length === 0) throw new UsageError(`${file}: fewer than 2 tokens`);
    const exe = await compileLossSum(backend, cfg, model.params);
    try {
      const r = await nllOfWindows(exe, wins, Number(opts['batch-size']));
      const nll = r.nll / r.tokens;
      console.log(JSON.stringify({ perplexity: Number(Math.exp(nll).toFixed(4)), nll: Number(nll.toFixed(6)), tokens: r.tokens, windows: wins.length, seq_len: seqLen, documents: docs.length, model: model.dir, text: file }));
    } finally {
      await exe.dispose();
    }
    return 0;
  },
};
