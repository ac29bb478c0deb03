/** Locations used by io tests: the repo root, committed fixtures and the read-only shared folder. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const fixtures = join(repoRoot, 'fixtures');
export const shared = process.env.PREFIX_TUNING_SHARED ?? join(repoRoot, '..', 'shared');
