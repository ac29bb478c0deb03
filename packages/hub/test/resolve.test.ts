import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer } from 'node:net';
import * as E from 'fp-ts/lib/Either.js';
import { resolveModel, cacheDirFor } from '../src/resolve.ts';
import { loadCheckpoint } from '../src/checkpoint.ts';
import type { ProgressEvent } from '../src/download.ts';
import { serializeSafetensors } from '../src/core-io.ts';
import { startHub } from './hub-server.ts';
import { tempDir } from './paths.ts';

const weights = serializeSafetensors({ 'model.w': { dtype: 'F32', shape: [64, 64], data: Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i)) } }, { format: 'pt' });
const files = {
  'config.json': JSON.stringify({ model_type: 'gpt2', n_layer: 1 }),
  'tokenizer.json': JSON.stringify({ model: { type: 'BPE', vocab: {}, merges: [] } }),
  'tokenizer_config.json': JSON.stringify({ eos_token: '<|endoftext|>' }),
  'model.safetensors': weights,
};
const quiet = (events: ProgressEvent[] = []) => (e: ProgressEvent) => void events.push(e);

test('a hub id downloads into <cache>/hub/<org>--<name>, verified, then is served from the cache', async () => {
  const hub = await startHub('acme/tiny-gpt2', files);
  try {
    const cache = await tempDir();
    const events: ProgressEvent[] = [];
    const r = await resolveModel('acme/tiny-gpt2', { cacheDir: cache, endpoint: hub.endpoint, report: quiet(events) });
    assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
    assert.equal(r.right, join(cache, 'hub', 'acme--tiny-gpt2'));
    assert.deepEqual(new Uint8Array(await readFile(join(r.right, 'model.safetensors'))), weights);
    assert.equal(await readFile(join(r.right, 'config.json'), 'utf8'), files['config.json']);
    const done = events.filter((e) => e.kind === 'done');
    assert.deepEqual(done.map((e) => e.kind === 'done' && `${e.file}:${e.verified}`).sort(), ['config.json:size', 'model.safetensors:sha256', 'tokenizer.json:size', 'tokenizer_config.json:size']);
    assert.ok(!(await readdir(r.right)).some((f) => f.endsWith('.part')));
    const n = hub.requests.length;
    const again = await resolveModel('acme/tiny-gpt2', { cacheDir: cache, endpoint: hub.endpoint, report: quiet() });
    assert.ok(E.isRight(again));
    assert.equal(hub.requests.length, n, 'no request for a complete cache entry');
    const offline = await resolveModel('acme/tiny-gpt2', { cacheDir: cache, offline: true });
    assert.ok(E.isRight(offline));
    const ck = await loadCheckpoint(r.right);
    assert.ok(E.isRight(ck));
  } finally {
    await hub.close();
  }
});

test('a dropped connection resumes with an HTTP Range request and the file verifies', async () => {
  const hub = await startHub('gpt2-medium', files, { 'model.safetensors': { drop: { requests: [1, 2], afterBytes: 5000 } } });
  try {
    const cache = await tempDir();
    const events: ProgressEvent[] = [];
    const r = await resolveModel('gpt2-medium', { cacheDir: cache, endpoint: hub.endpoint, report: quiet(events) });
    assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
    assert.equal(r.right, join(cache, 'hub', 'gpt2-medium'));
    assert.deepEqual(new Uint8Array(await readFile(join(r.right, 'model.safetensors'))), weights);
    const cdn = hub.requests.filter((q) => q.path.startsWith('/cdn/'));
    // how many of the 5000 bytes sent before each drop reach the file depends on the transport
    // (a stream that errors may drop chunks it had queued), so the offsets are bounded, not exact
    assert.equal(cdn.length, 3);
    assert.equal(cdn[0]!.range, undefined);
    const starts = cdn.slice(1).map((q) => Number(/^bytes=(\d+)-$/.exec(q.range ?? '')?.[1] ?? -1));
    assert.ok(starts.every((n, i) => n >= (i === 0 ? 0 : starts[i - 1]!) && n <= 5000 * (i + 1)), String(starts));
    assert.ok(starts[0]! > 0 && starts[1]! > starts[0]!, `each attempt resumed further: ${starts}`);
    assert.deepEqual(cdn.map((q) => q.status), [200, 206, 206]);
    assert.equal(events.filter((e) => e.kind === 'retry').length, 2);
  } finally {
    await hub.close();
  }
});

test('a .part left by an earlier run is resumed, not restarted', async () => {
  const hub = await startHub('acme/m', files);
  try {
    const cache = await tempDir();
    const dir = cacheDirFor('acme/m', { cacheDir: cache });
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'model.safetensors.part'), weights.subarray(0, 1234));
    const r = await resolveModel('acme/m', { cacheDir: cache, endpoint: hub.endpoint, report: quiet() });
    assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
    assert.deepEqual(hub.requests.filter((q) => q.path.startsWith('/cdn/')).map((q) => q.range), ['bytes=1234-']);
    assert.deepEqual(new Uint8Array(await readFile(join(dir, 'model.safetensors'))), weights);
  } finally {
    await hub.close();
  }
});

test('a checksum mismatch is retried once from scratch, then reported; nothing corrupt is kept', async () => {
  const once = await startHub('acme/m', files, { 'model.safetensors': { corrupt: [1] } });
  try {
    const cache = await tempDir();
    const r = await resolveModel('acme/m', { cacheDir: cache, endpoint: once.endpoint, report: quiet() });
    assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
    assert.deepEqual(new Uint8Array(await readFile(join(r.right, 'model.safetensors'))), weights);
  } finally {
    await once.close();
  }
  const always = await startHub('acme/m', files, { 'model.safetensors': { corrupt: 'always' } });
  try {
    const cache = await tempDir();
    const r = await resolveModel('acme/m', { cacheDir: cache, endpoint: always.endpoint, report: quiet() });
    assert.ok(E.isLeft(r));
    assert.match(r.left, /sha256 mismatch for model\.safetensors: the hub says [0-9a-f]{64}, the download hashes to [0-9a-f]{64} \(twice/);
    const left = await readdir(cacheDirFor('acme/m', { cacheDir: cache }));
    assert.ok(!left.includes('model.safetensors') && !left.includes('model.safetensors.part'), left.join(','));
  } finally {
    await always.close();
  }
});

test('sharded weights: the index and each shard are fetched and load together', async () => {
  const s1 = serializeSafetensors({ a: { dtype: 'F32', shape: [2], data: [1, 2] } });
  const s2 = serializeSafetensors({ b: { dtype: 'F32', shape: [1], data: [3] } });
  const { 'model.safetensors': _, ...rest } = files;
  const hub = await startHub('org/sharded', {
    ...rest,
    'model.safetensors.index.json': JSON.stringify({ metadata: { total_size: 12 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } }),
    'model-00001-of-00002.safetensors': s1,
    'model-00002-of-00002.safetensors': s2,
  });
  try {
    const cache = await tempDir();
    const r = await resolveModel('org/sharded', { cacheDir: cache, endpoint: hub.endpoint, report: quiet() });
    assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
    const ck = await loadCheckpoint(r.right);
    assert.ok(E.isRight(ck));
    assert.deepEqual([...ck.right.tensors.keys()].sort(), ['a', 'b']);
  } finally {
    await hub.close();
  }
});

test('offline or unreachable: the error names the directory to fill and the files needed', async () => {
  const cache = await tempDir();
  const prev = process.env['HF_HUB_OFFLINE'];
  process.env['HF_HUB_OFFLINE'] = '1';
  try {
    const r = await resolveModel('facebook/bart-large', { cacheDir: cache });
    assert.ok(E.isLeft(r));
    assert.match(r.left, /downloads are off \(HF_HUB_OFFLINE\)/);
    assert.ok(r.left.includes(join(cache, 'hub', 'facebook--bart-large')), r.left);
    assert.match(r.left, /config\.json, tokenizer\.json, and model\.safetensors \(or model\.safetensors\.index\.json/);
  } finally {
    if (prev === undefined) delete process.env['HF_HUB_OFFLINE'];
    else process.env['HF_HUB_OFFLINE'] = prev;
  }
  // a port with nothing listening
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const down = await resolveModel('gpt2-medium', { cacheDir: cache, endpoint: `http://127.0.0.1:${port}`, offline: false, report: quiet() });
  assert.ok(E.isLeft(down));
  assert.match(down.left, /cannot reach http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/);
  assert.ok(down.left.includes(join(cache, 'hub', 'gpt2-medium')));
});

test('local directories are used as they are; unknown ids and bad names are explained', async () => {
  const dir = await tempDir();
  const r = await resolveModel(dir, { offline: true });
  assert.ok(E.isRight(r));
  assert.equal(r.right, dir);
  const bad = await resolveModel('./no/such/dir/here', { offline: true });
  assert.ok(E.isLeft(bad));
  assert.match(bad.left, /no such directory, and not a hub id/);
  const hub = await startHub('acme/exists', files);
  try {
    const missing = await resolveModel('acme/other', { cacheDir: await tempDir(), endpoint: hub.endpoint, report: quiet() });
    assert.ok(E.isLeft(missing));
    assert.match(missing.left, /acme\/other has no config\.json at revision main/);
  } finally {
    await hub.close();
  }
});
