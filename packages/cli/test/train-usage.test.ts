/**
 * The command-line surface of train, generate and eval: `--help` lists every option (and the
 * ones the commands are specified with), a bad option or a missing file is one line and exit 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { trainCommand } from '../src/commands/train.ts';
import { generateCommand } from '../src/commands/generate.ts';
import { evalCommand } from '../src/commands/eval.ts';
import { cli, e2eDir, repoRoot, rmrf, sharedDir, tempDir, tinyModelDir } from './train-fixture.ts';

/** The options each command is specified with (issue #6 and #7). */
const specified: Record<string, string[]> = {
  train: ['model', 'task', 'data-dir', 'jsonl', 'dev-jsonl', 'variant', 'variant-json', 'prefix-length', 'reparam', 'mlp-hidden', 'prefix-dropout',
    'init-text', 'recipe', 'epochs', 'batch-size', 'lr', 'warmup-steps', 'weight-decay', 'max-grad-norm', 'grad-accum', 'loss', 'max-examples',
    'max-length', 'seed', 'patience', 'backend', 'out', 'resume'],
  generate: ['model', 'adapter', 'prompt', 'input', 'greedy', 'beams', 'sample', 'max-new-tokens', 'min-length', 'length-penalty', 'no-repeat-ngram',
    'temperature', 'top-k', 'top-p', 'seed', 'batch-size', 'json', 'backend'],
  eval: ['model', 'adapter', 'task', 'split', 'max-examples', 'beams', 'out'],
};

test('--help lists every option of train, generate and eval', () => {
  for (const c of [trainCommand, generateCommand, evalCommand]) {
    const r = cli([c.name, '--help']);
    assert.equal(r.code, 0, r.stderr);
    const listed = new Set([...r.stdout.matchAll(/^\s+(?:-\w, )?--([\w-]+)/gm)].map((m) => m[1]!));
    for (const o of c.options) assert.ok(listed.has(o.name), `${c.name} --help lists --${o.name}`);
    for (const o of specified[c.name]!) assert.ok(listed.has(o), `${c.name} has --${o}`);
    assert.ok(listed.has('help'));
  }
  const top = cli(['--help']);
  for (const n of ['train', 'generate', 'eval']) assert.match(top.stdout, new RegExp(`^  ${n} `, 'm'));
});

test('a bad option or a missing file: one line on stderr, exit 2', () => {
  const missing = join(repoRoot, 'no-such-file.jsonl');
  const cases: [string[], RegExp][] = [
    [['train', '--out', 'x', '--bogus'], /^prefix-tune train: unknown option '--bogus' for 'train'/],
    [['train', '--model', 'm', '--jsonl', missing, '--out', join(repoRoot, 'no-such-out')], /^prefix-tune train: no such file: .*no-such-file\.jsonl \(--jsonl\)/],
    [['train', '--model', join(repoRoot, 'no-such-model'), '--task', 'e2e', '--out', join(repoRoot, 'no-such-out')], /^prefix-tune train: cannot load model/],
    [['train', '--task', 'e2e'], /^prefix-tune train: missing required option '--out'/],
    [['generate', '--model', 'm', '--prompt', 'x', '--beam', '2'], /^prefix-tune generate: unknown option '--beam'/],
    [['generate', '--model', 'm', '--input', missing], /^prefix-tune generate: no such file: .*no-such-file\.jsonl \(--input\)/],
    [['eval', '--model', 'm', '--adapter', 'a', '--task', 'e2e', '--out', 'o', '--split'], /^prefix-tune eval: option '--split' needs a value/],
    [['eval', '--model', join(repoRoot, 'no-such-model'), '--adapter', 'a', '--task', 'e2e', '--out', 'o'], /^prefix-tune eval: cannot load model/],
    // options outside the run's settings are checked with the others, before the model loads
    [['train', '--model', join(repoRoot, 'no-such-model'), '--task', 'e2e', '--out', join(repoRoot, 'no-such-out'), '--steps-per-run', '0'], /^prefix-tune train: --steps-per-run must be a positive integer, got 0/],
    [['train', '--model', join(repoRoot, 'no-such-model'), '--task', 'e2e', '--out', join(repoRoot, 'no-such-out'), '--device', 'gpu'], /^prefix-tune train: unknown device 'gpu'/],
    [['train', '--model', join(repoRoot, 'no-such-model'), '--task', 'e2e', '--out', join(repoRoot, 'no-such-out'), '--backend', 'reference', '--device', 'cpu'], /^prefix-tune train: --device applies to the onnx backend/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stdout, '');
  }
  assert.ok(!existsSync(join(repoRoot, 'no-such-out')), 'nothing written');
});

const gpt2Tok = join(sharedDir, 'models', 'gpt2-tokenizer', 'tokenizer.json');
test('a tokenizer that does not belong to the model is refused before training, in one line', { skip: !(existsSync(gpt2Tok) && existsSync(join(e2eDir, 'trainset.csv'))) && 'shared data missing' }, () => {
  const model = tinyModelDir();
  const work = tempDir('pt-cli-usage-');
  try {
    copyFileSync(gpt2Tok, join(model, 'tokenizer.json')); // the real GPT-2 BPE: ids up to 50256, the model has 128
    const r = cli(['train', '--model', model, '--task', 'e2e', '--max-examples', '20', '--out', join(work, 'run')]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /task e2e: the tokenizer produced id \d{3,}, but the model's vocabulary has 128 entries/);
    assert.ok(!existsSync(join(work, 'run', 'checkpoint')), 'nothing was trained');
  } finally {
    rmrf(model);
    rmrf(work);
  }
});
