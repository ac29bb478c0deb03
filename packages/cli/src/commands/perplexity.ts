/**
 * `prefix-tune perplexity`: a model's perplexity, as transformers' loss defines it.
 * - Decoder-only models (GPT-2, Llama), `--text FILE` (plain, or gzip when the name ends in
 *   `.gz`): `<doc>` blocks are documents (the corpus format, and what `prefix-tune pretrain
 *   --write-validation` writes); otherwise the whole file is one. Documents are tokenized
 *   without special tokens and joined by EOS (as pretraining packs them), then cut into
 *   non-overlapping windows of `--seq-len` tokens; each window's first token is context only.
 * - Encoder-decoder models (BART), `--jsonl FILE` of `{"source", "target"}` lines: the
 *   conditional perplexity of each target given its source, tokenized as training does
 *   (`<s> source </s>` → `<s> target </s>`, each side cut to `--seq-len`); every target token
 *   (the final `</s>` included) is predicted.
 * Prints JSON: {perplexity, nll (mean, nats), tokens (predicted), ..., model, text | jsonl}; for
 * `--text` also `bits_per_byte`, the tokenizer-independent figure: the summed NLL in bits over the
 * UTF-8 bytes of the documents, the bytes scaled by the share of the text's tokens that were
 * predicted (a window's first token and a last partial window are not; `--max-tokens` keeps
 * fewer), so models with different vocabularies compare on the same text.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { causalLmPerplexity, isEncoderDecoder, modelTypeName, seq2seqPerplexity } from '@prefix-tuning/core';
import { buildSeq2SeqExample } from '@prefix-tuning/tasks';
import { UsageError, type Command } from '../cli.ts';
import { loadModelOrExit, maxPositions, prependSpace, requireFile, taskTokenizer, utf8Text } from '../run/model.ts';
import { backendFromOptions, deviceOption } from '../run/backend.ts';
import { loadSplit } from '../run/data.ts';
import { docsOfText } from '../pretrain/corpus.ts';

const readText = (file: string): string => {
  const raw = readFileSync(file);
  let bytes: Uint8Array;
  try {
    bytes = file.endsWith('.gz') ? gunzipSync(raw) : raw;
  } catch (e) {
    throw new UsageError(`${file}: cannot read (${(e as Error).message})`);
  }
  return utf8Text(file, bytes);
};

const report = (r: { nll: number; tokens: number }, extra: Record<string, unknown>): string => {
  const nll = r.nll / r.tokens;
  return JSON.stringify({ perplexity: Number(Math.exp(nll).toFixed(4)), nll: Number(nll.toFixed(6)), tokens: r.tokens, ...extra });
};

/** Bits per byte: a summed NLL in nats over `bytes` bytes of text. */
export const bitsPerByte = (nllSum: number, bytes: number): number => nllSum / Math.LN2 / bytes;

export const perplexityCommand: Command = {
  name: 'perplexity',
  summary: 'perplexity of a causal LM on a text file, or of BART targets given sources (JSONL); prints JSON',
  usage: 'prefix-tune perplexity --model DIR (--text FILE | --jsonl FILE) [--seq-len N] [--max-tokens N] [--batch-size N]',
  options: [
    { name: 'model', short: 'm', type: 'string', description: 'model directory or hub id', required: true },
    { name: 'text', short: 't', type: 'string', description: 'decoder-only models: text file (plain, or gzip when it ends in .gz; <doc> blocks are documents)' },
    { name: 'jsonl', type: 'string', description: 'encoder-decoder models: JSONL of {"source", "target"}; the perplexity of each target given its source' },
    { name: 'seq-len', type: 'number', description: 'window length in tokens (BART: the longest source and target) (default: the model\'s positions)' },
    { name: 'max-tokens', type: 'number', description: 'decoder-only: evaluate the first N tokens only (default: all)' },
    { name: 'batch-size', type: 'number', description: 'windows (or pairs) per forward pass', default: 8 },
    { name: 'backend', type: 'string', description: 'onnx | tfjs | reference', default: 'onnx' },
    deviceOption,
  ],
  run: async (opts) => {
    const [text, jsonl] = [opts['text'], opts['jsonl']].map((v) => (v === undefined ? undefined : String(v)));
    if ((text === undefined) === (jsonl === undefined)) throw new UsageError('give exactly one of --text (decoder-only models) and --jsonl (encoder-decoder models)');
    requireFile((text ?? jsonl)!, text !== undefined ? '--text' : '--jsonl');
    const batch = Number(opts['batch-size']);
    if (!Number.isInteger(batch) || batch < 1) throw new UsageError(`--batch-size must be a positive integer, got ${opts['batch-size']}`);
    const backend = await backendFromOptions(opts);
    const model = await loadModelOrExit(String(opts['model']));
    const cfg = model.config;
    const seqLen = opts['seq-len'] !== undefined ? Number(opts['seq-len']) : maxPositions(cfg);
    if (!Number.isInteger(seqLen) || seqLen < 2 || seqLen > maxPositions(cfg)) throw new UsageError(`--seq-len must be an integer in [2, ${maxPositions(cfg)}], got ${seqLen}`);
    if (isEncoderDecoder(cfg)) {
      if (jsonl === undefined) throw new UsageError(`${model.dir} is an encoder-decoder model (${modelTypeName(cfg)}): give --jsonl of {"source", "target"} pairs, not --text`);
      const split = await loadSplit({ kind: 'jsonl', train: jsonl, dev: null }, 'train');
      const build = buildSeq2SeqExample(taskTokenizer(model), { maxSourceLength: seqLen, maxTargetLength: seqLen, prependSpace: prependSpace(cfg) });
      const pairs = split!.pairs.map(build);
      const r = await seq2seqPerplexity(backend, cfg, model.params, pairs, { batch });
      console.log(report(r, { pairs: pairs.length, truncated: pairs.filter((p) => p.truncated).length, seq_len: seqLen, model: model.dir, jsonl }));
      return 0;
    }
    if (text === undefined) throw new UsageError(`${model.dir} is a decoder-only model (${modelTypeName(cfg)}): give --text, not --jsonl`);
    const eos = model.tokenizer.eosId ?? (typeof cfg.eos_token_id === 'number' ? cfg.eos_token_id : cfg.eos_token_id?.[0]);
    if (eos === undefined) throw new UsageError(`${model.dir}: no EOS token to join documents`);
    const docs = docsOfText(readText(text));
    if (docs.length === 0) throw new UsageError(`${text}: no text`);
    const all = docs.flatMap((d) => [...model.tokenizer.encode(d, { addSpecialTokens: false }), eos]);
    const ids = opts['max-tokens'] !== undefined ? all.slice(0, Number(opts['max-tokens'])) : all;
    if (ids.length < 2) throw new UsageError(`${text}: fewer than 2 tokens`);
    const r = await causalLmPerplexity(backend, cfg, model.params, ids, { seqLen, batch });
    const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, 'utf8'), 0);
    console.log(report(r, {
      bits_per_byte: Number(bitsPerByte(r.nll, bytes * (r.tokens / all.length)).toFixed(4)),
      windows: r.windows, seq_len: seqLen, documents: docs.length, bytes, model: model.dir, text,
    }));
    return 0;
  },
};
