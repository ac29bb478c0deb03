/**
 * The base-model digest adapters record: what it depends on (values, names, shapes) and what it
 * does not (the stored dtype of equal values, key order, buffer placement), and the check that
 * generate/eval/serve apply with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import type { HostTensor } from '@prefix-tuning/core';
import { loadFloat32Weights, saveSafetensors } from '../src/checkpoint.ts';
import { loadModel } from '../src/model.ts';
import { weightsDigest, checkAdapterBase } from '../src/digest.ts';
import { repoRoot, tempDir } from './paths.ts';

const tensor = (shape: number[], data: Float32Array): HostTensor => ({ dtype: 'float32', shape, data });

/** Random parameter records: 1-4 tensors of 1-6 finite floats. */
const records = fc.dictionary(
  fc.stringMatching(/^[a-z]{1,3}(\.[a-z0-9]{1,3}){0,2}$/),
  fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 6 }),
  { minKeys: 1, maxKeys: 4 },
).map((d) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, tensor([v.length], Float32Array.from(v))])));

test('the digest does not depend on key order or where the values lie in memory', () => {
  fc.assert(fc.property(records, (r) => {
    const reversed = Object.fromEntries(Object.entries(r).reverse());
    const moved = Object.fromEntries(Object.entries(r).map(([k, t]) => {
      const big = new Float32Array(t.data.length + 3);
      big.set(t.data as Float32Array, 2);
      return [k, tensor([...t.shape], big.subarray(2, 2 + t.data.length))];
    }));
    const d = weightsDigest(r);
    assert.match(d, /^sha256:[0-9a-f]{64}$/);
    assert.equal(weightsDigest(reversed), d);
    assert.equal(weightsDigest(moved), d);
  }));
});

test('the digest changes with any one value, any name and any shape', () => {
  fc.assert(fc.property(records, fc.nat(), (r, pick) => {
    const names = Object.keys(r);
    const name = names[pick % names.length]!;
    const t = r[name]!;
    const data = Float32Array.from(t.data as Float32Array);
    const i = pick % data.length;
    const bits = new Uint32Array(data.buffer);
    bits[i] = bits[i]! ^ 1; // one ulp (or a NaN payload bit: still other bytes)
    const d = weightsDigest(r);
    assert.notEqual(weightsDigest({ ...r, [name]: tensor([...t.shape], data) }), d);
    const { [name]: _, ...rest } = r;
    assert.notEqual(weightsDigest({ ...rest, [`${name}x`]: t }), d);
    if (t.data.length > 1) assert.notEqual(weightsDigest({ ...r, [name]: tensor([1, t.data.length], t.data as Float32Array) }), d);
  }));
});

test('the embedded model (F16 on disk) and an F32 copy of the same values have one digest', async () => {
  const src = join(repoRoot, 'models', 'tiny-gpt2-en');
  const dir = await tempDir();
  cpSync(src, dir, { recursive: true });
  const w = await loadFloat32Weights(src);
  assert.ok(E.isRight(w));
  const f32 = Object.fromEntries([...w.right].map(([k, t]) => [k, { dtype: 'F32' as const, shape: t.shape, data: t.data }]));
  assert.ok(E.isRight(await saveSafetensors(join(dir, 'model.safetensors'), f32)));
  const a = await loadModel(src), b = await loadModel(dir);
  assert.ok(E.isRight(a) && E.isRight(b));
  assert.equal(weightsDigest(b.right.params), weightsDigest(a.right.params));
});

test('checkAdapterBase: a digest decides; without one, a base named otherwise (by last path segment) is a warning', () => {
  const params = { w: tensor([2], Float32Array.of(1, 2)) };
  const d = weightsDigest(params);
  const model = { params, names: ['models/tiny-gpt2-en', '/work/models/tiny-gpt2-en'] };
  assert.deepEqual(checkAdapterBase({ base: { nameOrPath: 'gpt2', digest: d } }, model), E.right(undefined));
  const other = checkAdapterBase({ base: { nameOrPath: 'gpt2', digest: weightsDigest({ w: tensor([2], Float32Array.of(1, 3)) }) } }, model);
  assert.ok(E.isLeft(other));
  assert.match(other.left, /^it was trained on other base weights than models\/tiny-gpt2-en's \(base_model_digest sha256:[0-9a-f]{12}…, this model sha256:[0-9a-f]{12}…; it names "gpt2" as its base\)/);
  assert.deepEqual(checkAdapterBase({ base: { nameOrPath: null, digest: null } }, model), E.right(undefined));
  const warned = checkAdapterBase({ base: { nameOrPath: 'openai-community/gpt2', digest: null } }, model);
  assert.ok(E.isRight(warned) && warned.right !== undefined && /names "openai-community\/gpt2" as its base model, not models\/tiny-gpt2-en/.test(warned.right));
  fc.assert(fc.property(fc.array(fc.stringMatching(/^[A-Za-z0-9._-]{1,8}$/), { maxLength: 3 }), fc.constantFrom('/', '\\'), fc.boolean(), (dirs, sepr, trailing) => {
    const path = [...dirs, 'tiny-gpt2-en'].join(sepr) + (trailing ? sepr : '');
    assert.deepEqual(checkAdapterBase({ base: { nameOrPath: path, digest: null } }, model), E.right(undefined));
  }));
});
