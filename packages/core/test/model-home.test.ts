/**
 * A model family is known in one home (issue 15): outside `core/src/models/` no source of the
 * library's packages branches on `model_type` (a comparison, a switch, an index) — they ask the
 * model (`isEncoderDecoder`, `modelSites`, `positionCount`, `lastLearnedPosition`, …: the family table), whose own
 * file answers. Two uses are not branches and are allowed by name: an adapter's record of the
 * model it was trained for compared with the model it is loaded on, and the generator's typed
 * table of prompt engines per family (a family without one does not compile).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const packages = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));

const allowed: readonly (readonly [string, string])[] = [
  ['core/src/prefix/export.ts', 'x.model.model_type !== modelTypeName(cfg)'],
  ['hub/src/generator.ts', '(ENGINES[a.cfg.model_type]'],
];

test('no branch on model_type outside core/src/models', () => {
  const models = join(packages, 'core', 'src', 'models');
  const offending = readdirSync(packages)
    .filter((p) => statSync(join(packages, p, 'src'), { throwIfNoEntry: false })?.isDirectory())
    .flatMap((p) => files(join(packages, p, 'src')))
    .filter((f) => !f.startsWith(models + '/'))
    .flatMap((f) => readFileSync(f, 'utf8').split('\n').map((line, i) => [f, i + 1, line] as const))
    .filter(([, , line]) => /model_type\s*[!=]==|[!=]==\s*[\w.]*model_type|[!=]==\s*'(gpt2|llama|bart)'|switch\s*\([^)]*model_type|\[[\w.]*model_type\]/.test(line))
    .filter(([f, , line]) => !allowed.some(([file, text]) => f.endsWith(file) && line.includes(text)))
    .map(([f, n, line]) => `${relative(packages, f)}:${n}: ${line.trim()}`);
  assert.deepEqual(offending, []);
});
