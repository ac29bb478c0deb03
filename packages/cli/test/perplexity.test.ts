/**
 * `prefix-tune perplexity` on a model whose answer is known without running it: a GPT-2 whose
 * token embeddings are all zero outputs zero logits (the tied head reads the same table), so
 * every next-token distribution is uniform and the perplexity is exactly the vocabulary size,
 * whatever the text; the token count is the number of predicted positions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';
import { decodeModelConfig, type Gpt2Config } from '@prefix-tuning/core';
import { bpeTokenizerConfig, bpeTokenizerJson, countWords, trainBpe, loadTokenizer } from '@prefix-tuning/hub';
import { exportModel, gpt2ConfigJson, initGpt2Params } from '../src/pretrain/model.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'packages/cli/src/main.ts'), ...args], { cwd: root, encoding: 'utf8' });

const TEXT = 'The river runs through the old town, past the church and the school. '.repeat(8);

test('perplexity: zero embeddings give uniform predictions: perplexity = vocabulary size; tokens = predicted positions', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-ppl-'));
  const v = trainBpe(countWords([TEXT]), { vocabSize: 280, minWordCount: 1 });
  const json = gpt2ConfigJson({ vocab_size: 280, n_embd: 16, n_layer: 2, n_head: 2, n_positions: 32, eos: 279 });
  const cfg = decodeModelConfig(json);
  assert.ok(E.isRight(cfg));
  const params = initGpt2Params(cfg.right as Gpt2Config, 1);
  params['wte.weight'] = { ...params['wte.weight']!, data: new Float32Array(params['wte.weight']!.data.length) };
  await exportModel(join(dir, 'm'), { config: json, cfg: cfg.right as Gpt2Config, params, dtype: 'F32', tokenizerJson: JSON.stringify(bpeTokenizerJson(v)), tokenizerConfigJson: JSON.stringify(bpeTokenizerConfig(v, 32)) });
  const tok = await loadTokenizer(join(dir, 'm'));
  assert.ok(E.isRight(tok));
  // two documents, joined by EOS: n tokens in all, cut into windows of 10 (each predicts len - 1)
  const docs = ['The river runs through the old town.', 'Past the church and the school, the river runs.'];
  const n = docs.reduce((s, d) => s + tok.right.encode(d, { addSpecialTokens: false }).length + 1, 0);
  const windows = Math.ceil(n / 10) - (n % 10 === 1 ? 1 : 0);
  const predicted = n - windows - (n % 10 === 1 ? 1 : 0);
  writeFileSync(join(dir, 'docs.txt.gz'), gzipSync(docs.map((d, i) => `<doc id="${i}">\n${d}\n</doc>\n`).join('')));
  const r = cli('perplexity', '--model', join(dir, 'm'), '--text', join(dir, 'docs.txt.gz'), '--seq-len', '10', '--batch-size', '3');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { perplexity: number; nll: number; tokens: number; windows: number; documents: number; bits_per_byte: number; bytes: number };
  assert.equal(out.documents, 2);
  // bits per byte: log2(280) bits for each predicted token over the predicted share of the bytes
  const bytes = docs.reduce((s, d) => s + Buffer.byteLength(d), 0);
  assert.equal(out.bytes, bytes);
  assert.ok(Math.abs(out.bits_per_byte - (n * Math.log2(280)) / bytes) < 1e-3, `bits per byte ${out.bits_per_byte}`);
  assert.equal(out.windows, windows);
  assert.equal(out.tokens, predicted);
  assert.ok(Math.abs(out.perplexity - 280) < 1e-2, `perplexity ${out.perplexity}`);
  assert.ok(Math.abs(out.nll - Math.log(280)) < 1e-5);
  // plain text: one document; --max-tokens cuts the stream
  writeFileSync(join(dir, 'plain.txt'), TEXT);
  const p = cli('perplexity', '--model', join(dir, 'm'), '--text', join(dir, 'plain.txt'), '--max-tokens', '25', '--seq-len', '32');
  assert.equal(p.status, 0, p.stderr);
  assert.deepEqual(((o) => [o.documents, o.tokens, o.windows])(JSON.parse(p.stdout) as typeof out), [1, 24, 1]);
  // a window longer than the model's positions is a usage error
  const long = cli('perplexity', '--model', join(dir, 'm'), '--text', join(dir, 'plain.txt'), '--seq-len', '33');
  assert.equal(long.status, 2);
  assert.match(long.stderr, /--seq-len must be an integer in \[2, 32\]/);
});

// transformers' loss on the same data (fixtures/fidelity/perplexity, tools/make_fidelity_fixtures.py)
const fid = join(root, 'fixtures', 'fidelity', 'perplexity');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const oracle = JSON.parse(readFileSync(join(fid, 'expected.json'), 'utf8')) as any;

test('perplexity of a Llama on a text equals transformers\' loss over the same windows', { timeout: 120_000 }, () => {
  const r = cli('perplexity', '--model', join(fid, 'llama-sp-tiny'), '--text', join(fid, 'text.txt'), '--seq-len', String(oracle.causal.seq_len), '--backend', 'reference');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { nll: number; tokens: number; documents: number };
  assert.equal(out.documents, oracle.causal.documents.length);
  assert.equal(out.tokens, oracle.causal.tokens);
  assert.ok(Math.abs(out.nll - oracle.causal.nll) < 1e-4, `${out.nll} vs ${oracle.causal.nll}`);
});

test('BART conditional perplexity of JSONL (source, target) pairs equals transformers\' loss; wrong input kinds are usage errors', { timeout: 120_000 }, () => {
  const s = oracle.seq2seq_text;
  const r = cli('perplexity', '--model', join(fid, 'bart-sp-tiny'), '--jsonl', join(fid, 'pairs.jsonl'), '--batch-size', '2', '--backend', 'reference');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { nll: number; tokens: number; pairs: number };
  assert.deepEqual([out.pairs, out.tokens], [s.pairs.length, s.tokens]);
  assert.ok(Math.abs(out.nll - s.nll) < 1e-4, `${out.nll} vs ${s.nll}`);
  const text = cli('perplexity', '--model', join(fid, 'bart-sp-tiny'), '--text', join(fid, 'text.txt'));
  assert.equal(text.status, 2);
  assert.match(text.stderr, /encoder-decoder model \(bart\): give --jsonl/);
  const both = cli('perplexity', '--model', join(fid, 'llama-sp-tiny'), '--text', join(fid, 'text.txt'), '--jsonl', join(fid, 'pairs.jsonl'));
  assert.equal(both.status, 2);
  assert.match(both.stderr, /exactly one of --text/);
});
