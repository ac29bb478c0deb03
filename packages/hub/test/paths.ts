/** Locations used by hub tests: the repo root, committed fixtures and the read-only shared folder. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const fixtures = join(repoRoot, 'fixtures');
export const shared = process.env.PREFIX_TUNING_SHARED ?? join(repoRoot, '..', 'shared');
/** A fresh temporary directory. */
export const tempDir = (): Promise<string> => mkdtemp(join(tmpdir(), 'prefix-tuning-hub-'));
