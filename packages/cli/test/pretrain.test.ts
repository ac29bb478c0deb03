/**
 * `prefix-tune train-bpe`, `pretrain` and `perplexity` end to end on a small synthetic
 * corpus (two sources, two gzip shards each; each first shard is small enough to be held out
 * whole): the validation documents are never trained on, a run split in two equals one run
 * (parameters and losses), the export loads through the Hugging Face path and its perplexity
 * on the held-out text matches the last validation loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { loadModel, loadTokenizer } from '@prefix-tuning/hub';
import { parseSafetensors } from '@prefix-tuning/core';
import { listShards, RowStream, validationDocs, docsOfText, readDocs } from '../src/pretrain/corpus.ts';
import { pretrainLr, type PretrainRun } from '../src/commands/pretrain.ts';
import { windows } from '../src/pretrain/model.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'packages/cli/src/main.ts'), ...args], { cwd: root, encoding: 'utf8' });

const WORDS = 'the a of and to in city river king queen house garden music history war peace north south old new small large early late first second people village church school road bridge'.split(' ');
/** A deterministic synthetic document: sentences of common words, tagged with its shard and index. */
const doc = (tag: string, i: number, n: number): string => {
  let x = (i + 1) * 2654435761 % 4294967296;
  const s: string[] = [`${tag} ${i}.`];
  for (let k = 0; k < n; k++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s.push(WORDS[x % WORDS.length]!);
    if (k % 9 === 8) s.push('.');
  }
  return s.join(' ');
};
const shard = (tag: string, count: number, words: number): string =>
  Array.from({ length: count }, (_, i) => `<doc id="${i}" title="${tag} ${i}">\n${doc(tag, i, words)}\n</doc>\n`).join('');

const makeCorpus = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-corpus-'));
  for (const [src, tag] of [['wikipedia', 'wiki'], ['gutenberg', 'book']] as const) {
    mkdirSync(join(dir, src));
    // first shard: small, so wholly held out (validation budgets are 200k / 100k characters)
    writeFileSync(join(dir, src, `${tag}-00.txt.gz`), gzipSync(shard(`heldout${tag}`, 3, 60)));
    writeFileSync(join(dir, src, `${tag}-01.txt.gz`), gzipSync(shard(`train${tag}`, 40, 120)));
  }
  return dir;
};

test('corpus: documents of <doc> text, streamed from gzip equal to parsed in memory', async () => {
  const text = shard('x', 5, 20);
  assert.deepEqual(docsOfText(text), Array.from({ length: 5 }, (_, i) => doc('x', i, 20)));
  assert.deepEqual(docsOfText('  plain text\n'), ['plain text']);
  const dir = mkdtempSync(join(tmpdir(), 'pt-docs-'));
  await fc.assert(fc.asyncProperty(fc.array(fc.string({ minLength: 1, maxLength: 300 }).filter((s) => !s.includes('<') && s.trim() !== ''), { maxLength: 8 }), async (ds) => {
    const f = join(dir, 'a.txt.gz');
    writeFileSync(f, gzipSync(ds.map((d, i) => `<doc id="${i}">${d}</doc>\n`).join('')));
    const got: string[] = [];
    for await (const d of readDocs(f)) got.push(d);
    assert.deepEqual(got, ds.map((d) => d.trim()));
  }), { numRuns: 30 });
});

test('pretrain lr: linear warmup to the peak, then cosine to the floor at scheduleTokens, flat after', () => {
  const r = { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, scheduleTokens: 1000 } as PretrainRun;
  assert.equal(pretrainLr(r, 5, 0), 5e-4);
  assert.equal(pretrainLr(r, 10, 0), 1e-3);
  assert.ok(Math.abs(pretrainLr(r, 11, 500) - 5.5e-4) < 1e-12); // half way: (lr + minLr) / 2
  assert.equal(pretrainLr(r, 11, 1000), 1e-4);
  assert.equal(pretrainLr(r, 11, 5000), 1e-4);
  assert.equal(pretrainLr({ ...r, scheduleTokens: 0 }, 99, 5000), 1e-3);
});

test('evaluation windows cover the stream in order, each at most len long', () => {
  fc.assert(fc.property(fc.array(fc.nat(100), { maxLength: 200 }), fc.integer({ min: 2, max: 40 }), (ids, len) => {
    const w = windows(ids, len);
    assert.ok(w.every((x) => x.length >= 2 && x.length <= len));
    const flat = w.flat();
    // only a last window of one token may be dropped
    assert.ok(flat.length === ids.length || (flat.length === ids.length - 1 && ids.length % len === 1));
    assert.deepEqual(flat, ids.slice(0, flat.length));
  }));
});

test('pretrain end to end: validation never trained on; split run = one run; export loads; perplexity = validation', { timeout: 240_000 }, async () => {
  const corpus = makeCorpus();
  const work = mkdtempSync(join(tmpdir(), 'pt-run-'));
  const tokDir = join(work, 'tok');
  const t = cli('train-bpe', '--corpus', corpus, '--out', tokDir, '--vocab-size', '300', '--min-word-count', '1');
  assert.equal(t.status, 0, t.stderr);
  const tok = await loadTokenizer(tokDir);
  assert.ok(E.isRight(tok));
  assert.equal(tok.right.vocabSize, 300);
  assert.equal(tok.right.eosId, 299);

  // the training rows never hold held-out text; rows interleave the two training shards
  const shards = listShards(corpus);
  assert.deepEqual(shards.map((s) => `${s.source}/${s.index}`), ['gutenberg/0', 'gutenberg/1', 'wikipedia/0', 'wikipedia/1']);
  const val = await validationDocs(shards);
  assert.deepEqual(val.map((v) => [v.source, v.docs.length]), [['gutenberg', 3], ['wikipedia', 3]]);
  const enc = (s: string) => tok.right.encode(s, { addSpecialTokens: false });
  const stream = await RowStream.open(corpus, shards, enc, 299);
  const rows = await stream.next(16, 64);
  const text = tok.right.decode([...rows], { skipSpecialTokens: true });
  assert.ok(!/heldout/.test(text), 'a held-out document was read for training');
  assert.match(text, /trainbook/);
  assert.match(text, /trainwiki/);
  // a stream reopened at a cursor continues exactly
  const cur = stream.cursor;
  const next = await stream.next(5, 64);
  await stream.close();
  const again = await RowStream.open(corpus, shards, enc, 299, cur);
  assert.deepEqual(await again.next(5, 64), next);
  await again.close();

  const common = ['--seq-len', '32', '--batch-size', '4', '--warmup', '2', '--lr', '3e-3', '--val-tokens', '256', '--checkpoint-every', '3', '--corpus', corpus, '-q'];
  const one = join(work, 'one');
  const a = cli('pretrain', '--out', one, '--preset', 'micro', '--tokenizer', tokDir, '--tokens', String(8 * 128), ...common, '--export', join(work, 'one-model'), '--export-dtype', 'F32');
  assert.equal(a.status, 0, a.stderr);
  const two = join(work, 'two');
  const b1 = cli('pretrain', '--out', two, '--preset', 'micro', '--tokenizer', tokDir, '--tokens', String(5 * 128), ...common);
  assert.equal(b1.status, 0, b1.stderr);
  const bad = cli('pretrain', '--out', two, '--preset', 'micro', '--tokens', '128');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /already holds a run: --preset cannot change it/);
  // the micro preset (64 positions) works without --seq-len: the default fits the architecture
  const own = join(work, 'own-seq-len');
  const micro = cli('pretrain', '--out', own, '--preset', 'micro', '--tokenizer', tokDir, '--tokens', '256', '--batch-size', '2', '--warmup', '1', '--val-tokens', '128', '--corpus', corpus, '-q');
  assert.equal(micro.status, 0, micro.stderr);
  assert.equal((JSON.parse(readFileSync(join(own, 'run.json'), 'utf8')) as { seqLen: number }).seqLen, 64);
  const b2 = cli('pretrain', '--out', two, '--tokens', String(3 * 128), '-q', '--export', join(work, 'two-model'), '--export-dtype', 'F32');
  assert.equal(b2.status, 0, b2.stderr);
  assert.match(b2.stdout, /step 8, 1,024 tokens in all \(384 in this run\)/);
  const weights = (d: string) => {
    const p = parseSafetensors(new Uint8Array(readFileSync(join(d, 'model.safetensors'))));
    assert.ok(E.isRight(p));
    return new Map([...p.right.tensors].map(([n, x]) => [n, Buffer.from(x.bytes).toString('hex')]));
  };
  assert.deepEqual(weights(join(work, 'two-model')), weights(join(work, 'one-model')));
  const steps = (d: string) => readFileSync(join(d, 'train-log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; step: number; loss: number }).filter((r) => r.type === 'step');
  assert.deepEqual(steps(two).map((r) => [r.step, r.loss]), steps(one).map((r) => [r.step, r.loss]));
  const losses = steps(one).map((r) => r.loss);
  assert.ok(losses.at(-1)! < losses[0]!, `the loss did not go down: ${losses.join(' ')}`);
  assert.ok(existsSync(join(one, 'loss-curve.svg')));

  // the export is a Hugging Face GPT-2 directory, F16 by default, loaded by the same path as any
  const f16 = cli('pretrain', '--out', one, '--tokens', '0', '--export', join(work, 'f16'));
  assert.equal(f16.status, 0, f16.stderr);
  const m = await loadModel(join(work, 'f16'));
  assert.ok(E.isRight(m), E.isLeft(m) ? m.left : '');
  assert.equal(m.right.config.model_type, 'gpt2');
  assert.ok(statSync(join(work, 'f16', 'model.safetensors')).size < statSync(join(work, 'one-model', 'model.safetensors')).size * 0.6);
  const cfg = JSON.parse(readFileSync(join(work, 'f16', 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([cfg['architectures'], cfg['vocab_size'], cfg['eos_token_id'], cfg['torch_dtype']], [['GPT2LMHeadModel'], 300, 299, 'float16']);

  // continuing from the exported weights alone (fresh optimizer): the first loss continues the curve, far below a fresh start
  const cont = join(work, 'cont');
  const c = cli('pretrain', '--out', cont, '--init-from', join(work, 'f16'), '--tokens', '128', ...common);
  assert.equal(c.status, 0, c.stderr);
  const contState = JSON.parse(readFileSync(join(cont, 'checkpoint', 'checkpoint.json'), 'utf8')) as { extra: { tokens: number; cursor: { row: number } }; counters: { step: number } };
  // the data stream went on from the exported model's position (8 updates of 4 rows), the optimizer started afresh
  assert.deepEqual([contState.extra.tokens, contState.extra.cursor.row, contState.counters.step], [1024 + 128, 8 * 4 + 4, 1]);
  const first = steps(cont)[0]!.loss;
  assert.ok(Math.abs(first - losses.at(-1)!) < 0.5 && first < losses[0]! - 0.3, `continued at ${first}; the run went ${losses[0]} -> ${losses.at(-1)}`);

  // perplexity of the held-out text (32-token windows) = exp(the last validation loss over all of it)
  const valFile = join(work, 'val.txt.gz');
  assert.equal(cli('pretrain', '--out', one, '--write-validation', valFile).status, 0);
  const p = cli('perplexity', '--model', join(work, 'one-model'), '--text', valFile, '--seq-len', '32');
  assert.equal(p.status, 0, p.stderr);
  const r = JSON.parse(p.stdout) as { perplexity: number; tokens: number; documents: number };
  assert.equal(r.documents, 6);
  assert.ok(r.perplexity > 1 && r.perplexity < 300, `perplexity ${r.perplexity}`);
  const log = readFileSync(join(one, 'train-log.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; dev_loss?: number });
  const lastVal = log.filter((x) => x.type === 'epoch').at(-1)!.dev_loss!;
  // the checkpoint validates on evenly spread full windows (a subset), so close, not equal
  assert.ok(Math.abs(Math.log(r.perplexity) - lastVal) < 0.3, `perplexity ${r.perplexity} vs validation loss ${lastVal}`);
  const missing = cli('perplexity', '--model', join(work, 'one-model'), '--text', join(work, 'nope.txt'));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no such file/);
});
