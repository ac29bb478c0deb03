/**
 * The official `openai` npm client, unchanged, against a server started here on 127.0.0.1 (API
 * key required): it completes, streams, lists models, chats (a model with a chat template) and
 * receives the documented errors as its own error classes (401, 400, 404, 429).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { CHAT_TEMPLATE, modelDir, rmrf, startServer, tempDir, writeAdapters } from './fixture.ts';
import type { Server } from '../src/index.ts';

const KEY = 'sk-test-0123456789';
let dir = '';
let root = '';
let server: Server | undefined;
let client: OpenAI;

before(async () => {
  dir = modelDir({ chatTemplate: CHAT_TEMPLATE });
  root = tempDir('pt-serve-openai-');
  writeAdapters(root, 2);
  const s = await startServer(dir, root, { apiKey: KEY, maxQueue: 4, maxRunning: 4 });
  server = s.server;
  client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: KEY, maxRetries: 0 });
});
after(async () => {
  await server?.close(1000);
  rmrf(dir);
  rmrf(root);
});

test('openai client: completions, streaming, models, chat', async () => {
  const c = await client.completions.create({ model: 'a01', prompt: 't3 t5 t7', max_tokens: 10, temperature: 0 });
  assert.equal(c.object, 'text_completion');
  assert.equal(c.choices.length, 1);
  assert.ok(c.choices[0]!.text.length > 0);
  assert.ok(c.choices[0]!.finish_reason === 'length' || c.choices[0]!.finish_reason === 'stop');
  assert.equal(c.usage!.prompt_tokens, 4); // three words and the separator
  assert.ok(c.usage!.completion_tokens >= 1 && c.usage!.completion_tokens <= 10);
  // streaming: the chunks add up to the same text
  const stream = await client.completions.create({ model: 'a01', prompt: 't3 t5 t7', max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const ch of stream) {
    for (const x of ch.choices) text += x.text;
    if (ch.usage) usage = ch.usage;
  }
  assert.equal(text, c.choices[0]!.text);
  assert.deepEqual(usage, c.usage);
  // models: the base model, then the adapters
  const ids: string[] = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, ['gpt2-tiny', 'a00', 'a01']);
  // logprobs in the legacy shape
  const lp = await client.completions.create({ model: 'a00', prompt: 't1', max_tokens: 4, temperature: 0, logprobs: 2 });
  const l = lp.choices[0]!.logprobs!;
  assert.equal(l.tokens!.length, l.token_logprobs!.length);
  assert.ok(l.token_logprobs!.every((x) => x <= 0));
  assert.ok(l.top_logprobs!.every((t) => Object.keys(t).length === 2));
  // chat: the template renders the messages; streamed deltas add up to the message
  const msgs = [{ role: 'system' as const, content: 't4' }, { role: 'user' as const, content: 't8 t9' }];
  const chat = await client.chat.completions.create({ model: 'a00', messages: msgs, max_tokens: 8, temperature: 0 });
  assert.equal(chat.choices[0]!.message.role, 'assistant');
  const cs = await client.chat.completions.create({ model: 'a00', messages: msgs, max_tokens: 8, temperature: 0, stream: true });
  let content = '';
  for await (const ch of cs) content += ch.choices[0]?.delta.content ?? '';
  assert.equal(content, chat.choices[0]!.message.content);
});

test('openai client: the documented errors arrive as its error classes', async () => {
  const bad = new OpenAI({ baseURL: client.baseURL, apiKey: 'sk-wrong-key-000', maxRetries: 0 });
  await assert.rejects(bad.completions.create({ model: 'a00', prompt: 'x' }), (e: unknown) => e instanceof OpenAI.AuthenticationError && e.status === 401 && /Incorrect API key/.test(e.message));
  await assert.rejects(client.completions.create({ model: 'nope', prompt: 'x' }), (e: unknown) => e instanceof OpenAI.NotFoundError && /The model 'nope' does not exist/.test(e.message));
  await assert.rejects(client.completions.create({ model: 'a00', prompt: 'x', max_tokens: 100000 }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'max_tokens' && /above this server's limit/.test(e.message));
  await assert.rejects(client.completions.create({ model: 'a00', prompt: 'x', temperature: 5 }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  await assert.rejects(client.completions.create({ model: 'a00', prompt: Array(60).fill('t1').join(' '), max_tokens: 10 }), (e: unknown) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded');
  // more sequences than the queue holds at once: 400; a full queue: 429 with Retry-After
  await assert.rejects(client.completions.create({ model: 'a00', prompt: 'x', n: 5 }), (e: unknown) => e instanceof OpenAI.BadRequestError);
  const long = Array.from({ length: 8 }, () => client.completions.create({ model: 'a00', prompt: 't1', max_tokens: 40, temperature: 1, n: 4 }).then(() => 'ok', (e: unknown) => e));
  const outs = await Promise.all(long);
  const limited = outs.filter((o) => o instanceof OpenAI.RateLimitError) as InstanceType<typeof OpenAI.RateLimitError>[];
  assert.ok(limited.length >= 1, `some requests meet a full queue: ${outs.map(String).join(', ')}`);
  assert.equal(limited[0]!.headers.get('retry-after'), '1');
  assert.ok(outs.includes('ok'));
});
