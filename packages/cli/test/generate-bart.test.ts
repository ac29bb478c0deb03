/**
 * `prefix-tune generate` and `eval` with an encoder-decoder model: the transformers-written
 * bart-tiny fixture (random weights) with a word-level tokenizer generated here. Without an
 * adapter the CLI's greedy continuation is transformers' `generate` oracle (recorded in the
 * fixture); a prefix (at the paper's three sites) trained for a few steps on JSONL pairs with
 * one fixed target makes the model generate that target, greedy and with beams, where the
 * model alone does not; `eval` writes and scores what `generate` gives for the same sources.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { loadTaskSplit } from '@prefix-tuning/tasks';
import { cli, e2eDir, repoRoot, rmrf, tempDir, wordTokenizerJson } from './train-fixture.ts';

const fixture = join(repoRoot, 'fixtures', 'models', 'bart-tiny');
let work = '';
let model = '';
let adapter = '';
let sources: string[] = [];
// the words of the training pairs; BART's specials are <s> 0, <pad> 1, </s> 2 (the fixture's config), [UNK] 3
// (the first two take ids 0 and 1 in the generated vocabulary and are dropped for <s> and <pad>)
const WORDS = ['zz0', 'zz1', 'the', 'cat', 'dog', 'bird', 'sat', 'on', 'a', 'mat', 'tree', 'log', 'ran', 'to', 'yes', 'no', 'red', 'blue', 'house', 'name', 'food', 'area'];
const TARGET = 'yes no yes';

/** bart-tiny (vocab 96) + a WordPiece tokenizer over `WORDS` with BART's special ids. */
const bartModelDir = (dir: string): void => {
  cpSync(fixture, dir, { recursive: true });
  // filler words give every id below 96 a token (the fixture's oracle source uses ids up to 91)
  const fillers = Array.from({ length: 96 }, (_, i) => `w${i}`).join(' ');
  const json = wordTokenizerJson(WORDS, [fillers], 96, 2, 3) as { added_tokens: object[]; model: { vocab: Record<string, number> } };
  const vocab = json.model.vocab;
  for (const [w, id] of Object.entries(vocab)) if (id === 0 || id === 1) delete vocab[w];
  vocab['<s>'] = 0;
  vocab['<pad>'] = 1;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  json.added_tokens.push(special(0, '<s>'), special(1, '<pad>'));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(json));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '<|endoftext|>', pad_token: '<pad>', unk_token: '[UNK]' }));
};

before(() => {
  work = tempDir('pt-cli-bart-');
  model = join(work, 'bart');
  mkdirSync(model);
  bartModelDir(model);
  const data = join(work, 'pairs.jsonl');
  const pick = (i: number) => WORDS[2 + (i % 12)]!;
  sources = Array.from({ length: 16 }, (_, i) => `${pick(i)} ${pick(i + 5)} ${pick(3 * i + 1)}`);
  const pairs = sources.map((source) => ({ source, target: TARGET }));
  writeFileSync(data, pairs.map((p) => JSON.stringify(p)).join('\n'));
  const out = join(work, 'run');
  const t = cli(['train', '--model', model, '--jsonl', data, '--epochs', '80', '--batch-size', '16', '--lr', '3e-1', '--prefix-length', '4', '--reparam', 'direct', '--max-dev-examples', '0', '-q', '--backend', 'onnx', '--out', out]);
  assert.equal(t.code, 0, t.stderr);
  adapter = join(out, 'adapter');
  assert.ok(existsSync(join(adapter, 'adapter_model.safetensors')));
});
after(() => rmrf(work));

test('generate without an adapter: the greedy ids are transformers\' generate on the same source', () => {
  const oracle = (JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8')) as { greedy: { encoder_input_ids: number[]; sequences: number[][] } }).greedy;
  // the oracle's source ids as text: the tokenizer encodes each word to its id (specials as tokens)
  const tok = JSON.parse(readFileSync(join(model, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  const byId = new Map(Object.entries(tok.model.vocab).map(([w, id]) => [id, w]));
  const text = oracle.encoder_input_ids.map((id) => byId.get(id)!).join(' ');
  const r = cli(['generate', '--model', model, '--prompt', text, '--max-new-tokens', '12', '--greedy', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { prompt_ids: number[]; ids: number[]; text: string; score: number };
  assert.deepEqual(o.prompt_ids, oracle.encoder_input_ids);
  // transformers' sequence starts with the decoder start token and ends with the forced EOS
  assert.deepEqual(o.ids, oracle.sequences[0]!.slice(1));
  assert.ok(Number.isFinite(o.score) && o.score < 0);
});

test('a prefix trained on one target makes BART generate it (greedy and beams); without it the model does not', () => {
  const input = join(work, 'sources.txt');
  const some = sources.slice(0, 3);
  writeFileSync(input, some.join('\n') + '\n');
  const run = (extra: string[]) => {
    const r = cli(['generate', '--model', model, '--input', input, '--max-new-tokens', '8', '--json', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { prompt: string; prompt_ids: number[]; ids: number[]; text: string; score: number });
  };
  const greedy = run(['--adapter', adapter]);
  assert.deepEqual(greedy.map((o) => o.prompt), some);
  for (const o of greedy) {
    assert.equal(o.text, TARGET);
    assert.equal(o.prompt_ids[0], 0, 'with an adapter the source is encoded as in training: <s> … </s>');
    assert.equal(o.prompt_ids.at(-1), 2);
    assert.ok(!o.prompt_ids.includes(3), 'every word of the source is in the vocabulary');
    assert.equal(o.ids.at(-1), 2, 'the output ends with EOS');
  }
  const beams = run(['--adapter', adapter, '--beams', '3']);
  assert.deepEqual(beams.map((o) => o.text), some.map(() => TARGET));
  const base = run([]);
  assert.ok(base.every((o) => o.text !== TARGET), JSON.stringify(base.map((o) => o.text)));
});

test('eval with a BART adapter writes what generate gives for the same sources, and scores it', { skip: !existsSync(join(e2eDir, 'testset_w_refs.csv')) && 'no E2E data' }, async () => {
  const out = join(work, 'eval');
  const args = ['--max-new-tokens', '6', '--greedy'];
  const r = cli(['eval', '--model', model, '--adapter', adapter, '--task', 'e2e', '--max-examples', '3', '--metrics', 'bleu,rouge_l', '--out', out, ...args]);
  assert.equal(r.code, 0, r.stderr);
  const hyps = readFileSync(join(out, 'hypotheses.txt'), 'utf8').split('\n').slice(0, 3);
  const split = await loadTaskSplit('e2e', 'test', { offline: true })();
  assert.ok(E.isRight(split));
  const input = join(work, 'e2e-sources.txt');
  writeFileSync(input, split.right.groups.slice(0, 3).map((g) => g.source).join('\n') + '\n');
  const g = cli(['generate', '--model', model, '--adapter', adapter, '--input', input, '--json', ...args]);
  assert.equal(g.code, 0, g.stderr);
  assert.deepEqual(hyps, g.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { text: string }).text));
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { inputs: number; metrics: Record<string, number> };
  assert.equal(m.inputs, 3);
  for (const k of ['bleu', 'rouge_l']) assert.ok(Number.isFinite(m.metrics[k]), `${k}: ${m.metrics[k]}`);
});

test("train with BART: --max-length leaves room for the variant's virtual positions (64 positions, decoder prefix 4)", () => {
  const data = join(work, 'pairs.jsonl');
  const r = cli(['train', '--model', model, '--jsonl', data, '--prefix-length', '4', '--max-length', '64', '--max-dev-examples', '0', '-q', '--out', join(work, 'too-long')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--max-length 64 plus the variant's 4 virtual positions exceeds the model's 64 positions \(use --max-length 60 or less\)/);
});
