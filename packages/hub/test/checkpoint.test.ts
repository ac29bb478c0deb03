import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { loadCheckpoint, loadFloat32Weights, saveSafetensors } from '../src/checkpoint.ts';
import { loadAdapterDir, saveAdapterDir } from '../src/adapter.ts';
import { writeFileAtomic } from '../src/files.ts';
import { serializeSafetensors, makePrefixTuningConfig, prefixShape } from '../src/core-io.ts';
import { shared, tempDir } from './paths.ts';

const f32 = (n: number, k = 0): Float32Array => Float32Array.from({ length: n }, (_, i) => i + k);

test('single-file directory: all tensors, F16 converted exactly', async () => {
  const dir = await tempDir();
  const s = await saveSafetensors(join(dir, 'model.safetensors'), { a: { dtype: 'F32', shape: [2, 2], data: f32(4) }, b: { dtype: 'F16', shape: [3], data: [0.5, -1, 2048] } });
  assert.ok(E.isRight(s));
  const w = await loadFloat32Weights(dir);
  assert.ok(E.isRight(w), E.isLeft(w) ? w.left : '');
  assert.deepEqual(Array.from(w.right.get('a')!.data), [0, 1, 2, 3]);
  assert.deepEqual(Array.from(w.right.get('b')!.data), [0.5, -1, 2048]);
  assert.deepEqual(w.right.get('a')!.shape, [2, 2]);
});

test('sharded directory: index + shards merged; a broken shard is reported with its path', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'model-00001-of-00002.safetensors'), serializeSafetensors({ 'model.a': { dtype: 'F32', shape: [2], data: f32(2) } }));
  await writeFile(join(dir, 'model-00002-of-00002.safetensors'), serializeSafetensors({ 'model.b': { dtype: 'F32', shape: [1], data: f32(1, 9) } }));
  await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 12 }, weight_map: { 'model.a': 'model-00001-of-00002.safetensors', 'model.b': 'model-00002-of-00002.safetensors' } }));
  const ck = await loadCheckpoint(dir);
  assert.ok(E.isRight(ck), E.isLeft(ck) ? ck.left : '');
  assert.deepEqual([...ck.right.tensors.keys()].sort(), ['model.a', 'model.b']);
  assert.equal(ck.right.files.length, 2);
  const w = await loadFloat32Weights(dir);
  assert.ok(E.isRight(w));
  assert.deepEqual(Array.from(w.right.get('model.b')!.data), [9]);
  const shard2 = join(dir, 'model-00002-of-00002.safetensors');
  const bytes = await readFile(shard2);
  await writeFile(shard2, bytes.subarray(0, bytes.length - 2));
  const bad = await loadCheckpoint(dir);
  assert.ok(E.isLeft(bad));
  assert.ok(bad.left.startsWith(`${shard2}: safetensors:`), bad.left);
});

test('a directory without weights says which files it looked for', async () => {
  const r = await loadCheckpoint(await tempDir());
  assert.ok(E.isLeft(r));
  assert.match(r.left, /no model\.safetensors or model\.safetensors\.index\.json/);
});

const gpt2Random = join(shared, 'models/hf-random-gpt2-lmbuddy');
test('reads a transformers-written GPT-2 directory in place', { skip: !existsSync(gpt2Random) && 'shared models missing' }, async () => {
  const ck = await loadCheckpoint(gpt2Random);
  assert.ok(E.isRight(ck));
  assert.deepEqual(ck.right.tensors.get('transformer.wpe.weight')?.shape, [1024, 2]);
});

test('adapter directory round trip; files written atomically leave no temporaries', async () => {
  const dir = join(await tempDir(), 'adapter');
  const config = { ...makePrefixTuningConfig({ numVirtualTokens: 3, numLayers: 2, tokenDim: 4, numAttentionHeads: 2, baseModelNameOrPath: 'gpt2-medium' }), peft_version: '0.13.2' };
  const [P, W] = prefixShape(config);
  const prefix = { shape: [P, W], data: Float32Array.from({ length: P * W }, (_, i) => Math.sin(i)) };
  const s = await saveAdapterDir(dir, { config, prefix });
  assert.ok(E.isRight(s));
  assert.deepEqual((await readdir(dir)).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
  const r = await loadAdapterDir(dir);
  assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
  assert.deepEqual(r.right.prefix.data, prefix.data);
  assert.deepEqual(r.right.config, config); // unknown field peft_version kept
  // half precision on request
  const h = await saveAdapterDir(dir, { config, prefix }, { dtype: 'BF16' });
  assert.ok(E.isRight(h));
  const rh = await loadAdapterDir(dir);
  assert.ok(E.isRight(rh));
  rh.right.prefix.data.forEach((x, i) => assert.ok(Math.abs(x - prefix.data[i]!) <= Math.abs(prefix.data[i]!) * 2 ** -8));
  // wrong shape refused before anything is written
  const bad = await saveAdapterDir(dir, { config, prefix: { shape: [P + 1, W], data: new Float32Array((P + 1) * W) } });
  assert.ok(E.isLeft(bad));
  assert.match(bad.left, /expected \[3,16\].*got \[4,16\]/);
});

test('loadAdapterDir: missing files and config errors name the directory and file', async () => {
  const dir = await tempDir();
  const none = await loadAdapterDir(dir);
  assert.ok(E.isLeft(none));
  assert.match(none.left, /adapter_config\.json: cannot read/);
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA' }));
  const lora = await loadAdapterDir(dir);
  assert.ok(E.isLeft(lora));
  assert.ok(lora.left.startsWith(`${dir}/adapter_config.json:`), lora.left);
});

test('writeFileAtomic replaces the file in one step and reports an unwritable path', async () => {
  const dir = await tempDir();
  const p = join(dir, 'x.json');
  assert.ok(E.isRight(await writeFileAtomic(p, 'one')));
  assert.ok(E.isRight(await writeFileAtomic(p, 'two')));
  assert.equal(await readFile(p, 'utf8'), 'two');
  assert.deepEqual(await readdir(dir), ['x.json']);
  await writeFile(join(dir, 'file'), '');
  const r = await writeFileAtomic(join(dir, 'file', 'sub', 'y'), 'z');
  assert.ok(E.isLeft(r));
  assert.match(r.left, /file\/sub\/y: cannot write/);
});
