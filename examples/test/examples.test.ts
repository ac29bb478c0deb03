import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..');

test('examples/low-rank-prefix.ts trains its custom variant and lowers the loss', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'low-rank-prefix.ts')], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /prefix\.U \[4,2\], prefix\.V \[2,64\], embedding\.embedding\.weight \[2,16\]/);
  const m = /first epoch ([\d.]+), last epoch ([\d.]+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(Number(m[2]) < Number(m[1]) * 0.8, r.stdout);
});

test('examples/prefix-bank.ts trains three users at once and serves them in one mixed batch', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'prefix-bank.ts')], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  const losses = [...r.stdout.matchAll(/epoch \d+: loss ([\d.]+)/g)].map((m) => Number(m[1]));
  assert.ok(losses.length >= 2 && losses[losses.length - 1]! < losses[0]! * 0.7, r.stdout);
  const outs = [...r.stdout.matchAll(/user (\d): ([\d ]+) -> ([\d ]+)/g)].map((m) => m[3]);
  assert.equal(outs.length, 3, r.stdout);
  assert.equal(new Set(outs).size, 3, `each user's prefix should steer differently:\n${r.stdout}`);
});
