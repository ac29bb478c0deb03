/**
 * A fast-check fuzz of the HTTP API: bodies with wrong types, missing and unknown fields, huge
 * and out-of-range numbers, invalid UTF-8, truncated JSON, bodies over the limit, wrong content
 * types, model and adapter ids with `..`, `/` or NUL, and clients that disconnect mid-stream.
 * Every invalid case gets a 4xx with OpenAI's error shape (never a 5xx, never a hang), and valid
 * requests afterwards still succeed with the same tokens as before.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CHAT_TEMPLATE, modelDir, rmrf, startServer, tempDir, writeAdapters } from './fixture.ts';
import type { Server } from '../src/index.ts';

const BODY_LIMIT = 8192;
const ADMIN = 'admin-key-0123456789';
let dir = '';
let root = '';
let server: Server | undefined;
let url = '';

before(async () => {
  dir = modelDir({ chatTemplate: CHAT_TEMPLATE });
  root = tempDir('pt-serve-fuzz-');
  writeAdapters(root, 2);
  ({ server, url } = await startServer(dir, root, { bodyLimit: BODY_LIMIT, maxRunning: 8, maxQueue: 64, adminKey: ADMIN }));
});
after(async () => {
  await server?.close(1000);
  rmrf(dir);
  rmrf(root);
});

/** Sends raw bytes; resolves to the status and body (a hang fails after 15 s). */
const send = async (path: string, body: Uint8Array | string, contentType = 'application/json', method = 'POST') => {
  const r = await fetch(`${url}${path}`, {
    method, headers: { ...(method === 'POST' ? { 'content-type': contentType } : {}), authorization: `Bearer ${ADMIN}` },
    ...(method === 'POST' ? { body } : {}), signal: AbortSignal.timeout(15_000),
  });
  return { status: r.status, text: await r.text() };
};

const assertClientError = (r: { status: number; text: string }, what: unknown) => {
  assert.ok(r.status >= 400 && r.status < 500, `${r.status} for ${JSON.stringify(what)?.slice(0, 300)}: ${r.text.slice(0, 300)}`);
  const j = JSON.parse(r.text) as { error: { message: string; type: string; param: unknown; code: unknown } };
  assert.equal(typeof j.error.message, 'string');
  assert.ok(j.error.message.length > 0 && typeof j.error.type === 'string' && 'param' in j.error && 'code' in j.error);
};

const VALID = { model: 'a00', prompt: 't1 t2', max_tokens: 4, temperature: 0 };
const VALID_CHAT = { model: 'a01', messages: [{ role: 'user', content: 't3' }], max_tokens: 4, temperature: 0 };

const notString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 2 }), fc.object({ maxDepth: 1 }));
const hugeOrBad = fc.oneof(fc.constantFrom(-1, 0.5, 1e308, -1e308, 2 ** 53 + 2, 1e9), fc.string({ maxLength: 3 }), fc.boolean(), fc.object({ maxDepth: 1 }));
/** A field set to a value it cannot take (each one refused by the server). */
const badField: fc.Arbitrary<[string, unknown]> = fc.oneof(
  fc.tuple(fc.constant('model'), notString),
  fc.tuple(fc.constant('prompt'), fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.object({ maxDepth: 1 }), fc.constant([]), fc.constant([1.5]), fc.constant([-1]), fc.constant([100000]), fc.constant([[1], 'x']))),
  fc.tuple(fc.constant('max_tokens'), fc.oneof(hugeOrBad, fc.constantFrom(0, 1e6, 100000))),
  fc.tuple(fc.constant('temperature'), fc.oneof(fc.constantFrom(-0.1, 2.5, 1e308), fc.string({ maxLength: 2 }))),
  fc.tuple(fc.constant('top_p'), fc.oneof(fc.constantFrom(0, -1, 1.5, 1e308), fc.string({ maxLength: 2 }))),
  fc.tuple(fc.constant('n'), fc.oneof(hugeOrBad, fc.constantFrom(0, 1000))),
  fc.tuple(fc.constant('seed'), fc.oneof(fc.constantFrom(-1, 1.5, 2 ** 60), fc.string({ maxLength: 2 }))),
  fc.tuple(fc.constant('stop'), fc.oneof(fc.integer(), fc.constant(['']), fc.constant([1]), fc.constant(['a', 'b', 'c', 'd', 'e']), fc.constant('x'.repeat(300)))),
  fc.tuple(fc.constant('stream'), fc.oneof(fc.string({ maxLength: 2 }), fc.integer())),
  fc.tuple(fc.constant('logprobs'), fc.oneof(fc.constantFrom(-1, 6, 1.5, 1e308), fc.string({ maxLength: 2 }))),
  fc.tuple(fc.constant('num_beams'), fc.oneof(fc.constantFrom(0, 17, 1.5, 1e308), fc.string({ maxLength: 2 }))),
  fc.tuple(fc.constant('length_penalty'), fc.oneof(fc.constant(1.5), fc.string({ maxLength: 2 }))), // without beams
  fc.tuple(fc.constant('echo'), fc.constant(true)),
  fc.tuple(fc.constant('best_of'), fc.constantFrom(2, 5)),
  fc.tuple(fc.constant('presence_penalty'), fc.constantFrom(0.5, -2)),
  fc.tuple(fc.constant('logit_bias'), fc.constant({ '5': 10 })),
  fc.tuple(fc.constant('stream_options'), fc.oneof(fc.constant({ include_usage: 'yes' }), fc.integer())),
  fc.tuple(fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !(k in { ...VALID, ...VALID_CHAT }) && !['max_completion_tokens', 'top_p', 'seed', 'stop', 'n', 'stream', 'stream_options', 'user', 'presence_penalty', 'frequency_penalty', 'num_beams', 'length_penalty', 'return_token_ids', 'logprobs', 'echo', 'best_of', 'suffix', 'logit_bias', 'top_logprobs', '__proto__', 'constructor'].includes(k)), fc.jsonValue()),
);
const badModelId = fc.oneof(
  fc.constantFrom('..', '../a00', 'a00/..', '/etc/passwd', 'a\u0000', 'a00\u0000x', '.hidden', 'a/b', '%2e%2e', 'x'.repeat(200), '', ' a00'),
  fc.tuple(fc.string({ maxLength: 6 }), fc.constantFrom('..', '/', '\u0000', '\\'), fc.string({ maxLength: 6 })).map(([a, b, c]) => a + b + c),
);

test('fuzz: invalid JSON bodies (wrong types, missing, unknown, huge numbers, bad ids) all get a 4xx in OpenAI\'s shape', { timeout: 300_000 }, async () => {
  await fc.assert(fc.asyncProperty(
    fc.constantFrom('/v1/completions', '/v1/chat/completions'),
    fc.array(badField, { minLength: 1, maxLength: 3 }),
    fc.subarray(['model', 'prompt', 'messages']),
    fc.option(badModelId, { nil: undefined }),
    async (path, bad, drop, id) => {
      const base: Record<string, unknown> = { ...(path === '/v1/completions' ? VALID : VALID_CHAT) };
      // a completion field on the chat route is unknown there, and so still refused
      for (const [k, v] of bad) base[k] = v;
      if (id !== undefined) base['model'] = id;
      const body = JSON.stringify(base);
      const r = await send(path, body);
      assertClientError(r, base);
      // and one with a required field missing
      if (drop.length > 0) {
        const m = { ...(path === '/v1/completions' ? VALID : VALID_CHAT) } as Record<string, unknown>;
        for (const k of drop) delete m[k];
        if (!('model' in m) || (path === '/v1/completions' ? !('prompt' in m) : !('messages' in m))) assertClientError(await send(path, JSON.stringify(m)), m);
      }
    },
  ), { numRuns: 150 });
});

test('fuzz: raw bodies (invalid UTF-8, truncated JSON, not an object, over the limit, wrong content type) and bad adapter ids get a 4xx', { timeout: 300_000 }, async () => {
  const valid = JSON.stringify({ ...VALID, prompt: 't1 t2 t3 t4 t5' });
  await fc.assert(fc.asyncProperty(
    fc.oneof(
      // invalid UTF-8 inside a string value
      fc.tuple(fc.integer({ min: 12, max: valid.length - 2 }), fc.constantFrom([0xff], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0xaf])).map(([at, bytes]) => ({
        kind: 'utf8', body: Uint8Array.from([...Buffer.from(valid.slice(0, at)), ...bytes, ...Buffer.from(valid.slice(at))]), type: 'application/json',
      })),
      fc.integer({ min: 0, max: valid.length - 1 }).map((n) => ({ kind: 'truncated', body: valid.slice(0, n), type: 'application/json' })),
      fc.constantFrom('[]', 'null', '"x"', '12', 'true', '[{"model":"a00"}]').map((b) => ({ kind: 'not-object', body: b, type: 'application/json' })),
      fc.integer({ min: BODY_LIMIT + 1, max: 4 * BODY_LIMIT }).map((n) => ({ kind: 'too-large', body: JSON.stringify({ ...VALID, prompt: 'x'.repeat(n) }), type: 'application/json' })),
      fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml').map((t) => ({ kind: 'content-type', body: valid, type: t })),
      fc.jsonValue({ maxDepth: 3 }).map((v) => ({ kind: 'any-json', body: JSON.stringify(v), type: 'application/json' })),
    ),
    fc.constantFrom('/v1/completions', '/v1/chat/completions', '/v1/adapters'),
    async (c, path) => {
      if (c.kind === 'any-json' && path === '/v1/adapters') return; // {id: "…"} may name a real adapter
      const r = await send(path, c.body, c.type);
      assertClientError(r, c);
    },
  ), { numRuns: 120 });
  // adapter admin ids
  await fc.assert(fc.asyncProperty(badModelId, async (id) => {
    assertClientError(await send('/v1/adapters', JSON.stringify({ id })), id);
    if (id.length > 0 && !id.includes('/') && !id.includes('\\')) assertClientError(await send(`/v1/adapters/${encodeURIComponent(id)}`, '', 'application/json', 'DELETE'), id);
  }), { numRuns: 40 });
});

test('fuzz: clients that disconnect mid-stream (or mid-request) free their rows; valid requests still succeed with the same tokens', { timeout: 300_000 }, async () => {
  const probe = () => fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...VALID, max_tokens: 10, return_token_ids: true }) })
    .then(async (r) => { assert.equal(r.status, 200); return ((await r.json()) as { choices: { token_ids: number[] }[] }).choices[0]!.token_ids; });
  const before1 = await probe();
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ after: fc.integer({ min: 0, max: 30 }), stream: fc.boolean(), n: fc.integer({ min: 1, max: 3 }), model: fc.constantFrom('a00', 'a01', 'gpt2-tiny'), beams: fc.boolean() }), { minLength: 1, maxLength: 6 }),
    async (clients) => {
      await Promise.all(clients.map(async (c) => {
        const ac = new AbortController();
        const t = setTimeout(() => ac.abort(), c.after);
        try {
          const r = await fetch(`${url}/v1/completions`, {
            method: 'POST', headers: { 'content-type': 'application/json' }, signal: ac.signal,
            body: JSON.stringify({ model: c.model, prompt: 't4 t5', max_tokens: 40, stream: c.stream, n: c.n, ...(c.beams ? { num_beams: 3 } : { temperature: 1 }) }),
          });
          assert.ok(r.status < 500, `status ${r.status}`);
          await r.text();
        } catch (e) {
          if ((e as Error).name !== 'AbortError') throw e;
        } finally {
          clearTimeout(t);
        }
      }));
    },
  ), { numRuns: 25 });
  // every row left: nothing runs or waits, and the same request gives the same tokens
  for (let i = 0; i < 200 && server!.engine.running + server!.engine.waiting > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(server!.engine.running + server!.engine.waiting, 0);
  assert.deepEqual(await probe(), before1);
  const h = await fetch(`${url}/health`);
  assert.equal(h.status, 200);
  const m = await (await fetch(`${url}/metrics`)).text();
  assert.ok(!/prefix_tune_requests_total\{[^}]*status="5\d\d"\}/.test(m), 'no 5xx was answered');
});
