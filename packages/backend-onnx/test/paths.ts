import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The repository root. */
export const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
/** Committed fixtures. */
export const fixturesDir = join(repoRoot, 'fixtures');
