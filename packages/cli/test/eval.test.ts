/**
 * `prefix-tune eval` on E2E with an adapter trained here: the files it writes agree with the
 * task's own reference groups, its metrics equal `prefix-tune score` on the files it wrote, and
 * the table has the paper's columns.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { loadTaskSplit, parseReferences, slotErrorRateOfSources } from '@prefix-tuning/tasks';
import { cli, e2eDir, rmrf, tempDir, tinyModelDir } from './train-fixture.ts';

const skip = !existsSync(join(e2eDir, 'testset_w_refs.csv')) && `${e2eDir} not found`;
let model = '';
let work = '';

before(() => {
  if (skip) return;
  model = tinyModelDir();
  work = tempDir('pt-cli-eval-');
  const r = cli(['train', '--model', model, '--task', 'e2e', '--max-examples', '60', '--max-dev-examples', '0', '--epochs', '2', '--batch-size', '10', '--lr', '2e-2', '-q', '--out', join(work, 'run')]);
  assert.equal(r.code, 0, r.stderr);
});
after(() => { rmrf(model); rmrf(work); });

test('eval writes hypotheses, references, metrics and a paper-style table', { skip }, async () => {
  const out = join(work, 'eval');
  const r = cli(['eval', '--model', model, '--adapter', join(work, 'run', 'adapter'), '--task', 'e2e', '--max-examples', '8', '--beams', '2', '--max-new-tokens', '16', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  // the first 8 inputs of the test split, with all their references
  const split = await loadTaskSplit('e2e', 'test')();
  assert.ok(E.isRight(split));
  const groups = split.right.groups.slice(0, 8);
  const refs = parseReferences(readFileSync(join(out, 'references.txt'), 'utf8'));
  assert.ok(E.isRight(refs));
  assert.deepEqual(refs.right, groups.map((g) => [...g.references]));
  const hyps = readFileSync(join(out, 'hypotheses.txt'), 'utf8').split('\n');
  assert.equal(hyps.length, 9); // 8 lines and the final newline
  // metrics.json = prefix-tune score on the written files
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { inputs: number; metrics: Record<string, number> };
  assert.equal(m.inputs, 8);
  assert.deepEqual(Object.keys(m.metrics).sort(), ['bleu', 'cider', 'meteor', 'nist', 'rouge_l']);
  const s = cli(['score', '--refs', join(out, 'references.txt'), '--hyp', join(out, 'hypotheses.txt'), '--json']);
  assert.equal(s.code, 0, s.stderr);
  assert.deepEqual(JSON.parse(s.stdout), m.metrics);
  // the table: BLEU, METEOR, ROUGE-L in %, NIST and CIDEr raw
  const md = readFileSync(join(out, 'results.md'), 'utf8').trimEnd().split('\n');
  assert.equal(md[0], '| | BLEU | NIST | METEOR | ROUGE-L | CIDEr |');
  const cells = md[2]!.split('|').slice(2, -1).map((x) => Number(x.trim()));
  const want = [m.metrics['bleu']! * 100, m.metrics['nist']!, m.metrics['meteor']! * 100, m.metrics['rouge_l']! * 100, m.metrics['cider']!];
  cells.forEach((c, i) => assert.ok(Math.abs(c - want[i]!) <= 0.051, `column ${i}: ${c} vs ${want[i]}`));
  assert.ok(r.stdout.startsWith(md.join('\n')), r.stdout);
  // E2E: the slot error rate of the written hypotheses against the inputs' slots
  const ser = (m as unknown as { slot_error: { rate: number; slots: number } }).slot_error;
  assert.deepEqual(ser, JSON.parse(JSON.stringify(slotErrorRateOfSources(groups.map((g) => g.source), hyps.slice(0, 8)))));
  assert.ok(md.some((l) => l.startsWith(`slot error rate: ${(ser.rate * 100).toFixed(1)}%`)), md.join('\n'));
});

test('eval --pick random: N inputs drawn by a seed, kept in split order, the same for the same seed', { skip }, async () => {
  const split = await loadTaskSplit('e2e', 'test')();
  assert.ok(E.isRight(split));
  const all = split.right.groups.map((g) => JSON.stringify(g.references));
  const picked = (seed: string) => {
    const out = join(work, `sample-${seed}`);
    const r = cli(['eval', '--model', model, '--adapter', join(work, 'run', 'adapter'), '--task', 'e2e', '--max-examples', '6', '--pick', 'random', '--pick-seed', seed, '--greedy', '--max-new-tokens', '4', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const refs = parseReferences(readFileSync(join(out, 'references.txt'), 'utf8'));
    assert.ok(E.isRight(refs));
    return refs.right.map((g) => all.indexOf(JSON.stringify(g)));
  };
  const a = picked('1'), b = picked('1'), c = picked('2');
  assert.equal(a.length, 6);
  assert.ok(a.every((i, k) => i >= 0 && (k === 0 || i > a[k - 1]!)), `indices in split order: ${a}`);
  assert.deepEqual(b, a);
  assert.notDeepEqual(c, a);
  assert.notDeepEqual(a, [0, 1, 2, 3, 4, 5]);
});

const webnlgSkip = !existsSync(join(e2eDir, '..', 'webnlg2017', 'test')) && 'WebNLG 2017 not found';
test('eval --webnlg-categories unseen evaluates the test-only categories (the paper\'s U column)', { skip: skip || webnlgSkip }, async () => {
  const out = join(work, 'webnlg-unseen');
  const r = cli(['eval', '--model', model, '--adapter', join(work, 'run', 'adapter'), '--task', 'webnlg', '--webnlg-categories', 'unseen', '--max-examples', '3', '--greedy', '--max-new-tokens', '4', '--metrics', 'bleu', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const unseen = await loadTaskSplit('webnlg', 'test', { webnlg: 'unseen' })();
  const every = await loadTaskSplit('webnlg', 'test')();
  assert.ok(E.isRight(unseen) && E.isRight(every));
  const refs = parseReferences(readFileSync(join(out, 'references.txt'), 'utf8'));
  assert.ok(E.isRight(refs));
  assert.deepEqual(refs.right, unseen.right.groups.slice(0, 3).map((g) => [...g.references]));
  assert.notDeepEqual(refs.right, every.right.groups.slice(0, 3).map((g) => [...g.references]));
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { webnlg_categories: string };
  assert.equal(m.webnlg_categories, 'unseen');
  assert.match(r.stdout, /webnlg test \(unseen categories\)/);
});

test('eval: usage errors exit 2 with one line', { skip }, () => {
  const cases: [string[], RegExp][] = [
    [['--task', 'e2e', '--split', 'validation'], /unknown split 'validation'/],
    [['--task', 'e2e', '--metrics', 'bleu,wer'], /unknown metric 'wer'/],
    [['--task', 'imdb'], /unknown task 'imdb'/],
    [['--task', 'e2e', '--pick', 'random'], /--pick random needs --max-examples N/],
    [['--task', 'e2e', '--pick', 'last', '--max-examples', '3'], /--pick must be first or random, got 'last'/],
    [['--task', 'e2e', '--webnlg-categories', 'seen'], /--webnlg-categories applies to --task webnlg only/],
    [['--task', 'webnlg', '--webnlg-categories', 'rare'], /--webnlg-categories must be all, seen or unseen, got 'rare'/],
  ];
  for (const [extra, re] of cases) {
    const r = cli(['eval', '--model', model, '--adapter', join(work, 'run', 'adapter'), '--out', join(work, 'x'), ...extra]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, re);
  }
});

test('an infix adapter ([x; INFIX; y], trained here) generates and evaluates: the source goes before the infix', { skip }, () => {
  const run = join(work, 'infix-run');
  const t = cli(['train', '--model', model, '--task', 'e2e', '--variant', 'infix', '--prefix-length', '3', '--max-examples', '40', '--max-dev-examples', '0', '--epochs', '2', '--batch-size', '10', '--lr', '2e-2', '-q', '--out', run]);
  assert.equal(t.code, 0, t.stderr);
  const prompt = 'name : The Eagle | Type : coffee shop | food : French | area : riverside';
  const g = (extra: string[]) => cli(['generate', '--model', model, '--prompt', prompt, '--max-new-tokens', '12', '--json', ...extra]);
  const withA = g(['--adapter', join(run, 'adapter')]), without = g([]);
  assert.equal(withA.code, 0, withA.stderr);
  assert.equal(without.code, 0, without.stderr);
  const a = JSON.parse(withA.stdout) as { prompt_ids: number[]; ids: number[]; text: string };
  const b = JSON.parse(without.stdout) as { prompt_ids: number[]; ids: number[] };
  // with an adapter the prompt is the task source and its separator (EOS, id 91), as in training
  assert.equal(a.prompt_ids.at(-1), 91);
  assert.notDeepEqual(a.ids, b.ids);
  // beam search with the infix, on a batch of sources of different lengths
  const out = join(work, 'infix-eval');
  const e = cli(['eval', '--model', model, '--adapter', join(run, 'adapter'), '--task', 'e2e', '--max-examples', '4', '--beams', '2', '--batch-size', '4', '--max-new-tokens', '10', '--out', out]);
  assert.equal(e.code, 0, e.stderr);
  assert.equal(readFileSync(join(out, 'hypotheses.txt'), 'utf8').split('\n').length, 5);
});
