#!/usr/bin/env node
// Runs every `*.test.ts` under packages/*/test and examples/ with Node's own test runner
// (TypeScript through tsx). Usage: pnpm test [substring ...] — only files whose path contains
// one of the substrings run. Two test files run at a time (PREFIX_TUNING_TEST_CONCURRENCY=N for
// more on a larger machine).
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    if (name === 'node_modules' || name.startsWith('.')) return [];
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
const filters = process.argv.slice(2);
const files = [join(root, 'packages'), join(root, 'examples')]
  .flatMap((d) => { try { return walk(d); } catch { return []; } })
  .map((p) => relative(root, p))
  .filter((p) => filters.length === 0 || filters.some((f) => p.includes(f)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = Number(process.env.PREFIX_TUNING_TEST_CONCURRENCY ?? 2);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`PREFIX_TUNING_TEST_CONCURRENCY must be a positive integer, got '${process.env.PREFIX_TUNING_TEST_CONCURRENCY}'`);
  process.exit(2);
}
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(r.status ?? 1);
