/**
 * The server's operations: /health and /metrics (Prometheus text with the documented series),
 * the adapter registry (LRU of --max-resident-adapters, POST/DELETE /v1/adapters behind the
 * admin key, an adapter of another base model refused with the reason, ids that would leave the
 * folder refused), chat without a template (400), the per-request deadline, a client that
 * disconnects mid-stream freeing its row, and OpenAI's error shape everywhere.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { symlinkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelDir, rmrf, startServer, tempDir, writeAdapters, writeForeignAdapter } from './fixture.ts';
import { parseSafetensors, serializeSafetensors } from '@prefix-tuning/core';
import type { Server } from '../src/index.ts';

const ADMIN = 'admin-key-0123456789';
let dir = '';
let root = '';
let outside = '';
let server: Server | undefined;
let url = '';

before(async () => {
  dir = modelDir();
  root = tempDir('pt-serve-api-');
  outside = tempDir('pt-serve-outside-');
  writeAdapters(root, 4);
  writeForeignAdapter(root, 'foreign');
  writeAdapters(outside, 1);
  symlinkSync(join(outside, 'a00'), join(root, 'escape'));
  // a diverged run's adapter: a00's shapes, NaN values
  writeAdapters(outside, 1, 7);
  mkdirSync(join(root, 'nan'));
  writeFileSync(join(root, 'nan', 'adapter_config.json'), readFileSync(join(outside, 'a00', 'adapter_config.json')));
  const w = readFileSync(join(outside, 'a00', 'adapter_model.safetensors'));
  for (let at = 8 + Number(w.readBigUInt64LE(0)); at + 4 <= w.length; at += 4) w.writeFloatLE(NaN, at);
  writeFileSync(join(root, 'nan', 'adapter_model.safetensors'), w);
  // a01's shapes and values, recorded as trained on other weights (another base_model_digest)
  mkdirSync(join(root, 'otherbase'));
  writeFileSync(join(root, 'otherbase', 'adapter_config.json'), readFileSync(join(root, 'a01', 'adapter_config.json')));
  const a01 = parseSafetensors(new Uint8Array(readFileSync(join(root, 'a01', 'adapter_model.safetensors'))));
  if (a01._tag === 'Left') throw new Error(a01.left);
  const t = a01.right.tensors.get('prompt_embeddings')!;
  writeFileSync(join(root, 'otherbase', 'adapter_model.safetensors'),
    serializeSafetensors({ prompt_embeddings: { dtype: t.dtype, shape: t.shape, bytes: t.bytes } }, { format: 'pt', base_model_digest: `sha256:${'0'.repeat(64)}` }));
  ({ server, url } = await startServer(dir, root, { adminKey: ADMIN, maxResidentAdapters: 2, maxRunning: 4 }));
});
after(async () => {
  await server?.close(1000);
  for (const d of [dir, root, outside]) rmrf(d);
});

const call = async (method: string, path: string, body?: unknown, key?: string) => {
  const r = await fetch(`${url}${path}`, {
    method, headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(key ? { authorization: `Bearer ${key}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text, json: (() => { try { return JSON.parse(text); } catch { return undefined; } })() as any };
};

const isError = (j: any, type?: string) => {
  assert.equal(typeof j?.error?.message, 'string');
  assert.ok(j.error.message.length > 10, j.error.message);
  assert.ok('param' in j.error && 'code' in j.error && 'type' in j.error);
  if (type) assert.equal(j.error.type, type);
};

test('health and metrics', async () => {
  const h = await call('GET', '/health');
  assert.deepEqual({ ...h.json, resident_adapters: 0 }, { status: 'ok', model: 'gpt2-tiny', running: 0, waiting: 0, resident_adapters: 0 });
  const c = await call('POST', '/v1/completions', { model: 'a00', prompt: 't1 t2', max_tokens: 5, temperature: 0, stream: true });
  assert.equal(c.status, 200);
  const m = await call('GET', '/metrics');
  assert.equal(m.status, 200);
  assert.match(m.headers.get('content-type')!, /text\/plain/);
  for (const series of ['prefix_tune_requests_total{route="/v1/completions",status="200"}', 'prefix_tune_prompt_tokens_total 3', 'prefix_tune_completion_tokens_total',
    'prefix_tune_queue_depth 0', 'prefix_tune_running_sequences 0', 'prefix_tune_resident_adapters', 'prefix_tune_time_to_first_token_seconds_bucket',
    'prefix_tune_inter_token_latency_seconds_count'])
    assert.ok(m.text.includes(series), series);
});

test('registry: LRU of --max-resident-adapters, admin load/unload, foreign and escaping adapters refused', async () => {
  // no admin key: 401; admin load of a00, a01 (2 resident), then a02 evicts the least recently used
  const noKey = await call('POST', '/v1/adapters', { id: 'a00' });
  assert.equal(noKey.status, 401);
  isError(noKey.json, 'authentication_error');
  for (const id of ['a00', 'a01']) assert.equal((await call('POST', '/v1/adapters', { id }, ADMIN)).status, 200);
  await call('POST', '/v1/completions', { model: 'a00', prompt: 't1', max_tokens: 2, temperature: 0 }); // a00 used last
  const l = await call('POST', '/v1/adapters', { id: 'a02' }, ADMIN);
  assert.equal(l.status, 200, l.text);
  assert.deepEqual(l.json.resident.sort(), ['a00', 'a02']);
  // unload: resident -> 200, then 404
  assert.equal((await call('DELETE', '/v1/adapters/a02', undefined, ADMIN)).status, 200);
  const again = await call('DELETE', '/v1/adapters/a02', undefined, ADMIN);
  assert.equal(again.status, 404);
  isError(again.json, 'not_found_error');
  // an unloaded adapter is loaded again on first use, with the same tokens
  const before1 = await call('POST', '/v1/completions', { model: 'a03', prompt: 't1 t5', max_tokens: 8, temperature: 0, return_token_ids: true });
  for (const id of ['a00', 'a01', 'a02']) await call('POST', '/v1/completions', { model: id, prompt: 't1', max_tokens: 1, temperature: 0 });
  const after1 = await call('POST', '/v1/completions', { model: 'a03', prompt: 't1 t5', max_tokens: 8, temperature: 0, return_token_ids: true });
  assert.deepEqual(after1.json.choices[0].token_ids, before1.json.choices[0].token_ids);
  // another base model's adapter: refused with the reason
  const f = await call('POST', '/v1/completions', { model: 'foreign', prompt: 't1' });
  assert.equal(f.status, 400);
  isError(f.json);
  assert.match(f.json.error.message, /adapter 'foreign' cannot be served: .*(token_dim|num_layers|layers|heads)/);
  // same shapes, trained on other weights (its base_model_digest): refused with the reason
  const ob = await call('POST', '/v1/completions', { model: 'otherbase', prompt: 't1' });
  assert.equal(ob.status, 400);
  assert.match(ob.json.error.message, /adapter 'otherbase' cannot be served: it was trained on other base weights than \S+'s \(base_model_digest sha256:000000000000…/);
  // an adapter holding NaN values: refused at load, naming the tensor
  const nan = await call('POST', '/v1/completions', { model: 'nan', prompt: 't1' });
  assert.equal(nan.status, 400);
  assert.match(nan.json.error.message, /adapter 'nan' cannot be served: adapter_model\.safetensors: \S+ holds \d+ non-finite values \(NaN\)/);
  // a symbolic link out of the folder, and ids with .. / NUL
  const e = await call('POST', '/v1/completions', { model: 'escape', prompt: 't1' });
  assert.equal(e.status, 400);
  assert.match(e.json.error.message, /outside the adapter folder/);
  for (const id of ['../a00', 'a00/..', '..', 'a\u0000', '/etc', 'a/b'])
    assert.equal((await call('POST', '/v1/completions', { model: id, prompt: 't1' })).status, 400, id);
  for (const id of ['a..b', 'a%00', '%2F..%2Fx']) assert.equal((await call('DELETE', `/v1/adapters/${id}`, undefined, ADMIN)).status, 400, id);
});

test('beam searches beyond --max-running rows wait their turn and decode as alone', async () => {
  const body = { model: 'a01', prompt: 't7 t8', max_tokens: 10, num_beams: 3, n: 2, return_token_ids: true };
  const alone = await call('POST', '/v1/completions', body);
  assert.equal(alone.status, 200, alone.text);
  // 3 searches of 3 beams on a server of 4 running rows: one at a time, beside sampled rows
  const all = await Promise.all([body, body, body, { model: 'a00', prompt: 't1', max_tokens: 10, n: 3 }].map((b) => call('POST', '/v1/completions', b)));
  for (const r of all) assert.equal(r.status, 200, r.text);
  for (const r of all.slice(0, 3)) assert.deepEqual(r.json.choices.map((c: any) => c.token_ids), alone.json.choices.map((c: any) => c.token_ids));
  assert.equal(server!.engine.running, 0);
});

test('chat without a chat template is a 400 that says so', async () => {
  const r = await call('POST', '/v1/chat/completions', { model: 'a00', messages: [{ role: 'user', content: 't1' }] });
  assert.equal(r.status, 400);
  isError(r.json, 'invalid_request_error');
  assert.match(r.json.error.message, /no chat template/);
});

test('a client that disconnects mid-stream frees its row at the next step', async () => {
  await new Promise<void>((done, fail) => {
    const req = request(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
      res.once('data', () => { req.destroy(); done(); });
    });
    req.on('error', () => {});
    req.end(JSON.stringify({ model: 'a01', prompt: 't1', max_tokens: 50, temperature: 0, stream: true }));
    setTimeout(() => fail(new Error('no data')), 10_000);
  });
  for (let i = 0; i < 100 && server!.engine.running + server!.engine.waiting > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(server!.engine.running + server!.engine.waiting, 0);
  assert.match(await (await fetch(`${url}/metrics`)).text(), /prefix_tune_cancelled_sequences_total 1\n/);
  // and the server still answers
  assert.equal((await call('POST', '/v1/completions', { model: 'a01', prompt: 't1', max_tokens: 3 })).status, 200);
});

test('the per-request deadline: 408 in OpenAI\'s shape (a stream gets an error event)', async () => {
  const d = modelDir();
  const r2 = tempDir('pt-serve-deadline-');
  writeAdapters(r2, 1);
  mkdirSync(join(r2, 'empty'));
  const s = await startServer(d, r2, { requestTimeout: 0.001 });
  try {
    const r = await fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'a00', prompt: 't1', max_tokens: 40, num_beams: 4 }) });
    assert.equal(r.status, 408);
    const j = (await r.json()) as any;
    isError(j, 'timeout_error');
    assert.match(j.error.message, /deadline/);
    const m = await (await fetch(`${s.url}/v1/models`)).json() as { data: { id: string }[] };
    assert.deepEqual(m.data.map((x) => x.id), ['gpt2-tiny', 'a00']); // a folder without an adapter is not listed
  } finally {
    await s.server.close(100);
    rmrf(d);
    rmrf(r2);
  }
});
