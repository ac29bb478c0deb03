/**
 * The server's tokens are `prefix-tune generate`'s: a greedy request returns exactly the ids and
 * text of `generate --greedy` for the same adapter (or the base model) and prompt, also when it
 * runs in one continuous batch with requests for other adapters, sampling settings, stop strings
 * and streams (12 concurrent requests); a streamed response is the same text as a collected one;
 * `num_beams` equals `generate --beams`; a seeded sample equals `generate --sample --seed`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from '../../cli/test/train-fixture.ts';
import { modelDir, rmrf, sseEvents, startServer, tempDir, writeAdapters } from './fixture.ts';
import type { Server } from '../src/index.ts';

let dir = '';
let root = '';
let work = '';
let server: Server | undefined;
let url = '';
const PROMPTS = ['t3 t5 t7', 't10 t2', 't44 t45 t46 t47', 't0'];
const MAX = 12;

before(async () => {
  dir = modelDir();
  root = tempDir('pt-serve-adapters-');
  work = tempDir('pt-serve-work-');
  writeAdapters(root, 3);
  ({ server, url } = await startServer(dir, root, { maxRunning: 16 }));
});
after(async () => {
  await server?.close(1000);
  for (const d of [dir, root, work]) rmrf(d);
});

interface Out { ids: number[]; text: string }
/** `prefix-tune generate --json` over PROMPTS for `adapter` (undefined: the base model). */
const generateCli = (adapter: string | undefined, mode: string[]): Out[] => {
  const input = join(work, 'prompts.txt');
  writeFileSync(input, PROMPTS.join('\n'));
  const r = cli(['generate', '--model', dir, ...(adapter ? ['--adapter', join(root, adapter)] : []), '--input', input, '--max-new-tokens', String(MAX), '--json', ...mode]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Out);
};

const post = async (body: object): Promise<{ status: number; json: any; text: string }> => {
  const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, json, text };
};

/** A streamed completion's text per choice, its finish reasons and token ids. */
const streamed = async (body: object) => {
  const r = await post({ ...body, stream: true });
  assert.equal(r.status, 200, r.text);
  const ev = sseEvents(r.text);
  assert.equal(ev.at(-1), '[DONE]');
  const texts: string[] = [];
  const finish: (string | null)[] = [];
  const ids: number[][] = [];
  for (const e of ev.slice(0, -1)) {
    const c = JSON.parse(e) as { choices: { index: number; text: string; finish_reason: string | null; token_ids?: number[] }[] };
    for (const ch of c.choices) {
      texts[ch.index] = (texts[ch.index] ?? '') + ch.text;
      if (ch.finish_reason !== null) finish[ch.index] = ch.finish_reason;
      if (ch.token_ids) ids[ch.index] = ch.token_ids;
    }
  }
  return { texts, finish, ids };
};

test('greedy requests equal generate --greedy, alone and in a batch of 12 concurrent mixed requests (other adapters, sampling, stops, streams)', async () => {
  const models = [undefined, 'a00', 'a01', 'a02'];
  const want = new Map(models.map((m) => [m ?? 'gpt2-tiny', generateCli(m, ['--greedy'])]));
  // alone, one prompt per request
  const alone = await post({ model: 'a01', prompt: PROMPTS[0], max_tokens: MAX, temperature: 0, return_token_ids: true });
  assert.equal(alone.status, 200, alone.text);
  assert.deepEqual(alone.json.choices[0].token_ids, want.get('a01')![0]!.ids);
  assert.equal(alone.json.choices[0].text, want.get('a01')![0]!.text);
  assert.equal(alone.json.usage.completion_tokens, want.get('a01')![0]!.ids.length);
  // together: every greedy request of every model, with sampled, stopped and streamed ones between them
  const greedy = models.flatMap((m) => PROMPTS.slice(0, 2).map((p, i) => ({ m: m ?? 'gpt2-tiny', i, body: { model: m ?? 'gpt2-tiny', prompt: p, max_tokens: MAX, temperature: 0, return_token_ids: true } })));
  const others = [
    post({ model: 'a00', prompt: PROMPTS[2], max_tokens: MAX, temperature: 1.3, seed: 3, n: 2 }),
    post({ model: 'a02', prompt: PROMPTS[3], max_tokens: MAX, temperature: 0.7, top_p: 0.9 }),
    post({ model: 'a01', prompt: PROMPTS[1], max_tokens: MAX, temperature: 0, stop: ['t57'] }),
    streamed({ model: 'a01', prompt: PROMPTS[3], max_tokens: MAX, temperature: 1 }),
  ];
  const [got, rest] = await Promise.all([
    Promise.all(greedy.map((g, k) => (k % 2 === 0 ? post(g.body).then((r) => { assert.equal(r.status, 200, r.text); return { text: r.json.choices[0].text as string, ids: r.json.choices[0].token_ids as number[] }; })
      : streamed(g.body).then((s) => ({ text: s.texts[0]!, ids: s.ids[0]! }))))),
    Promise.all(others),
  ]);
  greedy.forEach((g, k) => {
    const w = want.get(g.m)![g.i]!;
    assert.deepEqual(got[k]!.ids, w.ids, `${g.m} prompt ${g.i}`);
    assert.equal(got[k]!.text, w.text, `${g.m} prompt ${g.i}`);
  });
  for (const r of rest.slice(0, 3) as { status: number; text: string }[]) assert.equal(r.status, 200, r.text);
  // the stopped request is a01's greedy text cut before the stop string (which it contains)
  const stopped = (rest[2] as { json: any }).json.choices[0];
  const full = want.get('a01')![1]!.text;
  assert.ok(full.includes(' t57'), full);
  assert.equal(stopped.text, full.slice(0, full.indexOf('t57')).trimEnd());
  assert.equal(stopped.finish_reason, 'stop');
});

test('streamed and collected responses are the same text, finish reasons and ids (greedy, seeded sampling, stops, n)', async () => {
  for (const body of [
    { model: 'a02', prompt: PROMPTS, max_tokens: MAX, temperature: 0, return_token_ids: true },
    { model: 'a00', prompt: PROMPTS[1], max_tokens: MAX, temperature: 1.2, seed: 11, n: 3, return_token_ids: true },
    { model: 'a01', prompt: PROMPTS[0], max_tokens: MAX, temperature: 0, stop: ['t57 t1', 't91 t6 t6'], return_token_ids: true },
  ]) {
    const c = await post(body);
    assert.equal(c.status, 200, c.text);
    const s = await streamed(body);
    assert.deepEqual(s.texts, c.json.choices.map((x: { text: string }) => x.text));
    assert.deepEqual(s.finish, c.json.choices.map((x: { finish_reason: string }) => x.finish_reason));
    assert.deepEqual(s.ids, c.json.choices.map((x: { token_ids: number[] }) => x.token_ids));
  }
});

test('num_beams equals generate --beams; a seeded sample equals generate --sample --seed', async () => {
  const beams = generateCli('a01', ['--beams', '3']);
  const sampled = generateCli('a02', ['--sample', '--seed', '7', '--temperature', '1.5']);
  const b = await post({ model: 'a01', prompt: PROMPTS, max_tokens: MAX, num_beams: 3, return_token_ids: true });
  assert.equal(b.status, 200, b.text);
  assert.deepEqual(b.json.choices.map((c: { token_ids: number[] }) => c.token_ids), beams.map((o) => o.ids));
  assert.deepEqual(b.json.choices.map((c: { text: string }) => c.text), beams.map((o) => o.text));
  const s = await post({ model: 'a02', prompt: PROMPTS, max_tokens: MAX, temperature: 1.5, seed: 7, return_token_ids: true });
  assert.equal(s.status, 200, s.text);
  assert.deepEqual(s.json.choices.map((c: { token_ids: number[] }) => c.token_ids), sampled.map((o) => o.ids));
});
