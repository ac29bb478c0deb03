#!/usr/bin/env node
// Typechecks every package (tsc -p per package; no emit).
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
const root = join(fileURLToPath(import.meta.url), '..', '..');
const dirs = [...readdirSync(join(root, 'packages')).map((d) => join('packages', d)), 'examples', 'bench']
  .filter((d) => existsSync(join(root, d, 'tsconfig.json')));
let failed = 0;
for (const d of dirs) {
  const r = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', d], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) { console.error(`typecheck failed: ${d}`); failed++; }
}
process.exit(failed ? 1 : 0);
