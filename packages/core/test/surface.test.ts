/**
 * The public surface stays small and documented: the root export's size is within 60-100 and
 * equals the figure in README.md, and every subpath of package.json is in the README's table
 * with its count of names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const dir = join(fileURLToPath(import.meta.url), '..', '..');
const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports: Record<string, string> };
const readme = readFileSync(join(dir, 'README.md'), 'utf8');

/** Names (values and types) a module exports, as the compiler sees them. */
const exportsOf = (files: string[]): Map<string, number> => {
  const program = ts.createProgram(files, { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, allowImportingTsExtensions: true, noEmit: true, target: ts.ScriptTarget.ES2022 });
  const checker = program.getTypeChecker();
  return new Map(files.map((f) => [f, checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(f)!)!).length]));
};

test('the root export holds 60-100 names, as README.md says; every subpath is documented with its size', () => {
  const entries = Object.entries(pkg.exports).map(([k, f]) => [k, join(dir, f)] as const);
  const counts = exportsOf(entries.map(([, f]) => f));
  const root = counts.get(join(dir, pkg.exports['.']!))!;
  assert.ok(root >= 60 && root <= 100, `root exports ${root} names`);
  assert.match(readme, new RegExp(`holds \\*\\*${root} names\\*\\*`));
  for (const [k, f] of entries) {
    if (k === '.') continue;
    const sub = `@prefix-tuning/core/${k.slice(2)}`;
    assert.match(readme, new RegExp(`\\| \`${sub}\` \\| ${counts.get(f)} \\|`), `${sub} (${counts.get(f)} names) in the README's table`);
  }
});
