/**
 * Test helpers: the Hugging Face oracle fixtures under `fixtures/models/<name>/` (config.json,
 * model.safetensors and expected.json written by tools/make_fixtures.py with transformers).
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { parseSafetensors, toFloat32 } from '../../src/io/safetensors.ts';
import type { Checkpoint } from '../../src/models/index.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const fixturesDir = join(repoRoot, 'fixtures', 'models');
export const sharedDir = process.env['PREFIX_TUNING_SHARED'] ?? join(repoRoot, '..', 'shared');

/** A tensor in expected.json: row-major data with its shape. */
export interface JsonTensor {
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

/** Names of the model fixtures that have an expected.json. */
export const fixtureNames = (): string[] =>
  existsSync(fixturesDir) ? readdirSync(fixturesDir).filter((n) => existsSync(join(fixturesDir, n, 'expected.json'))).sort() : [];

const orThrow = <A>(e: E.Either<string, A>, what: string): A => {
  if (E.isLeft(e)) throw new Error(`${what}: ${e.left}`);
  return e.right;
};

/** Reads a safetensors file into a `Checkpoint` (every tensor converted to float32). */
export const readCheckpoint = (path: string): Checkpoint => {
  const file = orThrow(parseSafetensors(new Uint8Array(readFileSync(path))), path);
  const out: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const [name, t] of file.tensors) out[name] = { shape: t.shape, data: orThrow(toFloat32(t), `${path}: ${name}`) };
  return out;
};

/** A fixture directory's parsed files. */
export const loadFixture = (name: string) => {
  const dir = join(fixturesDir, name);
  return {
    dir,
    config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as unknown,
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    expected: JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as any,
    checkpoint: readCheckpoint(join(dir, 'model.safetensors')),
  };
};

/** Largest |a - b| over two equally long arrays (throws on a length mismatch). */
export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
