/**
 * The CLI is a front (issue 15): each command parses options, calls the library and prints.
 * Checked on the sources: no command file over 150 lines, no `model_type` anywhere in the CLI
 * (model families are the library's), no reach into a package's `src/`, and one training loop:
 * `train` and `pretrain` both run the library's `tune` workflow and neither builds a train step.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));
const text = (f: string) => readFileSync(f, 'utf8');

test('no command file is over 150 lines', () => {
  const long = files(join(src, 'commands')).map((f) => [f, text(f).split('\n').length - 1] as const).filter(([, n]) => n > 150);
  assert.deepEqual(long, []);
});

test('no model_type in the CLI, and no import from a package\'s src/', () => {
  for (const f of files(src)) {
    assert.doesNotMatch(text(f), /model_type/, f);
    assert.doesNotMatch(text(f), /from '(@prefix-tuning\/[a-z-]+|\.\.\/\.\.\/\.\.\/[a-z-]+)\/src\//, f);
  }
});

test('train and pretrain share one training loop: the library\'s tune', () => {
  for (const c of ['train.ts', 'pretrain.ts']) {
    const s = text(join(src, 'commands', c));
    assert.match(s, /\bplanTune\(/, `${c} runs tune`);
    assert.doesNotMatch(s, /trainStepGraph|unrollTrainSteps|trainNames|\btrain\(\{/, `${c} has a loop of its own`);
  }
});
