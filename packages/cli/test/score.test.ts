/**
 * `prefix-tune score` end to end (a spawned CLI): numbers equal to the official scorers'
 * (fixtures/metrics/mteval_sacrebleu*.json from tools/metrics_oracle_bleu.py), the e2e-metrics
 * text format, and one-line usage errors with exit code 2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const shared = process.env.PREFIX_TUNING_SHARED ?? join(root, '..', 'shared');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'packages/cli/src/main.ts'), ...args], { cwd: root, encoding: 'utf8' });

type Scores = { mteval: { bleu: number; nist: number }; e2e_metrics: { BLEU: number; NIST: number }; sacrebleu: { bleu: number; chrf: number; ter: number } };
type Case = Scores & { id: string; hyps: string[]; refs: string[][] };
const cases = (JSON.parse(readFileSync(join(root, 'fixtures/metrics/mteval_sacrebleu_cases.json'), 'utf8')) as { cases: Case[] }).cases;

const write = (files: Record<string, string>): string => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-score-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
};

test('score --json equals e2e-metrics (BLEU, NIST) and sacrebleu (BLEU, chrF, TER) on the written cases', () => {
  for (const c of cases.filter((x) => x.hyps.length > 1)) {
    const dir = write({ 'refs.txt': c.refs.map((r) => r.join('\n')).join('\n\n') + '\n', 'hyp.txt': c.hyps.join('\n') + '\n' });
    const r = cli('score', '--refs', join(dir, 'refs.txt'), '--hyp', join(dir, 'hyp.txt'), '--metrics', 'bleu,nist,sacrebleu,chrf,ter', '--json');
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout) as Record<string, number>;
    const want = { bleu: c.mteval.bleu, nist: c.mteval.nist, sacrebleu: c.sacrebleu.bleu, chrf: c.sacrebleu.chrf, ter: c.sacrebleu.ter };
    for (const [k, v] of Object.entries(want)) assert.ok(Math.abs(got[k] - v) < 1e-9, `${c.id} ${k}: ${got[k]} vs ${v}`);
  }
});

test('score prints one line per metric, 4 decimals, ROUGE as P/R/F; a file without blank lines is single-reference', () => {
  const dir = write({ 'refs.txt': 'the cat sat on a mat\nit is raining\n', 'hyp.txt': 'the cat sat on the mat\nit rains\n' });
  const r = cli('score', '-r', join(dir, 'refs.txt'), '-y', join(dir, 'hyp.txt'), '--metrics', 'bleu,rouge1');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], '2 examples, 2 references');
  assert.match(lines[1], /^bleu: 0\.\d{4}$/);
  assert.match(lines[2], /^rouge1: precision 0\.\d{4} {2}recall 0\.\d{4} {2}fmeasure 0\.\d{4}$/);
});

test('usage errors: one line on stderr, exit code 2', () => {
  const dir = write({
    'refs.txt': 'a b\nc d\n\ne f\n',
    'hyp.txt': 'a b\nx\ny\n',
    'double.txt': 'a b\n\n\nc d\n',
    'two.txt': 'a b\n',
  });
  writeFileSync(join(dir, 'latin1.txt'), Buffer.from('a\ncaf\xe9\n', 'latin1')); // not UTF-8: refused, not read as U+FFFD
  const cases: [string[], RegExp][] = [
    [['--refs', join(dir, 'two.txt'), '--hyp', join(dir, 'latin1.txt')], /latin1\.txt:2: byte 0xe9 at byte offset 5 is not UTF-8/],
    [['--refs', join(dir, 'refs.txt'), '--hyp', join(dir, 'hyp.txt')], /refs\.txt has 2 reference group\(s\) but .*hyp\.txt has 3 line\(s\)/],
    [['--refs', join(dir, 'nope.txt'), '--hyp', join(dir, 'hyp.txt')], /no such file: .*nope\.txt \(references\)/],
    [['--refs', join(dir, 'refs.txt'), '--hyp', join(dir, 'nope.txt')], /no such file: .*nope\.txt \(hypotheses\)/],
    [['--refs', join(dir, 'refs.txt'), '--hyp', join(dir, 'two.txt'), '--metrics', 'bleu,blue'], /unknown metric 'blue' \(known: bleu, nist/],
    [['--refs', join(dir, 'double.txt'), '--hyp', join(dir, 'two.txt')], /double\.txt:3: blank line after a blank line/],
    [['--hyp', join(dir, 'hyp.txt')], /missing required option '--refs'/],
  ];
  for (const [args, message] of cases) {
    const r = cli('score', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
  }
});

test('score --help lists every metric with its scale', () => {
  const r = cli('score', '--help');
  assert.equal(r.status, 0);
  for (const m of ['bleu', 'nist', 'meteor', 'rouge_l', 'cider', 'sacrebleu', 'chrf++', 'ter', 'rougeLsum']) assert.match(r.stdout, new RegExp(`\\n  ${m.replace('+', '\\+')}\\s`));
  assert.match(r.stdout, /mteval-v13a \(0\.\.1\)/);
});

const e2eDev = join(shared, 'data/e2e/devset.csv');
test('score on the E2E dev set (first reference held out) prints what e2e-metrics prints', { skip: !existsSync(e2eDev) && 'shared data missing' }, async () => {
  const { buildSet, e2eTextFiles } = await import('../../tasks/test/metrics/shared-sets.ts');
  type SetEntry = Scores & { id: string; rule: Parameters<typeof buildSet>[0] };
  const sets = (JSON.parse(readFileSync(join(root, 'fixtures/metrics/mteval_sacrebleu.json'), 'utf8')) as { sets: SetEntry[] }).sets;
  const set = sets.find((s) => s.id === 'e2e-dev-holdout-first');
  assert.ok(set, 'fixture set e2e-dev-holdout-first');
  const { hyps, refs } = buildSet(set.rule);
  const { refTxt, hypTxt } = e2eTextFiles(hyps, refs);
  const dir = write({ 'refs.txt': refTxt, 'hyp.txt': hypTxt });
  const r = cli('score', '--refs', join(dir, 'refs.txt'), '--hyp', join(dir, 'hyp.txt'), '--metrics', 'bleu,nist');
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').slice(1), [`bleu: ${set.e2e_metrics.BLEU.toFixed(4)}`, `nist: ${set.e2e_metrics.NIST.toFixed(4)}`]);
});
