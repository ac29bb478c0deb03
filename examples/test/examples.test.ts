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
