import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..');

for (const kind of ['low-rank', 'gated']) {
  test(`examples/train-kind.ts ${kind}: tune trains the custom kind on the embedded model, its adapter reads back and generates`, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'train-kind.ts'), kind], { encoding: 'utf8', cwd: dir });
    assert.equal(r.status, 0, r.stderr);
    const m = new RegExp(`${kind}: train loss by epoch ([\\d. ]+)`).exec(r.stdout);
    assert.ok(m, r.stdout);
    const losses = m[1]!.trim().split(' ').map(Number);
    assert.ok(losses.length === 30 && losses[29]! < losses[0]! * 0.75, r.stdout);
    assert.match(r.stdout, /adapter: \d+ values, \d+ bytes, peft false/);
    // a held-out name: the kind has learnt the task's form (the name itself is not always copied)
    assert.match(r.stdout, /generate: name : Loch Fyne \| food : Indian -> .*\bserves\b/);
  });
}

test('examples/prefix-bank.ts trains three users at once and serves them in one mixed batch', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'prefix-bank.ts')], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  const losses = [...r.stdout.matchAll(/epoch \d+: loss ([\d.]+)/g)].map((m) => Number(m[1]));
  assert.ok(losses.length >= 2 && losses[losses.length - 1]! < losses[0]! * 0.7, r.stdout);
  const outs = [...r.stdout.matchAll(/user (\d): ([\d ]+) -> ([\d ]+)/g)].map((m) => m[3]);
  assert.equal(outs.length, 3, r.stdout);
  assert.equal(new Set(outs).size, 3, `each user's prefix should steer differently:\n${r.stdout}`);
});
